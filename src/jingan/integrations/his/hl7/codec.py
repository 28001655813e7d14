r"""Dialect A: HL7 v2.5 messages ↔ visit events, in the vendor profile written down here.

Transport (MLLP framing, MSH-18 charsets) lives in ``mllp.py``; this module sees text,
already decoded. ``parse_message`` is the platform's side. ``build_message`` is the
HIS's side (the simulator's encoder): it sits beside the parser so the profile is
written down once, but it writes from the vendor's own constants (``VENDOR_MESSAGES``
and the code lists), never from ``STATUS_TABLE``.

Vendor profile (HL7 v2.5 as the dialect-A HIS sends it)
-------------------------------------------------------
Every message:

- segments end with CR (CR LF and LF are accepted too: one Chinese HIS writes CR LF);
  delimiters come from MSH-1/MSH-2; the escapes \F\ \S\ \T\ \R\ \E\ \Xhh..\ \.br\ are read;
- MSH-4 sending facility (HD.1) = our institution code; MSH-7 = when the HIS built the
  message (``emitted_at``); MSH-9 = type^trigger; MSH-10 = control id = the event id (up
  to 128 characters: the vendor uses long ids, beyond v2.5's 20); MSH-12 2.x; MSH-18 the
  charset (the transport has already decoded by it);
- EVN right after MSH in every message type (the vendor adds it also where v2.5 has none):
  EVN-2 recorded time, EVN-6 event occurred (preferred when present);
- PID: PID-2 visit card number (就诊卡号); PID-3 identifiers, where a repetition of
  identifier type NNCHN (or ID, SFZ) is the ID number; PID-5 name as ``汉字^pinyin`` or
  the reverse (the component written in Chinese characters wins); PID-18 insurance card
  (the card when PID-2 is empty); PID-19 ID number (preferred to PID-3);
- PV1, with PV1-19 = the HIS visit number (就诊流水号) required on EVERY message, SIU,
  ORM, ORU and RDS included; PV1-3 location: .1 department code, .9 department name;
  PV1-7 attending doctor (XCN.2 holds the whole name); PV1-10 registration type (1 普通门诊,
  2 急诊, 4 专家门诊, or text) and PV1-39 half-day (1 上午, 2 下午, 3 晚间, or text), the
  way Chinese HIS use these two fields;
- ``ZCV|C|<event id>`` makes the message a correction of that earlier event and
  ``ZCV|V|<event id>`` a void of it; the rest of the message stays complete (a void
  re-sends the withdrawn record). A message carrying one event has its MSH-10 as the event
  id; one carrying several (several bills, orders or prescriptions) gives them
  ``<MSH-10>#1``, ``<MSH-10>#2`` ... in segment order. A correction or void carries
  exactly one event.

Times are HL7 TS ``YYYYMMDD[HH[MM[SS[.S+]]]][+/-ZZZZ]`` (``YYYY-MM-DD HH:MM[:SS]``, seen in
the field, is accepted); without a zone they are Asia/Shanghai. ``occurred_at`` is the
message type's own time field where it has one (below), else EVN-6, EVN-2, MSH-7.

Message types (the status code each one carries is looked up in ``STATUS_TABLE``):

- SIU^S12 new, S13 rescheduled, S14 modified, S15 cancelled, S26 no-show → appointment.
  SCH-25 filler status (HL7 table 0278) cross-checks the trigger; S14 with ``Complete``
  is 已取号 (fulfilled). SCH-2 filler appointment id (SCH-1 if empty) → appointment_no;
  SCH-11.4 start (else TQ1-7, AIS-4) → appointment_time; SCH-20 entered by (XCN.2) →
  booked_by; SCH-22.1 entered-by location → channel; AIL-3 and AIP-3 stand in for an
  empty PV1-3 and PV1-7.
- ADT^A04 → registration, with ``ZRG|no.|fee|insurance paid|self paid|pay mode|settled|
  settled at``: ZRG-6 0 待支付 → unpaid, 1 已结算 → registered; the pay mode is text or the
  vendor's code (01 现金, 02 银行卡, 06 医保账户, 07 医保统筹, 11 微信, 12 支付宝, 41 医保+微信).
- ADT^A11 → registration cancelled (退号); ZRG optional.
- ADT^A10 → check_in, with ``ZCI|status|location|floor guide``: ZCI-1 0 待签到 → pending,
  1 (or no ZCI) → checked_in.
- ZQU^Z01 (vendor) → waiting, with ``ZQU|status|queue no.|ahead|room``: W → waiting,
  C → called, P → passed (过号).
- ADT^A08 → consultation, with ``ZCS|status|room|complaint|advice``: 1 接诊 → in_progress,
  2 诊毕 → finished; DG1-4 (else DG1-3.2) diagnosis; ``ZRX|set id|drug|spec|usage|
  quantity`` per prescribed drug. ADT^A03 (end of visit) → finished; ZCS optional.
- DFT^P03 → payment, one event per bill: FT1 rows grouped by FT1-2 (bill number = item).
  Charge rows (FT1-6 CG, or 1) are the bill's lines (FT1-7.2 name, FT1-11 amount; FT1-8
  the bill's title → item_name); a settlement row PY → paid (FT1-7.2 or code → pay_mode,
  FT1-5 posting date, else FT1-4 → paid_at) or CD (or -1, a refund) → refunded; no
  settlement row → unpaid.
  Time: the settlement row's FT1-4, else the last row's.
- ORM^O01 → lab_exam, one event per ORC: ORC-1 NW → ordered, SC → in_progress (started),
  CA / OC / DC → cancelled; ORC-2 placer number (else OBR-2) = item; OBR-4.2 → item_name;
  OBR-19 (placer field 1) → location; OBR-20 (placer field 2) → report_eta; OBR-24
  section (LAB, HM, CH, MB ... → 检验; RAD, CT, US ... → 检查) → category. Time: ORC-9.
- ORU^R01 → lab_exam, one event per OBR: OBR-25 P → in_progress, F / C → reported; OBX
  rows → report.items (OBX-3.2 name, OBX-5 value, OBX-6 unit, OBX-7 range, OBX-8 flag);
  an OBX of type FT or id CONCLUSION → report.conclusion. Time: OBR-22, else ORC-9.
- RDS^O13 → pharmacy, one event per ORC (prescription: ORC-2, else RXD-7 = item): RXD
  rows → drugs ("RXD-2.2 ×RXD-4 RXD-5"), ``ZPH|status|window|pickup code``: 1 配药中 →
  preparing, 2 待取药 → ready, 3 (or no ZPH) → dispensed. Time: ORC-9, else RXD-3.
- ZFU^Z01 (vendor) → follow_up, with ``ZFU|status|due date|questionnaire JSON|answers
  JSON``: P → pending, C → completed.

Payload values come back as strings (amounts with two decimals, "25.00"; times ISO 8601
with offset; due_date ``YYYY-MM-DD``) except ``ahead`` (int), ``record``, ``report`` and
``questionnaire`` / ``answers`` (objects) and the lists.

``build_ack`` answers with MSA (MSA-2 echoes MSH-10) and, on errors, ERR as v2.5 has it:
ERR-3 the HL7 table 0357 code with our own code as the alternate identifier, ERR-4
severity E, ERR-8 the reason in Chinese.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from jingan.integrations.his.port import (
    EventKind,
    HisEvent,
    MessageRejected,
    PatientRef,
)
from jingan.integrations.his.simulation import source_for

__all__ = [
    "STATUS_TABLE",
    "VENDOR_MESSAGES",
    "Acknowledgement",
    "Header",
    "build_ack",
    "build_message",
    "build_test_message",
    "format_ts",
    "parse_message",
    "parse_ts",
    "read_ack",
    "read_header",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
PLATFORM_APPLICATION = "JINGAN"
PLATFORM_FACILITY = "JINGAN-CLOUD"
MAX_EVENT_ID = 128

# (message type, the status code that message carries) → our (node, status).
# "" is a message without a code in its status field: the message type alone decides.
STATUS_TABLE: dict[tuple[str, str], tuple[str, str]] = {
    ("SIU^S12", ""): ("appointment", "booked"),
    ("SIU^S12", "BOOKED"): ("appointment", "booked"),
    ("SIU^S12", "OVERBOOK"): ("appointment", "booked"),  # 加号
    ("SIU^S13", ""): ("appointment", "booked"),
    ("SIU^S13", "BOOKED"): ("appointment", "booked"),
    ("SIU^S14", ""): ("appointment", "booked"),
    ("SIU^S14", "BOOKED"): ("appointment", "booked"),
    ("SIU^S14", "COMPLETE"): ("appointment", "fulfilled"),
    ("SIU^S15", ""): ("appointment", "cancelled"),
    ("SIU^S15", "CANCELLED"): ("appointment", "cancelled"),
    ("SIU^S15", "DELETED"): ("appointment", "cancelled"),
    ("SIU^S26", ""): ("appointment", "no_show"),
    ("SIU^S26", "NOSHOW"): ("appointment", "no_show"),
    ("ADT^A04", "0"): ("registration", "unpaid"),
    ("ADT^A04", "1"): ("registration", "registered"),
    ("ADT^A11", ""): ("registration", "cancelled"),
    ("ADT^A10", "0"): ("check_in", "pending"),
    ("ADT^A10", "1"): ("check_in", "checked_in"),
    ("ADT^A10", ""): ("check_in", "checked_in"),
    ("ZQU^Z01", "W"): ("waiting", "waiting"),
    ("ZQU^Z01", "C"): ("waiting", "called"),
    ("ZQU^Z01", "P"): ("waiting", "passed"),
    ("ADT^A08", "1"): ("consultation", "in_progress"),
    ("ADT^A08", "2"): ("consultation", "finished"),
    ("ADT^A03", ""): ("consultation", "finished"),
    ("DFT^P03", "CG"): ("payment", "unpaid"),
    ("DFT^P03", "1"): ("payment", "unpaid"),
    ("DFT^P03", "PY"): ("payment", "paid"),
    ("DFT^P03", "CD"): ("payment", "refunded"),
    ("DFT^P03", "-1"): ("payment", "refunded"),
    ("ORM^O01", "NW"): ("lab_exam", "ordered"),
    ("ORM^O01", "SC"): ("lab_exam", "in_progress"),
    ("ORM^O01", "CA"): ("lab_exam", "cancelled"),
    ("ORM^O01", "OC"): ("lab_exam", "cancelled"),
    ("ORM^O01", "DC"): ("lab_exam", "cancelled"),
    ("ORU^R01", "P"): ("lab_exam", "in_progress"),
    ("ORU^R01", "F"): ("lab_exam", "reported"),
    ("ORU^R01", "C"): ("lab_exam", "reported"),
    ("RDS^O13", "1"): ("pharmacy", "preparing"),
    ("RDS^O13", "2"): ("pharmacy", "ready"),
    ("RDS^O13", "3"): ("pharmacy", "dispensed"),
    ("RDS^O13", ""): ("pharmacy", "dispensed"),
    ("ZFU^Z01", "P"): ("follow_up", "pending"),
    ("ZFU^Z01", "C"): ("follow_up", "completed"),
}

# Where each message type carries its status code (for the reasons of rejections).
STATUS_FIELDS: dict[str, str] = {
    "SIU^S12": "SCH-25",
    "SIU^S13": "SCH-25",
    "SIU^S14": "SCH-25",
    "SIU^S15": "SCH-25",
    "SIU^S26": "SCH-25",
    "ADT^A04": "ZRG-6",
    "ADT^A11": "",
    "ADT^A10": "ZCI-1",
    "ZQU^Z01": "ZQU-1",
    "ADT^A08": "ZCS-1",
    "ADT^A03": "",
    "DFT^P03": "FT1-6",
    "ORM^O01": "ORC-1",
    "ORU^R01": "OBR-25",
    "RDS^O13": "ZPH-1",
    "ZFU^Z01": "ZFU-1",
}

# --- the vendor's side: how its HIS writes each of our (node, status) -------------------

# (node, status) → (message type, status code, message structure).
VENDOR_MESSAGES: dict[tuple[str, str], tuple[str, str, str]] = {
    ("appointment", "booked"): ("SIU^S12", "Booked", "SIU_S12"),
    ("appointment", "fulfilled"): ("SIU^S14", "Complete", "SIU_S12"),
    ("appointment", "cancelled"): ("SIU^S15", "Cancelled", "SIU_S12"),
    ("appointment", "no_show"): ("SIU^S26", "Noshow", "SIU_S12"),
    ("registration", "unpaid"): ("ADT^A04", "0", "ADT_A01"),
    ("registration", "registered"): ("ADT^A04", "1", "ADT_A01"),
    ("registration", "cancelled"): ("ADT^A11", "", "ADT_A09"),
    ("check_in", "pending"): ("ADT^A10", "0", "ADT_A09"),
    ("check_in", "checked_in"): ("ADT^A10", "1", "ADT_A09"),
    ("waiting", "waiting"): ("ZQU^Z01", "W", "ZQU_Z01"),
    ("waiting", "called"): ("ZQU^Z01", "C", "ZQU_Z01"),
    ("waiting", "passed"): ("ZQU^Z01", "P", "ZQU_Z01"),
    ("consultation", "in_progress"): ("ADT^A08", "1", "ADT_A01"),
    ("consultation", "finished"): ("ADT^A08", "2", "ADT_A01"),
    ("payment", "unpaid"): ("DFT^P03", "CG", "DFT_P03"),
    ("payment", "paid"): ("DFT^P03", "PY", "DFT_P03"),
    ("payment", "refunded"): ("DFT^P03", "CD", "DFT_P03"),
    ("lab_exam", "ordered"): ("ORM^O01", "NW", "ORM_O01"),
    ("lab_exam", "in_progress"): ("ORM^O01", "SC", "ORM_O01"),
    ("lab_exam", "cancelled"): ("ORM^O01", "CA", "ORM_O01"),
    ("lab_exam", "reported"): ("ORU^R01", "F", "ORU_R01"),
    ("pharmacy", "preparing"): ("RDS^O13", "1", "RDS_O13"),
    ("pharmacy", "ready"): ("RDS^O13", "2", "RDS_O13"),
    ("pharmacy", "dispensed"): ("RDS^O13", "3", "RDS_O13"),
    ("follow_up", "pending"): ("ZFU^Z01", "P", "ZFU_Z01"),
    ("follow_up", "completed"): ("ZFU^Z01", "C", "ZFU_Z01"),
}

REGISTRATION_TYPES: dict[str, str] = {"1": "普通门诊", "2": "急诊", "4": "专家门诊"}
PERIODS: dict[str, str] = {"1": "上午", "2": "下午", "3": "晚间"}
PAY_MODES: dict[str, str] = {
    "01": "现金",
    "02": "银行卡",
    "06": "医保账户",
    "07": "医保统筹",
    "11": "微信",
    "12": "支付宝",
    "41": "医保+微信",
}
# HL7 table 0074 diagnostic service sections that are laboratory work (检验).
LAB_SECTIONS = frozenset(
    {"LAB", "HM", "CH", "MB", "SR", "BLB", "CP", "IMM", "SP", "MCB", "BG", "CUS", "URN", "VR"}
)
ID_NUMBER_TYPES = frozenset({"NNCHN", "ID", "SFZ"})

# Our rejection codes → HL7 table 0357 (message error condition codes).
HL7_ERROR_CODES: dict[str, tuple[str, str]] = {
    "not_hl7": ("100", "Segment sequence error"),
    "bad_segment": ("100", "Segment sequence error"),
    "broken_frame": ("100", "Segment sequence error"),
    "missing_segment": ("100", "Segment sequence error"),
    "missing_field": ("101", "Required field missing"),
    "bad_time": ("102", "Data type error"),
    "bad_value": ("102", "Data type error"),
    "bad_charset": ("102", "Data type error"),
    "unknown_status": ("103", "Table value not found"),
    "unsupported_message": ("200", "Unsupported message type"),
    "unsupported_version": ("203", "Unsupported version id"),
    "unknown_institution": ("204", "Unknown key identifier"),
    "foreign_institution": ("204", "Unknown key identifier"),
    "ambiguous_correction": ("207", "Application internal error"),
}


def _reject(code: str, reason: str) -> NoReturn:
    raise MessageRejected(code, reason)


# --- segments and fields --------------------------------------------------------------


@dataclass(frozen=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


DEFAULT_DELIMITERS = Delimiters()


def unescape(text: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """``text`` with HL7 escape sequences replaced by what they stand for."""
    escape = delimiters.escape
    if not escape or escape not in text:
        return text
    out: list[str] = []
    position = 0
    while position < len(text):
        start = text.find(escape, position)
        end = text.find(escape, start + 1) if start >= 0 else -1
        if start < 0 or end < 0:
            out.append(text[position:])
            break
        out.append(text[position:start])
        out.append(_escape_meaning(text[start + 1 : end], delimiters))
        position = end + 1
    return "".join(out)


def _escape_meaning(sequence: str, delimiters: Delimiters) -> str:
    simple = {
        "F": delimiters.field,
        "S": delimiters.component,
        "T": delimiters.subcomponent,
        "R": delimiters.repetition,
        "E": delimiters.escape,
        ".br": "\n",
    }
    if sequence in simple:
        return simple[sequence]
    if sequence[:1] == "X" and len(sequence) > 1:
        try:
            return bytes.fromhex(sequence[1:]).decode("utf-8", errors="replace")
        except ValueError:
            return ""
    # Highlighting (\H\, \N\) and locally defined escapes carry no text.
    return ""


def escape(text: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """``text`` safe inside one component: delimiters and line breaks escaped."""
    e = delimiters.escape
    text = text.replace(e, f"{e}E{e}")
    for char, code in (
        (delimiters.field, "F"),
        (delimiters.component, "S"),
        (delimiters.subcomponent, "T"),
        (delimiters.repetition, "R"),
    ):
        text = text.replace(char, f"{e}{code}{e}")
    return text.replace("\r", f"{e}X0D{e}").replace("\n", f"{e}X0A{e}")


class Segment:
    """One segment; ``raw(n)`` is field n as HL7 counts it (MSH-1 is the field separator)."""

    def __init__(self, name: str, fields: list[str], delimiters: Delimiters) -> None:
        self.name = name
        self.fields = fields
        self.delimiters = delimiters

    def raw(self, number: int) -> str:
        return self.fields[number] if 0 < number < len(self.fields) else ""

    def repetitions(self, number: int) -> list[str]:
        return self.raw(number).split(self.delimiters.repetition)

    def components(self, number: int, repetition: int = 1) -> list[str]:
        """The unescaped components of one repetition of a field (first subcomponents)."""
        reps = self.repetitions(number)
        if repetition > len(reps):
            return []
        return [
            unescape(part.split(self.delimiters.subcomponent)[0], self.delimiters).strip()
            for part in reps[repetition - 1].split(self.delimiters.component)
        ]

    def get(self, number: int, component: int = 1, repetition: int = 1) -> str:
        if self.name == "MSH" and number in (1, 2):
            return self.raw(number)
        parts = self.components(number, repetition)
        return parts[component - 1] if component <= len(parts) else ""

    def text(self, number: int) -> str:
        """A whole free-text field (components kept, e.g. JSON with ^ escaped or not)."""
        return unescape(self.raw(number), self.delimiters).strip()


@dataclass
class Message:
    segments: list[Segment]
    delimiters: Delimiters

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def require(self, name: str, why: str = "") -> Segment:
        found = self.first(name)
        if found is None:
            _reject("missing_segment", f"消息缺少 {name} 段{why}")
        return found


_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_message(raw: str) -> Message:
    """The segments of one HL7 v2 message (``not_hl7`` / ``bad_segment`` if it is none)."""
    text = raw.lstrip("\ufeff\x0b \t\r\n").rstrip("\x1c\r\n \t")
    if not text.startswith("MSH") or len(text) < 8:
        _reject("not_hl7", "不是 HL7 v2 消息：报文应以 MSH 段开头")
    separator = text[3]
    end = text.find(separator, 4)
    encoding = text[4:end] if end > 0 else ""
    if separator.isalnum() or separator.isspace() or len(encoding) < 4:
        _reject("not_hl7", "不是 HL7 v2 消息：MSH-1/MSH-2 分隔符不合法")
    delimiters = Delimiters(
        field=separator,
        component=encoding[0],
        repetition=encoding[1],
        escape=encoding[2],
        subcomponent=encoding[3],
    )
    segments: list[Segment] = []
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip():
            continue
        name = line[:3]
        if not _SEGMENT_NAME.match(name) or (len(line) > 3 and line[3] != separator):
            _reject("bad_segment", f"第 {number} 段“{line[:12]}”不是合法的 HL7 段")
        parts = line.split(separator)
        if name == "MSH":
            # MSH-1 is the separator itself, so MSH-n sits at index n like other segments.
            parts = ["MSH", separator, *parts[1:]]
        segments.append(Segment(name, parts, delimiters))
    return Message(segments, delimiters)


@dataclass(frozen=True)
class Header:
    """What MSH says, read before (and whether or not) the body parses."""

    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    created: str
    message_type: str  # e.g. "SIU^S12"
    trigger: str
    structure: str
    control_id: str
    processing_id: str
    version: str
    charset: str


def _header(message: Message) -> Header:
    msh = message.segments[0]
    code, trigger = msh.get(9, 1).upper(), msh.get(9, 2).upper()
    return Header(
        sending_application=msh.get(3),
        sending_facility=msh.get(4),
        receiving_application=msh.get(5),
        receiving_facility=msh.get(6),
        created=msh.get(7),
        message_type=f"{code}^{trigger}" if trigger else code,
        trigger=trigger,
        structure=msh.get(9, 3),
        control_id=msh.get(10),
        processing_id=msh.get(11),
        version=msh.get(12),
        charset=msh.get(18),
    )


def read_header(raw: str) -> Header:
    """The MSH of ``raw`` (``MessageRejected`` ``not_hl7`` when there is none)."""
    return _header(split_message(raw))


# --- time stamps -----------------------------------------------------------------------

_TS = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?([+-]\d{4})?$"
)
_DASHED = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$")


def parse_ts(value: str, where: str) -> datetime:
    """An HL7 TS as an aware datetime (Asia/Shanghai when it names no zone)."""
    text = value.strip()
    match = _TS.match(text)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
    else:
        dashed = _DASHED.match(text)
        if not dashed:
            _reject("bad_time", f"{where} 不是 HL7 时间（YYYYMMDDHHMMSS[+ZZZZ]）：{text}")
        year, month, day, hour, minute, second = dashed.groups()
        fraction = zone = None
    if zone:
        sign = 1 if zone[0] == "+" else -1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        tzinfo: Any = timezone(sign * offset)
    else:
        tzinfo = SHANGHAI
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=tzinfo,
        )
    except ValueError:
        _reject("bad_time", f"{where} 不是有效的日期时间：{text}")


def format_ts(moment: datetime) -> str:
    """An aware datetime as HL7 TS with its offset (fractions to 1/10 000 s when present)."""
    if moment.tzinfo is None:
        raise ValueError("format_ts needs an aware datetime")
    text = moment.strftime("%Y%m%d%H%M%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 100:04d}"
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}{minutes % 60:02d}"


def _ts_iso(segment: Segment | None, number: int, component: int = 1) -> str:
    if segment is None:
        return ""
    value = segment.get(number, component)
    return parse_ts(value, f"{segment.name}-{number}").isoformat() if value else ""


# --- parsing ---------------------------------------------------------------------------


@dataclass
class _Draft:
    """One event of a message before ids and kinds are given out."""

    node: str
    status: str
    item: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None


def parse_message(raw: str) -> list[HisEvent]:
    """The events of one dialect-A HL7 v2 message; ``MessageRejected`` names the problem."""
    message = split_message(raw)
    header = _header(message)
    if not header.sending_facility:
        _reject("missing_field", "MSH-4（发送机构）为空：应为医疗机构编码")
    if not header.control_id:
        _reject("missing_field", "MSH-10（消息控制号）为空")
    if len(header.control_id) > MAX_EVENT_ID - 4:
        _reject("bad_value", f"MSH-10（消息控制号）超过 {MAX_EVENT_ID - 4} 个字符")
    if not header.message_type:
        _reject("missing_field", "MSH-9（消息类型）为空")
    if header.version and not header.version.startswith("2."):
        _reject("unsupported_version", f"不支持的 HL7 版本 {header.version}（应为 2.x）")
    reader = _READERS.get(header.message_type)
    if reader is None:
        _reject("unsupported_message", f"不支持的消息类型 {header.message_type}")
    pid = message.require("PID", "（患者信息）")
    pv1 = message.require("PV1", "（就诊信息，PV1-19 为就诊流水号）")
    visit_key = pv1.get(19)
    if not visit_key:
        _reject("missing_field", "PV1-19（就诊流水号）为空")
    if len(visit_key) > 64:
        _reject("bad_value", "PV1-19（就诊流水号）超过 64 个字符")
    drafts = reader(message, header.message_type)
    if not drafts:
        _reject("missing_segment", f"{header.message_type} 消息中没有可识别的业务段")
    kind, target = _amendment(message)
    if kind != EventKind.EVENT and len(drafts) > 1:
        _reject(
            "ambiguous_correction", f"更正或作废消息只能包含一个事件，本消息含 {len(drafts)} 个"
        )
    common = _common_payload(message, pv1)
    patient = _patient(pid)
    emitted_at = parse_ts(header.created, "MSH-7") if header.created else None
    fallback = _event_time(message) or emitted_at
    source = source_for("A", header.sending_facility)
    events: list[HisEvent] = []
    for number, draft in enumerate(drafts, start=1):
        occurred_at = draft.at or fallback
        if occurred_at is None:
            _reject("missing_field", "消息没有事件时间（EVN-2、EVN-6 或 MSH-7）")
        event_id = header.control_id if len(drafts) == 1 else f"{header.control_id}#{number}"
        if len(draft.item) > 64:
            _reject("bad_value", f"项目编号超过 64 个字符：{draft.item[:20]}…")
        events.append(
            HisEvent(
                source=source,
                source_event_id=event_id,
                institution_code=header.sending_facility,
                visit_key=visit_key,
                node=draft.node,
                status=draft.status,
                occurred_at=occurred_at,
                item=draft.item,
                kind=kind,
                target_event_id=target,
                patient=patient,
                payload={**common, **draft.payload},
                emitted_at=emitted_at,
            )
        )
    return events


def _status(message_type: str, code: str) -> tuple[str, str]:
    found = STATUS_TABLE.get((message_type, code.upper()))
    if found is not None:
        return found
    where = STATUS_FIELDS.get(message_type) or "状态"
    if not code:
        _reject("missing_field", f"{message_type} 消息缺少状态（{where}）")
    _reject("unknown_status", f"{message_type} 消息的 {where} 状态码“{code}”无法识别")


def _amendment(message: Message) -> tuple[str, str]:
    zcv = message.first("ZCV")
    if zcv is None:
        return EventKind.EVENT, ""
    mode, target = zcv.get(1).upper(), zcv.get(2)
    if mode not in ("C", "V"):
        _reject("bad_value", f"ZCV-1 应为 C（更正）或 V（作废），收到“{zcv.get(1)}”")
    if not target:
        _reject("missing_field", "ZCV-2（被更正或作废的消息控制号）为空")
    return (EventKind.CORRECTION if mode == "C" else EventKind.VOID), target[:MAX_EVENT_ID]


def _event_time(message: Message) -> datetime | None:
    evn = message.first("EVN")
    if evn is not None:
        for number in (6, 2):
            value = evn.get(number)
            if value:
                return parse_ts(value, f"EVN-{number}")
    return None


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _person(segment: Segment | None, number: int) -> str:
    """A name from an XCN field (.2 family name, .3 given name)."""
    if segment is None:
        return ""
    parts = segment.components(number)
    family = parts[1] if len(parts) > 1 else ""
    given = parts[2] if len(parts) > 2 else ""
    if family and given:
        return family + given if _CJK.search(family + given) else f"{family} {given}"
    return family or given


def _patient(pid: Segment) -> PatientRef:
    name_parts = [part for part in pid.components(5) if part]
    name = next((part for part in name_parts if _CJK.search(part)), "")
    if not name and name_parts:
        name = " ".join(name_parts[:2])
    id_number = pid.get(19)
    if not id_number:
        for repetition in range(1, len(pid.repetitions(3)) + 1):
            parts = pid.components(3, repetition)
            if len(parts) >= 5 and parts[4].upper() in ID_NUMBER_TYPES and parts[0]:
                id_number = parts[0]
                break
    card = pid.get(2) or pid.get(18)
    return PatientRef(name=name, id_number=id_number.upper(), card_number=card)


def _common_payload(message: Message, pv1: Segment) -> dict[str, Any]:
    ail, aip = message.first("AIL"), message.first("AIP")
    department_code = pv1.get(3, 1) or (ail.get(3, 1) if ail else "")
    department_name = pv1.get(3, 9) or (ail.get(3, 9) if ail else "")
    doctor = _person(pv1, 7) or _person(aip, 3)
    payload: dict[str, Any] = {}
    for key, value in (
        ("department_code", department_code),
        ("department_name", department_name),
        ("doctor_name", doctor),
    ):
        if value:
            payload[key] = value
    return payload


def _put(payload: dict[str, Any], key: str, value: Any) -> None:
    if value not in ("", None, [], {}):
        payload[key] = value


def _amount(value: str, where: str) -> str:
    if not value:
        return ""
    try:
        return f"{Decimal(value):.2f}"
    except InvalidOperation:
        _reject("bad_value", f"{where} 不是金额：{value}")


def _json(value: str, where: str) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        _reject("bad_value", f"{where} 不是合法的 JSON")


def _read_appointment(message: Message, message_type: str) -> list[_Draft]:
    sch = message.require("SCH", "（预约信息）")
    node, status = _status(message_type, sch.get(25))
    payload: dict[str, Any] = {}
    tq1, ais = message.first("TQ1"), message.first("AIS")
    start = sch.get(11, 4)
    if start:
        _put(payload, "appointment_time", _ts_iso(sch, 11, 4))
    elif tq1 is not None and tq1.get(7):
        _put(payload, "appointment_time", _ts_iso(tq1, 7))
    elif ais is not None and ais.get(4):
        _put(payload, "appointment_time", _ts_iso(ais, 4))
    pv1 = message.require("PV1")
    period = pv1.get(39)
    _put(payload, "period", PERIODS.get(period, period))
    _put(payload, "booked_by", _person(sch, 20))
    _put(payload, "channel", sch.get(22))
    _put(payload, "appointment_no", sch.get(2) or sch.get(1))
    return [_Draft(node, status, "", payload)]


def _read_registration(message: Message, message_type: str) -> list[_Draft]:
    zrg = message.first("ZRG")
    if zrg is None and message_type == "ADT^A04":
        _reject("missing_segment", "ADT^A04 消息缺少 ZRG 段（挂号结算）")
    node, status = _status(message_type, zrg.get(6) if zrg and message_type == "ADT^A04" else "")
    payload: dict[str, Any] = {}
    registration_type = message.require("PV1").get(10)
    _put(payload, "registration_type", REGISTRATION_TYPES.get(registration_type, registration_type))
    if zrg is not None:
        _put(payload, "registration_no", zrg.get(1))
        _put(payload, "fee", _amount(zrg.get(2), "ZRG-2"))
        _put(payload, "insurance_paid", _amount(zrg.get(3), "ZRG-3"))
        _put(payload, "self_paid", _amount(zrg.get(4), "ZRG-4"))
        pay_mode = zrg.get(5)
        _put(payload, "pay_mode", PAY_MODES.get(pay_mode, pay_mode))
        _put(payload, "settled_at", _ts_iso(zrg, 7))
    return [_Draft(node, status, "", payload)]


def _read_check_in(message: Message, message_type: str) -> list[_Draft]:
    zci = message.first("ZCI")
    node, status = _status(message_type, zci.get(1) if zci else "")
    payload: dict[str, Any] = {}
    if zci is not None:
        _put(payload, "location", zci.get(2))
        _put(payload, "floor_guide", zci.get(3))
    return [_Draft(node, status, "", payload)]


def _read_queue(message: Message, message_type: str) -> list[_Draft]:
    zqu = message.require("ZQU", "（候诊排队）")
    node, status = _status(message_type, zqu.get(1))
    payload: dict[str, Any] = {}
    _put(payload, "queue_no", zqu.get(2))
    ahead = zqu.get(3)
    if ahead:
        if not ahead.isdigit():
            _reject("bad_value", f"ZQU-3（前方人数）应为非负整数，收到“{ahead}”")
        payload["ahead"] = int(ahead)
    _put(payload, "room", zqu.get(4) or message.require("PV1").get(3, 2))
    return [_Draft(node, status, "", payload)]


def _read_consultation(message: Message, message_type: str) -> list[_Draft]:
    zcs = message.first("ZCS")
    if zcs is None and message_type == "ADT^A08":
        _reject("missing_segment", "ADT^A08 消息缺少 ZCS 段（就诊状态）")
    node, status = _status(message_type, zcs.get(1) if zcs and message_type == "ADT^A08" else "")
    payload: dict[str, Any] = {}
    record: dict[str, str] = {}
    if zcs is not None:
        _put(payload, "room", zcs.get(2))
        _put(record, "complaint", zcs.text(3))
        _put(record, "advice", zcs.text(4))
    diagnoses = [d.text(4) or d.get(3, 2) for d in message.all("DG1")]
    _put(record, "diagnosis", "；".join(d for d in diagnoses if d))
    _put(
        payload,
        "record",
        {k: record[k] for k in ("complaint", "diagnosis", "advice") if k in record},
    )
    prescriptions = []
    for zrx in message.all("ZRX"):
        line = {"drug": zrx.get(2), "spec": zrx.get(3), "usage": zrx.get(4), "quantity": zrx.get(5)}
        if not line["drug"]:
            _reject("missing_field", "ZRX-2（药品名称）为空")
        prescriptions.append(line)
    _put(payload, "prescriptions", prescriptions)
    return [_Draft(node, status, "", payload)]


_SETTLEMENT_TYPES = ("PY", "CD", "-1")


def _read_payment(message: Message, message_type: str) -> list[_Draft]:
    bills: dict[str, list[Segment]] = {}
    for ft1 in message.all("FT1"):
        number = ft1.get(2)
        if not number:
            _reject("missing_field", "FT1-2（收费单号）为空")
        bills.setdefault(number, []).append(ft1)
    drafts: list[_Draft] = []
    for number, rows in bills.items():
        lines: list[dict[str, str]] = []
        settlement: Segment | None = None
        for row in rows:
            kind = row.get(6).upper()
            if kind in _SETTLEMENT_TYPES:
                settlement = row
            elif kind in ("CG", "1"):
                name = row.get(7, 2) or row.get(8) or row.get(7, 1)
                lines.append({"name": name, "amount": _amount(row.get(11), "FT1-11")})
            else:
                _status(message_type, kind)  # rejects with the field and the code
        code = settlement.get(6) if settlement is not None else "CG"
        node, status = _status(message_type, code)
        payload: dict[str, Any] = {}
        title = next((row.get(8) for row in rows if row.get(8)), "")
        _put(payload, "item_name", title or (lines[0]["name"] if len(lines) == 1 else ""))
        _put(payload, "items", lines)
        if lines:
            total = sum((Decimal(line["amount"] or "0") for line in lines), Decimal(0))
            payload["total"] = f"{total:.2f}"
        at_row = settlement or rows[-1]
        at = parse_ts(at_row.get(4), "FT1-4") if at_row.get(4) else None
        if settlement is not None:
            mode = settlement.get(7, 2) or settlement.get(7, 1)
            _put(payload, "pay_mode", PAY_MODES.get(settlement.get(7, 1), mode))
            if status == "paid":
                _put(payload, "paid_at", _ts_iso(settlement, 5) or (at.isoformat() if at else ""))
        drafts.append(_Draft(node, status, number, payload, at))
    return drafts


def _order_groups(message: Message, members: Iterable[str]) -> list[list[Segment]]:
    """Segments grouped by order: an ORC starts a group, so does an OBR in a group that has one."""
    wanted = set(members)
    groups: list[list[Segment]] = []
    current: list[Segment] | None = None
    for segment in message.segments:
        if segment.name == "ORC":
            current = [segment]
            groups.append(current)
        elif segment.name == "OBR":
            if current is None or any(s.name == "OBR" for s in current):
                current = []
                groups.append(current)
            current.append(segment)
        elif segment.name in wanted:
            if current is None:
                current = []
                groups.append(current)
            current.append(segment)
    return groups


def _first(group: Sequence[Segment], name: str) -> Segment | None:
    return next((s for s in group if s.name == name), None)


def _category(section: str) -> str:
    if section in ("检验", "检查"):
        return section
    if not section:
        return ""
    return "检验" if section.upper() in LAB_SECTIONS else "检查"


def _order_payload(orc: Segment | None, obr: Segment | None) -> tuple[str, dict[str, Any]]:
    item = (orc.get(2) if orc else "") or (obr.get(2) if obr else "")
    if not item:
        _reject("missing_field", "ORC-2 / OBR-2（申请单号）为空")
    payload: dict[str, Any] = {}
    if obr is not None:
        _put(payload, "item_name", obr.get(4, 2) or obr.get(4, 1))
        _put(payload, "location", obr.get(19))
        _put(payload, "report_eta", obr.get(20))
        _put(payload, "category", _category(obr.get(24)))
    return item, payload


def _read_order(message: Message, message_type: str) -> list[_Draft]:
    drafts: list[_Draft] = []
    for group in _order_groups(message, ()):
        orc, obr = _first(group, "ORC"), _first(group, "OBR")
        if orc is None:
            _reject("missing_segment", "ORM^O01 的医嘱组缺少 ORC 段")
        node, status = _status(message_type, orc.get(1))
        item, payload = _order_payload(orc, obr)
        at = parse_ts(orc.get(9), "ORC-9") if orc.get(9) else None
        drafts.append(_Draft(node, status, item, payload, at))
    return drafts


def _read_result(message: Message, message_type: str) -> list[_Draft]:
    drafts: list[_Draft] = []
    for group in _order_groups(message, ("OBX",)):
        orc, obr = _first(group, "ORC"), _first(group, "OBR")
        if obr is None:
            _reject("missing_segment", "ORU^R01 的结果组缺少 OBR 段")
        node, status = _status(message_type, obr.get(25))
        item, payload = _order_payload(orc, obr)
        items: list[dict[str, str]] = []
        conclusion: list[str] = []
        for obx in (s for s in group if s.name == "OBX"):
            if obx.get(2).upper() == "FT" or obx.get(3, 1).upper() == "CONCLUSION":
                conclusion.append(obx.text(5))
                continue
            items.append(
                {
                    "name": obx.get(3, 2) or obx.get(3, 1),
                    "value": obx.text(5),
                    "unit": obx.get(6, 1),
                    "range": obx.get(7),
                    "flag": obx.get(8),
                }
            )
        report: dict[str, Any] = {}
        _put(report, "items", items)
        _put(report, "conclusion", "\n".join(line for line in conclusion if line))
        _put(payload, "report", report)
        at: datetime | None = None
        if obr.get(22):
            at = parse_ts(obr.get(22), "OBR-22")
        elif orc is not None and orc.get(9):
            at = parse_ts(orc.get(9), "ORC-9")
        drafts.append(_Draft(node, status, item, payload, at))
    return drafts


def _read_dispense(message: Message, message_type: str) -> list[_Draft]:
    drafts: list[_Draft] = []
    for group in _order_groups(message, ("RXD", "ZPH")):
        orc, rxds = _first(group, "ORC"), [s for s in group if s.name == "RXD"]
        zph = _first(group, "ZPH")
        node, status = _status(message_type, zph.get(1) if zph else "")
        item = (orc.get(2) if orc else "") or next((r.get(7) for r in rxds if r.get(7)), "")
        if not item:
            _reject("missing_field", "ORC-2 / RXD-7（处方号）为空")
        payload: dict[str, Any] = {}
        drugs = []
        for rxd in rxds:
            name = rxd.get(2, 2) or rxd.get(2, 1)
            if not name:
                _reject("missing_field", "RXD-2（药品）为空")
            amount, unit = rxd.get(4), rxd.get(5, 2) or rxd.get(5, 1)
            drugs.append(f"{name} ×{amount}{unit}" if amount else name)
        _put(payload, "drugs", drugs)
        if zph is not None:
            _put(payload, "window", zph.get(2))
            _put(payload, "pickup_code", zph.get(3))
        at: datetime | None = None
        if orc is not None and orc.get(9):
            at = parse_ts(orc.get(9), "ORC-9")
        elif rxds and rxds[0].get(3):
            at = parse_ts(rxds[0].get(3), "RXD-3")
        drafts.append(_Draft(node, status, item, payload, at))
    return drafts


def _read_follow_up(message: Message, message_type: str) -> list[_Draft]:
    zfu = message.require("ZFU", "（诊后随访）")
    node, status = _status(message_type, zfu.get(1))
    payload: dict[str, Any] = {}
    due = zfu.get(2)
    if due:
        payload["due_date"] = parse_ts(due, "ZFU-2").date().isoformat()
    questionnaire = _json(zfu.text(3), "ZFU-3（问卷）")
    if questionnaire is not None and not isinstance(questionnaire, dict):
        _reject("bad_value", "ZFU-3（问卷）应为 JSON 对象")
    _put(payload, "questionnaire", questionnaire)
    answers = _json(zfu.text(4), "ZFU-4（答卷）")
    if answers is not None and not isinstance(answers, dict):
        _reject("bad_value", "ZFU-4（答卷）应为 JSON 对象")
    _put(payload, "answers", answers)
    return [_Draft(node, status, "", payload)]


_Reader = Callable[[Message, str], list[_Draft]]
_READERS: dict[str, _Reader] = {
    "SIU^S12": _read_appointment,
    "SIU^S13": _read_appointment,
    "SIU^S14": _read_appointment,
    "SIU^S15": _read_appointment,
    "SIU^S26": _read_appointment,
    "ADT^A04": _read_registration,
    "ADT^A11": _read_registration,
    "ADT^A10": _read_check_in,
    "ZQU^Z01": _read_queue,
    "ADT^A08": _read_consultation,
    "ADT^A03": _read_consultation,
    "DFT^P03": _read_payment,
    "ORM^O01": _read_order,
    "ORU^R01": _read_result,
    "RDS^O13": _read_dispense,
    "ZFU^Z01": _read_follow_up,
}


# --- building (the vendor's side) ------------------------------------------------------


# Where a builder wants PID and PV1 (after SCH in SIU, right after EVN elsewhere).
PATIENT_GROUP = "<PID+PV1>"


def _segment(name: str, fields: Mapping[int, str]) -> str:
    """A segment from ``{field number: encoded text}``; empty trailing fields dropped."""
    last = max((n for n, v in fields.items() if v), default=0)
    return "|".join([name, *(fields.get(n, "") for n in range(1, last + 1))])


def _msh(fields: Mapping[int, str]) -> str:
    """The MSH segment: MSH-1 is the "|" after "MSH" itself, MSH-2 the encoding characters."""
    return _segment("MSH", {**fields, 2: "^~\\&"}).replace("MSH||", "MSH|", 1)


def _components(*parts: Any) -> str:
    texts = [escape(str(part)) if part not in (None, "") else "" for part in parts]
    while texts and not texts[-1]:
        texts.pop()
    return "^".join(texts)


def _text(value: Any) -> str:
    return escape(str(value)) if value not in (None, "") else ""


def _iso_ts(value: Any) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return format_ts(moment)


def _money(value: Any) -> str:
    if value in (None, ""):
        return ""
    return f"{Decimal(str(value)):.2f}"


def _code_for(table: Mapping[str, str], text: Any) -> str:
    """The vendor's code for a label it knows, else the label as text."""
    value = str(text or "")
    return next((code for code, label in table.items() if label == value), value)


