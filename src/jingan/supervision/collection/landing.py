"""Landing: a day's CSV file becomes the raw partition of its dataset (SB-1, SB-6).

DuckDB reads the file with every column as text; each value is then checked against
the declared type, required columns must be present and the row's date column must
fall on the day being landed. Rows that pass are written to ``raw`` with the declared
types; every other row goes to ``rejects/raw`` as text with a Chinese reason naming
the column, so nothing is dropped silently: rows_in = rows_out + rows_rejected.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import tempfile
import zlib
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa

from jingan.supervision.collection.runs import begin_run, fail_run, finish_run
from jingan.supervision.datasets import Column, Dataset, dataset
from jingan.supervision.lake import store
from jingan.supervision.models import JobKind, JobRun

ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "BOOLEAN": pa.bool_(),
}
# How a value of each type must be written on the wire (common7 feed format).
TYPE_TITLES = {
    "VARCHAR": "文本",
    "BIGINT": "整数",
    "DOUBLE": "数值",
    "DATE": "日期（yyyy-MM-dd）",
    "TIMESTAMP": "时间（yyyy-MM-dd HH:mm:ss）",
    "BOOLEAN": "布尔值（true/false）",
}
# Rejects keep the offending row as text, plus where it was and why it was refused.
REJECT_EXTRA = (("row_number", pa.int64()), ("raw_line", pa.string()), ("reason", pa.string()))


class UnreadableFile(Exception):
    """The file as a whole cannot be read; the message is the Chinese reason."""


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in columns])


def raw_reject_schema(data: Dataset) -> pa.Schema:
    fields = [pa.field(c.name, pa.string()) for c in data.columns]
    return pa.schema([*fields, *(pa.field(n, t) for n, t in REJECT_EXTRA)])


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def decompress(content: bytes) -> bytes:
    """The CSV text of a feed body: gzip is undone, plain CSV passes through."""
    if content[:2] != b"\x1f\x8b":
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise UnreadableFile(f"gzip 压缩文件损坏，无法解压：{error}") from None


def read_header(csv_bytes: bytes) -> list[str]:
    """The header row of a CSV file (empty when the file is empty)."""
    first_line = csv_bytes.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile("文件不是 UTF-8 编码的文本") from None
    return next(csv.reader(io.StringIO(text)), [])


def header_problem(data: Dataset, header: list[str]) -> str:
    """A Chinese description of how ``header`` differs from the declaration; "" if equal."""
    declared = list(data.column_names)
    if header == declared:
        return ""
    missing = [name for name in declared if name not in header]
    extra = [name for name in header if name not in declared]
    parts = []
    if missing:
        parts.append("缺少列 " + "、".join(missing))
    if extra:
        parts.append("多出列 " + "、".join(extra))
    if not parts:
        parts.append("列顺序与声明不同（应为 " + ",".join(declared) + "）")
    return "表头与数据集声明不符：" + "；".join(parts)


def read_text_rows(data: Dataset, csv_bytes: bytes) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """Parse the CSV with DuckDB, every column as text.

    Returns the rows with the declared number of fields, and (line, text, reason) for
    rows whose field count is wrong (kept as rejects, not dropped).
    """
    problem = header_problem(data, read_header(csv_bytes))
    if problem:
        raise UnreadableFile(problem)
    try:
        csv_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableFile("文件不是 UTF-8 编码的文本") from None
    handle, path = tempfile.mkstemp(suffix=".csv", prefix=f"landing-{data.name}-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(csv_bytes)
        columns = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in data.column_names) + "}"
        connection = duckdb.connect(database=":memory:")
        try:
            table = connection.sql(
                f"SELECT * FROM read_csv({quote_literal(path)}, header = true, delim = ',', "
                "quote = '\"', escape = '\"', auto_detect = false, ignore_errors = true, "
                f"store_rejects = true, columns = {columns})"
            ).to_arrow_table()
            # One entry per missing column of a short row: one reject per line.
            structural = connection.execute(
                "SELECT line, min(csv_line), min(error_type) FROM reject_errors GROUP BY line ORDER BY line"
            ).fetchall()
        except duckdb.Error as error:
            raise UnreadableFile(f"无法读取 CSV 文件：{error}") from None
        finally:
            connection.close()
    finally:
        os.unlink(path)
    field_errors = {
        "MISSING COLUMNS": "字段数少于声明的列数",
        "TOO MANY COLUMNS": "字段数多于声明的列数",
    }
    broken = [
        (int(line), str(text), field_errors.get(str(kind), f"无法解析该行（{kind}）"))
        for line, text, kind in structural
    ]
    return table.cast(pa.schema([pa.field(n, pa.string()) for n in data.column_names])), broken


def typed_expression(column: Column) -> str:
    """SQL turning the text value of ``column`` into its declared type (NULL if invalid).

    Stricter than a plain cast on purpose: the wire format fixes how each type is
    written, so "1.5" is not an integer and "t" is not a boolean.
    """
    name = f'"{column.name}"'
    if column.type == "VARCHAR":
        return name
    if column.type == "BIGINT":
        return (
            f"CASE WHEN regexp_full_match({name}, '-?[0-9]+') THEN TRY_CAST({name} AS BIGINT) END"
        )
    if column.type == "DOUBLE":
        return (
            f"CASE WHEN regexp_full_match({name}, '-?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?')"
            f" THEN TRY_CAST({name} AS DOUBLE) END"
        )
    if column.type == "DATE":
        return f"CAST(TRY_STRPTIME({name}, '%Y-%m-%d') AS DATE)"
    if column.type == "TIMESTAMP":
        return f"CAST(TRY_STRPTIME({name}, '%Y-%m-%d %H:%M:%S') AS TIMESTAMP)"
    if column.type == "BOOLEAN":
        return f"CASE {name} WHEN 'true' THEN true WHEN 'false' THEN false END"
    raise ValueError(f"unsupported column type {column.type}")


def reason_expressions(data: Dataset, day: date) -> list[str]:
    """One SQL expression per check, each NULL when the row passes it."""
    checks: list[str] = []
    for column in data.columns:
        name = f'"{column.name}"'
        label = f"{column.name}（{column.title}）"
        if column.required:
            checks.append(
                f"CASE WHEN {name} IS NULL THEN {quote_literal('缺少必填字段 ' + label)} END"
            )
        if column.type != "VARCHAR":
            # Identifier values are not repeated in the reason: reasons are shown on pages.
            shown = (
                "'（值已隐藏）'"
                if column.name in data.identifiers
                else f"'“' || left({name}, 40) || '”'"
            )
            checks.append(
                f"CASE WHEN {name} IS NOT NULL AND ({typed_expression(column)}) IS NULL THEN "
                f"{quote_literal('字段 ' + label + '的值')} || {shown} || "
                f"{quote_literal('不是有效的' + TYPE_TITLES[column.type])} END"
            )
    anchor = data.column(data.date_column)
    anchor_typed = typed_expression(anchor)
    checks.append(
        f"CASE WHEN ({anchor_typed}) IS NOT NULL AND CAST(({anchor_typed}) AS DATE) <> "
        f"DATE {quote_literal(day.isoformat())} THEN "
        f"{quote_literal(anchor.name + '（' + anchor.title + '）')} || '为 ' || \"{anchor.name}\" || "
        f"{quote_literal('，不属于该数据日期 ' + day.isoformat())} END"
    )
    return checks


def split_rows(data: Dataset, day: date, text_rows: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(typed good rows, text rejects with reason) of the parsed rows, in file order."""
    connection = duckdb.connect(database=":memory:")
    try:
        positioned = text_rows.append_column(
            "_position", pa.array(range(1, text_rows.num_rows + 1), type=pa.int64())
        )
        connection.register("text_rows", positioned)
        reason = "concat_ws('；', " + ", ".join(reason_expressions(data, day)) + ")"
        connection.execute(
            f"CREATE TEMP TABLE checked AS SELECT *, {reason} AS _reason FROM text_rows"
        )
        typed = ", ".join(
            f'{typed_expression(column)} AS "{column.name}"' for column in data.columns
        )
        good = connection.sql(
            f"SELECT {typed} FROM checked WHERE _reason = '' ORDER BY _position"
        ).to_arrow_table()
        texts = ", ".join(f'"{name}"' for name in data.column_names)
        bad = connection.sql(
            f"SELECT {texts}, _position AS row_number, CAST(NULL AS VARCHAR) AS raw_line, "
            "_reason AS reason FROM checked WHERE _reason <> '' ORDER BY _position"
        ).to_arrow_table()
    finally:
        connection.close()
    return good.cast(arrow_schema(data.columns)), bad.cast(raw_reject_schema(data))


