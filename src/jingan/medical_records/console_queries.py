"""Scoped reads of the record-room console: the application list, one application, the
review queue and the statistics (MR-A2..A5).

Every read starts from ``.restrict(user, permission)``: a district grant sees every
institution, an institution grant its own, nothing else. Aggregations use only portable
ORM functions (``Count``, ``Trunc*``) so the same figures come out of SQLite, PostgreSQL
and MariaDB.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from jingan.core.public import (
    InvalidIdNumber,
    blind_index,
    check_id_number,
    dictionary_entries,
    get_for_user,
    label_for,
)
from jingan.medical_records.archive_models import ArchivedSection, UploadStatus
from jingan.medical_records.models import (
    STATUS_COLOURS,
    ApplicantType,
    ApplicationAdmission,
    ApplicationEvent,
    ApplicationStatus,
    CopyApplication,
    DeliveryMethod,
)
from jingan.medical_records.services import REVIEW_PERMISSION, SECOND_REVIEW_PERMISSION

VIEW_PERMISSION = "medical_records.view_copyapplication"

# What waits for whom (MR-A3): first-level reviewers take new and started applications,
# checkers the ones a first reviewer passed on in two-level mode.
FIRST_REVIEW_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW)
SECOND_REVIEW_STATUSES = (ApplicationStatus.SECOND_REVIEW,)

GRAINS: dict[str, str] = {"day": "按日", "week": "按周", "month": "按月"}
_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def _institution_model() -> Any:
    # By registry, not import: business contexts reach core models only through its door.
    return apps.get_model("institutions", "Institution")


def _day_start(day: datetime.date) -> datetime.datetime:
    """Local midnight at the start of ``day`` (aware)."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@dataclass(frozen=True)
class ApplicationFilters:
    """The list's filter bar and the review queue's custom search."""

    status: str = ""
    purpose: str = ""
    applicant_type: str = ""
    delivery_method: str = ""
    institution_id: int | None = None
    submitted_from: datetime.date | None = None
    submitted_to: datetime.date | None = None
    query: str = ""

    def described(self) -> dict[str, object]:
        """The filters that are set, for the audit row of an export."""
        values = {
            "status": self.status,
            "purpose": self.purpose,
            "applicant_type": self.applicant_type,
            "delivery_method": self.delivery_method,
            "institution_id": self.institution_id,
            "submitted_from": self.submitted_from.isoformat() if self.submitted_from else "",
            "submitted_to": self.submitted_to.isoformat() if self.submitted_to else "",
            # The search text may be an ID number: the audit row keeps only that one was given.
            "query": "(given)" if self.query else "",
        }
        return {key: value for key, value in values.items() if value not in ("", None)}


def _search(queryset: QuerySet[CopyApplication], text: str) -> QuerySet[CopyApplication]:
    """By application number (whole or a prefix) or by the patient's ID number (exact)."""
    text = text.strip()
    if not text:
        return queryset
    condition = Q(number__istartswith=text)
    index = blind_index(CopyApplication, "patient_id_index", text)
    if index:
        condition |= Q(patient_id_index=index)
    return queryset.filter(condition)


def filter_applications(
    queryset: QuerySet[CopyApplication],
    filters: ApplicationFilters,
    *,
    with_status: bool = True,
) -> QuerySet[CopyApplication]:
    """``queryset`` narrowed by ``filters`` (the status one left out for per-status counts)."""
    if with_status and filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.purpose:
        queryset = queryset.filter(purpose=filters.purpose)
    if filters.applicant_type:
        queryset = queryset.filter(applicant_type=filters.applicant_type)
    if filters.delivery_method:
        queryset = queryset.filter(delivery_method=filters.delivery_method)
    if filters.institution_id:
        queryset = queryset.filter(institution_id=filters.institution_id)
    if filters.submitted_from:
        queryset = queryset.filter(submitted_at__gte=_day_start(filters.submitted_from))
    if filters.submitted_to:
        end = _day_start(filters.submitted_to + datetime.timedelta(days=1))
        queryset = queryset.filter(submitted_at__lt=end)
    return _search(queryset, filters.query)