def _pid(event: HisEvent) -> str:
    patient = event.patient
    identifiers = []
    if patient.card_number:
        identifiers.append(_components(patient.card_number, "", "", event.institution_code, "PI"))
    if patient.id_number:
        identifiers.append(_components(patient.id_number, "", "", "", "NNCHN"))
    return _segment(
        "PID",
        {
            1: "1",
            2: _text(patient.card_number),
            3: "~".join(identifiers),
            5: _components(patient.name),
            19: _text(patient.id_number),
        },
    )


def _pv1(event: HisEvent) -> str:
    payload = event.payload
    fields = {
        1: "1",
        2: "O",
        3: _components(
            payload.get("department_code"),
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            payload.get("department_name"),
        ),
        7: _components("", payload.get("doctor_name")),
        19: _text(event.visit_key),
    }
    if event.node == "registration":
        fields[10] = _text(_code_for(REGISTRATION_TYPES, payload.get("registration_type")))
    if event.node == "appointment":
        fields[39] = _text(_code_for(PERIODS, payload.get("period")))
    return _segment("PV1", fields)


def _build_appointment(event: HisEvent, code: str) -> list[str]:
    p = event.payload
    location = _components(
        p.get("department_code"), "", "", "", "", "", "", "", p.get("department_name")
    )
    return [
        _segment(
            "SCH",
            {
                1: _text(p.get("appointment_no")),
                2: _text(p.get("appointment_no")),
                11: _components("", "", "", _iso_ts(p.get("appointment_time"))),
                20: _components("", p.get("booked_by")),
                22: _text(p.get("channel")),
                25: _components(code, code, "HL70278"),
            },
        ),
        PATIENT_GROUP,
        _segment("RGS", {1: "1"}),
        _segment(
            "AIS", {1: "1", 3: _components(p.get("department_code"), p.get("department_name"))}
        ),
        _segment("AIL", {1: "1", 3: location}),
        _segment("AIP", {1: "1", 3: _components("", p.get("doctor_name"))}),
    ]


