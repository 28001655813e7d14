"""Every write to institutions and departments: validated, audited, refused while work is open."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpRequest

from jingan.core.audit.services import record_event
from jingan.core.institutions.models import Department, Institution
from jingan.core.institutions.queries import blockers_for
from jingan.lib.blockers import Blocker

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
    errors = _institution_clashes(
        code=institution.code, name=institution.name, exclude_id=institution.pk
    )
    if errors:
        raise ValidationError(errors)
    institution.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            institution.save()
    except IntegrityError:
        # Another request took the code or name between our check and the insert.
        raise ValidationError(
            _institution_clashes(code=institution.code, name=institution.name, exclude_id=None)
            or {"code": "机构编码或名称已被占用"}
        ) from None


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
        record_event(
            action="institutions.institution.create",
            actor=actor,
            object_type="institutions.institution",
            object_id=str(institution.pk),
            institution_id=institution.pk,
            detail={"code": institution.code, "name": institution.name},
            request=request,
        )
    return institution


def _apply_changes(
    instance: Any, changes: Mapping[str, object], allowed: tuple[str, ...]
) -> dict[str, list[object]]:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    changed: dict[str, list[object]] = {}
    for name, value in changes.items():
        if isinstance(value, str):
            value = value.strip()
        old = getattr(instance, name)
        if old != value:
            changed[name] = [old, value]
            setattr(instance, name, value)
    return changed


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
        changed = _apply_changes(institution, changes, INSTITUTION_FIELDS)
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
        record_event(
            action="institutions.institution.update",
            actor=actor,
            object_type="institutions.institution",
            object_id=str(institution.pk),
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
        action = "institutions.institution." + ("enable" if active else "disable")
        if not active:
            blockers = blockers_for(institution_id=institution.pk)
        if blockers:
            record_event(
                action=action,
                actor=actor,
                object_type="institutions.institution",
                object_id=str(institution.pk),
                institution_id=institution.pk,
                outcome="denied",
                detail={"blockers": _blocker_detail(blockers)},
                request=request,
            )
        elif institution.is_active != active:
            institution.is_active = active
            institution.save(update_fields=["is_active", "updated_at"])
            record_event(
                action=action,
                actor=actor,
                object_type="institutions.institution",
                object_id=str(institution.pk),
                institution_id=institution.pk,
                detail={"code": institution.code},
                request=request,
            )
    if blockers:
        raise OpenWorkError(blockers)
    return institution


def delete_institution(
    *, actor: Any, institution_id: int, request: HttpRequest | None = None
) -> None:
    """Delete an institution with no open work (its inactive departments go with it)."""
    blockers: list[Blocker] = []
    with transaction.atomic():
        institution = Institution.objects.unscoped().select_for_update().get(pk=institution_id)
        blockers = blockers_for(institution_id=institution.pk)
        detail: dict[str, object] = {"code": institution.code, "name": institution.name}
        if not blockers:
            try:
                with transaction.atomic():
                    institution.delete()
            except (ProtectedError, RestrictedError) as referenced:
                # Records of other contexts that declared no blocker still point here.
                blockers = _referencing(referenced, "机构")
        if blockers:
            detail["blockers"] = _blocker_detail(blockers)
        record_event(
            action="institutions.institution.delete",
            actor=actor,
            object_type="institutions.institution",
            object_id=str(institution_id),
            institution_id=institution_id,
            outcome="denied" if blockers else "success",
            detail=detail,
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
    if errors:
        raise ValidationError(errors)
    department.full_clean(
        exclude=["institution"], validate_unique=False, validate_constraints=False
    )
    try:
        with transaction.atomic():
            department.save()
    except IntegrityError:
        raise ValidationError({"code": f"科室编码 {department.code} 已被本机构使用"}) from None


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
        record_event(
            action="institutions.department.create",
            actor=actor,
            object_type="institutions.department",
            object_id=str(department.pk),
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
        changed = _apply_changes(department, changes, DEPARTMENT_FIELDS)
        if not changed:
            return department
        _save_department(department, department.institution)
        record_event(
            action="institutions.department.update",
            actor=actor,
            object_type="institutions.department",
            object_id=str(department.pk),
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
        action = "institutions.department." + ("enable" if active else "disable")
        if not active:
            blockers = blockers_for(
                institution_id=department.institution_id, department_id=department.pk
            )
        if blockers:
            record_event(
                action=action,
                actor=actor,
                object_type="institutions.department",
                object_id=str(department.pk),
                institution_id=department.institution_id,
                outcome="denied",
                detail={"blockers": _blocker_detail(blockers)},
                request=request,
            )
        elif department.is_active != active:
            department.is_active = active
            department.save(update_fields=["is_active", "updated_at"])
            record_event(
                action=action,
                actor=actor,
                object_type="institutions.department",
                object_id=str(department.pk),
                institution_id=department.institution_id,
                detail={"code": department.code},
                request=request,
            )
    if blockers:
        raise OpenWorkError(blockers)
    return department


def delete_department(
    *, actor: Any, department_id: int, request: HttpRequest | None = None
) -> None:
    """Delete a department with no open work; raises OpenWorkError otherwise."""
    blockers: list[Blocker] = []
    with transaction.atomic():
        department = Department.objects.unscoped().select_for_update().get(pk=department_id)
        institution_id = department.institution_id
        blockers = blockers_for(institution_id=institution_id, department_id=department.pk)
        detail: dict[str, object] = {"code": department.code, "name": department.name}
        if not blockers:
            try:
                with transaction.atomic():
                    department.delete()
            except (ProtectedError, RestrictedError) as referenced:
                blockers = _referencing(referenced, "科室")
        if blockers:
            detail["blockers"] = _blocker_detail(blockers)
        record_event(
            action="institutions.department.delete",
            actor=actor,
            object_type="institutions.department",
            object_id=str(department_id),
            institution_id=institution_id,
            outcome="denied" if blockers else "success",
            detail=detail,
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
