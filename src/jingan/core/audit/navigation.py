from jingan.lib.navigation import MenuItem

MENU = [
    MenuItem(
        "审计日志",
        "audit:console-log",
        "shield-check",
        section="安全审计",
        permission="audit.view_auditentry",
        order=950,
    ),
]