def _build_registration(event: HisEvent, code: str) -> list[str]:
    p = event.payload
    zrg = _segment(
        "ZRG",
        {
            1: _text(p.get("registration_no")),
            2: _money(p.get("fee")),
            3: _money(p.get("insurance_paid")),
            4: _money(p.get("self_paid")),
            5: _text(_code_for(PAY_MODES, p.get("pay_mode"))),
            6: code,
            7: _iso_ts(p.get("settled_at")),
        },
    )
    if event.status == "cancelled" and not p.get("registration_no"):
        return [PATIENT_GROUP]
    return [PATIENT_GROUP, zrg]


def _build_check_in(event: HisEvent, code: str) -> list[str]:
    p = event.payload
    return [
        PATIENT_GROUP,
        _segment("ZCI", {1: code, 2: _text(p.get("location")), 3: _text(p.get("floor_guide"))}),
    ]


def _build_queue(event: HisEvent, code: str) -> list[str]:
    p = event.payload
    ahead = p.get("ahead")
    return [
        PATIENT_GROUP,
        _segment(
            "ZQU",
            {
                1: code,
                2: _text(p.get("queue_no")),
                3: "" if ahead is None else str(int(ahead)),
                4: _text(p.get("room")),
            },
        ),
    ]


def _build_consultation(event: HisEvent, code: str) -> list[str]:
    p = event.payload
    record = p.get("record") or {}
    segments = [
        PATIENT_GROUP,
        _segment(
            "ZCS",
            {
                1: code,
                2: _text(p.get("room")),
                3: _text(record.get("complaint")),
                4: _text(record.get("advice")),
            },
        ),
    ]
    if record.get("diagnosis"):
        segments.append(_segment("DG1", {1: "1", 4: _text(record["diagnosis"]), 6: "F"}))
    for number, line in enumerate(p.get("prescriptions") or [], start=1):
        line = line if isinstance(line, Mapping) else {"drug": line}
        segments.append(
            _segment(
                "ZRX",
                {
                    1: str(number),
                    2: _text(line.get("drug")),
                    3: _text(line.get("spec")),
                    4: _text(line.get("usage")),
                    5: _text(line.get("quantity")),
                },
            )
        )
    return segments


