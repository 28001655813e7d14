"""``ArchivePort`` over an institution's archive HTTP API, through ``jingan.lib.http``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from jingan.integrations.archives.port import (
    ArchiveError,
    ArchivePage,
    ArchivePayload,
    RejectedItem,
    parse_payload,
)
from jingan.lib.http import OutboundClient, OutboundError


@dataclass(frozen=True)
class ArchiveSourceConfig:
    """Where one institution's archive answers (``base_url``) and under which code."""

    base_url: str
    institution_code: str
    timeout_seconds: float = 15.0


class HttpArchiveAdapter:
    """Pulls the admission index and section documents of one institution."""

    def __init__(self, config: ArchiveSourceConfig) -> None:
        self.config = config
        self._prefix = f"/archive/v1/{quote(config.institution_code, safe='')}"

    def _client(self) -> OutboundClient:
        return OutboundClient(
            system=f"archive-{self.config.institution_code}",
            base_url=self.config.base_url,
            timeout=self.config.timeout_seconds,
        )

    def list_admissions(self, *, since: datetime | None, cursor: str | None) -> ArchivePage:
        params = {}
        if since is not None:
            params["since"] = since.isoformat()
        if cursor:
            params["cursor"] = cursor
        with self._client() as client:
            try:
                response = client.request("GET", f"{self._prefix}/admissions", params=params)
            except OutboundError as error:
                raise ArchiveError(
                    f"病案归档接口不可达：{error.message}", retryable=True
                ) from error
        if response.status_code != 200:
            raise ArchiveError(
                f"病案归档接口返回 HTTP {response.status_code}：{_message(response.text)}",
                retryable=False,
            )
        try:
            answer = response.json()
            raw_items = answer["items"]
            next_cursor = answer.get("next_cursor")
        except (ValueError, KeyError, TypeError) as error:
            raise ArchiveError(
                "病案归档接口返回的不是约定的分页 JSON（缺少 items）", retryable=False
            ) from error
        if not isinstance(raw_items, list):
            raise ArchiveError("病案归档接口返回的 items 不是列表", retryable=False)
        items: list[ArchivePayload] = []
        rejected: list[RejectedItem] = []
        for raw in raw_items:
            payload, reason = parse_payload(raw)
            if payload is None:
                rejected.append(RejectedItem(raw=raw, reason=reason))
            else:
                items.append(payload)
        return ArchivePage(
            items=items,
            next_cursor=str(next_cursor) if next_cursor not in (None, "") else None,
            rejected=rejected,
        )

    def fetch_document(self, ref: str) -> bytes:
        with self._client() as client:
            try:
                response = client.request("GET", f"{self._prefix}/documents/{quote(ref, safe='')}")
            except OutboundError as error:
                raise ArchiveError(f"病案文档下载失败：{error.message}", retryable=True) from error
        if response.status_code != 200:
            raise ArchiveError(
                f"病案文档下载失败：HTTP {response.status_code} {_message(response.text)}",
                retryable=False,
            )
        return response.content


def _message(text: str) -> str:
    return text[:200]
