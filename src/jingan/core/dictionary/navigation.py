from __future__ import annotations

from jingan.lib.navigation import MenuItem

MENU = [
    MenuItem(
        "数据字典",
        "dictionary:list",
        "book-2",
        section="系统管理",
        permission="dictionary.view_dictionaryentry",
        order=710,
    ),
    MenuItem(
        "机构参数设置",
        "dictionary:settings",
        "adjustments-horizontal",
        section="系统管理",
        permission="dictionary.view_institutionsetting",
        order=720,
    ),
]
