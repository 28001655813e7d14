"""HIS connections (HI-1): every institution onboarded with its dialect's endpoint, edited
and tested from the console.

Endpoints by dialect: A the HIS's MLLP listener ``host:port`` (for the connection test;
the HIS sends its messages to our listener), B the base URL of the HIS's REST service,
C the HIS's SOAP endpoint, D the database URL of the HIS's views.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.apps import apps
from django.conf import settings
from django.db import transaction

from jingan.accompaniment.visits.models import CircuitState, ConnectionTest, HisConnection
from jingan.core.public import record_event
from jingan.integrations.his.port import ConnectionTestResult

logger = logging.getLogger(__name__)

__all__ = [
    "ConnectionSettingsError",
    "default_endpoint",
    "ensure_connections",
    "reset_circuit",
    "test_connection",
    "update_connection",
    "validate_endpoint",
]

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")
MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 3600


class ConnectionSettingsError(ValueError):
    """Connection settings that cannot be saved; the text is for the form."""


def default_endpoint(institution: Any) -> str:
    """Where the institution's HIS is reached on this machine: the dialect's simulator."""
    code = institution.code
    base = str(settings.VISITS["his_simulator_url"]).rstrip("/")
    dialect = institution.his_dialect
    if dialect == "A":
        parts = urlsplit(base)
        # The A simulator's MLLP test listener sits on the port after the HTTP simulators.
        return f"{parts.hostname}:{(parts.port or 80) + 1}"
    if dialect == "B":
        return f"{base}/rest/{code}"
    if dialect == "C":
        return f"{base}/hip/{code}"
    if dialect == "D":
        directory = Path(str(settings.VISITS["his_views_dir"])).absolute()
        return f"sqlite:///{directory}/{code}.sqlite"
    raise ValueError(f"unknown HIS dialect {dialect!r}")


def ensure_connections() -> int:
    """Onboard every institution that has no HIS connection yet; returns how many were added."""
    institution_model = apps.get_model("institutions", "Institution")
    missing = institution_model.objects.unscoped().filter(his_connection__isnull=True)
    created = 0
    for institution in missing.order_by("code"):
        _, was_created = HisConnection.objects.unscoped().get_or_create(
            institution=institution, defaults={"endpoint": default_endpoint(institution)}
        )
        created += int(was_created)
    return created


def count_received(*, accepted: int, institution_id: int | None = None, code: str = "") -> None:
    """Add pushed events to the console's per-connection count and "last event" time."""
    from django.db.models import F
    from django.utils import timezone

    rows = HisConnection.objects.unscoped()
    rows = (
        rows.filter(institution_id=institution_id)
        if institution_id
        else rows.filter(institution__code=code)
    )
    rows.update(events_received=F("events_received") + accepted, last_event_at=timezone.now())


def validate_endpoint(dialect: str, endpoint: str) -> str:
    """The cleaned endpoint, or ``ConnectionSettingsError`` saying what form it must take."""
    text = (endpoint or "").strip()
    if not text:
        raise ConnectionSettingsError("请填写接口地址")
    if len(text) > 300:
        raise ConnectionSettingsError("接口地址不能超过 300 个字符")
    if dialect == "A":
        match = _HOST_PORT.match(text)
        if not match or not 1 <= int(match["port"]) <= 65535:
            raise ConnectionSettingsError("HL7 接口地址须写成“主机:端口”，如 10.1.2.3:2575")
        return text
    if dialect in ("B", "C"):
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            kind = "REST 服务" if dialect == "B" else "Web Service"
            raise ConnectionSettingsError(
                f"{kind}地址须以 http:// 或 https:// 开头，如 https://his.example.cn/hip"
            )
        return text
    if dialect == "D":
        from jingan.integrations.his.views.adapter import parse_database_url

        try:
            parse_database_url(text)
        except ValueError as error:
            raise ConnectionSettingsError(str(error)) from None
        return text
    raise ConnectionSettingsError("该机构的 HIS 接口方式未知，请先在机构信息中设置")


