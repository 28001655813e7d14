from jingan.lib.navigation import H5Service, MenuItem

MENU = [
    MenuItem("消息中心", "messaging:console-inbox", "bell", order=5),
    MenuItem(
        "消息外发队列",
        "messaging:console-outbox",
        "send",
        section="运维",
        permission="messaging.view_outboxentry",
        order=930,
    ),
]

H5_SERVICES = [
    H5Service("消息中心", "各类通知与提醒", "messaging:h5-inbox", "bell", order=90),
]
