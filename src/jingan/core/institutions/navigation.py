from __future__ import annotations

from jingan.lib.navigation import MenuItem

MENU = [
    MenuItem(
        "机构与科室",
        "institutions:list",
        "building-hospital",
        section="系统管理",
        permission="institutions.view_institution",
        order=700,
    ),
]
