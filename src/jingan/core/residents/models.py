"""Residents: people who sign in through WeChat and become real-name verified."""

from __future__ import annotations

from django.db import models

from jingan.core.crypto.fields import (
    BlindIndexField,
    EncryptedModel,
    EncryptedTextField,
    normalize_id_number,
)


class Resident(EncryptedModel):
    """A WeChat user of the official account; personal data only once real-name verified."""

    class Sex(models.TextChoices):
        MALE = "M", "男"
        FEMALE = "F", "女"

    openid = models.CharField("微信 OpenID", max_length=64, unique=True)
    unionid = models.CharField("微信 UnionID", max_length=64, blank=True)
    nickname = models.CharField("微信昵称", max_length=64, blank=True)
    name = EncryptedTextField("姓名", blank=True)
    id_number = EncryptedTextField("身份证号", blank=True)
    # Unique: one ID number binds to one WeChat account (null while unverified).
    id_number_index = BlindIndexField(
        source="id_number", normalizer=normalize_id_number, unique=True
    )
    mobile = EncryptedTextField("手机号", blank=True)
    birth_date = models.DateField("出生日期", null=True, blank=True)
    sex = models.CharField("性别", max_length=1, choices=Sex.choices, blank=True)
    is_verified = models.BooleanField("已实名认证", default=False)
    verified_at = models.DateTimeField("实名认证时间", null=True, blank=True)
    verification_score = models.FloatField("认证比对分值", null=True, blank=True)
    verification_reference = models.CharField("认证流水号", max_length=64, blank=True)
    last_login_at = models.DateTimeField("最近登录时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "居民"
        verbose_name_plural = "居民"

    def __str__(self) -> str:
        # Never the name or ID: this string lands in logs and admin lists.
        return f"居民#{self.pk}"


class IdentityVerification(models.Model):
    """One real-name verification attempt; the photo itself is never stored (minimisation)."""

    class Outcome(models.TextChoices):
        MATCHED = "matched", "认证通过"
        NOT_MATCHED = "not_matched", "人脸比对未通过"
        REJECTED = "rejected", "身份信息有误"
        CONFLICT = "conflict", "身份证号已绑定其他微信"
        UNAVAILABLE = "unavailable", "认证服务暂不可用"

    resident = models.ForeignKey(
        Resident, on_delete=models.CASCADE, related_name="verifications", verbose_name="居民"
    )
    outcome = models.CharField("结果", max_length=16, choices=Outcome.choices)
    score = models.FloatField("比对分值", null=True, blank=True)
    reference = models.CharField("认证流水号", max_length=64, blank=True)
    # A code and a short reason, never the submitted name, ID number or photo.
    reason = models.CharField("原因", max_length=128, blank=True)
    at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "实名认证记录"
        verbose_name_plural = "实名认证记录"
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"实名认证#{self.pk}"

    @property
    def counts_against_limit(self) -> bool:
        """Service outages are not the resident's fault and do not use up attempts."""
        return self.outcome != self.Outcome.UNAVAILABLE