def update_connection(
    *,
    actor: Any,
    connection_id: int,
    endpoint: str,
    is_enabled: bool,
    poll_interval_seconds: int,
) -> HisConnection:
    """Change where and how often the platform reaches an institution's HIS (audited)."""
    with transaction.atomic():
        row = (
            HisConnection.objects.unscoped()
            .select_for_update()
            .select_related("institution")
            .get(pk=connection_id)
        )
        clean = validate_endpoint(row.institution.his_dialect, endpoint)
        try:
            interval = int(poll_interval_seconds)
        except (TypeError, ValueError):
            raise ConnectionSettingsError("轮询间隔须为整数秒") from None
        if not MIN_INTERVAL_SECONDS <= interval <= MAX_INTERVAL_SECONDS:
            raise ConnectionSettingsError(
                f"轮询间隔须在 {MIN_INTERVAL_SECONDS} 至 {MAX_INTERVAL_SECONDS} 秒之间"
            )
        before = {
            "endpoint": _display_endpoint(row.endpoint),
            "is_enabled": row.is_enabled,
            "poll_interval_seconds": row.poll_interval_seconds,
        }
        endpoint_changed = clean != row.endpoint
        switched_on = bool(is_enabled) and not row.is_enabled
        row.endpoint = clean
        row.is_enabled = bool(is_enabled)
        row.poll_interval_seconds = interval
        fields = ["endpoint", "is_enabled", "poll_interval_seconds"]
        if endpoint_changed or switched_on:
            # A new address (or a HIS switched back on) deserves a fresh start now.
            _close_circuit(row)
            fields += ["circuit", "consecutive_failures", "next_poll_at", "last_error"]
        row.save(update_fields=fields)
        record_event(
            actor=_staff(actor),
            action="visits.connection_updated",
            object_type="visits.hisconnection",
            object_id=str(row.pk),
            institution_id=row.institution_id,
            detail={
                "before": before,
                "after": {
                    "endpoint": _display_endpoint(row.endpoint),
                    "is_enabled": row.is_enabled,
                    "poll_interval_seconds": row.poll_interval_seconds,
                },
            },
        )
    return row


def reset_circuit(*, actor: Any, connection_id: int) -> HisConnection:
    """Close an open circuit and poll at once (恢复轮询), e.g. after the HIS was repaired."""
    with transaction.atomic():
        row = HisConnection.objects.unscoped().select_for_update().get(pk=connection_id)
        before = {"circuit": row.circuit, "consecutive_failures": row.consecutive_failures}
        _close_circuit(row)
        row.save(update_fields=["circuit", "consecutive_failures", "next_poll_at", "last_error"])
        record_event(
            actor=_staff(actor),
            action="visits.connection_circuit_reset",
            object_type="visits.hisconnection",
            object_id=str(row.pk),
            institution_id=row.institution_id,
            detail={"before": before},
        )
    return row


def test_connection(*, actor: Any, connection_id: int) -> ConnectionTest:
    """Test the institution's HIS the way its dialect talks; the result is kept and audited.

    Whatever goes wrong (an unreachable host, a bad endpoint, a bug in an adapter) ends
    as a failed test with a message, never as an error page.
    """
    row = HisConnection.objects.unscoped().select_related("institution").get(pk=connection_id)
    started = time.monotonic()
    try:
        result = _run_test(row)
    except Exception as error:
        logger.warning(
            "connection test of %s raised %s", row.institution.code, type(error).__name__
        )
        result = ConnectionTestResult(
            False, f"连接测试出错：{_first_line(error)}", _elapsed_ms(started)
        )
    message = (result.message or ("连接正常" if result.ok else "连接失败"))[:500]
    with transaction.atomic():
        test = ConnectionTest.objects.create(
            connection=row,
            tested_by=_staff(actor),
            ok=result.ok,
            message=message,
            elapsed_ms=max(0, int(result.elapsed_ms)),
        )
        record_event(
            actor=_staff(actor),
            action="visits.connection_tested",
            object_type="visits.hisconnection",
            object_id=str(row.pk),
            institution_id=row.institution_id,
            outcome="success" if result.ok else "failure",
            detail={
                "dialect": row.institution.his_dialect,
                "endpoint": _display_endpoint(row.endpoint),
                "message": message[:200],
                "elapsed_ms": test.elapsed_ms,
            },
        )
    return test


def _run_test(row: HisConnection) -> ConnectionTestResult:
    code = row.institution.code
    dialect = row.institution.his_dialect
    endpoint = validate_endpoint(dialect, row.endpoint)
    if dialect == "A":
        from jingan.integrations.his.hl7.mllp import test_connection as test_mllp

        return test_mllp(endpoint, code)
    if dialect == "B":
        from jingan.integrations.his.rest.adapter import test_connection as test_rest

        return test_rest(endpoint, code)
    if dialect == "C":
        from jingan.integrations.his.soap.adapter import SoapHis

        return SoapHis(endpoint).test_connection(code)
    from jingan.integrations.his.views.adapter import ViewsHis

    return ViewsHis(endpoint, password=row.secret or None).test_connection(code)


def _close_circuit(row: HisConnection) -> None:
    row.circuit = CircuitState.CLOSED
    row.consecutive_failures = 0
    row.next_poll_at = None
    row.last_error = ""


def _display_endpoint(endpoint: str) -> str:
    """The endpoint without a password (database URLs may carry one)."""
    parts = urlsplit(endpoint)
    if parts.password is None:
        return endpoint
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def _staff(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None
