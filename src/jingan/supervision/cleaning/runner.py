"""Cleaning: a day's raw partition becomes its clean partition (SB-3).

One pass per dataset and day: de-duplicate on the key (the last delivered row wins),
check every declared rule, derive the person columns from an ID number and drop the
number itself, then write ``clean`` (``datasets.clean_columns``) and ``rejects/clean``
(the refused rows with the rule and a Chinese reason; ID numbers masked there too,
the raw zone keeps the original for re-processing). The clean partition being replaced
is snapshotted first, so a bad run can be undone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
from django.apps import apps

from jingan.core.public import InvalidIdNumber, blind_index, check_id_number
from jingan.lib.masking import mask_id_number
from jingan.supervision.cleaning.rules import DEDUPE_RULE, Rule, rules_for
from jingan.supervision.collection.landing import ARROW_TYPES, arrow_schema, quote_literal
from jingan.supervision.collection.runs import begin_run, fail_run, finish_run
from jingan.supervision.datasets import AGE_GROUPS, Dataset, clean_columns, dataset
from jingan.supervision.lake import store
from jingan.supervision.models import JobKind, JobRun

REJECT_EXTRA = (("raw_position", pa.int64()), ("rule", pa.string()), ("reason", pa.string()))
PERSON_SCHEMA = pa.schema(
    [
        ("id_number", pa.string()),
        ("person_id", pa.string()),
        ("gender", pa.string()),
        ("birth_date", pa.date32()),
        ("age", pa.int64()),
        ("age_group", pa.string()),
        ("masked_id", pa.string()),
        ("id_error", pa.string()),
    ]
)


@dataclass(frozen=True)
class PersonFacts:
    person_id: str
    gender: str  # GB/T 2261.1: "1" male, "2" female
    birth_date: date
    age: int
    age_group: str


def age_on(birth: date, day: date) -> int:
    """Age in full years (周岁) on ``day``; a 29 February birthday falls on 1 March."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def age_group(age: int, groups: tuple[tuple[str, int, int], ...] = AGE_GROUPS) -> str:
    return next((label for label, low, high in groups if low <= age <= high), "")


# Filled only inside ``bulk_identities()`` (a demo or back-fill loading many days): a
# long-lived worker must not keep pseudonyms past a key rotation, a bulk load may.
_IDENTITY_CACHE: dict[str, tuple[str, str, date]] | None = None


@contextmanager
def bulk_identities() -> Iterator[None]:
    """Remember each ID number's pseudonym, gender and birth date for the duration.

    A district's residents come back day after day, and the check plus the HMAC were
    half of a day's cleaning in a year-long load.
    """
    global _IDENTITY_CACHE
    previous, _IDENTITY_CACHE = _IDENTITY_CACHE, {}
    try:
        yield
    finally:
        _IDENTITY_CACHE = previous


def _identity(id_number: str) -> tuple[str, str, date]:
    """(pseudonym, gender, birth date) of a valid ID number; InvalidIdNumber otherwise.

    The birth date is checked against the event day by the caller, so the answer does
    not depend on the day.
    """
    cache = _IDENTITY_CACHE
    if cache is not None and id_number in cache:
        return cache[id_number]
    facts = check_id_number(id_number, today=date.max)
    resident = apps.get_model("residents", "Resident")
    # The residents' own blind index: the same person gets the same pseudonym everywhere.
    person_id = blind_index(resident, "id_number_index", facts.id_number)
    identity = (person_id, "1" if facts.sex == "M" else "2", facts.birth_date)
    if cache is not None:
        cache[id_number] = identity
    return identity


def person_facts(id_number: str, day: date) -> PersonFacts:
    """What cleaning keeps of a person in place of their ID number; InvalidIdNumber if bad."""
    person_id, gender, birth_date = _identity(id_number)
    if birth_date > day:
        raise InvalidIdNumber("出生日期无效")
    age = age_on(birth_date, day)
    return PersonFacts(
        person_id=person_id,
        gender=gender,
        birth_date=birth_date,
        age=age,
        age_group=age_group(age),
    )


