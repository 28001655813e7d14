from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jingan.medical_records import services
from jingan.medical_records.models import CopyApplication
from jingan.medical_records.tests.application_fixtures import archive, id_number, inpatient
from jingan.testing.residents import DEFAULT_ID_NUMBER

__all__ = ["archive", "inpatient"]


def _model(label: str) -> Any:
    from django.apps import apps

    return apps.get_model(label)


PAGES = (
    "/h5/records/",
    "/h5/records/apply/",
    "/h5/records/apply/applicant/",
    "/h5/records/apply/admissions/",
    "/h5/records/apply/details/",
    "/h5/records/apply/confirm/",
    "/h5/records/applications/",
)


@pytest.fixture
def owned(make_resident: Any, inpatient: list[Any], archive: Any) -> CopyApplication:
    resident = make_resident()
    admission = archive(inpatient[0], DEFAULT_ID_NUMBER, "ZY-O1")
    return services.submit_application(
        actor=resident,
        institution_id=inpatient[0].pk,
        admission_ids=[admission.pk],
        applicant_type="self",
        purpose="insurance_claim",
        sections=["front_page"],
        copies=1,
        delivery_method="mail",
        mail=services.MailAddress("王秀英", "13800138000", "上海市静安区共和新路 1000 号"),
    )


def test_anonymous_visitors_are_sent_to_wechat_sign_in(owned: CopyApplication) -> None:
    client = Client()
    for path in (
        *PAGES,
        f"/h5/records/applications/{owned.number}/",
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/h5/login/?next="), path
    response = client.post(f"/h5/records/applications/{owned.number}/cancel/")
    assert response["Location"].startswith("/h5/login/")
    owned.refresh_from_db()
    assert owned.status == "submitted"


@pytest.mark.req("MR-P4")
def test_another_resident_sees_nothing_of_an_application_and_cannot_cancel_it(
    owned: CopyApplication, make_resident: Any, resident_client: Any
) -> None:
    other = make_resident(name="李建国", id_number=id_number("19500101", 11))
    client = resident_client(other)
    detail = client.get(f"/h5/records/applications/{owned.number}/")
    assert detail.status_code == 404
    assert owned.number not in detail.content.decode()
    listing = client.get("/h5/records/applications/").content.decode()
    assert owned.number not in listing
    assert "您还没有病案复印申请" in listing
    assert client.post(f"/h5/records/applications/{owned.number}/cancel/").status_code == 404
    owned.refresh_from_db()
    assert owned.status == "submitted"
    assert list(owned.events.values_list("to_status", flat=True)) == ["submitted"]
    assert _model("messaging.Message").objects.filter(resident_id=other.pk).count() == 0


@pytest.mark.req("MR-P3")
def test_another_resident_cannot_apply_for_someone_elses_record_by_posting_its_id(
    owned: CopyApplication, make_resident: Any, resident_client: Any, inpatient: list[Any]
) -> None:
    other = make_resident(name="李建国", id_number=id_number("19500101", 11))
    client = resident_client(other)
    stolen = owned.admission_links.get().admission_id
    client.post("/h5/records/apply/", {"institution_id": inpatient[0].pk})
    client.post("/h5/records/apply/applicant/", {"applicant_type": "self"})
    response = client.post("/h5/records/apply/admissions/", {"admission_ids": [stolen]})
    assert services.NO_ARCHIVE_MESSAGE in response.content.decode()
    with pytest.raises(services.ApplicationError, match="未在该机构查询到您的归档住院病案"):
        services.submit_application(
            actor=other,
            institution_id=inpatient[0].pk,
            admission_ids=[stolen],
            applicant_type="self",
            purpose="transfer",
            sections=["front_page"],
            copies=1,
            delivery_method="electronic",
        )
    assert CopyApplication.objects.unscoped().count() == 1


@pytest.mark.req("MR-P5")
def test_the_resident_opens_the_status_message_and_marks_it_handled(
    owned: CopyApplication, resident_client: Any
) -> None:
    message = _model("messaging.Message").objects.get(resident_id=owned.resident_id)
    assert message.title == "病案复印申请已提交"
    client = resident_client(owned.resident)
    page = client.get(f"/h5/messages/{message.pk}/").content.decode()
    assert f"申请编号 {owned.number}，状态：已提交。" in page
    client.post(f"/h5/messages/{message.pk}/handle/")
    message.refresh_from_db()
    assert message.handled_at is not None


def test_a_non_institution_value_or_a_closed_one_is_refused_on_the_first_step(
    make_resident: Any, resident_client: Any
) -> None:
    from django.apps import apps

    client = resident_client(make_resident())
    station = (
        apps.get_model("institutions", "Institution")
        .objects.unscoped()
        .filter(has_inpatient=False)
        .first()
    )
    assert station is not None
    for value in ("abc", "999999", str(station.pk)):
        page = client.post("/h5/records/apply/", {"institution_id": value}).content.decode()
        assert "请选择开展住院业务的医疗机构" in page
    assert "medical_records_draft" not in client.session
