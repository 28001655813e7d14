"""Where staff find the visit assistant's console pages, and residents its H5 pages."""

from __future__ import annotations

from jingan.lib.navigation import H5Service, MenuItem

SECTION = "门诊就医助手"

H5_SERVICES = [
    H5Service(
        title="门诊就医助手",
        description="预约、候诊、缴费、检查、取药进度实时提醒",
        url_name="visits:h5-visits",
        icon="stethoscope",
        order=15,
    ),
]

# Console entries sort after the e-prescription section (10-60), before supervision (300-).
MENU = [
    MenuItem(
        "就诊流程配置",
        "visits:templates",
        "route",
        section=SECTION,
        permission="visits.view_nodetemplate",
        order=200,
    ),
    MenuItem(
        "HIS 对接",
        "visits:connections",
        "plug-connected",
        section=SECTION,
        permission="visits.view_hisconnection",
        order=210,
    ),
    MenuItem(
        "被拒消息",
        "visits:rejected",
        "message-x",
        section=SECTION,
        permission="visits.view_rejectedmessage",
        order=220,
    ),
    MenuItem(
        "事件中心",
        "visits:centre",
        "topology-star-3",
        section=SECTION,
        permission="visits.view_partitionlease",
        order=230,
    ),
]
