"""Console pages of the archive sync: status, onboarding (MR-C1), rejects, and outsiders."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from jingan.medical_records.archive_models import (
    ArchivedAdmission,
    ArchivedSection,
    ArchiveSource,
    RejectedArchivePayload,
)
from jingan.medical_records.tests.archive_fixtures import (
    CENTRAL,
    ZHABEI,
    institution,
    simulator,
    source,
)

__all__ = ["institution", "simulator", "source"]

pytestmark = pytest.mark.django_db

STATUS = "/console/records/archives/"
CONFIGURE = "/console/records/archives/configure/"
REJECTED = "/console/records/archives/rejected/"
MANAGE = ("medical_records.view_archivesource", "medical_records.manage_archive_source")


def _rows(response: Any) -> list[str]:
    html = response.content.decode()
    return [part.split('"', 1)[0] for part in html.split('data-institution="')[1:]]


def _reject(institution: Any, reason: str = "出院日期：缺少必填项") -> RejectedArchivePayload:
    return RejectedArchivePayload.objects.create(
        institution=institution,
        channel="push",
        admission_no="ZY2025000009",
        payload='{"admission_no": "ZY2025000009", "patient": {"name": "王秀英"}}',
        reason=reason,
    )


@pytest.mark.req("MR-C1")
def test_onboarding_a_new_inpatient_institution_is_configuration_then_it_syncs(
    simulator, make_staff, client_for
):
    model = apps.get_model("institutions", "Institution")
    newcomer = model.objects.create(
        code="310106099", name="上海市静安区新建医院", kind="secondary_hospital", has_inpatient=True
    )
    simulator.add_institution("310106099", "上海市静安区新建医院")
    admin = client_for(make_staff("sysadmin", roles=("system_admin",)))

    form = admin.get(CONFIGURE)
    assert form.status_code == 200
    assert "310106099 上海市静安区新建医院" in form.content.decode()
    saved = admin.post(
        CONFIGURE,
        {
            "institution": newcomer.pk,
            "mode": "poll",
            "base_url": simulator.url,
            "api_app_id": "",
            "poll_interval_minutes": "10",
            "is_enabled": "on",
        },
    )
    assert saved.status_code == 302
    configured = ArchiveSource.objects.unscoped().get(institution=newcomer)
    assert (configured.mode, configured.base_url, configured.poll_interval_minutes) == (
        "poll",
        simulator.url,
        10,
    )

    synced = admin.post(f"/console/records/archives/{newcomer.pk}/sync/", follow=True)

    expected = simulator.admissions("310106099")
    assert len(expected) == 6
    assert f"上海市静安区新建医院 同步完成：新增 {len(expected)} 条" in synced.content.decode()
    stored = ArchivedAdmission.objects.unscoped().filter(institution=newcomer)
    assert sorted(a.admission_no for a in stored) == sorted(i["admission_no"] for i in expected)
    sections = ArchivedSection.objects.filter(admission__institution=newcomer)
    assert {s.upload_status for s in sections} == {"uploaded"}
    assert "310106099" in _rows(admin.get(STATUS))


@pytest.mark.req("MR-C1")
def test_the_onboarding_form_explains_what_is_missing(make_staff, client_for, institution):
    admin = client_for(make_staff("sysadmin", roles=("system_admin",)))

    response = admin.post(
        CONFIGURE,
        {
            "institution": institution(CENTRAL).pk,
            "mode": "poll",
            "base_url": "",
            "poll_interval_minutes": "0",
        },
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "平台定时拉取方式必须填写归档接口地址" in html
    assert "拉取间隔至少 1 分钟" in html
    assert ArchiveSource.objects.unscoped().count() == 0


@pytest.mark.req("MR-A5")
def test_the_status_page_shows_counts_and_the_last_failure(
    source, institution, make_staff, client_for
):
    source(CENTRAL, base_url="http://127.0.0.1:9")
    ArchiveSource.objects.unscoped().filter(institution__code=CENTRAL).update(
        last_failure_reason="病案归档接口不可达：连接被拒绝"
    )
    from django.utils import timezone

    ArchiveSource.objects.unscoped().filter(institution__code=CENTRAL).update(
        last_failure_at=timezone.now()
    )
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))

    response = regulator.get(STATUS)

    assert response.status_code == 200
    html = response.content.decode()
    assert len(_rows(response)) == 18
    assert "病案归档接口不可达：连接被拒绝" in html
    assert "立即同步" not in html


def test_anonymous_and_roleless_staff_see_nothing(make_staff, client_for, institution):
    _reject(institution(CENTRAL))
    anonymous = Client()
    for url in (STATUS, CONFIGURE, REJECTED):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert "login" in response["Location"]
    assert (
        anonymous.post(
            REJECTED + f"{RejectedArchivePayload.objects.unscoped().get().pk}/replay/"
        ).status_code
        == 302
    )

    nobody = client_for(make_staff("nobody"))
    for url in (STATUS, CONFIGURE, REJECTED):
        assert nobody.get(url).status_code == 403


def test_an_institution_admin_sees_only_their_institution(make_staff, client_for, institution):
    _reject(institution(ZHABEI), reason="机构 B 的拒收原因")
    own = client_for(
        make_staff("central-admin", roles=("institution_admin",), institution=institution(CENTRAL))
    )

    status = own.get(STATUS)
    rejected = own.get(REJECTED)

    assert _rows(status) == [CENTRAL]
    assert "机构 B 的拒收原因" not in rejected.content.decode()
    assert own.get(CONFIGURE).status_code == 403
    assert own.post(f"/console/records/archives/{institution(CENTRAL).pk}/sync/").status_code == 403


def test_a_manager_of_one_institution_cannot_touch_another(
    source, make_staff, client_for, institution
):
    source(ZHABEI, base_url="http://127.0.0.1:9")
    foreign = _reject(institution(ZHABEI))
    manager = client_for(
        make_staff("central-manager", permissions=MANAGE, institution=institution(CENTRAL))
    )
    zhabei = institution(ZHABEI).pk

    assert manager.get(f"/console/records/archives/{zhabei}/configure/").status_code == 404
    assert (
        manager.post(
            CONFIGURE,
            {
                "institution": zhabei,
                "mode": "poll",
                "base_url": "http://evil.example",
                "poll_interval_minutes": "5",
                "is_enabled": "on",
            },
        ).status_code
        == 200
    )
    assert manager.post(f"/console/records/archives/{zhabei}/sync/").status_code == 404
    assert manager.post(f"{REJECTED}{foreign.pk}/replay/").status_code == 404
    assert manager.get(f"/console/records/archives/{zhabei}/failures/").status_code == 404

    state = ArchiveSource.objects.unscoped().get(institution_id=zhabei)
    assert (state.base_url, state.last_polled_at) == ("http://127.0.0.1:9", None)
    foreign.refresh_from_db()
    assert foreign.replayed_at is None


@pytest.mark.req("MR-A1")
def test_replaying_from_the_console_reports_the_result(make_staff, client_for, institution):
    kept = _reject(institution(CENTRAL))
    manager = client_for(
        make_staff("central-manager", permissions=MANAGE, institution=institution(CENTRAL))
    )

    page = manager.get(REJECTED)
    assert "出院日期：缺少必填项" in page.content.decode()
    assert "王秀英" not in page.content.decode()
    response = manager.post(f"{REJECTED}{kept.pk}/replay/", follow=True)

    assert "住院号 ZY2025000009 仍无法接收" in response.content.decode()
    kept.refresh_from_db()
    assert kept.replayed_at is not None
    assert kept.is_resolved is False
