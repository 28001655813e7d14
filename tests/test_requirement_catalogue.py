"""The requirement catalogue and the marker that points tests at it."""

from __future__ import annotations

import json
import textwrap

import pytest

from jingan.testing.catalogue import (
    SHARED_REQUIREMENTS,
    ids_in_requirements_document,
    load_catalogue,
)


def test_catalogue_has_one_titled_line_per_capability() -> None:
    catalogue = load_catalogue()
    assert len(catalogue) == 155
    assert list(catalogue)[:2] == ["MR-A1", "MR-A2"]
    assert list(catalogue)[-1] == "SEC-5"
    assert all(title.strip() and "\n" not in title for title in catalogue.values())


@pytest.mark.skipif(
    not SHARED_REQUIREMENTS.exists(), reason="the district's catalogue is not beside this clone"
)
def test_catalogue_matches_the_districts_requirements() -> None:
    district = ids_in_requirements_document(SHARED_REQUIREMENTS.read_text(encoding="utf-8"))
    assert list(load_catalogue()) == district


def test_unknown_requirement_id_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked=textwrap.dedent(
            """
            import pytest

            @pytest.mark.req("MR-A1")
            def test_known():
                assert 1 + 1 == 2

            @pytest.mark.req("XX-99")
            def test_unknown():
                assert True
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "jingan.testing.req", "-p", "no:django")
    result.stderr.fnmatch_lines(["*unknown requirement ID 'XX-99'*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_req_report_lists_covering_tests_and_uncovered_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked=textwrap.dedent(
            """
            import pytest

            @pytest.mark.req("MR-A1", "MR-A2")
            def test_sync():
                assert 2 * 2 == 4

            @pytest.mark.req("MR-A2")
            def test_list_breaks():
                assert 2 * 2 == 5
            """
        )
    )
    result = pytester.runpytest_subprocess(
        "-p", "jingan.testing.req", "-p", "no:django", "--req-report"
    )
    result.stdout.fnmatch_lines(
        [
            "PASS  MR-A1  *",
            "        test_marked.py::test_sync",
            "FAIL  MR-A2  *",
            "uncovered (153): MR-A3, MR-A4*",
            "requirements: 155 in catalogue, 2 covered, 1 passing",
        ]
    )


def test_full_run_report_lists_every_catalogue_id() -> None:
    # Written by the previous full run of the suite (make test runs everything once).
    from jingan.testing.req import REPORT_PATH, _build_report

    report = _build_report()
    assert set(report) == set(load_catalogue())
    assert all(set(entry) == {"title", "tests", "passed"} for entry in report.values())
    if REPORT_PATH.exists():
        assert set(json.loads(REPORT_PATH.read_text(encoding="utf-8"))) == set(load_catalogue())
