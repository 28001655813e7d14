"""Where staff and residents find the e-prescription centre."""

from __future__ import annotations

from jingan.lib.navigation import H5Service, MenuItem

SECTION = "医保电子处方"

H5_SERVICES = [
    H5Service(
        # Not "我的处方": the tab bar already has "我的", and a tile must not read like it.
        title="医保电子处方",
        description="审核结果、取药状态与购药二维码",
        url_name="erx:h5-prescriptions",
        icon="prescription",
        order=20,
    ),
]

MENU = [
    MenuItem(
        "电子处方",
        "erx:prescriptions",
        "prescription",
        section=SECTION,
        permission="erx.view_prescription",
        order=10,
    ),
    MenuItem(
        "院内审方",
        "erx:review-queue",
        "clipboard-check",
        section=SECTION,
        permission="erx.review_prescription",
        order=20,
    ),
    MenuItem(
        "取药结果",
        "erx:pickups",
        "building-store",
        section=SECTION,
        permission="erx.view_prescription",
        order=30,
    ),
    MenuItem(
        "药品目录",
        "erx:catalogue",
        "pill",
        section=SECTION,
        permission="erx.view_drugcatalogueentry",
        order=40,
    ),
    MenuItem(
        "异常记录",
        "erx:exceptions",
        "alert-triangle",
        section=SECTION,
        permission="erx.view_centrecall",
        order=50,
    ),
    MenuItem(
        "处方中心接入",
        "erx:connections",
        "plug-connected",
        section=SECTION,
        permission="erx.view_centreconnection",
        order=60,
    ),
]