def _build_payment(event: HisEvent, code: str) -> list[str]:
    p = event.payload
    if not event.item:
        raise ValueError("a dialect-A payment event needs its bill number as item")
    at = format_ts(event.occurred_at)
    lines = list(p.get("items") or [])
    if not lines and p.get("total") not in (None, ""):
        lines = [{"name": p.get("item_name") or "费用", "amount": p.get("total")}]
    rows: list[str] = []
    title = _text(p.get("item_name"))
    for number, line in enumerate(lines, start=1):
        rows.append(
            _segment(
                "FT1",
                {
                    1: str(number),
                    2: _text(event.item),
                    4: at,
                    6: "CG",
                    7: _components("", line.get("name")),
                    8: title,
                    10: "1",
                    11: _money(line.get("amount")),
                },
            )
        )
    if code != "CG":
        total = p.get("total")
        if total in (None, ""):
            total = sum((Decimal(str(line.get("amount") or 0)) for line in lines), Decimal(0))
        mode = str(p.get("pay_mode") or "")
        mode_code = _code_for(PAY_MODES, mode)
        rows.append(
            _segment(
                "FT1",
                {
                    1: str(len(rows) + 1),
                    2: _text(event.item),
                    4: at,
                    5: _iso_ts(p.get("paid_at")) if code == "PY" else "",
                    6: code,
                    7: _components(mode_code if mode_code != mode else "", mode),
                    8: title,
                    11: _money(total),
                },
            )
        )
    return [PATIENT_GROUP, *rows]


