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
        "病案归档同步",
        "medical_records:archive-status",
        "cloud-upload",
        section="一键式病案",
        permission="medical_records.view_archivesource",
        order=30,
    ),
]
