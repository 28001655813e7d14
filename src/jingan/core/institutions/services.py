"""Every write to institutions and departments: validated, audited, refused while work is open."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpRequest

from jingan.core.audit.services import record_event
from jingan.core.institutions.models import Department, Institution
from jingan.core.institutions.queries import blockers_for
from jingan.lib.blockers import Blocker
from jingan.lib.edits import apply_changes, save_checked

INSTITUTION_FIELDS = (
    "code",
    "name",
    "short_name",
    "kind",
    "has_inpatient",
    "his_dialect",
    "address",
    "phone",
)
DEPARTMENT_FIELDS = ("code", "name", "category", "has_inpatient")


class OpenWorkError(Exception):
    """The institution or department still has open work; nothing was changed."""

    def __init__(self, blockers: list[Blocker]) -> None:
        self.blockers = blockers
        summary = "；".join(f"{b.title} {b.count} 项" for b in blockers)
        super().__init__(f"仍有未完结的工作：{summary}")


def _blocker_detail(blockers: Iterable[Blocker]) -> list[dict[str, object]]:
    return [{"title": b.title, "count": b.count} for b in blockers]


def _referencing(error: ProtectedError | RestrictedError, what: str) -> list[Blocker]:
    """Turn a refused cascade into blockers, one per kind of record still pointing here."""
    counts: dict[str, int] = {}
    for row in error.args[1]:
        name = str(row._meta.verbose_name)
        counts[name] = counts.get(name, 0) + 1
    return [Blocker(f"仍引用该{what}的{name}记录", count, None) for name, count in counts.items()]


def _record(
    instance: Institution | Department,
    verb: str,
    *,
    actor: Any,
    institution_id: int,
    detail: Mapping[str, object],
    request: HttpRequest | None,
    outcome: str = "success",
    object_id: int | None = None,
) -> None:
    """Audit ``institutions.<institution|department>.<verb>`` on ``instance``."""
    object_type = instance._meta.label_lower
    record_event(
        action=f"{object_type}.{verb}",
        actor=actor,
        object_type=object_type,
        object_id=str(instance.pk if object_id is None else object_id),
        institution_id=institution_id,
        outcome=outcome,
        detail=detail,
        request=request,
    )


def _set_active(
    instance: Institution | Department,
    *,
    active: bool,
    blockers: list[Blocker],
    actor: Any,
    institution_id: int,
    request: HttpRequest | None,
) -> None:
    """Record a refused disable, or switch ``is_active`` and record that; no-op if unchanged."""
    detail: dict[str, object]
    if blockers:
        outcome, detail = "denied", {"blockers": _blocker_detail(blockers)}
    elif instance.is_active != active:
        instance.is_active = active
        instance.save(update_fields=["is_active", "updated_at"])
        outcome, detail = "success", {"code": instance.code}
    else:
        return
    _record(
        instance,
        "enable" if active else "disable",
        actor=actor,
        institution_id=institution_id,
        outcome=outcome,
        detail=detail,
        request=request,
    )


def _delete(
    instance: Institution | Department,
    *,
    blockers: list[Blocker],
    what: str,
    actor: Any,
    institution_id: int,
    request: HttpRequest | None,
) -> list[Blocker]:
    """Delete unless blocked or still referenced; audit either way; return what blocked it."""
    object_id = instance.pk
    detail: dict[str, object] = {"code": instance.code, "name": instance.name}
    if not blockers:
        try:
            with transaction.atomic():
                instance.delete()
        except (ProtectedError, RestrictedError) as referenced:
            # Records of other contexts that declared no blocker still point here.
            blockers = _referencing(referenced, what)
    if blockers:
        detail["blockers"] = _blocker_detail(blockers)
    _record(
        instance,
        "delete",
        actor=actor,
        institution_id=institution_id,
        outcome="denied" if blockers else "success",
        detail=detail,
        request=request,
        object_id=object_id,
    )
    return blockers


# -- institutions -------------------------------------------------------------------


def _institution_clashes(*, code: str, name: str, exclude_id: int | None) -> dict[str, str]:
    others = Institution.objects.unscoped().exclude(pk=exclude_id)
    errors: dict[str, str] = {}
    holder = others.filter(code=code).first()
    if holder is not None:
        errors["code"] = f"机构编码 {code} 已被「{holder.name}」使用"
    holder = others.filter(name=name).first()
    if holder is not None:
        errors["name"] = f"机构名称「{name}」已被编码为 {holder.code} 的机构使用"
    return errors


def _save_institution(institution: Institution) -> None:
    save_checked(
        institution,
        _institution_clashes(
            code=institution.code, name=institution.name, exclude_id=institution.pk
        ),
        taken=lambda: (
            _institution_clashes(code=institution.code, name=institution.name, exclude_id=None)
            or {"code": "机构编码或名称已被占用"}
        ),
    )


def create_institution(
    *,
    actor: Any,
    code: str,
    name: str,
    kind: str,
    his_dialect: str,
    has_inpatient: bool = False,
    short_name: str = "",
    address: str = "",
    phone: str = "",
    request: HttpRequest | None = None,
) -> Institution:
    """Register a new institution; raises ValidationError with Chinese field messages."""
    with transaction.atomic():
        institution = Institution(
            code=code.strip(),
            name=name.strip(),
            short_name=short_name.strip(),
            kind=kind,
            has_inpatient=has_inpatient,
            his_dialect=his_dialect,
            address=address.strip(),
            phone=phone.strip(),
        )
        _save_institution(institution)
        _record(
            institution,
            "create",
            actor=actor,
            institution_id=institution.pk,
            detail={"code": institution.code, "name": institution.name},
            request=request,
        )
    return institution


def update_institution(
    *,
    actor: Any,
    institution_id: int,
    changes: Mapping[str, object],
    request: HttpRequest | None = None,
) -> Institution:
    """Change an institution's attributes (including its HIS dialect); audited with a diff."""
    with transaction.atomic():
        institution = Institution.objects.unscoped().select_for_update().get(pk=institution_id)
        changed = apply_changes(institution, changes, INSTITUTION_FIELDS)
        if not changed:
            return institution
        if "has_inpatient" in changed and not institution.has_inpatient:
            wards = institution.departments.filter(has_inpatient=True, is_active=True).count()
            if wards:
                raise ValidationError(
                    {
                        "has_inpatient": f"本机构仍有 {wards} 个设有住院病区的启用科室，不能取消住院业务"
                    }
                )
        _save_institution(institution)
        _record(
            institution,
            "update",
            actor=actor,
            institution_id=institution.pk,
            detail={"changes": changed},
            request=request,
        )
    return institution


