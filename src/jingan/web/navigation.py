"""Render the navigation every app declares (types in ``jingan.lib.navigation``)."""

from __future__ import annotations

from typing import Any

from jingan.lib.discovery import declared
from jingan.lib.navigation import H5Service, MenuItem, Surface

__all__ = ["H5Service", "MenuItem", "Surface", "console_menu", "h5_services", "surfaces"]


def console_menu(user: Any, current_path: str) -> list[dict[str, Any]]:
    """Sidebar sections for ``user``: items they lack permission for are left out."""
    sections: dict[str, list[dict[str, Any]]] = {}
    items = sorted((item for _, item in declared("navigation", "MENU")), key=lambda i: i.order)
    visible = [item for item in items if not item.permission or user.has_perm(item.permission)]
    # Only the longest matching entry is active: /console/messages/outbox/ is the outbox,
    # not also the message centre at /console/messages/.
    matches = [
        item.url
        for item in visible
        if current_path == item.url
        or (item.url != "/console/" and current_path.startswith(item.url))
    ]
    active_url = max(matches, key=len, default=None)
    for item in visible:
        url = item.url
        entry = {"item": item, "url": url, "active": url == active_url}
        sections.setdefault(item.section, []).append(entry)
    return [{"title": title, "entries": entries} for title, entries in sections.items()]


def surfaces() -> list[Surface]:
    return sorted((s for _, s in declared("navigation", "SURFACES")), key=lambda s: s.order)


def h5_services() -> list[H5Service]:
    return sorted((s for _, s in declared("navigation", "H5_SERVICES")), key=lambda s: s.order)


MENU = [
    MenuItem("工作台", "web:console-home", "home", order=0),
    MenuItem(
        "平台运行状态",
        "web:console-status",
        "heart-rate-monitor",
        section="运维",
        permission="runtime.view_platform_status",
        order=900,
    ),
    MenuItem(
        "运行态势大屏",
        "web:screen-home",
        "device-desktop-analytics",
        section="运维",
        permission="runtime.view_platform_status",
        order=910,
    ),
    MenuItem("接口文档", "api-v1:openapi-view", "api", section="运维", order=920),
]

SURFACES = [
    Surface(
        "居民服务（公众号 H5）",
        "居民及家属",
        "在“健康静安”公众号内打开：一键复印病案、家庭账户、门诊就医助手、线上陪诊。",
        "web:h5-home",
        "device-mobile",
        order=10,
    ),
    Surface(
        "工作人员控制台",
        "病案室、机构管理员、区卫生信息中心",
        "病案审核、电子处方管理、机构与权限维护、运营监管。",
        "web:console-home",
        "layout-dashboard",
        order=20,
    ),
    Surface(
        "运营监管大屏",
        "区卫生信息中心",
        "1920×1080 深色大屏，关键指标一目了然，自动适配其他尺寸。",
        "web:screen-home",
        "device-desktop-analytics",
        order=30,
    ),
    Surface(
        "开放接口（API v1）",
        "HIS 厂商、医生工作站、第三方系统",
        "OpenAPI 3 文档与在线调试，所有接口版本化于 /api/v1。",
        "api-v1:openapi-view",
        "api",
        order=40,
    ),
    Surface(
        "健康检查",
        "运维监控",
        "数据库、缓存、任务队列、后台进程与数据目录的实时状态（JSON）。",
        "healthz",
        "heartbeat",
        order=50,
    ),
]
