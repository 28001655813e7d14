"""The cleaning rules of every dataset, declared as data (SB-3).

Each rule names its dataset column and kind; ``runner`` turns them into one SQL pass.
Kinds:

- ``required``: the value is present.
- ``allowed``: the value is one of ``values`` (code lists; empty values pass unless
  the column is also required).
- ``range``: ``minimum`` ≤ value ≤ ``maximum`` (either bound may be open).
- ``not_before``: the value is not earlier than column ``other`` (when both are set).
- ``institution``: the value is the code of one of the district's institutions.
- ``id_number``: a valid resident ID number (GB 11643: format, check digit, birth date,
  region code); the person columns are derived from it and the number is dropped.

Besides the rules, every dataset is de-duplicated on its declared key: the last
delivered row of a key wins (a source re-sends a record to correct it).
"""

from __future__ import annotations

from dataclasses import dataclass

from jingan.supervision.datasets import DATASETS, MODULES, Dataset


@dataclass(frozen=True)
class Rule:
    code: str
    kind: str  # required | allowed | range | not_before | institution | id_number
    column: str
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    other: str = ""


DEDUPE_RULE = "dedupe"


def _allowed(column: str, *values: str) -> Rule:
    return Rule(f"allowed.{column}", "allowed", column, values=values)


def _range(column: str, minimum: float | None = None, maximum: float | None = None) -> Rule:
    return Rule(f"range.{column}", "range", column, minimum=minimum, maximum=maximum)


def _not_before(column: str, other: str) -> Rule:
    return Rule(f"order.{column}", "not_before", column, other=other)


INSTITUTION = Rule("code.institution_code", "institution", "institution_code")
ID_NUMBER = Rule("id_number", "id_number", "id_number")

# Beyond the declared required columns, what each dataset's values must satisfy.
DATASET_RULES: dict[str, tuple[Rule, ...]] = {
    "pa_registrations": (
        _allowed("channel", "menu", "scan", "share", "search"),
        _not_before("deregistered_at", "registered_at"),
    ),
    "pa_realname": (
        _allowed("method", "face", "manual"),
        _allowed("outcome", "approved", "rejected", "pending"),
        _not_before("decided_at", "submitted_at"),
        ID_NUMBER,
    ),
    "pa_sessions": (
        _range("page_views", 1),
        _not_before("ended_at", "started_at"),
    ),
    "pa_module_visits": (
        _allowed("module", *MODULES),
        INSTITUTION,
    ),
    "appointments": (
        INSTITUTION,
        _allowed("channel", "jingan", "phone", "window", "referral"),
        _allowed("status", "booked", "cancelled", "attended", "no_show"),
        ID_NUMBER,
    ),
    "registrations": (
        INSTITUTION,
        _allowed("status", "registered", "refunded"),
        _range("fee", 0),
        ID_NUMBER,
    ),
    "consultations": (
        INSTITUTION,
        _allowed("mode", "text", "voice", "video"),
        _allowed("status", "completed", "refused", "timeout", "cancelled"),
        _range("fee", 0),
        _range("prescription_amount", 0),
        _range("review_stars", 1, 5),
        _not_before("accepted_at", "paid_at"),
        _not_before("closed_at", "accepted_at"),
        _not_before("delivered_at", "paid_at"),
        ID_NUMBER,
    ),
    "proxy_medication": (
        INSTITUTION,
        _allowed("kind", "volunteer", "child_for_parent", "parent_for_minor"),
        _allowed("status", "completed", "cancelled"),
        _range("amount", 0),
        ID_NUMBER,
    ),
    "renewals": (
        INSTITUTION,
        _allowed("status", "approved", "rejected", "cancelled"),
        ID_NUMBER,
    ),
    "care_orders": (
        INSTITUTION,
        _allowed("service_type", "nursing", "rehabilitation"),
        _allowed("status", "completed", "cancelled"),
        _range("amount", 0),
        ID_NUMBER,
    ),
    "platform_residents": (
        _allowed("gender", "1", "2"),
        _range("birth_year", 1900),
        _not_before("verified_at", "registered_at"),
    ),
}


def rules_for(data: Dataset) -> tuple[Rule, ...]:
    """Every rule of ``data``: its declared required columns first, then its own rules."""
    required = tuple(
        Rule(f"required.{column.name}", "required", column.name)
        for column in data.columns
        if column.required
    )
    return (*required, *DATASET_RULES.get(data.name, ()))


def _check_declarations() -> None:
    # A rule on a column that does not exist would never fire: fail at import instead.
    for data in DATASETS:
        names = set(data.column_names)
        for rule in DATASET_RULES.get(data.name, ()):
            if rule.column not in names or (rule.other and rule.other not in names):
                raise ValueError(f"cleaning rule {rule.code} names a column {data.name} lacks")


_check_declarations()