def set_institution_active(
    *, actor: Any, institution_id: int, active: bool, request: HttpRequest | None = None
) -> Institution:
    """Enable, or disable when nothing is open; raises OpenWorkError otherwise."""
    blockers: list[Blocker] = []
    with transaction.atomic():
        institution = Institution.objects.unscoped().select_for_update().get(pk=institution_id)
        if not active:
            blockers = blockers_for(institution_id=institution.pk)
        _set_active(
            institution,
            active=active,
            blockers=blockers,
            actor=actor,
            institution_id=institution.pk,
            request=request,
        )
    if blockers:
        raise OpenWorkError(blockers)
    return institution


def delete_institution(
    *, actor: Any, institution_id: int, request: HttpRequest | None = None
) -> None:
    """Delete an institution with no open work (its inactive departments go with it)."""
    with transaction.atomic():
        institution = Institution.objects.unscoped().select_for_update().get(pk=institution_id)
        blockers = _delete(
            institution,
            blockers=blockers_for(institution_id=institution.pk),
            what="机构",
            actor=actor,
            institution_id=institution_id,
            request=request,
        )
    if blockers:
        raise OpenWorkError(blockers)


# -- departments --------------------------------------------------------------------


def _save_department(department: Department, institution: Institution) -> None:
    errors: dict[str, str] = {}
    holder = institution.departments.filter(code=department.code).exclude(pk=department.pk).first()
    if holder is not None:
        errors["code"] = f"科室编码 {department.code} 已被本机构的「{holder.name}」使用"
    if department.has_inpatient and not institution.has_inpatient:
        errors["has_inpatient"] = "本机构未开展住院业务，科室不能设有住院病区"
    save_checked(
        department,
        errors,
        exclude=["institution"],
        taken=lambda: {"code": f"科室编码 {department.code} 已被本机构使用"},
    )


def create_department(
    *,
    actor: Any,
    institution_id: int,
    code: str,
    name: str,
    category: str,
    has_inpatient: bool = False,
    request: HttpRequest | None = None,
) -> Department:
    """Add a department to an institution; the code must be new within that institution."""
    with transaction.atomic():
        institution = Institution.objects.unscoped().select_for_update().get(pk=institution_id)
        department = Department(
            institution=institution,
            code=code.strip(),
            name=name.strip(),
            category=category,
            has_inpatient=has_inpatient,
            is_active=institution.is_active,
        )
        _save_department(department, institution)
        _record(
            department,
            "create",
            actor=actor,
            institution_id=institution.pk,
            detail={"code": department.code, "name": department.name},
            request=request,
        )
    return department


