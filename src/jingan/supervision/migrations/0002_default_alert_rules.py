"""Default alert rules (SB-5): activity drop, no registrations, review backlog, feeds.

Data, so operators can tune or disable them on the rules page; the reverse removes
exactly these codes. Dataset names are frozen here (not imported) as a migration must
not change when the code does.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations

# The datasets delivered by outside feeds (public account, internet hospital, regional).
FEEDS = (
    ("pa_registrations", "公众号注册"),
    ("pa_realname", "公众号实名认证"),
    ("pa_sessions", "公众号访问会话"),
    ("pa_module_visits", "公众号模块访问"),
    ("appointments", "预约挂号"),
    ("registrations", "门诊挂号"),
    ("consultations", "互联网诊疗问诊"),
    ("proxy_medication", "代配药"),
    ("renewals", "一键续方"),
    ("care_orders", "护理与康复服务"),
)

INDICATOR_RULES: tuple[dict[str, Any], ...] = (
    {
        "code": "pa_dau_drop",
        "name": "日活跃用户数骤降",
        "kind": "relative",
        "indicator": "pa_dau",
        "comparator": "below",
        "threshold": 0.3,
        "baseline_days": 28,
        "severity": "warning",
    },
    {
        "code": "pa_registered_none",
        "name": "当日无新增注册",
        "kind": "absolute",
        "indicator": "pa_registered_daily",
        "comparator": "below",
        "threshold": 1,
        "severity": "warning",
    },
    {
        "code": "pa_manual_review_backlog",
        "name": "人工审核积压",
        "kind": "absolute",
        "indicator": "pa_manual_review_pending",
        "comparator": "above",
        "threshold": 100,
        "severity": "warning",
    },
)


def _codes() -> list[str]:
    return [rule["code"] for rule in INDICATOR_RULES] + [f"feed_stale_{name}" for name, _ in FEEDS]


def seed_rules(apps: Any, schema_editor: Any) -> None:
    alert_rule = apps.get_model("supervision", "AlertRule")
    for rule in INDICATOR_RULES:
        alert_rule.objects.get_or_create(code=rule["code"], defaults={"grain": "day", **rule})
    stale_days = float(str(settings.SUPERVISION.get("feed_stale_days", 2)))
    for name, title in FEEDS:
        alert_rule.objects.get_or_create(
            code=f"feed_stale_{name}",
            defaults={
                "name": f"数据断供：{title}",
                "kind": "freshness",
                "dataset": name,
                "comparator": "above",
                "threshold": stale_days,
                "severity": "critical",
            },
        )


def remove_rules(apps: Any, schema_editor: Any) -> None:
    # Alerts protect their rule; going back removes the alerts these rules raised too.
    apps.get_model("supervision", "Alert").objects.filter(rule__code__in=_codes()).delete()
    apps.get_model("supervision", "AlertRule").objects.filter(code__in=_codes()).delete()


class Migration(migrations.Migration):
    dependencies = [("supervision", "0001_initial")]

    operations = [migrations.RunPython(seed_rules, remove_rules)]