def _obr(event: HisEvent, fields: Mapping[int, str]) -> str:
    p = event.payload
    category = str(p.get("category") or "")
    section = {"检验": "LAB", "检查": "RAD"}.get(category, category)
    return _segment(
        "OBR",
        {
            1: "1",
            2: _text(event.item),
            4: _components("", p.get("item_name")),
            19: _text(p.get("location")),
            20: _text(p.get("report_eta")),
            24: _text(section),
            **fields,
        },
    )


def _build_order(event: HisEvent, code: str) -> list[str]:
    if not event.item:
        raise ValueError("a dialect-A lab/exam event needs its order number as item")
    at = format_ts(event.occurred_at)
    orc = _segment("ORC", {1: code, 2: _text(event.item), 5: "IP" if code == "SC" else "", 9: at})
    return [PATIENT_GROUP, orc, _obr(event, {})]


def _build_result(event: HisEvent, code: str) -> list[str]:
    at = format_ts(event.occurred_at)
    report = event.payload.get("report") or {}
    segments = [
        PATIENT_GROUP,
        _segment("ORC", {1: "RE", 2: _text(event.item), 9: at}),
        _obr(event, {22: at, 25: code}),
    ]
    number = 0
    for number, line in enumerate(report.get("items") or [], start=1):
        value = str(line.get("value") or "")
        value_type = "NM" if re.fullmatch(r"-?\d+(\.\d+)?", value) else "ST"
        segments.append(
            _segment(
                "OBX",
                {
                    1: str(number),
                    2: value_type,
                    3: _components("", line.get("name")),
                    5: _text(value),
                    6: _text(line.get("unit")),
                    7: _text(line.get("range")),
                    8: _text(line.get("flag")),
                    11: "F",
                },
            )
        )
    if report.get("conclusion"):
        segments.append(
            _segment(
                "OBX",
                {
                    1: str(number + 1),
                    2: "FT",
                    3: _components("CONCLUSION", "结论"),
                    5: _text(report["conclusion"]),
                    11: "F",
                },
            )
        )
    return segments


