"""Dialect B seen from the platform: the HIS pushes (``jingan.accompaniment.visits.inputs.
push_api`` takes the pushes); the platform only calls the HIS's ping for the console's
connection test (HI-1).
"""

from __future__ import annotations

import time

from jingan.integrations.his.port import ConnectionTestResult
from jingan.lib.http import OutboundClient, OutboundError

DEFAULT_TIMEOUT = 5.0


# Not a pytest test despite its name: the console's connection test (HI-1).
def test_connection(
    base_url: str,
    institution_code: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: PT028
) -> ConnectionTestResult:
    """``GET <base_url>/ping`` of the HIS's query service; ok when it names this institution."""
    started = time.monotonic()

    def result(ok: bool, message: str) -> ConnectionTestResult:
        return ConnectionTestResult(ok, message, round((time.monotonic() - started) * 1000))

    try:
        with OutboundClient(
            system="his-rest", base_url=base_url.rstrip("/") + "/", timeout=timeout, retries=0
        ) as client:
            response = client.request("GET", "ping")
    except OutboundError as error:
        if error.status is not None:
            return result(False, f"HIS 接口服务异常：HTTP {error.status}")
        return result(False, f"无法连接 HIS 接口服务：{error.message}")
    if response.status_code != 200:
        return result(False, f"HIS 接口服务应答 HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        return result(False, "HIS 接口服务应答不是 JSON")
    if not isinstance(answer, dict) or str(answer.get("code")) != "0":
        message = answer.get("message", "") if isinstance(answer, dict) else ""
        return result(False, f"HIS 接口服务应答失败：{message or '未说明原因'}")
    if answer.get("hospCode") != institution_code:
        return result(
            False,
            f"HIS 应答的机构编码 {answer.get('hospCode') or '（空）'} 与本机构 {institution_code} 不符",
        )
    return result(True, f"连接正常，HIS 服务器时间 {answer.get('serverTime') or '未知'}")


# Not a test, whatever pytest thinks of the name when a test module imports it.
test_connection.__test__ = False  # type: ignore[attr-defined]
