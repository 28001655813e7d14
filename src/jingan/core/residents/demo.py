"""Demo residents: the WeChat simulator's followers, the first twelve real-name verified.

Resident *i* is demo WeChat user *i* and register person *i* (both files ship with the
simulators), so signing in as a verified demo user shows that person's masked profile,
and the register people beyond the WeChat users are free for trying verification.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from jingan.core.crypto.fields import blind_index
from jingan.core.residents.identity import check_id_number
from jingan.core.residents.models import Resident
from jingan.integrations.regional.simulator import RegisteredPerson, population
from jingan.integrations.wechat.simulator import demo_users
from jingan.lib.demo import DemoAccount, DemoStep, Scale

VERIFIED_COUNT = 12


def _pairs() -> list[tuple[object, RegisteredPerson]]:
    users = demo_users()
    people = population()
    assert len(people) >= len(users), "every demo WeChat user needs a register entry"
    return list(zip(users, people, strict=False))


def _size(scale: Scale) -> int:
    return len(demo_users())


def _run(scale: Scale, advance: Callable[[int], None]) -> None:
    for number, (user, person) in enumerate(_pairs()):
        with transaction.atomic():
            resident, _ = Resident.objects.get_or_create(
                openid=user.openid,  # type: ignore[attr-defined]
                defaults={"nickname": user.nickname},  # type: ignore[attr-defined]
            )
            if number < VERIFIED_COUNT and not resident.is_verified:
                facts = check_id_number(person.id_number)
                resident.name = person.name
                resident.id_number = facts.id_number
                resident.mobile = person.mobile
                resident.birth_date = facts.birth_date
                resident.sex = facts.sex
                resident.is_verified = True
                resident.verified_at = timezone.now()
                resident.verification_score = 0.93
                resident.verification_reference = f"DEMO{number + 1:06d}"
                resident.save()
        advance(1)


def unbound_demo_people() -> list[RegisteredPerson]:
    """Register people no resident has bound yet, those without a demo WeChat user first."""
    people = population()
    paired = len(demo_users())
    ordered = people[paired:] + people[:paired]
    return [
        person
        for person in ordered
        if not Resident.objects.filter(
            id_number_index=blind_index(Resident, "id_number_index", person.id_number)
        ).exists()
    ]


STEPS = [DemoStep("residents", "居民与实名认证", _size, _run)]

ACCOUNTS = [
    DemoAccount(
        role="居民（已实名）",
        username="秀英阿姨",
        password="微信授权",
        surface="h5",
        note="在微信模拟器授权页选择该用户",
    ),
    DemoAccount(
        role="居民（未实名）",
        username="郑雅琴 / 新用户",
        password="微信授权",
        surface="h5",
        note="选择“新用户”，按实名页的演示说明上传演示人脸照片",
    ),
]
