"""A local stand-in for the record archives (病案归档系统) of the 18 inpatient institutions.

Over real HTTP it serves, for each institution code it knows:

- ``GET /archive/v1/{institution_code}/admissions?since=&cursor=`` — the admission index,
  oldest archive first, ``page_size`` items a page: ``{"items": [...], "next_cursor": ...}``;
  ``since`` (ISO 8601) keeps archives strictly newer than that moment.
- ``GET /archive/v1/{institution_code}/documents/{ref}`` — a section's PDF (one page per
  page of the section), whose SM3 digest the index states.
- ``POST /simulator/push?institution=CODE`` — makes the institution push its archives to
  the platform's signed API (``POST /api/v1/archives/{code}/admissions``), signed with the
  institution's key. Body (JSON, optional): ``platform_url``, ``app_id``,
  ``private_key_hex``, ``limit``; missing credentials come from the simulator's
  credentials file (the hospitals' key store, written when the demo registers them).
- ``POST /simulator/archives?institution=CODE`` with one raw item (any JSON): adds it to
  the index as it is, or replaces the item with the same ``admission_no`` — to send a
  malformed or changed archive; ``POST /simulator/documents/{ref}`` with raw bytes
  replaces a document's bytes but not its stated digest (a corrupted transfer).

The demo population is deterministic: every person of the regional population register
(the demo residents) plus other patients has one to three admissions across the 18
institutions; an institution code outside them gets its own handful of patients.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stdnum.cn import ric

from jingan.integrations.archives.pdf import Line, build_pdf
from jingan.integrations.archives.signing import signature_headers, sm3
from jingan.integrations.regional.simulator import population
from jingan.lib.http import OutboundClient, OutboundError
from jingan.lib.simulator import QuietHandler, SimulatorServer

CHINA = timezone(timedelta(hours=8), "CST")
PAGE_SIZE = 20
OTHER_PATIENTS = 36

INPATIENT_INSTITUTIONS: dict[str, str] = {
    "310106001": "上海市静安区中心医院",
    "310106002": "上海市静安区闸北中心医院",
    "310106003": "上海市静安区市北医院",
    "310106004": "上海市静安区北站医院",
    "310106005": "上海市静安区中医医院",
    "310106006": "上海市公惠医院",
    "310106007": "上海市第三康复医院",
    "310106008": "上海市第四康复医院",
    "310106011": "上海市静安区精神卫生中心",
    "310106012": "上海市静安区彭浦新村街道社区卫生服务中心",
    "310106013": "上海市静安区临汾路街道社区卫生服务中心",
    "310106015": "上海市静安区彭浦镇第二社区卫生服务中心",
    "310106021": "上海市静安区芷江西路街道社区卫生服务中心",
    "310106022": "上海市静安区静安寺街道社区卫生服务中心",
    "310106023": "上海市静安区曹家渡街道社区卫生服务中心",
    "310106024": "上海市静安区石门二路街道社区卫生服务中心",
    "310106025": "上海市静安区江宁路街道社区卫生服务中心",
    "310106026": "上海市静安区南京西路街道社区卫生服务中心",
}

# Section codes are the platform dictionary's ``record_section`` codes.
SECTION_TITLES = {
    "front_page": "住院病案首页",
    "admission_record": "入院记录",
    "discharge_summary": "出院记录",
    "operation_record": "手术记录",
    "anaesthesia_record": "麻醉记录",
    "pathology_report": "病理报告",
    "lab_report": "检验报告",
    "imaging_report": "医学影像检查报告",
    "orders": "医嘱单",
    "temperature_chart": "体温单",
    "nursing_record": "护理记录",
    "consent": "知情同意书",
}
BASE_SECTIONS = (
    "front_page",
    "admission_record",
    "discharge_summary",
    "orders",
    "lab_report",
    "temperature_chart",
    "nursing_record",
)
SURGICAL_SECTIONS = ("operation_record", "anaesthesia_record", "consent", "pathology_report")


@dataclass(frozen=True)
class Ward:
    code: str
    name: str
    surgical: bool
    diagnoses: tuple[tuple[str, str], ...]


WARDS = (
    Ward(
        "03",
        "内科",
        False,
        (
            ("I10", "原发性高血压"),
            ("E11.9", "2型糖尿病不伴有并发症"),
            ("J18.9", "肺炎"),
            ("I25.1", "动脉硬化性心脏病"),
        ),
    ),
    Ward(
        "04",
        "外科",
        True,
        (("K80.2", "胆囊结石不伴有胆囊炎"), ("K35.8", "急性阑尾炎"), ("K40.9", "单侧腹股沟疝")),
    ),
    Ward("05", "妇产科", True, (("O80.0", "头位顺产"), ("D25.9", "子宫平滑肌瘤"))),
    Ward("07", "儿科", False, (("J20.9", "急性支气管炎"), ("A09.9", "胃肠炎"))),
    Ward("10", "眼科", True, (("H25.9", "老年性白内障"), ("H40.9", "青光眼"))),
    Ward("11", "耳鼻咽喉科", True, (("J35.0", "慢性扁桃体炎"), ("J32.9", "慢性鼻窦炎"))),
    Ward("21", "康复医学科", False, (("I69.3", "脑梗死后遗症"), ("M17.9", "膝关节病"))),
    Ward("28", "重症医学科", False, (("J96.0", "急性呼吸衰竭"), ("A41.9", "脓毒症"))),
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文建国志红"
DISTRICTS = ("310106", "310108", "310101", "310104", "310105", "310107")


@dataclass(frozen=True)
class Patient:
    name: str
    id_number: str


def _rng(*parts: object) -> random.Random:
    return random.Random(sm3("|".join(str(p) for p in parts).encode("utf-8")).hex())


def _other_patients() -> list[Patient]:
    people = []
    for index in range(OTHER_PATIENTS):
        rng = _rng("patient", index)
        # Before 2015: 310108 (闸北) ceased as a division code when it merged into 静安.
        born = date(1938, 1, 1) + timedelta(days=rng.randrange(0, 365 * 76))
        stem = f"{rng.choice(DISTRICTS)}{born:%Y%m%d}{rng.randrange(100, 1000)}"
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        people.append(Patient(name, stem + ric.calc_check_digit(stem + "0")))
    return people


@cache
def patients() -> tuple[Patient, ...]:
    """The demo population of the archives: the population register first, then others."""
    register = [Patient(p.name, p.id_number) for p in population()]
    return tuple(register + _other_patients())


def _section_pages(rng: random.Random, code: str) -> int:
    return {"front_page": 2, "temperature_chart": 1, "consent": 2}.get(code, rng.randint(1, 4))


def _admission(code: str, patient: Patient, serial: int) -> dict[str, Any]:
    rng = _rng("admission", code, patient.id_number, serial)
    ward = rng.choice(WARDS)
    discharged = date(2024, 1, 8) + timedelta(days=rng.randrange(0, 1020))
    admitted = discharged - timedelta(days=rng.randint(3, 18))
    archived = datetime.combine(
        discharged + timedelta(days=rng.randint(2, 9)),
        time(rng.randint(8, 17), rng.choice((0, 30))),
        tzinfo=CHINA,
    )
    number = int(sm3(f"{code}|{patient.id_number}|{serial}".encode()).hex()[:10], 16) % 10**6
    admission_no = f"ZY{admitted.year}{number:06d}"
    diagnoses = rng.sample(ward.diagnoses, k=min(len(ward.diagnoses), rng.randint(1, 2)))
    codes = list(BASE_SECTIONS)
    if ward.surgical:
        codes += SURGICAL_SECTIONS
    if rng.random() < 0.5:
        codes.append("imaging_report")
    return {
        "institution_code": code,
        "admission_no": admission_no,
        "patient": {"name": patient.name, "id_number": patient.id_number},
        "admitted_on": admitted.isoformat(),
        "discharged_on": discharged.isoformat(),
        "department": {"code": ward.code, "name": ward.name},
        "diagnoses": [{"code": c, "name": n} for c, n in diagnoses],
        "archived_at": archived.isoformat(),
        "sections": [
            {
                "code": section,
                "title": SECTION_TITLES[section],
                "page_count": _section_pages(rng, section),
                "document_ref": f"{admission_no}-{section}",
                "document_sm3": "",  # stated once the document exists (see ``_index``)
            }
            for section in codes
        ],
    }


@cache
def _district_plan() -> dict[str, list[tuple[Patient, int]]]:
    """Which patients were admitted where, among the 18 institutions: 1–3 stays each."""
    plan: dict[str, list[tuple[Patient, int]]] = {code: [] for code in INPATIENT_INSTITUTIONS}
    codes = sorted(INPATIENT_INSTITUTIONS)
    for patient in patients():
        rng = _rng("plan", patient.id_number)
        for serial in range(rng.randint(1, 3)):
            plan[rng.choice(codes)].append((patient, serial))
    return plan


def _plan_for(code: str) -> list[tuple[Patient, int]]:
    if code in INPATIENT_INSTITUTIONS:
        return _district_plan()[code]
    # A newly onboarded institution: a handful of the same people, chosen by its code.
    rng = _rng("onboarded", code)
    return [(patient, 0) for patient in rng.sample(patients(), k=6)]


def document_text(admission: dict[str, Any], section: dict[str, Any], institution: str) -> bytes:
    """The section's PDF: a header on every page, then the section's content lines."""
    patient = admission["patient"]
    diagnoses = "；".join(f"{d['code']} {d['name']}" for d in admission["diagnoses"])
    total = int(section["page_count"])
    pages = []
    footers = []
    for page in range(1, total + 1):
        lines = [
            Line(institution, 16),
            Line(section["title"], 14),
            Line(f"姓名：{patient['name']}    住院号：{admission['admission_no']}", 11),
            Line(
                f"科室：{admission['department']['name']}    入院日期：{admission['admitted_on']}"
                f"    出院日期：{admission['discharged_on']}",
                11,
            ),
            Line(f"诊断：{diagnoses}", 11),
            Line(f"Admission {admission['admission_no']} / {section['code']}", 9, ascii_only=True),
        ]
        rng = _rng("text", admission["admission_no"], section["code"], page)
        lines += [
            Line(
                f"{rng.randint(1, 28):02d}日 {rng.randint(6, 21):02d}:{rng.choice(('00', '30'))} "
                f"{rng.choice(('生命体征平稳', '神志清，精神可', '按医嘱执行', '复查结果已回报'))}",
                10,
            )
            for _ in range(12)
        ]
        pages.append(lines)
        footers.append(f"{admission['admission_no']} {section['code']} page {page}/{total}")
    return build_pdf(
        pages, footers=footers, title=f"{section['title']} {admission['admission_no']}"
    )


class _Handler(QuietHandler):
    simulator: ArchiveSimulator
    server_version = "ArchiveSimulator/1.0"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if len(parts) == 4 and parts[:2] == ["archive", "v1"] and parts[3] == "admissions":
            try:
                answer = self.simulator.page(
                    parts[2], since=query.get("since"), cursor=query.get("cursor")
                )
            except LookupError:
                self._json(404, {"code": "unknown_institution", "message": "机构不存在"})
            except ValueError as error:
                self._json(400, {"code": "bad_request", "message": str(error)})
            else:
                self._json(200, answer)
        elif len(parts) == 5 and parts[:2] == ["archive", "v1"] and parts[3] == "documents":
            body = self.simulator.document(parts[2], parts[4])
            if body is None:
                self._json(404, {"code": "unknown_document", "message": "文档不存在"})
            else:
                self.send_body(200, body, "application/pdf")
        else:
            self._json(404, {"code": "not_found", "message": "接口不存在"})

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        raw = self.read_body()
        code = query.get("institution", "")
        if url.path == "/simulator/push":
            try:
                options = json.loads(raw or b"{}")
                self._json(200, self.simulator.push(code, **options))
            except (LookupError, TypeError, ValueError) as error:
                self._json(400, {"code": "bad_request", "message": str(error)})
            except OutboundError as error:
                self._json(502, {"code": "platform_unreachable", "message": error.message})
        elif url.path == "/simulator/archives":
            try:
                self.simulator.put_raw(code, json.loads(raw))
            except (LookupError, ValueError) as error:
                self._json(400, {"code": "bad_request", "message": str(error)})
            else:
                self._json(200, {"code": "ok"})
        elif url.path.startswith("/simulator/documents/"):
            self.simulator.tamper_document(url.path.rsplit("/", 1)[-1], raw)
            self._json(200, {"code": "ok"})
        else:
            self._json(404, {"code": "not_found", "message": "接口不存在"})

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_body(status, body, "application/json; charset=utf-8")


Credentials = Callable[[str], tuple[str, str] | None]


def credentials_from_file(path: Path) -> Credentials:
    """Read ``{code: {"app_id", "private_key_hex"}}`` from ``path`` at each push."""

    def lookup(code: str) -> tuple[str, str] | None:
        try:
            entry = json.loads(path.read_text("utf-8")).get(code)
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict):
            return None
        return str(entry["app_id"]), str(entry["private_key_hex"])

    return lookup


class ArchiveSimulator(SimulatorServer):
    """The archives of several institutions: index, documents, pushes, test switches."""

    handler = _Handler
    thread_name = "archive-simulator"

    def __init__(
        self,
        institutions: dict[str, str] | None = None,
        *,
        page_size: int = PAGE_SIZE,
        platform_url: str = "http://127.0.0.1:8000",
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__()
        self.institutions = dict(INPATIENT_INSTITUTIONS if institutions is None else institutions)
        self.page_size = page_size
        self.platform_url = platform_url
        self.credentials = credentials or (lambda code: None)
        self._lock = threading.Lock()
        self._index: dict[str, list[dict[str, Any]]] = {}
        self._documents: dict[str, bytes] = {}
        self._tampered: dict[str, bytes] = {}
        self.pushes: list[dict[str, Any]] = []

    def add_institution(self, code: str, name: str) -> None:
        with self._lock:
            self.institutions[code] = name

    # -- the index --------------------------------------------------------------------

    def admissions(self, code: str) -> list[dict[str, Any]]:
        """The institution's whole index, oldest archive first (copies: safe to change)."""
        if code not in self.institutions:
            raise LookupError(code)
        with self._lock:
            if code not in self._index:
                self._index[code] = self._build(code)
            return json.loads(json.dumps(self._index[code]))

    def _build(self, code: str) -> list[dict[str, Any]]:
        items = []
        for patient, serial in _plan_for(code):
            admission = _admission(code, patient, serial)
            for section in admission["sections"]:
                pdf = document_text(admission, section, self.institutions[code])
                self._documents[f"{code}/{section['document_ref']}"] = pdf
                section["document_sm3"] = sm3(pdf).hex()
            items.append(admission)
        items.sort(key=lambda item: (item["archived_at"], item["admission_no"]))
        return items

    def page(self, code: str, *, since: str | None, cursor: str | None) -> dict[str, Any]:
        items = self.admissions(code)
        if since:
            moment = datetime.fromisoformat(since)
            if moment.tzinfo is None:
                raise ValueError("since 须带时区")
            items = [i for i in items if _archived(i) is None or _archived(i) > moment]  # type: ignore[operator]
        try:
            start = int(cursor or 0)
        except ValueError as error:
            raise ValueError("cursor 无效") from error
        chunk = items[start : start + self.page_size]
        more = start + self.page_size < len(items)
        return {"items": chunk, "next_cursor": str(start + self.page_size) if more else None}

    def put_raw(self, code: str, raw: Any) -> None:
        """Add ``raw`` to the index, or replace the item with its admission number."""
        self.admissions(code)
        with self._lock:
            index = self._index[code]
            number = raw.get("admission_no") if isinstance(raw, dict) else None
            for position, item in enumerate(index):
                if (
                    number is not None
                    and isinstance(item, dict)
                    and item.get("admission_no") == number
                ):
                    index[position] = raw
                    return
            index.append(raw)

    # -- documents ----------------------------------------------------------------------

    def document(self, code: str, ref: str) -> bytes | None:
        if code not in self.institutions:
            return None
        self.admissions(code)
        with self._lock:
            key = f"{code}/{ref}"
            return self._tampered.get(key, self._documents.get(key))

    def tamper_document(self, ref: str, body: bytes) -> None:
        with self._lock:
            for key in list(self._documents):
                if key.endswith(f"/{ref}"):
                    self._tampered[key] = body

    # -- pushing to the platform ---------------------------------------------------------

    def push(
        self,
        code: str,
        *,
        platform_url: str | None = None,
        app_id: str | None = None,
        private_key_hex: str | None = None,
        limit: int | None = None,
        batch: int = 20,
    ) -> dict[str, Any]:
        """Push the institution's archives to the platform; returns the platform's answers."""
        items = self.admissions(code)[: limit or None]
        if app_id is None or private_key_hex is None:
            stored = self.credentials(code)
            if stored is None:
                raise LookupError(f"机构 {code} 未登记推送用的接入应用与私钥")
            app_id, private_key_hex = stored
        path = f"/api/v1/archives/{code}/admissions"
        counts: dict[str, int] = {}
        results: list[dict[str, Any]] = []
        with OutboundClient(
            system="platform-archive-push", base_url=platform_url or self.platform_url
        ) as client:
            for start in range(0, len(items), batch):
                body = json.dumps(items[start : start + batch], ensure_ascii=False).encode("utf-8")
                headers = signature_headers(
                    app_id=app_id,
                    private_key_hex=private_key_hex,
                    method="POST",
                    path=path,
                    query="",
                    body=body,
                )
                response = client.request(
                    "POST",
                    path,
                    content=body,
                    headers={**headers, "Content-Type": "application/json"},
                )
                answer = response.json() if response.content else {}
                for result in answer.get("results", []) if isinstance(answer, dict) else []:
                    counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
                    results.append(result)
                if response.status_code not in (200, 422):
                    summary = {"status": response.status_code, "answer": answer}
                    self.pushes.append(summary)
                    return summary
        summary = {"status": 200, "pushed": len(items), "counts": counts, "results": results}
        self.pushes.append(summary)
        return summary


def _archived(item: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(item["archived_at"])
    except (KeyError, TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