_DRUG_LINE = re.compile(r"^(.*\S) ×(\d+(?:\.\d+)?)(\S*)$")


def _build_dispense(event: HisEvent, code: str) -> list[str]:
    p = event.payload
    if not event.item:
        raise ValueError("a dialect-A pharmacy event needs its prescription number as item")
    at = format_ts(event.occurred_at)
    segments = [PATIENT_GROUP, _segment("ORC", {1: "RE", 2: _text(event.item), 9: at})]
    for drug in p.get("drugs") or []:
        if isinstance(drug, Mapping):
            text = " ".join(str(drug.get(k) or "") for k in ("drug", "spec")).strip()
            if drug.get("quantity"):
                text = f"{text} ×{drug['quantity']}"
        else:
            text = str(drug)
        match = _DRUG_LINE.match(text)
        name, amount, unit = match.groups() if match else (text, "", "")
        segments.append(
            _segment(
                "RXD",
                {
                    1: "1",
                    2: _components("", name),
                    3: at if code == "3" else "",
                    4: amount,
                    5: _components("", unit),
                    7: _text(event.item),
                },
            )
        )
    segments.append(
        _segment("ZPH", {1: code, 2: _text(p.get("window")), 3: _text(p.get("pickup_code"))})
    )
    return segments


def _build_follow_up(event: HisEvent, code: str) -> list[str]:
    p = event.payload
    due = str(p.get("due_date") or "").replace("-", "")[:8]
    questionnaire = p.get("questionnaire")
    answers = p.get("answers")
    return [
        PATIENT_GROUP,
        _segment(
            "ZFU",
            {
                1: code,
                2: due,
                3: _text(json.dumps(questionnaire, ensure_ascii=False)) if questionnaire else "",
                4: _text(json.dumps(answers, ensure_ascii=False)) if answers else "",
            },
        ),
    ]


