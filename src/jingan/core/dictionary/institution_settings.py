"""Per-institution settings this context declares (others add theirs the same way)."""

from __future__ import annotations

from jingan.lib.settings_spec import SettingSpec

REVIEW_MODE = SettingSpec(
    key="medical_records.review_mode",
    title="病案复印审核方式",
    help_text="人工审核：病案室工作人员逐件审核；两级审核：初审通过后还需复核；"
    "身份核验通过自动审核：人脸与身份证核验均通过的申请自动通过审核。",
    choices=(
        ("manual", "人工审核"),
        ("two_level", "两级审核"),
        ("auto_when_verified", "身份核验通过自动审核"),
    ),
    default="manual",
    kind="choice",
)

INSTITUTION_SETTINGS = [REVIEW_MODE]
