"""Demo copy applications: every status for the demo residents, and a district's history.

The twelve verified demo residents (signed in through the WeChat simulator) each get
applications for their archived stays, spread over every status a resident can see —
submitted, in review, second review, rejected, ready to download (with the watermarked
copy built), downloaded, posted with a tracking number, delivered, cancelled. Patients of
the archives who have no WeChat account get a history of finished applications over
the last months (copies printed and posted by the record room), so the statistics have
something to count.

Everything goes through the services (numbers, timelines, audit, notifications); only
the timestamps are moved back afterwards so the history has a shape. Idempotent: a
second run finds demo applications and adds none.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Iterator
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from jingan.core.public import check_id_number, set_institution_settings
from jingan.lib.demo import Scale
from jingan.medical_records import copy_services, services
from jingan.medical_records.archive_demo import archive_simulator
from jingan.medical_records.archive_models import ArchivedAdmission, ArchiveSource
from jingan.medical_records.archive_services import fetch_pending_documents
from jingan.medical_records.models import (
    ApplicationEvent,
    ApplicationStatus,
    CopyApplication,
    DeliveryMethod,
)

# At most: one application per archived stay of the patients without a WeChat account.
HISTORY_SIZE: dict[str, int] = {"tiny": 0, "small": 240, "district": 3000}
HISTORY_OPENID_PREFIX = "demo-archive-patient-"
PURPOSES = ("reimbursement", "insurance_claim", "transfer", "judicial", "personal", "other")
DEMO_ADDRESS = services.MailAddress(
    "王秀英", "13800000000", "上海市静安区万荣路 700 号 3 号楼 502 室"
)

COPY_STATUSES = frozenset(
    {ApplicationStatus.READY, ApplicationStatus.SHIPPED, ApplicationStatus.COMPLETED}
)

# (final status, delivery) for the demo residents' applications, dealt out in turn.
RESIDENT_PLAN: tuple[tuple[str, str], ...] = (
    (ApplicationStatus.READY, DeliveryMethod.ELECTRONIC),
    (ApplicationStatus.UNDER_REVIEW, DeliveryMethod.ELECTRONIC),
    (ApplicationStatus.SHIPPED, DeliveryMethod.MAIL),
    (ApplicationStatus.REJECTED, DeliveryMethod.ELECTRONIC),
    (ApplicationStatus.COMPLETED, DeliveryMethod.ELECTRONIC),
    (ApplicationStatus.SUBMITTED, DeliveryMethod.ELECTRONIC),
    (ApplicationStatus.COMPLETED, DeliveryMethod.MAIL),
    (ApplicationStatus.CANCELLED, DeliveryMethod.ELECTRONIC),
    (ApplicationStatus.SECOND_REVIEW, DeliveryMethod.ELECTRONIC),
)


def _resident_model() -> Any:
    return apps.get_model("residents", "Resident")


def _user_model() -> Any:
    return apps.get_model("accounts", "User")


def _staff(institution: Any, suffix: str) -> Any | None:
    return _user_model().objects.filter(username=f"jg{institution.code[-3:]}-{suffix}").first()


def _admissions_by_person() -> dict[str, list[ArchivedAdmission]]:
    people: dict[str, list[ArchivedAdmission]] = {}
    enabled = ArchiveSource.objects.unscoped().filter(is_enabled=True).values("institution_id")
    rows = (
        ArchivedAdmission.objects.unscoped()
        .filter(institution_id__in=enabled)
        .select_related("institution")
        .order_by("discharged_on", "pk")
    )
    for admission in rows:
        people.setdefault(admission.patient_id_number, []).append(admission)
    return people


def _submit(
    resident: Any,
    admission: ArchivedAdmission,
    *,
    purpose: str,
    delivery: str,
) -> CopyApplication:
    return services.submit_application(
        actor=resident,
        institution_id=admission.institution_id,
        admission_ids=[admission.pk],
        applicant_type="self",
        purpose=purpose,
        sections=services.PURPOSE_SECTIONS[purpose],
        copies=1 if delivery == DeliveryMethod.ELECTRONIC else 2,
        delivery_method=delivery,
        mail=DEMO_ADDRESS if delivery == DeliveryMethod.MAIL else None,
    )


def _drive(application: CopyApplication, final: str, *, make_copy: bool) -> None:
    """Take a submitted application through the record room to ``final``."""
    if final == ApplicationStatus.SUBMITTED:
        return
    if final == ApplicationStatus.CANCELLED:
        services.cancel_application(actor=application.resident, number=application.number)
        return
    institution = application.institution
    reviewer = _staff(institution, "reviewer")
    if reviewer is None:
        return
    pk = application.pk
    services.start_review(actor=reviewer, application_id=pk)
    if final == ApplicationStatus.UNDER_REVIEW:
        return
    if final == ApplicationStatus.REJECTED:
        services.reject_application(
            actor=reviewer,
            application_id=pk,
            reason_code="materials_unclear",
            note="出院小结日期与申请不符，请核对住院次数后重新申请",
        )
        return
    services.approve_application(actor=reviewer, application_id=pk)
    application.refresh_from_db()
    if application.status == ApplicationStatus.SECOND_REVIEW:
        if final == ApplicationStatus.SECOND_REVIEW:
            return
        checker = _staff(institution, "checker")
        if checker is None:
            return
        services.second_review_application(actor=checker, application_id=pk)
    _make_copy(application, make_copy=make_copy, reviewer=reviewer)
    if final == ApplicationStatus.READY:
        return
    if application.delivery_method == DeliveryMethod.ELECTRONIC:
        services.mark_downloaded(actor=application.resident, number=application.number)
        return
    services.mark_shipped(
        actor=reviewer, application_id=pk, tracking_no=f"SF{1_400_000_000_000 + pk}"
    )
    if final == ApplicationStatus.COMPLETED:
        services.complete_application(actor=reviewer, application_id=pk)


def _make_copy(application: CopyApplication, *, make_copy: bool, reviewer: Any) -> None:
    application.refresh_from_db()
    if application.status not in (ApplicationStatus.APPROVED, ApplicationStatus.PREPARING):
        return
    if make_copy:
        copy_services.prepare_copy(application.pk)
        application.refresh_from_db()
        if application.status == ApplicationStatus.READY:
            return
    # History: the record room printed a mailed copy by hand.
    if application.status == ApplicationStatus.APPROVED:
        services.mark_preparing(actor=reviewer, application_id=application.pk)
    services.mark_ready(actor=reviewer, application_id=application.pk)


def _backdate(
    application: CopyApplication, submitted: datetime.datetime, rng: random.Random
) -> None:
    """Move an application's timeline back to start at ``submitted``, in order, never later
    than now: the steps spread over up to four days (less when submitted more recently)."""
    events = list(ApplicationEvent.objects.filter(application=application).order_by("pk"))
    span = min(timezone.now() - submitted, datetime.timedelta(days=4)) * 0.9
    gaps = [rng.uniform(0.3, 1.0) for _ in events[1:]]
    moments = [submitted]
    for gap in gaps:
        moments.append(moments[-1] + span * (gap / max(sum(gaps), 1.0)))
    by_status: dict[str, datetime.datetime] = {}
    for event, moment in zip(events, moments, strict=True):
        ApplicationEvent.objects.filter(pk=event.pk).update(occurred_at=moment)
        by_status.setdefault(event.to_status, moment)
    fields: dict[str, Any] = {"submitted_at": submitted, "updated_at": moments[-1]}
    reviewed = [
        by_status[status]
        for status in (
            ApplicationStatus.SECOND_REVIEW,
            ApplicationStatus.APPROVED,
            ApplicationStatus.REJECTED,
        )
        if status in by_status
    ]
    if application.reviewed_at and reviewed:
        fields["reviewed_at"] = max(reviewed)
    if application.completed_at:
        fields["completed_at"] = moments[-1]
    CopyApplication.objects.unscoped().filter(pk=application.pk).update(**fields)


def _resident_pairs() -> Iterator[tuple[Any, ArchivedAdmission]]:
    """(verified demo resident, one of their archived stays), one stay per resident in turn."""
    people = _admissions_by_person()
    residents = list(
        _resident_model()
        .objects.filter(is_verified=True)
        .exclude(openid__startswith=HISTORY_OPENID_PREFIX)
        .order_by("pk")
    )
    stays = {r.pk: list(reversed(people.get(r.id_number, []))) for r in residents}
    for round_ in range(3):
        for resident in residents:
            if round_ < len(stays[resident.pk]):
                yield resident, stays[resident.pk][round_]


def _two_level(institution: Any) -> None:
    set_institution_settings(
        actor=None, institution_id=institution.pk, values={services.REVIEW_MODE_KEY: "two_level"}
    )


def load_resident_applications(scale: Scale, advance: Callable[[int], None]) -> None:
    if CopyApplication.objects.unscoped().exists():
        advance(len(RESIDENT_PLAN))
        return
    pairs = list(_resident_pairs())
    plan = [RESIDENT_PLAN[position % len(RESIDENT_PLAN)] for position in range(len(pairs))]
    # The record room of the stay planned for second review works in two levels.
    for (_, admission), (final, _) in zip(pairs, plan, strict=True):
        if final == ApplicationStatus.SECOND_REVIEW:
            _two_level(admission.institution)
            break
    with archive_simulator() as (_, adapter_factory):
        rng = random.Random(20261125)
        now = timezone.now()
        for position, ((resident, admission), (final, delivery)) in enumerate(
            zip(pairs, plan, strict=True)
        ):
            if final in COPY_STATUSES:
                # The copy is made from the stay's documents: fetch what the first sync left.
                fetch_pending_documents(
                    institution_id=admission.institution_id,
                    admission_ids=[admission.pk],
                    limit=100,
                    adapter_factory=adapter_factory,
                )
            with transaction.atomic():
                application = _submit(
                    resident,
                    admission,
                    purpose=PURPOSES[position % len(PURPOSES)],
                    delivery=delivery,
                )
            _drive(application, final, make_copy=True)
            application.refresh_from_db()
            _backdate(application, now - datetime.timedelta(minutes=20 + position * 15), rng)
            if position < len(RESIDENT_PLAN):
                advance(1)
    advance(max(0, len(RESIDENT_PLAN) - len(pairs)))


def _history_residents(people: dict[str, list[ArchivedAdmission]]) -> list[tuple[Any, Any]]:
    """Residents for archive patients who have no WeChat demo account (verified, no login)."""
    resident_model = _resident_model()
    known = {r.id_number for r in resident_model.objects.exclude(id_number="")}
    pairs: list[tuple[Any, Any]] = []
    for number, (id_number, stays) in enumerate(sorted(people.items())):
        if id_number in known:
            continue
        facts = check_id_number(id_number)
        resident, _ = resident_model.objects.get_or_create(
            openid=f"{HISTORY_OPENID_PREFIX}{number:05d}",
            defaults={
                "nickname": "",
                "name": stays[0].patient_name,
                "id_number": facts.id_number,
                "birth_date": facts.birth_date,
                "sex": facts.sex,
                "is_verified": True,
                "verified_at": timezone.now() - datetime.timedelta(days=200),
                "verification_score": 0.9,
                "verification_reference": f"DEMOH{number:05d}",
            },
        )
        pairs.extend((resident, stay) for stay in stays)
    return pairs


def load_history(scale: Scale, advance: Callable[[int], None]) -> None:
    size = HISTORY_SIZE[scale]
    if (
        CopyApplication.objects.unscoped()
        .filter(resident__openid__startswith=HISTORY_OPENID_PREFIX)
        .exists()
    ):
        advance(size)
        return
    rng = random.Random(2026)
    pairs = _history_residents(_admissions_by_person())
    rng.shuffle(pairs)
    now = timezone.now()
    done = 0
    for resident, admission in pairs[:size]:
        roll = rng.random()
        final = (
            ApplicationStatus.COMPLETED
            if roll < 0.8
            else ApplicationStatus.REJECTED
            if roll < 0.93
            else ApplicationStatus.CANCELLED
        )
        # The history is loaded without section documents, so its finished applications
        # are copies the record room printed and posted.
        delivery = (
            DeliveryMethod.MAIL
            if final == ApplicationStatus.COMPLETED or rng.random() < 0.3
            else DeliveryMethod.ELECTRONIC
        )
        purpose = rng.choices(PURPOSES, weights=(40, 30, 12, 6, 8, 4))[0]
        days_ago = 1 + int(rng.triangular(0, 180, 10))
        submitted = now - datetime.timedelta(days=days_ago, hours=rng.uniform(0, 10))
        submitted = submitted.replace(hour=rng.choice((9, 10, 11, 14, 15, 16, 20, 21)))
        with transaction.atomic():
            application = _submit(resident, admission, purpose=purpose, delivery=delivery)
            # Each history resident has one to three stays: move the first one back at
            # once, so the next submission's daily limit counts only today's.
            CopyApplication.objects.unscoped().filter(pk=application.pk).update(
                submitted_at=submitted
            )
        _drive(application, final, make_copy=False)
        application.refresh_from_db()
        _backdate(application, submitted, rng)
        done += 1
        advance(1)
    # The history's notifications would have been read and delivered months ago; these
    # patients are not followers of the simulated public account, so none are kept.
    apps.get_model("messaging", "Message").objects.filter(
        resident__openid__startswith=HISTORY_OPENID_PREFIX
    ).delete()
    advance(size - done)