_BUILDERS: dict[str, Callable[[HisEvent, str], list[str]]] = {
    "appointment": _build_appointment,
    "registration": _build_registration,
    "check_in": _build_check_in,
    "waiting": _build_queue,
    "consultation": _build_consultation,
    "payment": _build_payment,
    "lab_exam": _build_order,
    "pharmacy": _build_dispense,
    "follow_up": _build_follow_up,
}


def build_message(
    event: HisEvent,
    *,
    message_id: str,
    charset: str = "UNICODE UTF-8",
    sending_application: str = "HIS",
) -> str:
    """The HL7 v2.5 message the dialect-A HIS sends for ``event`` (segments end with CR)."""
    try:
        message_type, code, structure = VENDOR_MESSAGES[(event.node, event.status)]
    except KeyError:
        raise ValueError(f"dialect A has no message for {event.node}/{event.status}") from None
    builder = _BUILDERS[event.node]
    if message_type == "ORU^R01":
        builder = _build_result
    created = event.emitted_at or event.occurred_at
    kind, trigger = message_type.split("^")
    msh = _msh(
        {
            3: _text(sending_application),
            4: _text(event.institution_code),
            5: PLATFORM_APPLICATION,
            6: PLATFORM_FACILITY,
            7: format_ts(created),
            9: f"{kind}^{trigger}^{structure}",
            10: _text(message_id),
            11: "P",
            12: "2.5",
            15: "AL",
            16: "NE",
            17: "CHN",
            18: _text(charset),
        },
    )
    evn = _segment("EVN", {1: trigger, 2: format_ts(event.occurred_at)})
    body = builder(event, code)
    patient = [_pid(event), _pv1(event)]
    segments = [msh, evn]
    for segment in body:
        segments.extend(patient if segment == PATIENT_GROUP else [segment])
    if event.kind == EventKind.CORRECTION:
        segments.append(_segment("ZCV", {1: "C", 2: _text(event.target_event_id)}))
    elif event.kind == EventKind.VOID:
        segments.append(_segment("ZCV", {1: "V", 2: _text(event.target_event_id)}))
    return "\r".join(segments) + "\r"