def _persons_table(id_numbers: list[str | None], day: date) -> pa.Table:
    # One HMAC and one check per distinct number: a busy person appears many times a day.
    rows: dict[str, list[Any]] = {name: [] for name in PERSON_SCHEMA.names}
    for number in sorted({n for n in id_numbers if n is not None}):
        try:
            facts: PersonFacts | None = person_facts(number, day)
            error = ""
        except InvalidIdNumber as invalid:
            facts, error = None, str(invalid)
        rows["id_number"].append(number)
        rows["person_id"].append(facts.person_id if facts else None)
        rows["gender"].append(facts.gender if facts else None)
        rows["birth_date"].append(facts.birth_date if facts else None)
        rows["age"].append(facts.age if facts else None)
        rows["age_group"].append(facts.age_group if facts else None)
        rows["masked_id"].append(mask_id_number(number))
        rows["id_error"].append(error or None)
    return pa.Table.from_pydict(rows, schema=PERSON_SCHEMA)


def institution_codes() -> list[str]:
    institution = apps.get_model("institutions", "Institution")
    return sorted(institution.objects.unscoped().values_list("code", flat=True))


def _label(data: Dataset, name: str) -> str:
    return f"{name}（{data.column(name).title}）"


def _value_text(name: str) -> str:
    return f"'“' || left(CAST(r.\"{name}\" AS VARCHAR), 40) || '”'"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def rule_check(data: Dataset, rule: Rule) -> str:
    """SQL giving the Chinese reason ``rule`` refuses the row for, NULL when it passes."""
    column = f'r."{rule.column}"'
    label = _label(data, rule.column)
    if rule.kind == "required":
        return f"CASE WHEN {column} IS NULL THEN {quote_literal('缺少必填字段 ' + label)} END"
    if rule.kind == "allowed":
        values = ", ".join(quote_literal(v) for v in rule.values)
        allowed = "、".join(rule.values)
        return (
            f"CASE WHEN {column} IS NOT NULL AND {column} NOT IN ({values}) THEN "
            f"{quote_literal(label + '的值')} || {_value_text(rule.column)} || "
            f"{quote_literal('不在代码表中（允许：' + allowed + '）')} END"
        )
    if rule.kind == "range":
        conditions, bounds = [], ""
        if rule.minimum is not None:
            conditions.append(f"{column} < {rule.minimum}")
        if rule.maximum is not None:
            conditions.append(f"{column} > {rule.maximum}")
        if rule.minimum is not None and rule.maximum is not None:
            bounds = f"应在 {_number(rule.minimum)}–{_number(rule.maximum)} 之间"
        elif rule.minimum is not None:
            bounds = f"应 ≥ {_number(rule.minimum)}"
        else:
            bounds = f"应 ≤ {_number(rule.maximum or 0)}"
        return (
            f"CASE WHEN {column} IS NOT NULL AND ({' OR '.join(conditions)}) THEN "
            f"{quote_literal(label + '的值 ')} || CAST({column} AS VARCHAR) || "
            f"{quote_literal(' 超出范围（' + bounds + '）')} END"
        )
    if rule.kind == "not_before":
        other = f'r."{rule.other}"'
        return (
            f"CASE WHEN {column} IS NOT NULL AND {other} IS NOT NULL AND {column} < {other} "
            f"THEN {quote_literal(label + ' 早于 ' + _label(data, rule.other))} END"
        )
    if rule.kind == "institution":
        return (
            f"CASE WHEN {column} IS NOT NULL AND {column} NOT IN (SELECT code FROM institutions) "
            f"THEN {quote_literal(label + '的值')} || {_value_text(rule.column)} || "
            "'不是本区医疗机构编码' END"
        )
    if rule.kind == "id_number":
        return (
            f"CASE WHEN {column} IS NOT NULL AND p.id_error IS NOT NULL THEN "
            f"{quote_literal(label + '无效：')} || p.id_error END"
        )
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def clean_reject_schema(data: Dataset) -> pa.Schema:
    fields = [pa.field(c.name, ARROW_TYPES[c.type]) for c in data.columns]
    return pa.schema([*fields, *(pa.field(n, t) for n, t in REJECT_EXTRA)])


