"""Every write about residents: WeChat sign-in and real-name verification."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from jingan.core.audit.services import record_event
from jingan.core.crypto.fields import blind_index
from jingan.core.residents.gateways import identity_port
from jingan.core.residents.identity import check_id_number, check_name
from jingan.core.residents.models import IdentityVerification, Resident
from jingan.integrations.regional import IdentityError, IdentityVerdict
from jingan.integrations.wechat import WeChatIdentity

logger = logging.getLogger(__name__)

# Failed verifications a resident may make per calendar day (Asia/Shanghai).
DAILY_FAILURE_LIMIT = 5
VERIFY_ACTION = "resident.identity.verify"

_REJECTION_MESSAGES = {
    "E1001": "姓名与身份证号不一致，请核对后重试",
    "E1002": "未在人口信息库中找到该身份证号，请核对后重试",
    "E1003": "身份证号格式不正确",
    "E2001": "照片无法识别，请上传清晰的 JPG 或 PNG 照片",
    "E2002": "照片无法识别，请上传清晰的 JPG 或 PNG 照片",
    "E2003": "照片过大，请上传 5MB 以内的照片",
}
CONFLICT_MESSAGE = "该身份证号已绑定其他微信账号。如需更换绑定，请携带身份证到社区卫生服务中心办理"
UNAVAILABLE_MESSAGE = "实名认证服务暂时不可用，请稍后再试（本次不计入失败次数）"
LIMIT_MESSAGE = f"今日实名认证失败已达 {DAILY_FAILURE_LIMIT} 次，请明天再试"


@dataclass(frozen=True)
class VerificationResult:
    """What happened to one verification request, with the message for the resident."""

    outcome: str  # an IdentityVerification.Outcome value, or "limited" / "already_verified"
    message: str

    @property
    def verified(self) -> bool:
        return self.outcome == IdentityVerification.Outcome.MATCHED


def sign_in_resident(*, identity: WeChatIdentity, request: HttpRequest | None = None) -> Resident:
    """Find or create the resident for a WeChat identity and record the sign-in.

    The acting party is the WeChat user themself, identified by ``identity``.
    """
    with transaction.atomic():
        resident, created = Resident.objects.select_for_update().get_or_create(
            openid=identity.openid,
            defaults={"nickname": identity.nickname or "", "unionid": identity.unionid or ""},
        )
        changed = ["last_login_at"]
        if identity.nickname and identity.nickname != resident.nickname:
            resident.nickname = identity.nickname
            changed.append("nickname")
        if identity.unionid and identity.unionid != resident.unionid:
            resident.unionid = identity.unionid
            changed.append("unionid")
        resident.last_login_at = timezone.now()
        resident.save(update_fields=changed)
        record_event(
            action="resident.login",
            resident_id=resident.pk,
            object_type="resident",
            object_id=str(resident.pk),
            detail={"channel": "wechat", "new": created},
            request=request,
        )
    return resident


def record_resident_logout(*, actor: Resident, request: HttpRequest | None = None) -> None:
    """Audit a resident signing out."""
    with transaction.atomic():
        record_event(
            action="resident.logout",
            resident_id=actor.pk,
            object_type="resident",
            object_id=str(actor.pk),
            request=request,
        )


def failures_today(resident: Resident) -> int:
    """Failed verification attempts since local midnight (outages excluded)."""
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    return (
        IdentityVerification.objects.filter(resident=resident, at__gte=midnight)
        .exclude(outcome=IdentityVerification.Outcome.UNAVAILABLE)
        .exclude(outcome=IdentityVerification.Outcome.MATCHED)
        .count()
    )


def _bound_elsewhere(resident: Resident, id_number: str) -> bool:
    index = blind_index(Resident, "id_number_index", id_number)
    return Resident.objects.filter(id_number_index=index).exclude(pk=resident.pk).exists()


def _fail(
    resident: Resident,
    *,
    outcome: str,
    message: str,
    reason: str,
    verdict: IdentityVerdict | None = None,
    request: HttpRequest | None,
) -> VerificationResult:
    with transaction.atomic():
        IdentityVerification.objects.create(
            resident=resident,
            outcome=outcome,
            score=verdict.score if verdict else None,
            reference=verdict.reference if verdict else "",
            reason=reason[:128],
        )
        record_event(
            action=VERIFY_ACTION,
            resident_id=resident.pk,
            object_type="resident",
            object_id=str(resident.pk),
            outcome="failure",
            detail={
                "outcome": outcome,
                "reason": reason,
                **({"score": verdict.score, "reference": verdict.reference} if verdict else {}),
            },
            request=request,
        )
    return VerificationResult(outcome=outcome, message=message)


def verify_resident_identity(
    *,
    actor: Resident,
    name: str,
    id_number: str,
    photo: bytes,
    mobile: str = "",
    request: HttpRequest | None = None,
) -> VerificationResult:
    """Check name + ID + face with the regional platform; on a match, verify the resident.

    The photo goes to the regional platform and nowhere else: it is neither stored nor
    logged. ``name`` and ``id_number`` must already have passed the form's checks.
    """
    resident = actor
    if resident.is_verified:
        return VerificationResult("already_verified", "您已完成实名认证")
    if failures_today(resident) >= DAILY_FAILURE_LIMIT:
        with transaction.atomic():
            record_event(
                action=VERIFY_ACTION,
                resident_id=resident.pk,
                object_type="resident",
                object_id=str(resident.pk),
                outcome="denied",
                detail={"reason": "daily_limit", "limit": DAILY_FAILURE_LIMIT},
                request=request,
            )
        return VerificationResult("limited", LIMIT_MESSAGE)
    facts = check_id_number(id_number)
    name = check_name(name)
    if _bound_elsewhere(resident, facts.id_number):
        return _fail(
            resident,
            outcome=IdentityVerification.Outcome.CONFLICT,
            message=CONFLICT_MESSAGE,
            reason="id_number_bound_to_another_openid",
            request=request,
        )
    # The platform is called outside any transaction: no lock is held while waiting on it.
    try:
        verdict = identity_port().verify(id_number=facts.id_number, name=name, photo=photo)
    except IdentityError as error:
        if error.retryable:
            logger.warning("regional identity service unavailable: %s", error.code)
            return _fail(
                resident,
                outcome=IdentityVerification.Outcome.UNAVAILABLE,
                message=UNAVAILABLE_MESSAGE,
                reason=f"{error.code}",
                request=request,
            )
        return _fail(
            resident,
            outcome=IdentityVerification.Outcome.REJECTED,
            message=_REJECTION_MESSAGES.get(error.code, "身份信息核验未通过，请核对后重试"),
            reason=f"{error.code}",
            request=request,
        )
    if not verdict.matched:
        return _fail(
            resident,
            outcome=IdentityVerification.Outcome.NOT_MATCHED,
            message=(
                f"人脸比对未通过（相似度 {verdict.score:.0%}）。请本人正面、免冠、光线充足地拍摄后重试"
            ),
            reason="face_not_matched",
            verdict=verdict,
            request=request,
        )
    try:
        with transaction.atomic():
            locked = Resident.objects.select_for_update().get(pk=resident.pk)
            if locked.is_verified:
                return VerificationResult("already_verified", "您已完成实名认证")
            if _bound_elsewhere(locked, facts.id_number):
                raise IntegrityError("id number bound meanwhile")
            locked.name = name
            locked.id_number = facts.id_number
            locked.birth_date = facts.birth_date
            locked.sex = facts.sex
            if mobile:
                locked.mobile = mobile
            locked.is_verified = True
            locked.verified_at = timezone.now()
            locked.verification_score = verdict.score
            locked.verification_reference = verdict.reference
            locked.save()
            IdentityVerification.objects.create(
                resident=locked,
                outcome=IdentityVerification.Outcome.MATCHED,
                score=verdict.score,
                reference=verdict.reference,
            )
            record_event(
                action=VERIFY_ACTION,
                resident_id=locked.pk,
                object_type="resident",
                object_id=str(locked.pk),
                detail={"score": verdict.score, "reference": verdict.reference},
                request=request,
            )
    except IntegrityError:
        # Another WeChat account bound the same ID number between our check and the save.
        return _fail(
            resident,
            outcome=IdentityVerification.Outcome.CONFLICT,
            message=CONFLICT_MESSAGE,
            reason="id_number_bound_to_another_openid",
            request=request,
        )
    resident.refresh_from_db()
    return VerificationResult(IdentityVerification.Outcome.MATCHED, "实名认证成功")