def update_department(
    *,
    actor: Any,
    department_id: int,
    changes: Mapping[str, object],
    request: HttpRequest | None = None,
) -> Department:
    """Change a department's attributes; audited with a diff."""
    with transaction.atomic():
        department = (
            Department.objects.unscoped()
            .select_for_update()
            .select_related("institution")
            .get(pk=department_id)
        )
        changed = apply_changes(department, changes, DEPARTMENT_FIELDS)
        if not changed:
            return department
        _save_department(department, department.institution)
        _record(
            department,
            "update",
            actor=actor,
            institution_id=department.institution_id,
            detail={"changes": changed},
            request=request,
        )
    return department


def set_department_active(
    *, actor: Any, department_id: int, active: bool, request: HttpRequest | None = None
) -> Department:
    """Enable, or disable when nothing is open; raises OpenWorkError otherwise."""
    blockers: list[Blocker] = []
    with transaction.atomic():
        department = (
            Department.objects.unscoped()
            .select_for_update()
            .select_related("institution")
            .get(pk=department_id)
        )
        if active and not department.institution.is_active:
            raise ValidationError("所属机构已停用，请先启用机构再启用科室")
        if not active:
            blockers = blockers_for(
                institution_id=department.institution_id, department_id=department.pk
            )
        _set_active(
            department,
            active=active,
            blockers=blockers,
            actor=actor,
            institution_id=department.institution_id,
            request=request,
        )
    if blockers:
        raise OpenWorkError(blockers)
    return department


def delete_department(
    *, actor: Any, department_id: int, request: HttpRequest | None = None
) -> None:
    """Delete a department with no open work; raises OpenWorkError otherwise."""
    with transaction.atomic():
        department = Department.objects.unscoped().select_for_update().get(pk=department_id)
        blockers = _delete(
            department,
            blockers=blockers_for(
                institution_id=department.institution_id, department_id=department.pk
            ),
            what="科室",
            actor=actor,
            institution_id=department.institution_id,
            request=request,
        )
    if blockers:
        raise OpenWorkError(blockers)


# -- HIS department sync ------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentRecord:
    """One department as an institution's HIS reports it."""

    code: str
    name: str
    category: str
    has_inpatient: bool = False


@dataclass
class SyncResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    kept_active: dict[str, list[Blocker]] = field(default_factory=dict)


def sync_departments(
    *,
    actor: Any,
    institution_id: int,
    records: list[DepartmentRecord],
    source: str,
    request: HttpRequest | None = None,
) -> SyncResult:
    """Make the institution's departments match its HIS's list.

    Listed departments are created, updated or re-enabled; active ones missing from the
    list are disabled unless open work blocks that, in which case they stay active and
    are reported. Raises ValidationError (nothing changed) when a record is invalid.
    """
    codes = [record.code.strip() for record in records]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise ValidationError(f"科室编码重复：{'、'.join(duplicates)}")
    result = SyncResult()
    with transaction.atomic():
        institution = Institution.objects.unscoped().select_for_update().get(pk=institution_id)
        existing = {d.code: d for d in institution.departments.select_for_update()}
        for record in records:
            code = record.code.strip()
            department = existing.get(code)
            if department is None:
                department = Department(institution=institution, code=code)
                target = result.created
            else:
                target = result.updated
            before = (
                department.name,
                department.category,
                department.has_inpatient,
                department.is_active,
            )
            department.name = record.name.strip()
            department.category = record.category
            department.has_inpatient = record.has_inpatient
            department.is_active = True
            after = (department.name, department.category, department.has_inpatient, True)
            if department.pk is not None and before == after:
                result.unchanged.append(code)
                continue
            try:
                _save_department(department, institution)
            except ValidationError as error:
                messages = "；".join(error.messages)
                raise ValidationError(f"科室 {code}：{messages}") from None
            target.append(code)
        listed = set(codes)
        for code, department in sorted(existing.items()):
            if code in listed or not department.is_active:
                continue
            blockers = blockers_for(institution_id=institution.pk, department_id=department.pk)
            if blockers:
                result.kept_active[code] = blockers
                continue
            department.is_active = False
            department.save(update_fields=["is_active", "updated_at"])
            result.deactivated.append(code)
        record_event(
            action="institutions.department.sync",
            actor=actor,
            object_type="institutions.institution",
            object_id=str(institution.pk),
            institution_id=institution.pk,
            detail={
                "source": source,
                "created": result.created,
                "updated": result.updated,
                "deactivated": result.deactivated,
                "kept_active": sorted(result.kept_active),
            },
            request=request,
        )
    return result
