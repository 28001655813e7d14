"""Where residents find the copy service."""

from __future__ import annotations

from jingan.lib.navigation import H5Service, MenuItem

H5_SERVICES = [
    H5Service(
        title="一键复印病案",
        description="出院病案在线申请复印",
        url_name="medical_records:h5-intro",
        icon="file-certificate",
        order=10,
    ),
]

MENU = [
    MenuItem(
        "病案复印申请",
        "medical_records:console-applications",
        "file-search",
        section="一键式病案",
        permission="medical_records.view_copyapplication",
        order=10,
    ),
    MenuItem(
        "病案审核",
        "medical_records:console-review",
        "file-check",
        section="一键式病案",
        permission="medical_records.review_copyapplication",
        order=20,
    ),
    MenuItem(
        "病案申请统计",
        "medical_records:console-statistics",
        "chart-bar",
        section="一键式病案",
        permission="medical_records.view_copyapplication",
        order=40,
    ),
    MenuItem(
        "病案归档同步",
        "medical_records:archive-status",
        "cloud-upload",
        section="一键式病案",
        permission="medical_records.view_archivesource",
        order=30,
    ),
]
