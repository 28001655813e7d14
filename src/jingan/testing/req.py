"""``@pytest.mark.req("ID", ...)``: requirement traceability.

- every ID on a marker must be in the catalogue, else the run fails at collection;
- ``--req-report`` prints, per ID, the covering tests and whether they passed, and the
  IDs nobody covers;
- a full run (no file or ``-k`` selection) writes ``var/req-report.json``:
  ``{"ID": {"title": ..., "tests": [...], "passed": bool}}`` for every catalogue ID.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from jingan.config.environment import PROJECT_ROOT
from jingan.testing.catalogue import load_catalogue

REPORT_PATH = PROJECT_ROOT / "var" / "req-report.json"

_covering: dict[str, list[str]] = defaultdict(list)
_outcomes: dict[str, bool] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--req-report",
        action="store_true",
        default=False,
        help="print, per requirement ID, the tests covering it and whether they passed",
    )


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    catalogue = load_catalogue()
    unknown: list[str] = []
    for item in items:
        for marker in item.iter_markers("req"):
            if not marker.args:
                unknown.append(f"{item.nodeid}: @pytest.mark.req() names no ID")
            for identifier in marker.args:
                if identifier not in catalogue:
                    unknown.append(f"{item.nodeid}: unknown requirement ID {identifier!r}")
                elif item.nodeid not in _covering[identifier]:
                    _covering[identifier].append(item.nodeid)
    if unknown:
        raise pytest.UsageError(
            "Requirement markers name IDs missing from docs/requirements.toml:\n  "
            + "\n  ".join(unknown)
        )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    passed_so_far = _outcomes.get(report.nodeid, True)
    if report.when == "call":
        _outcomes[report.nodeid] = passed_so_far and report.passed
    elif report.failed or (report.when == "setup" and report.skipped):
        _outcomes[report.nodeid] = False


def _build_report() -> dict[str, dict[str, Any]]:
    report = {}
    for identifier, title in load_catalogue().items():
        tests = _covering.get(identifier, [])
        report[identifier] = {
            "title": title,
            "tests": tests,
            "passed": bool(tests) and all(_outcomes.get(test, False) for test in tests),
        }
    return report


def _is_full_run(config: pytest.Config) -> bool:
    if config.rootpath != PROJECT_ROOT:  # a pytester run inside a test
        return False
    explicit_paths = [arg for arg in config.args if arg not in config.getini("testpaths")]
    return (
        not explicit_paths
        and not config.getoption("keyword")
        and not config.getoption("lf", default=False)
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if config.option.collectonly:
        return
    report = _build_report()
    if _is_full_run(config) and not hasattr(config, "workerinput"):
        REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
        REPORT_PATH.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    config.stash[_REPORT_KEY] = report


_REPORT_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT_KEY, None)
    if report is None:
        return
    covered = [i for i, entry in report.items() if entry["tests"]]
    passing = [i for i, entry in report.items() if entry["passed"]]
    if config.getoption("req_report"):
        terminalreporter.section("requirement coverage")
        for identifier, entry in report.items():
            if not entry["tests"]:
                continue
            state = "PASS" if entry["passed"] else "FAIL"
            terminalreporter.write_line(f"{state}  {identifier}  {entry['title']}")
            for test in entry["tests"]:
                terminalreporter.write_line(f"        {test}")
        uncovered = [i for i, entry in report.items() if not entry["tests"]]
        terminalreporter.write_line(f"uncovered ({len(uncovered)}): {', '.join(uncovered)}")
    terminalreporter.write_line(
        f"requirements: {len(report)} in catalogue, {len(covered)} covered, {len(passing)} passing"
    )