def applications_for_console(user: Any, filters: ApplicationFilters) -> QuerySet[CopyApplication]:
    """The applications ``user`` may see, filtered, newest first (MR-A2)."""
    queryset = CopyApplication.objects.restrict(user, VIEW_PERMISSION).select_related("institution")
    return filter_applications(queryset, filters).order_by("-submitted_at", "-pk")


@dataclass(frozen=True)
class StatusCount:
    code: str
    label: str
    colour: str
    count: int


def _status_counts(queryset: QuerySet[CopyApplication]) -> list[StatusCount]:
    counts = dict(
        queryset.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return [
        StatusCount(status.value, status.label, STATUS_COLOURS[status], counts.get(status, 0))
        for status in ApplicationStatus
    ]


def status_counts_for_console(user: Any, filters: ApplicationFilters) -> list[StatusCount]:
    """How many applications of each status match every filter but the status one."""
    queryset = CopyApplication.objects.restrict(user, VIEW_PERMISSION)
    return _status_counts(filter_applications(queryset, filters, with_status=False))


def institutions_for(user: Any, permission: str = VIEW_PERMISSION) -> list[Any]:
    """The inpatient institutions in ``user``'s scope, for the institution filter."""
    return list(
        _institution_model()
        .objects.restrict(user, permission)
        .filter(has_inpatient=True)
        .order_by("code")
    )


def get_application_for_console(user: Any, pk: int) -> CopyApplication:
    """One application in ``user``'s view scope with what its detail page shows, else 404."""
    queryset = CopyApplication.objects.select_related(
        "institution", "resident", "first_reviewer"
    ).prefetch_related(
        "materials",
        "events",
        Prefetch(
            "admission_links",
            queryset=ApplicationAdmission.objects.select_related("admission").order_by(
                "-admission__discharged_on", "pk"
            ),
        ),
    )
    return get_for_user(queryset, user, VIEW_PERMISSION, pk=pk)


# -- review queue ------------------------------------------------------------------------


def queue_statuses_for(user: Any) -> list[str]:
    """The statuses that wait for this user: first review, second review, or both."""
    statuses: list[str] = []
    if user.has_perm(REVIEW_PERMISSION):
        statuses += FIRST_REVIEW_STATUSES
    if user.has_perm(SECOND_REVIEW_PERMISSION):
        statuses += SECOND_REVIEW_STATUSES
    return statuses


def review_queue(user: Any, filters: ApplicationFilters) -> QuerySet[CopyApplication]:
    """What waits for ``user`` to act on, oldest first (MR-A3).

    A checker does not see the applications they passed at the first level themselves:
    the second review must be somebody else's.
    """
    first = CopyApplication.objects.restrict(user, REVIEW_PERMISSION).filter(
        status__in=FIRST_REVIEW_STATUSES
    )
    waiting = Q(pk__in=first.values("pk"))
    if user.has_perm(SECOND_REVIEW_PERMISSION):
        second = (
            CopyApplication.objects.restrict(user, SECOND_REVIEW_PERMISSION)
            .filter(status__in=SECOND_REVIEW_STATUSES)
            .exclude(first_reviewer_id=user.pk)
        )
        waiting |= Q(pk__in=second.values("pk"))
    queryset = (
        CopyApplication.objects.restrict(user, REVIEW_PERMISSION)
        .filter(waiting)
        .select_related("institution")
    )
    return filter_applications(queryset, filters).order_by("submitted_at", "pk")


def queue_counts_for(user: Any, filters: ApplicationFilters) -> list[StatusCount]:
    """Per waiting status, how many of the queue match the other filters."""
    statuses = set(queue_statuses_for(user))
    queryset = review_queue(user, ApplicationFilters(**{**filters.__dict__, "status": ""}))
    return [row for row in _status_counts(queryset) if row.code in statuses]


# -- one application's detail -----------------------------------------------------------


@dataclass(frozen=True)
class ActionRights:
    """What the user may do to this application (the buttons shown; services check again)."""

    review: bool
    second_review: bool

    @property
    def any(self) -> bool:
        return self.review or self.second_review


def rights_on(user: Any, application: CopyApplication) -> ActionRights:
    def holds(permission: str) -> bool:
        return bool(
            user.has_perm(permission)
            and CopyApplication.objects.restrict(user, permission)
            .filter(pk=application.pk)
            .exists()
        )

    return ActionRights(
        review=holds(REVIEW_PERMISSION), second_review=holds(SECOND_REVIEW_PERMISSION)
    )


@dataclass(frozen=True)
class VerificationFacts:
    """What the platform checked about the applicant and the patient (MR-A3)."""

    resident_verified: bool
    verified_at: datetime.datetime | None
    face_score: float | None
    face_reference: str
    face_checked_at: datetime.datetime | None
    id_number_valid: bool
    id_number_problem: str
    patient_is_resident: bool


def verification_of(application: CopyApplication) -> VerificationFacts:
    """Real-name, face and ID-number checks behind an application, without showing the IDs."""
    resident = application.resident
    matched = (
        resident.verifications.filter(outcome="matched").order_by("-at", "-pk").first()
        if resident.is_verified
        else None
    )
    problem = ""
    try:
        check_id_number(application.patient_id_number)
    except InvalidIdNumber as error:
        problem = str(error)
    return VerificationFacts(
        resident_verified=bool(resident.is_verified),
        verified_at=resident.verified_at,
        face_score=matched.score if matched is not None else resident.verification_score,
        face_reference=(
            matched.reference if matched is not None else resident.verification_reference
        ),
        face_checked_at=matched.at if matched is not None else resident.verified_at,
        id_number_valid=not problem,
        id_number_problem=problem,
        patient_is_resident=bool(
            resident.is_verified and application.patient_id_number == resident.id_number
        ),
    )


@dataclass(frozen=True)
class TimelineStep:
    occurred_at: datetime.datetime
    from_label: str
    to_status: str
    to_label: str
    colour: str
    actor: str
    note: str


def timeline_of(application: CopyApplication) -> list[TimelineStep]:
    """Every transition, oldest first, with who made it (MR-A4)."""
    events = list(application.events.all())
    staff_ids = {
        e.actor_id
        for e in events
        if e.actor_kind == ApplicationEvent.ActorKind.STAFF and e.actor_id
    }
    names = {
        user.pk: (user.display_name or user.username)
        for user in get_user_model().objects.filter(pk__in=staff_ids)
    }
    steps = []
    for event in events:
        if event.actor_kind == ApplicationEvent.ActorKind.STAFF:
            actor = f"工作人员 {names.get(event.actor_id or 0, '')}".strip()
        else:
            actor = ApplicationEvent.ActorKind(event.actor_kind).label
        steps.append(
            TimelineStep(
                occurred_at=event.occurred_at,
                from_label=ApplicationStatus(event.from_status).label if event.from_status else "",
                to_status=event.to_status,
                to_label=ApplicationStatus(event.to_status).label,
                colour=STATUS_COLOURS.get(event.to_status, "secondary"),
                actor=actor,
                note=event.note,
            )
        )
    return steps


@dataclass(frozen=True)
class AdmissionRow:
    admission_no: str
    admitted_on: datetime.date
    discharged_on: datetime.date
    department: str
    diagnoses: list[str]


def admissions_of(application: CopyApplication) -> list[AdmissionRow]:
    rows = []
    for link in application.admission_links.all():
        admission = link.admission
        try:
            diagnoses = admission.diagnosis_list()
        except ValueError:
            diagnoses = []
        rows.append(
            AdmissionRow(
                admission_no=admission.admission_no,
                admitted_on=admission.admitted_on,
                discharged_on=admission.discharged_on,
                department=admission.department_name,
                diagnoses=[
                    f"{d.get('name', '')}（{d.get('code', '')}）"
                    if d.get("code")
                    else d.get("name", "")
                    for d in diagnoses
                    if isinstance(d, dict)
                ],
            )
        )
    return rows


# -- statistics ------------------------------------------------------------------------


@dataclass(frozen=True)
class CountRow:
    key: str
    label: str
    count: int
    colour: str = ""


@dataclass(frozen=True)
class UploadRow:
    institution: str
    uploaded: int
    failed: int
    pending: int

    @property
    def total(self) -> int:
        return self.uploaded + self.failed + self.pending


@dataclass(frozen=True)
class Statistics:
    """Application counts of a period (MR-A5) and the record uploads of that period."""

    start: datetime.date
    end: datetime.date
    grain: str
    institution_name: str
    total: int
    by_institution: list[CountRow] = field(default_factory=list)
    by_status: list[CountRow] = field(default_factory=list)
    by_purpose: list[CountRow] = field(default_factory=list)
    by_period: list[CountRow] = field(default_factory=list)
    uploads: list[UploadRow] = field(default_factory=list)

    @property
    def grain_label(self) -> str:
        return GRAINS[self.grain]

    @property
    def upload_totals(self) -> UploadRow:
        return UploadRow(
            "合计",
            sum(r.uploaded for r in self.uploads),
            sum(r.failed for r in self.uploads),
            sum(r.pending for r in self.uploads),
        )

    def chart_data(self) -> dict[str, Any]:
        """What the ECharts script draws (passed with ``json_script``)."""
        return {
            "institutions": [[r.label, r.count] for r in self.by_institution],
            "statuses": [[r.label, r.count, r.colour] for r in self.by_status],
            "purposes": [[r.label, r.count] for r in self.by_purpose],
            "periods": [[r.label, r.count] for r in self.by_period],
            "uploads": [[r.institution, r.uploaded, r.failed, r.pending] for r in self.uploads],
        }


def period_starts(start: datetime.date, end: datetime.date, grain: str) -> list[datetime.date]:
    """The first day of every period of ``grain`` that overlaps ``start``..``end``."""
    if grain == "day":
        current = start
    elif grain == "week":
        current = start - datetime.timedelta(days=start.weekday())  # TruncWeek: Mondays
    elif grain == "month":
        current = start.replace(day=1)
    else:
        raise ValueError(f"unknown grain {grain!r}")
    starts = []
    while current <= end:
        starts.append(current)
        if grain == "month":
            current = (current.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
        else:
            current += datetime.timedelta(days=1 if grain == "day" else 7)
    return starts


def period_label(day: datetime.date, grain: str) -> str:
    if grain == "month":
        return f"{day:%Y-%m}"
    if grain == "week":
        return f"{day:%Y-%m-%d} 起一周"
    return f"{day:%Y-%m-%d}"


def _named(institution: Any) -> str:
    return str(institution.short_name or institution.name)


def application_statistics(
    user: Any,
    *,
    start: datetime.date,
    end: datetime.date,
    grain: str,
    institution_id: int | None = None,
) -> Statistics:
    """Counts by institution, status, purpose and period of the applications submitted
    from ``start`` to ``end`` (local days, both included), and the upload results of the
    records archived in that time, within ``user``'s view scope."""
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}")
    institutions = institutions_for(user)
    if institution_id:
        institutions = [i for i in institutions if i.pk == institution_id]
    ids = [i.pk for i in institutions]
    since, until = _day_start(start), _day_start(end + datetime.timedelta(days=1))
    applications = (
        CopyApplication.objects.restrict(user, VIEW_PERMISSION)
        .filter(submitted_at__gte=since, submitted_at__lt=until)
        .order_by()
    )
    if institution_id:
        applications = applications.filter(institution_id=institution_id)

    per_institution = dict(
        applications.values_list("institution_id")
        .annotate(n=Count("pk"))
        .values_list("institution_id", "n")
    )
    # Institutions that stopped inpatient care keep their old applications in the figures.
    missing = set(per_institution) - set(ids)
    if missing:
        institutions += list(
            _institution_model().objects.unscoped().filter(pk__in=missing).order_by("code")
        )
    by_institution = [
        CountRow(str(i.code), _named(i), per_institution.get(i.pk, 0)) for i in institutions
    ]

    by_status = [
        CountRow(row.code, row.label, row.count, row.colour) for row in _status_counts(applications)
    ]

    per_purpose = dict(
        applications.values_list("purpose").annotate(n=Count("pk")).values_list("purpose", "n")
    )
    purposes = [code for code, _ in dictionary_entries("copy_purpose", include_inactive=True)]
    purposes += sorted(set(per_purpose) - set(purposes))
    by_purpose = [
        CountRow(code, label_for("copy_purpose", code), per_purpose.get(code, 0))
        for code in purposes
    ]

    trunc = _TRUNC[grain]("submitted_at", tzinfo=timezone.get_current_timezone())
    per_period: dict[datetime.date, int] = {}
    for moment, count in (
        applications.annotate(period=trunc).values_list("period").annotate(n=Count("pk"))
    ).values_list("period", "n"):
        day = timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()
        per_period[day] = per_period.get(day, 0) + count
    by_period = [
        CountRow(day.isoformat(), period_label(day, grain), per_period.get(day, 0))
        for day in period_starts(start, end, grain)
    ]

    uploads = _upload_rows(institutions, since, until)
    chosen = next((i for i in institutions if i.pk == institution_id), None)
    return Statistics(
        start=start,
        end=end,
        grain=grain,
        institution_name=_named(chosen) if chosen is not None else "",
        total=sum(per_institution.values()),
        by_institution=by_institution,
        by_status=by_status,
        by_purpose=by_purpose,
        by_period=by_period,
        uploads=uploads,
    )


def _upload_rows(
    institutions: Iterable[Any], since: datetime.datetime, until: datetime.datetime
) -> list[UploadRow]:
    institutions = list(institutions)
    counts: dict[int, Any] = {
        row["admission__institution_id"]: row
        for row in ArchivedSection.objects.filter(
            admission__institution_id__in=[i.pk for i in institutions],
            admission__archived_at__gte=since,
            admission__archived_at__lt=until,
        )
        .order_by()
        .values("admission__institution_id")
        .annotate(
            uploaded=Count("pk", filter=Q(upload_status=UploadStatus.UPLOADED)),
            failed=Count("pk", filter=Q(upload_status=UploadStatus.FAILED)),
            pending=Count("pk", filter=Q(upload_status=UploadStatus.PENDING)),
        )
    }
    rows = []
    for institution in institutions:
        row: dict[str, Any] = dict(counts.get(institution.pk, {}))
        rows.append(
            UploadRow(
                _named(institution),
                row.get("uploaded", 0),
                row.get("failed", 0),
                row.get("pending", 0),
            )
        )
    return rows


# -- labels shared by pages and exports ---------------------------------------------------


def purpose_choices() -> list[tuple[str, str]]:
    return dictionary_entries("copy_purpose", include_inactive=True)


def section_labels(codes: Iterable[str]) -> list[str]:
    return [label_for("record_section", code) for code in codes]


STATUS_CHOICES = ApplicationStatus.choices
APPLICANT_TYPE_CHOICES = ApplicantType.choices
DELIVERY_CHOICES = DeliveryMethod.choices

__all__ = [
    "ApplicationFilters",
    "Statistics",
    "admissions_of",
    "application_statistics",
    "applications_for_console",
    "get_application_for_console",
    "institutions_for",
    "review_queue",
    "rights_on",
    "status_counts_for_console",
    "timeline_of",
    "verification_of",
]
