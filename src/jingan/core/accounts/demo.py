"""Demo staff: one per district role; per institution an administrator, and where there are
wards a record-room reviewer and checker.

Every demo account has a TOTP binding (secret generated at load time, stored encrypted);
in the embedded demo the code step shows the current code, so visitors can sign in
without an authenticator app. Never loaded in production by default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from jingan.core.access.models import Role, RoleAssignment, ScopeKind
from jingan.core.access.services import grant_role
from jingan.core.accounts.models import User
from jingan.core.institutions.models import Institution
from jingan.lib.demo import DemoAccount, DemoStep, Scale

DEMO_PASSWORD = "Jingan#Demo2026"

# (username, display name, built-in role code)
DISTRICT_STAFF = (
    ("sysadmin", "系统管理员（演示）", "system_admin"),
    ("secadmin", "安全管理员（演示）", "security_admin"),
    ("auditor", "安全审计员（演示）", "auditor"),
    ("regulator", "区卫健委监管（演示）", "district_regulator"),
    ("dataops", "监管数据运维（演示）", "supervision_operator"),
)
# Per institution: (username suffix, display suffix, role code, only where inpatient).
INSTITUTION_STAFF = (
    ("admin", "机构管理员", "institution_admin", False),
    ("reviewer", "病案室审核员", "record_room_reviewer", True),
    ("checker", "病案室复核员", "record_room_checker", True),
    ("doctor", "医保处方医师", "erx_doctor", False),
    ("pharmacist", "院内审方药师", "erx_pharmacist", False),
)

ACCOUNTS = [
    DemoAccount(
        "系统管理员", "sysadmin", DEMO_PASSWORD, "console", "机构、账号、字典、运维（三权分立之一）"
    ),
    DemoAccount("安全管理员", "secadmin", DEMO_PASSWORD, "console", "角色与授权、账号解锁"),
    DemoAccount("安全审计员", "auditor", DEMO_PASSWORD, "console", "审计日志查询与校验"),
    DemoAccount("区卫健委监管", "regulator", DEMO_PASSWORD, "screen", "全区只读、运行态势大屏"),
    DemoAccount(
        "监管数据运维", "dataops", DEMO_PASSWORD, "console", "采集、清洗、指标作业与预警规则"
    ),
    DemoAccount(
        "机构管理员", "jg001-admin", DEMO_PASSWORD, "console", "每家机构一个：jg<机构序号>-admin"
    ),
    DemoAccount(
        "病案室审核员",
        "jg001-reviewer",
        DEMO_PASSWORD,
        "console",
        "每家住院机构一个：jg<机构序号>-reviewer",
    ),
    DemoAccount(
        "病案室复核员",
        "jg001-checker",
        DEMO_PASSWORD,
        "console",
        "每家住院机构一个：jg<机构序号>-checker（两级审核的复核）",
    ),
    DemoAccount(
        "医保处方医师",
        "jg001-doctor",
        DEMO_PASSWORD,
        "console",
        "每家机构一个：jg<机构序号>-doctor（开具、签名上传、撤销电子处方）",
    ),
    DemoAccount(
        "院内审方药师",
        "jg001-pharmacist",
        DEMO_PASSWORD,
        "console",
        "每家机构一个：jg<机构序号>-pharmacist（院内审方、目录与取药结果）",
    ),
]


def is_demo_account(user: Any) -> bool:
    name = user.username
    if name in {row[0] for row in DISTRICT_STAFF}:
        return True
    return name.startswith("jg") and name.rsplit("-", 1)[-1] in {
        "admin",
        "reviewer",
        "checker",
        "doctor",
        "pharmacist",
    }


def _institutions(scale: Scale) -> list[Institution]:
    rows = list(Institution.objects.unscoped().filter(is_active=True).order_by("code"))
    return rows[:2] if scale == "tiny" else rows


def _size(scale: Scale) -> int:
    institutions = _institutions(scale)
    per_institution = sum(
        1
        for i in institutions
        for *_, inpatient_only in INSTITUTION_STAFF
        if i.has_inpatient or not inpatient_only
    )
    return len(DISTRICT_STAFF) + per_institution


def _ensure(
    username: str, display_name: str, encoded: str, institution: Institution | None
) -> User:
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user
    return User.objects.create(
        username=username,
        display_name=display_name,
        password=encoded,
        institution=institution,
        is_staff=True,
        must_change_password=False,
        password_changed_at=timezone.now(),
        totp_secret=pyotp.random_base32(length=32),
        totp_confirmed_at=timezone.now(),
    )


def _grant(user: User, role: Role, institution: Institution | None) -> None:
    institution_id = (
        institution.pk if role.scope_kind == ScopeKind.INSTITUTION and institution else None
    )
    scope = RoleAssignment.scope_lookup(institution_id)
    if RoleAssignment.objects.filter(user=user, role=role, **scope).exists():
        return
    grant_role(actor=None, user=user, role=role, institution_id=institution_id)


def _load_staff(scale: Scale, advance: Callable[[int], None]) -> None:
    # One hash for every demo account: they share the published demo password anyway,
    # and hashing it per account would make `make run` wait for nothing.
    encoded = make_password(DEMO_PASSWORD)
    roles = {role.code: role for role in Role.objects.all()}
    for username, display_name, role_code in DISTRICT_STAFF:
        with transaction.atomic():
            _grant(_ensure(username, display_name, encoded, None), roles[role_code], None)
        advance(1)
    for institution in _institutions(scale):
        sequence = institution.code[-3:]
        for suffix, title, role_code, inpatient_only in INSTITUTION_STAFF:
            if inpatient_only and not institution.has_inpatient:
                continue
            with transaction.atomic():
                user = _ensure(
                    f"jg{sequence}-{suffix}",
                    f"{institution.short_name or institution.name}{title}",
                    encoded,
                    institution,
                )
                _grant(user, roles[role_code], institution)
            advance(1)


STEPS = [DemoStep("staff", "工作人员演示账号", _size, _load_staff)]
