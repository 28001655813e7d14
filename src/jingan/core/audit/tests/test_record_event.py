from __future__ import annotations

import json
from datetime import UTC

import pytest
from django.test import RequestFactory

from jingan.core.audit.chain import canonical_bytes, chain_mac_valid, entry_values
from jingan.core.audit.models import GENESIS, AppendOnlyError, AuditEntry, ChainHead
from jingan.core.audit.services import record_event, record_personal_data_read
from jingan.core.audit.tests.lifting import LIFTS_TRIGGERS

pytestmark = [pytest.mark.django_db, pytest.mark.req("CR-3")]


def test_record_event_writes_exactly_one_chained_row_with_the_given_fields(make_staff):
    # make_staff grants a role, which is itself audited: count from where it left off.
    actor = make_staff("auditee", permissions=("runtime.view_platform_status",))
    request = RequestFactory().get(
        "/x", REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 400
    )

    earlier = AuditEntry.objects.order_by("sequence").last()
    start = earlier.sequence if earlier else 0

    record_event(
        action="institutions.institution.create",
        actor=actor,
        resident_id=42,
        object_type="institution",
        object_id="7",
        institution_id=7,
        detail={"name": "静安区中心医院", "mobile": "13812345678"},
        request=request,
    )

    assert AuditEntry.objects.count() == start + 1
    entry = AuditEntry.objects.get(sequence=start + 1)
    assert entry.prev_mac == (earlier.mac if earlier else GENESIS)
    assert entry.action == "institutions.institution.create"
    assert entry.outcome == "success"
    assert entry.actor_id == actor.pk
    assert entry.actor_username == "auditee"
    assert entry.actor_roles == "test-auditee"
    assert entry.resident_id == 42
    assert entry.object_type == "institution"
    assert entry.object_id == "7"
    assert entry.institution_id == 7
    assert entry.ip == "198.51.100.7"
    assert entry.user_agent == ("Mozilla/5.0 " + "x" * 400)[:256]
    assert entry.request_id == request.request_id
    assert len(entry.request_id) == 32
    assert entry.occurred_at.tzinfo is not None
    assert json.loads(entry.detail) == {"mobile": "138****5678", "name": "静安区中心医院"}
    assert entry.detail == '{"mobile":"138****5678","name":"静安区中心医院"}'
    assert chain_mac_valid(entry_values(entry), entry.mac)
    head = ChainHead.objects.get()
    assert (head.sequence, head.mac) == (start + 1, entry.mac)


def test_entries_link_to_their_predecessor(make_staff):
    actor = make_staff("auditee")
    record_event(action="auth.login.success", actor=actor)
    record_event(action="auth.logout", actor=actor, outcome="success")
    record_event(action="auth.login.failure", outcome="failure", detail={"username": "nobody"})

    first, second, third = AuditEntry.objects.order_by("sequence")[AuditEntry.objects.count() - 3 :]
    assert [second.sequence, third.sequence] == [first.sequence + 1, first.sequence + 2]
    assert second.prev_mac == first.mac
    assert third.prev_mac == second.mac
    assert third.actor_id is None
    assert third.actor_username == ""
    assert third.outcome == "failure"


def test_personal_data_read_is_audited_with_the_resident_and_what(make_staff):
    actor = make_staff("doctor")
    record_personal_data_read(actor=actor, resident_id=9, what="身份证号")

    entry = AuditEntry.objects.order_by("sequence").last()
    assert entry.action == "resident.personal_data.read"
    assert (entry.resident_id, entry.object_type, entry.object_id) == (9, "resident", "9")
    assert entry.detail_data == {"what": "身份证号"}


@LIFTS_TRIGGERS
def test_canonical_form_holds_microsecond_utc_time(empty_chain):
    record_event(action="auth.logout")
    entry = AuditEntry.objects.get()
    text = canonical_bytes(entry_values(entry)).decode()
    stamp = entry.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert f'"occurred_at":"{stamp}"' in text
    assert text.startswith('{"action":"auth.logout",')


@LIFTS_TRIGGERS
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "Login"}, "audit action must be a dotted lower-case name, got 'Login'"),
        (
            {"action": "auth.login", "outcome": "maybe"},
            "audit outcome must be one of ['denied', 'failure', 'success'], got 'maybe'",
        ),
    ],
)
def test_bad_events_are_refused(kwargs, message, empty_chain):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        record_event(**kwargs)
    assert AuditEntry.objects.count() == 0


@LIFTS_TRIGGERS
def test_entries_refuse_update_and_delete_in_python(empty_chain):
    record_event(action="auth.logout")
    entry = AuditEntry.objects.get()
    entry.action = "auth.login.success"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="x.y")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get().action == "auth.logout"
