from __future__ import annotations

from jingan.lib.navigation import MenuItem

MENU = [
    MenuItem(
        "工作人员账号",
        "access:staff-list",
        "users",
        section="系统管理",
        permission="accounts.view_user",
        order=703,
    ),
    MenuItem(
        "角色与权限",
        "access:role-list",
        "shield-lock",
        section="系统管理",
        permission="access.view_role",
        order=705,
    ),
]
