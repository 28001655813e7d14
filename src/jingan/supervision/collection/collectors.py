"""Collectors: fetch one dataset's day from its source and land it (SB-1, SB-2).

- Public account and internet hospital: an HTTP feed per dataset and day (gzip CSV with
  an SM3 header), passed through the exchange area, then landed.
- Regional platform: a daily file listing; the dataset's file is fetched and passed
  through the exchange area, then landed.
- This platform: rows read from our own tables through ``core.public`` (pseudonymous),
  landed directly (they never cross the network boundary).

A source that cannot deliver gives a failed run with the reason; the partition landed
earlier for that day stays as it was.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from django.conf import settings

from jingan.core.public import resident_rows_for_day
from jingan.lib.http import OutboundClient, OutboundError
from jingan.supervision.collection import exchange, landing
from jingan.supervision.collection.runs import begin_run, fail_run
from jingan.supervision.datasets import SOURCE_TITLES, Dataset, Source, dataset
from jingan.supervision.models import ExchangeState, JobKind, JobRun

FEED_PATHS = {
    Source.PUBLIC_ACCOUNT: "/public-account/v1/feeds/{dataset}",
    Source.INTERNET_HOSPITAL: "/internet-hospital/v1/feeds/{dataset}",
}
REGIONAL_LISTING = "/regional/v1/files/{day}/"
REGIONAL_FILE = "/regional/v1/files/{day}/{name}"


class SourceUnavailable(Exception):
    """The source could not deliver the day; the message is the Chinese reason."""


def feeds_client() -> OutboundClient:
    return OutboundClient(
        system="supervision-feeds", base_url=str(settings.SUPERVISION["feeds_base_url"])
    )


def _http_reason(title: str, error: OutboundError) -> str:
    if error.status == 503:
        return f"{title}暂停服务（HTTP 503），本日数据未更新，保留上一次采集的分区"
    if error.status:
        return f"{title}返回错误（HTTP {error.status}），本日数据未更新"
    return f"{title}无法连接（{error.message}），本日数据未更新"


def _get(
    client: OutboundClient, title: str, path: str, params: dict[str, str] | None = None
) -> Any:
    try:
        response = client.request("GET", path, params=params)
    except OutboundError as error:
        raise SourceUnavailable(_http_reason(title, error)) from None
    if response.status_code != 200:
        try:
            message = str(response.json().get("message", ""))
        except (ValueError, AttributeError):
            message = ""
        raise SourceUnavailable(
            f"{title}拒绝请求（HTTP {response.status_code}）" + (f"：{message}" if message else "")
        )
    return response


def _declared_rows(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def _fetch_feed(data: Dataset, day: date) -> list[tuple[str, bytes, str | None, int | None]]:
    title = SOURCE_TITLES[data.source]
    path = FEED_PATHS[data.source].format(dataset=data.name)
    with feeds_client() as client:
        response = _get(client, title, path, {"date": day.isoformat()})
    filename = f"{data.name}-{day:%Y%m%d}.csv.gz"
    return [
        (
            filename,
            response.content,
            response.headers.get("X-Content-SM3"),
            _declared_rows(response.headers.get("X-Row-Count")),
        )
    ]


def _fetch_regional(data: Dataset, day: date) -> list[tuple[str, bytes, str | None, int | None]]:
    title = SOURCE_TITLES[data.source]
    with feeds_client() as client:
        listing = _get(client, title, REGIONAL_LISTING.format(day=day.isoformat()))
        try:
            entries = [entry for entry in listing.json() if entry.get("dataset") == data.name]
        except (ValueError, AttributeError, TypeError):
            raise SourceUnavailable(f"{title}的文件清单无法解析") from None
        if not entries:
            raise SourceUnavailable(f"{title}未提供 {day.isoformat()} 的 {data.name} 文件")
        if len(entries) > 1:
            # Landing replaces the day whole: two files would silently overwrite each other.
            names = "、".join(str(entry.get("name")) for entry in entries)
            raise SourceUnavailable(
                f"{title}同日提供了多个 {data.name} 文件（{names}），请人工核实"
            )
        entry = entries[0]
        name = str(entry.get("name", ""))
        response = _get(client, title, REGIONAL_FILE.format(day=day.isoformat(), name=name))
    rows = entry.get("rows")
    return [
        (
            name,
            response.content,
            str(entry.get("sm3") or "") or None,
            int(rows) if isinstance(rows, int) else None,
        )
    ]


def platform_csv(data: Dataset, rows: list[dict[str, object]]) -> bytes:
    """Our own rows in the feed wire format, so they land through the same checks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(data.column_names)
    for row in rows:
        writer.writerow([_wire_value(row.get(name)) for name in data.column_names])
    return buffer.getvalue().encode("utf-8")


def _wire_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def collect_day(
    dataset_name: str, day: date, *, trigger: str = "schedule", actor: Any = None
) -> JobRun:
    """Fetch ``dataset_name`` for ``day`` from its source and land it; one collect run."""
    data = dataset(dataset_name)
    if data.source == Source.PLATFORM:
        return landing.land_raw(
            data.name,
            day,
            platform_csv(data, resident_rows_for_day(day)),
            trigger=trigger,
            actor=actor,
            detail={"source": data.source.value},
        )
    try:
        if data.source == Source.REGIONAL:
            files = _fetch_regional(data, day)
        else:
            files = _fetch_feed(data, day)
    except SourceUnavailable as error:
        run = begin_run(JobKind.COLLECT, data.name, day, trigger=trigger, actor=actor)
        return fail_run(run, str(error), detail={"source": data.source.value})
    filename, content, sm3, rows = files[0]
    submitted = exchange.submit(
        data.name,
        day,
        content,
        filename=filename,
        source=data.source.value,
        sm3=sm3,
        rows=rows,
    )
    for record in exchange.process_inbox(trigger=trigger, actor=actor):
        if record.pk != submitted.pk:
            continue
        if record.state == ExchangeState.QUARANTINED:
            run = begin_run(JobKind.COLLECT, data.name, day, trigger=trigger, actor=actor)
            return fail_run(
                run,
                f"文件已隔离：{record.reason}",
                detail={"source": data.source.value, "exchange_file": record.pk},
            )
        landed: JobRun = record.landing_run  # type: ignore[attr-defined]
        return landed
    # Another worker claimed the file between submit and processing: its run lands it.
    run = begin_run(JobKind.COLLECT, data.name, day, trigger=trigger, actor=actor)
    return fail_run(
        run,
        "文件已提交交换区，但由其他进程处理，请查看交换区记录",
        detail={"source": data.source.value, "exchange_file": submitted.pk},
    )
