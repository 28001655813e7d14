"""Where staff find the supervision platform: dashboards, alerts, runs and the catalogue."""

from __future__ import annotations

from jingan.lib.navigation import MenuItem

_SECTION = "互联网运营监管"

MENU = [
    MenuItem(
        "注册与实名",
        "supervision:dashboard-registrations",
        "user-check",
        section=_SECTION,
        permission="supervision.view_indicatorvalue",
        order=300,
    ),
    MenuItem(
        "活跃用户",
        "supervision:dashboard-activity",
        "activity",
        section=_SECTION,
        permission="supervision.view_indicatorvalue",
        order=310,
    ),
    MenuItem(
        "模块访问",
        "supervision:dashboard-modules",
        "layout-grid",
        section=_SECTION,
        permission="supervision.view_indicatorvalue",
        order=320,
    ),
    MenuItem(
        "预警中心",
        "supervision:alerts",
        "alarm",
        section=_SECTION,
        permission="supervision.view_alert",
        order=330,
    ),
    MenuItem(
        "预警规则",
        "supervision:rules",
        "adjustments-alt",
        section=_SECTION,
        permission="supervision.view_alertrule",
        order=340,
    ),
    MenuItem(
        "作业运行",
        "supervision:runs",
        "player-play",
        section=_SECTION,
        permission="supervision.view_jobrun",
        order=350,
    ),
    MenuItem(
        "数据交换",
        "supervision:exchange",
        "arrows-exchange",
        section=_SECTION,
        permission="supervision.view_exchangefile",
        order=360,
    ),
    MenuItem(
        "指标目录",
        "supervision:catalogue",
        "list-details",
        section=_SECTION,
        permission="supervision.view_jobrun",
        order=370,
    ),
]