def clean_table(
    data: Dataset, day: date, raw: pa.Table
) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """(clean rows, refused rows, refusals per rule) of a raw partition."""
    has_person = "id_number" in data.identifiers
    rules = rules_for(data)
    connection = duckdb.connect(database=":memory:")
    try:
        positioned = raw.append_column(
            "_position", pa.array(range(1, raw.num_rows + 1), type=pa.int64())
        )
        connection.register("raw_rows", positioned)
        connection.register(
            "institutions",
            pa.table({"code": pa.array(institution_codes(), type=pa.string())}),
        )
        persons = _persons_table(raw.column("id_number").to_pylist() if has_person else [], day)
        connection.register("persons", persons)
        key = ", ".join(f'r."{name}"' for name in data.key)
        join = 'LEFT JOIN persons p ON p.id_number = r."id_number"' if has_person else ""
        key_text = " || ', ' || ".join(
            f"{quote_literal(name + '=')} || coalesce(CAST(r.\"{name}\" AS VARCHAR), '')"
            for name in data.key
        )
        person_select = (
            "p.person_id, p.gender, p.birth_date, p.age, p.age_group, p.masked_id"
            if has_person
            else "NULL AS masked_id"
        )
        checks = [(rule.code, rule_check(data, rule)) for rule in rules]
        reasons = ", ".join(sql for _, sql in checks)
        codes = ", ".join(
            f"CASE WHEN ({sql}) IS NOT NULL THEN {quote_literal(code)} END" for code, sql in checks
        )
        # The last delivered row of a key wins; earlier deliveries are refused as
        # duplicates before any other rule, so a superseded row is never resurrected.
        connection.execute(
            f"""
            CREATE TEMP TABLE checked AS
            SELECT r.*, {person_select},
                   CASE WHEN row_number() OVER (PARTITION BY {key} ORDER BY r._position DESC) > 1
                        THEN '{DEDUPE_RULE}' ELSE concat_ws(',', {codes}) END AS _rule,
                   CASE WHEN row_number() OVER (PARTITION BY {key} ORDER BY r._position DESC) > 1
                        THEN '重复记录（' || {key_text} || '）：已保留最后送达的一条'
                        ELSE concat_ws('；', {reasons}) END AS _reason
            FROM raw_rows r {join}
            """
        )
        selected = [
            f"DATE {quote_literal(day.isoformat())} AS day"
            if column.name == "day"
            else f'"{column.name}"'
            for column in clean_columns(data)
        ]
        clean = connection.sql(
            f"SELECT {', '.join(selected)} FROM checked WHERE _reason = '' ORDER BY _position"
        ).to_arrow_table()
        declared = []
        for column in data.columns:
            if column.name == "id_number":
                declared.append('masked_id AS "id_number"')
            else:
                declared.append(f'"{column.name}"')
        rejected = connection.sql(
            f"SELECT {', '.join(declared)}, _position AS raw_position, _rule AS rule, "
            "_reason AS reason FROM checked WHERE _reason <> '' ORDER BY _position"
        ).to_arrow_table()
        counts = dict(
            connection.execute(
                "SELECT rule, count(*) FROM (SELECT unnest(string_split(_rule, ',')) AS rule "
                "FROM checked WHERE _reason <> '') GROUP BY rule ORDER BY rule"
            ).fetchall()
        )
    finally:
        connection.close()
    return (
        clean.cast(arrow_schema(clean_columns(data))),
        rejected.cast(clean_reject_schema(data)),
        {str(k): int(v) for k, v in counts.items()},
    )


def clean_day(
    dataset_name: str, day: date, *, trigger: str = "schedule", actor: Any = None
) -> JobRun:
    """Clean ``dataset_name``'s raw partition of ``day`` into its clean partition."""
    data = dataset(dataset_name)
    run = begin_run(JobKind.CLEAN, data.name, day, trigger=trigger, actor=actor)
    raw = store.read_partition("raw", data.name, day)
    if raw is None:
        return fail_run(run, f"{day.isoformat()} 尚无已采集的原始数据，请先采集")
    # Snapshot before anything is replaced: the snapshot is what makes a re-run undoable.
    snapshot = store.snapshot_partition("clean", data.name, day, store.new_run_id())
    clean, rejected, counts = clean_table(data, day, raw)
    path = store.write_partition("clean", data.name, day, clean)
    rejects_path = store.partition_path("rejects/clean", data.name, day)
    if rejected.num_rows:
        store.write_partition("rejects/clean", data.name, day, rejected)
    else:
        rejects_path.unlink(missing_ok=True)
    return finish_run(
        run,
        rows_in=raw.num_rows,
        rows_out=clean.num_rows,
        rows_rejected=rejected.num_rows,
        detail={
            "partition": str(path),
            "rejects": str(rejects_path) if rejected.num_rows else None,
            "snapshot": str(snapshot) if snapshot else None,
            "rules": counts,
        },
    )