def _structural_rejects(data: Dataset, broken: list[tuple[int, str, str]]) -> pa.Table:
    schema = raw_reject_schema(data)
    columns: dict[str, list[Any]] = {name: [None] * len(broken) for name in data.column_names}
    columns["row_number"] = [None] * len(broken)
    columns["raw_line"] = [text for _, text, _ in broken]
    columns["reason"] = [f"第 {line} 行{reason}" for line, _, reason in broken]
    return pa.Table.from_pydict(columns, schema=schema)


def _reason_kind(reason: str) -> str:
    """A reason without the row's own value, for per-reason counts in the run detail."""
    if "不属于该数据日期" in reason:
        return reason.split("为 ", 1)[0] + " 不属于该数据日期"
    if "的值" in reason:
        return reason.split("的值", 1)[0] + " 类型不符"
    if reason.startswith("第 ") and "行" in reason:
        return reason.split("行", 1)[1]
    return reason


def land_raw(
    dataset_name: str,
    day: date,
    csv_bytes: bytes,
    *,
    trigger: str = "schedule",
    actor: Any = None,
    run: JobRun | None = None,
    detail: dict[str, Any] | None = None,
) -> JobRun:
    """Replace ``dataset_name``'s raw partition for ``day`` with the rows of a CSV file.

    ``csv_bytes`` may be gzip-compressed. A collector that already opened a run for the
    fetch passes it as ``run`` so one collection is one row of run history.
    """
    data = dataset(dataset_name)
    run = run or begin_run(JobKind.COLLECT, data.name, day, trigger=trigger, actor=actor)
    try:
        text = decompress(csv_bytes)
        text_rows, broken = read_text_rows(data, text)
    except UnreadableFile as error:
        return fail_run(run, str(error), detail=detail)
    good, bad = split_rows(data, day, text_rows)
    if broken:
        bad = pa.concat_tables([bad, _structural_rejects(data, broken)])
    run_id = store.new_run_id()
    snapshot = store.snapshot_partition("raw", data.name, day, run_id)
    path = store.write_partition("raw", data.name, day, good)
    rejects_path = store.partition_path("rejects/raw", data.name, day)
    if bad.num_rows:
        store.write_partition("rejects/raw", data.name, day, bad)
    else:
        # The day was replaced whole: rejects of an earlier landing no longer apply.
        rejects_path.unlink(missing_ok=True)
    reasons: dict[str, int] = {}
    for reason in bad.column("reason").to_pylist():
        for part in str(reason).split("；"):
            reasons[_reason_kind(part)] = reasons.get(_reason_kind(part), 0) + 1
    return finish_run(
        run,
        rows_in=good.num_rows + bad.num_rows,
        rows_out=good.num_rows,
        rows_rejected=bad.num_rows,
        detail={
            **(detail or {}),
            "partition": str(path),
            "rejects": str(rejects_path) if bad.num_rows else None,
            "snapshot": str(snapshot) if snapshot else None,
            "reasons": reasons,
        },
    )
