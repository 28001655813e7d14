"""Rejected HIS messages in the console: kept with the reason, shown masked, the original
revealed only on an audited click, replayed into the journal after a fix, or discarded
with a note; outsiders see and change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from jingan.accompaniment.visits.centre import journal
from jingan.accompaniment.visits.console_queries import mask_raw_message
from jingan.accompaniment.visits.inputs import parser_for
from jingan.accompaniment.visits.models import RejectedMessage, VisitEvent
from jingan.accompaniment.visits.tests.console_helpers import (
    PATIENT_ID,
    PATIENT_NAME,
    audit_entries,
    institutions,
)
from jingan.integrations.his.port import MessageRejected

MOBILE = "13912345678"


def canonical(code: str, visit: str = "MZ-R1") -> str:
    return json.dumps(
        [
            {
                "event_id": f"{visit}-1",
                "institution": code,
                "visit": visit,
                "node": "registration",
                "status": "unpaid",
                "occurred_at": "2026-11-26T09:00:00+08:00",
                "patient": {"name": PATIENT_NAME, "id_number": PATIENT_ID, "phone": MOBILE},
                "payload": {"department_name": "内科", "fee": "25.00"},
            },
            {
                "event_id": f"{visit}-2",
                "institution": code,
                "visit": visit,
                "node": "registration",
                "status": "registered",
                "occurred_at": "2026-11-26T09:02:00+08:00",
                "payload": {"department_name": "内科"},
            },
        ],
        ensure_ascii=False,
    )


def kept(code: str, *, raw: str | None = None, visit: str = "MZ-R1") -> RejectedMessage:
    """A message an earlier mapping refused; the mapping now takes it (the "fix")."""
    rejected_id = journal.reject(
        channel="api",
        raw=raw if raw is not None else canonical(code, visit),
        error=MessageRejected("unknown_status", "挂号状态代码 9 无法识别"),
        source="third-party",
        institution_code=code,
    )
    return RejectedMessage.objects.unscoped().get(pk=rejected_id)


@pytest.fixture
def places(db: None) -> tuple[Any, Any]:
    central, other = institutions(2)
    return central, other


@pytest.fixture
def admin(places: tuple[Any, Any], make_staff: Any, client_for: Any) -> tuple[Any, Client]:
    user = make_staff("inst-admin", roles=("institution_admin",), institution=places[0])
    return user, client_for(user)


def detail(message: RejectedMessage, tail: str = "") -> str:
    return f"/console/visits/rejected/{message.pk}/{tail}"


@pytest.mark.req("HI-2", "VA-3")
@pytest.mark.django_db
def test_replay_after_a_fix_turns_a_kept_message_into_journal_events(
    places: tuple[Any, Any], make_staff: Any, client_for: Any
) -> None:
    central, _ = places
    operator = make_staff("sysadmin", roles=("system_admin",))
    client = client_for(operator)
    # The institution was not yet switched on when its first message came in.
    central.is_active = False
    central.save(update_fields=["is_active"])
    result = journal.take(
        channel="api",
        raw=canonical(central.code),
        parse=parser_for("api", "third-party"),
        source="third-party",
        institution_code=central.code,
    )
    assert result.rejected is not None
    message = RejectedMessage.objects.unscoped().get(pk=result.rejected_id)
    assert (message.code, message.institution_id) == ("unknown_institution", None)
    assert (
        f"未知或未启用的医疗机构编码：{central.code}"
        in client.get(detail(message)).content.decode()
    )

    # Replaying before the fix keeps it, with the reason of this attempt.
    client.post(detail(message, "replay/"))
    message.refresh_from_db()
    assert (message.status, message.attempts) == (RejectedMessage.Status.PENDING, 1)
    assert message.replay_result == f"仍被拒绝：未知或未启用的医疗机构编码：{central.code}"
    assert not VisitEvent.objects.unscoped().exists()

    central.is_active = True
    central.save(update_fields=["is_active"])
    response = client.post(detail(message, "replay/"), follow=True)

    assert "重放成功：已接收 2 个事件，重复 0 个" in response.content.decode()
    message.refresh_from_db()
    assert (message.status, message.attempts, message.replayed_by_id) == (
        RejectedMessage.Status.REPLAYED,
        2,
        operator.pk,
    )
    assert list(
        VisitEvent.objects.unscoped()
        .order_by("id")
        .values_list("source", "source_event_id", "institution_id", "node", "status")
    ) == [
        ("third-party", "MZ-R1-1", central.pk, "registration", "unpaid"),
        ("third-party", "MZ-R1-2", central.pk, "registration", "registered"),
    ]
    assert (
        audit_entries()
        .filter(action="visits.rejected_replayed", object_id=str(message.pk), outcome="success")
        .exists()
    )
    # Done is done: a second replay changes nothing.
    client.post(detail(message, "replay/"))
    message.refresh_from_db()
    assert message.attempts == 2
    assert VisitEvent.objects.unscoped().count() == 2


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_an_institution_admin_replays_and_discards_their_own_messages(
    places: tuple[Any, Any], admin: tuple[Any, Client]
) -> None:
    central, _ = places
    user, client = admin
    first = kept(central.code)
    second = kept(central.code, raw="MSH|^~\\&|HIS|X|", visit="MZ-R2")
    listing = client.get("/console/visits/rejected/?status=pending").content.decode()
    assert listing.count("<tr data-rejected=") == 2
    assert 'data-count="pending">2<' in listing

    client.post(detail(first, "replay/"))
    first.refresh_from_db()
    assert first.status == RejectedMessage.Status.REPLAYED
    assert VisitEvent.objects.unscoped().filter(visit_key="MZ-R1").count() == 2

    blank = client.post(detail(second, "discard/"), {"note": "   "})
    assert blank.status_code == 422
    assert "请填写忽略原因" in blank.content.decode()
    second.refresh_from_db()
    assert second.status == RejectedMessage.Status.PENDING

    client.post(detail(second, "discard/"), {"note": "HIS 联调测试消息"})
    second.refresh_from_db()
    assert (second.status, second.replay_result, second.replayed_by_id) == (
        RejectedMessage.Status.DISCARDED,
        "已忽略：HIS 联调测试消息",
        user.pk,
    )
    assert (
        audit_entries()
        .filter(action="visits.rejected_discarded", object_id=str(second.pk))
        .exists()
    )
    discarded = client.get("/console/visits/rejected/?status=discarded").content.decode()
    assert discarded.count("<tr data-rejected=") == 1
    assert f'<tr data-rejected="{second.pk}">' in discarded
    assert (
        "没有符合条件的消息" in client.get("/console/visits/rejected/?channel=hl7").content.decode()
    )


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_the_raw_message_is_masked_until_an_audited_reveal(
    places: tuple[Any, Any], admin: tuple[Any, Client], make_staff: Any, client_for: Any
) -> None:
    central, _ = places
    user, client = admin
    message = kept(central.code)

    page = client.get(detail(message)).content.decode()
    assert PATIENT_NAME not in page
    assert PATIENT_ID not in page
    assert MOBILE not in page
    assert "王**" in page
    assert "310***********1236" in page
    assert "139****5678" in page
    assert not audit_entries().filter(action="visits.rejected_raw_read").exists()

    revealed = client.post(detail(message, "reveal/")).content.decode()
    assert PATIENT_NAME in revealed
    assert PATIENT_ID in revealed
    assert "本次查看已记入审计日志" in revealed
    entry = audit_entries().get(action="visits.rejected_raw_read")
    assert (entry.actor_id, entry.object_id, entry.institution_id) == (
        user.pk,
        str(message.pk),
        central.pk,
    )
    # The regulator reads the masked copy only.
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    assert PATIENT_NAME not in regulator.get(detail(message)).content.decode()
    assert regulator.post(detail(message, "reveal/")).status_code == 403
    assert audit_entries().filter(action="visits.rejected_raw_read").count() == 1


@pytest.mark.req("HI-2")
@pytest.mark.django_db
def test_outsiders_cannot_read_replay_or_discard_a_kept_message(
    places: tuple[Any, Any],
    make_staff: Any,
    client_for: Any,
    make_resident: Any,
    resident_client: Any,
) -> None:
    central, other = places
    message = kept(central.code)
    orphan_id = journal.reject(
        channel="rest",
        raw='{"visit": "X"}',
        error=MessageRejected("unknown_institution", "未知的医疗机构编码：999"),
    )
    foreign = client_for(make_staff("other-admin", roles=("institution_admin",), institution=other))
    regulator = client_for(make_staff("regulator", roles=("district_regulator",)))
    no_role = client_for(make_staff("clerk", institution=central))
    resident = resident_client(make_resident())
    anonymous = Client()

    listing = foreign.get("/console/visits/rejected/").content.decode()
    assert "没有被拒的消息" in listing
    assert foreign.get(f"/console/visits/rejected/{orphan_id}/").status_code == 404
    for tail in ("", "reveal/", "replay/", "discard/"):
        method = foreign.get if not tail else foreign.post
        assert method(detail(message, tail), {"note": "x"}).status_code == 404
    assert regulator.get(detail(message)).status_code == 200
    assert regulator.get(f"/console/visits/rejected/{orphan_id}/").status_code == 200
    for tail in ("reveal/", "replay/", "discard/"):
        assert regulator.post(detail(message, tail), {"note": "x"}).status_code == 403
    assert no_role.get("/console/visits/rejected/").status_code == 403
    assert no_role.get(detail(message)).status_code == 403
    for client in (anonymous, resident):
        for tail in ("", "replay/", "discard/", "reveal/"):
            method = client.get if not tail else client.post
            response = method(detail(message, tail), {"note": "x"})
            assert response.status_code == 302
            assert response["Location"].startswith("/console/login/")
    message.refresh_from_db()
    assert (message.status, message.attempts, message.replay_result) == (
        RejectedMessage.Status.PENDING,
        0,
        "",
    )
    assert not VisitEvent.objects.unscoped().exists()
    assert not audit_entries().filter(action__startswith="visits.rejected").exists()


HL7_ADT = "\r".join(
    [
        "MSH|^~\\&|HIS|310106001|JINGAN|PLATFORM|20261126090000||ADT^A04^ADT_A01|M0001|P|2.5|||||CHN|UNICODE UTF-8",
        "EVN|A04|20261126090000",
        f"PID|1||C0012345^^^HIS^PI||{PATIENT_NAME}^wang xiulan||19520304|F|||静安区北京西路 1 号||{MOBILE}||||||{PATIENT_ID}",
        "PV1|1|O|NEI^^^内科||||D001^李医生",
    ]
)
SOAP = (
    '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
    "<HIPMessageServer><action>OutPatientInfoAdd</action><message>"
    f"&lt;patient&gt;&lt;id root=&quot;2.16.156.10011.1.3&quot; extension=&quot;{PATIENT_ID}&quot;/&gt;"
    f"&lt;name&gt;{PATIENT_NAME}&lt;/name&gt;&lt;telecom value=&quot;tel:{MOBILE}&quot;/&gt;"
    "&lt;/patient&gt;"
    f"</message><patientName>{PATIENT_NAME}</patientName></HIPMessageServer></soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize(
    ("channel", "raw"),
    [
        ("hl7", HL7_ADT),
        ("soap", SOAP),
        ("views", json.dumps({"BRXM": PATIENT_NAME, "SFZH": PATIENT_ID}, ensure_ascii=False)),
        ("rest", '{"patient_name": "' + PATIENT_NAME + '", "id_number": "' + PATIENT_ID + '", '),
    ],
)
def test_masking_hides_the_patient_in_every_dialect_even_when_malformed(
    channel: str, raw: str
) -> None:
    masked = mask_raw_message(channel, raw)
    assert PATIENT_NAME not in masked
    assert PATIENT_ID not in masked
    assert MOBILE not in masked
    assert "王**" in masked


def test_masking_keeps_what_is_not_personal() -> None:
    masked = mask_raw_message("hl7", HL7_ADT)
    assert masked.splitlines()[0] == HL7_ADT.split("\r")[0]
    assert "PV1|1|O|NEI^^^内科||||D001^李医生" in masked
    assert "C0012345" not in masked
    items = json.dumps(
        {"patient": {"name": PATIENT_NAME}, "payload": {"items": [{"name": "血常规"}]}},
        ensure_ascii=False,
    )
    assert json.loads(mask_raw_message("api", items)) == {
        "patient": {"name": "王**"},
        "payload": {"items": [{"name": "血常规"}]},
    }