def with_emitted_at(event: HisEvent, moment: datetime) -> HisEvent:
    """``event`` stamped with when the HIS sends it (MSH-7), unless it already says."""
    return event if event.emitted_at is not None else replace(event, emitted_at=moment)


# --- acknowledgements and the connection test ------------------------------------------


def build_ack(
    raw_or_msh: str | Header | None,
    code: str = "AA",
    error: MessageRejected | None = None,
    *,
    message_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """The ACK for an inbound message: MSA-2 echoes its MSH-10; ERR says why on AE/AR."""
    if code not in ("AA", "AE", "AR", "CA", "CE", "CR"):
        raise ValueError(f"unknown acknowledgement code {code!r}")
    header: Header | None
    if isinstance(raw_or_msh, Header):
        header = raw_or_msh
    else:
        try:
            header = read_header(raw_or_msh or "")
        except MessageRejected:
            header = None
    moment = now or datetime.now(SHANGHAI)
    trigger = header.trigger if header else ""
    msh = _msh(
        {
            3: _text((header.receiving_application if header else "") or PLATFORM_APPLICATION),
            4: _text((header.receiving_facility if header else "") or PLATFORM_FACILITY),
            5: _text(header.sending_application if header else ""),
            6: _text(header.sending_facility if header else ""),
            7: format_ts(moment),
            9: f"ACK^{trigger}^ACK" if trigger else "ACK",
            10: _text(message_id or uuid.uuid4().hex[:20]),
            11: _text((header.processing_id if header else "") or "P"),
            12: "2.5",
            18: _text(header.charset if header else ""),
        },
    )
    segments = [msh, _segment("MSA", {1: code, 2: _text(header.control_id if header else "")})]
    if error is not None:
        hl7_code, hl7_text = HL7_ERROR_CODES.get(error.code, ("207", "Application internal error"))
        segments.append(
            _segment(
                "ERR",
                {
                    3: _components(hl7_code, hl7_text, "HL70357", error.code, "", "L"),
                    4: "E",
                    8: _text(error.reason),
                },
            )
        )
    return "\r".join(segments) + "\r"


@dataclass(frozen=True)
class Acknowledgement:
    """What an ACK says: its code, the message it answers and, on errors, why."""

    code: str
    control_id: str
    sending_facility: str
    error_code: str = ""
    error_text: str = ""

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


def read_ack(raw: str) -> Acknowledgement:
    """The MSA (and ERR) of an acknowledgement; ``MessageRejected`` if it has no MSA."""
    message = split_message(raw)
    msa = message.require("MSA", "（确认信息）")
    err = message.first("ERR")
    error_code = error_text = ""
    if err is not None:
        error_code = err.get(3, 4) or err.get(3, 1)
        error_text = err.text(8) or err.get(3, 2)
    return Acknowledgement(
        code=msa.get(1).upper(),
        control_id=msa.get(2),
        sending_facility=message.segments[0].get(4),
        error_code=error_code,
        error_text=error_text or msa.get(3),
    )


def build_test_message(institution_code: str, *, message_id: str, now: datetime) -> str:
    """The connection test: an NMQ^N01 (application management query) with the clock (NCK)."""
    msh = _msh(
        {
            3: PLATFORM_APPLICATION,
            4: PLATFORM_FACILITY,
            5: "HIS",
            6: _text(institution_code),
            7: format_ts(now),
            9: "NMQ^N01^NMQ_N01",
            10: _text(message_id),
            11: "P",
            12: "2.5",
            15: "AL",
            16: "NE",
            17: "CHN",
            18: "UNICODE UTF-8",
        },
    )
    return "\r".join([msh, _segment("NCK", {1: format_ts(now)})]) + "\r"
