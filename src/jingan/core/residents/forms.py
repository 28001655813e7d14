"""The real-name form: Chinese errors for each way a name, ID number or photo can be wrong."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from jingan.core.residents.identity import IdFacts, InvalidIdNumber, check_id_number, check_name

MAX_PHOTO_BYTES = 5 * 1024 * 1024
MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")


class VerifyIdentityForm(forms.Form):
    name = forms.CharField(label="姓名", max_length=60, error_messages={"required": "请填写姓名"})
    id_number = forms.CharField(
        label="身份证号", max_length=24, error_messages={"required": "请填写身份证号"}
    )
    mobile = forms.CharField(label="手机号", max_length=20, required=False)
    photo = forms.FileField(
        label="人脸照片", error_messages={"required": "请拍摄或上传本人正面照片"}
    )

    facts: IdFacts

    def clean_name(self) -> str:
        try:
            return check_name(self.cleaned_data["name"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def clean_id_number(self) -> str:
        try:
            self.facts = check_id_number(self.cleaned_data["id_number"])
        except InvalidIdNumber as error:
            raise forms.ValidationError(str(error)) from None
        return self.facts.id_number

    def clean_mobile(self) -> str:
        mobile = re.sub(r"[\s-]", "", self.cleaned_data.get("mobile") or "")
        if mobile and not MOBILE_PATTERN.match(mobile):
            raise forms.ValidationError("请填写 11 位手机号，或留空")
        return mobile

    def clean_photo(self) -> Any:
        photo = self.cleaned_data["photo"]
        if photo.size > MAX_PHOTO_BYTES:
            raise forms.ValidationError("照片不能超过 5MB")
        head = photo.read(8)
        photo.seek(0)
        if not (head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff")):
            raise forms.ValidationError("请上传 JPG 或 PNG 格式的照片")
        return photo
