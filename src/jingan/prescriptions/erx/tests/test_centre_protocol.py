"""The centre protocol end to end: the adapter against the simulator over real HTTP.

Real SM2 (Tongsuo) and SM4 on both sides; an independent implementation of the
envelope rules (pysmx + cryptography only) checks that neither side merely agrees with
itself.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from jingan.core.public import get_sm2_backend
from jingan.integrations.erx_centre import envelope
from jingan.integrations.erx_centre.adapter import (
    HttpErxCentre,
    answer_notification,
    notification_app_id,
    open_notification,
)
from jingan.integrations.erx_centre.envelope import AppCredentials, EnvelopeError
from jingan.integrations.erx_centre.port import (
    CentreAnswer,
    CentreError,
    CentreProfile,
    Notification,
    Operation,
)
from jingan.integrations.erx_centre.simulator import (
    CATALOGUE,
    CHINA,
    PHARMACIES,
    CentreApp,
    CentreState,
    ErxCentreSimulator,
    register_app,
)

APP_ID = "JA310106001APP0001"
APP_SECRET = "S3cr3t-Jingan-0001"
FIXMEDINS = "H31010600101"
HOSPITAL = "上海市静安区中心医院"
PATIENT = "张建国"
CERTNO = "310106195803124417"
AMLODIPINE = CATALOGUE[0]
METFORMIN = next(d for d in CATALOGUE if d["drugGenname"] == "盐酸二甲双胍片")
TIME = "%Y-%m-%d %H:%M:%S"

# SM2 curve (GB/T 32918.5), restated here so the independent check shares nothing.
CURVE_A = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
CURVE_B = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
CURVE_GX = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
CURVE_GY = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
CURVE_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


@pytest.fixture(scope="module")
def backend() -> Any:
    return get_sm2_backend()


@pytest.fixture(scope="module")
def keys(backend: Any) -> Any:
    return backend.generate_keypair()


class Receiver:
    """A tiny platform-side notification endpoint on 127.0.0.1."""

    def __init__(self, credentials: AppCredentials, centre_public: str, backend: Any) -> None:
        self.received: list[tuple[Notification, dict[str, Any], dict[str, Any]]] = []
        self.answer_code = 0
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert notification_app_id(body) == credentials.app_id
                kind, opened = open_notification(body, credentials, centre_public, backend)
                receiver.received.append((kind, opened.data, json.loads(body)))
                answer = answer_notification(
                    kind,
                    credentials=credentials,
                    backend=backend,
                    code=receiver.answer_code,
                    message="成功" if receiver.answer_code == 0 else "稍后再试",
                )
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                receiver.arrived.set()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def wait(self, count: int, seconds: float = 5.0) -> None:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, self.received

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def centre(backend: Any, keys: Any) -> Iterator[dict[str, Any]]:
    simulator = ErxCentreSimulator(
        backend=backend, review_delay_seconds=0.05, notify_backoff_seconds=0.05
    )
    credentials = AppCredentials(APP_ID, APP_SECRET, keys.private_hex, keys.public_hex)
    receiver = Receiver(credentials, simulator.centre_public_key_hex, backend)
    simulator.add_app(
        CentreApp(APP_ID, APP_SECRET, keys.public_hex, FIXMEDINS, HOSPITAL, receiver.url)
    )
    url = simulator.start()
    port = HttpErxCentre(
        profile=CentreProfile(base_url=url, timeout_seconds=5.0),
        credentials=credentials,
        centre_public_key_hex=simulator.centre_public_key_hex,
        backend=backend,
    )
    yield {"simulator": simulator, "port": port, "receiver": receiver, "url": url}
    simulator.stop()
    receiver.stop()


def upload_check_data(hosp_rxno: str = "RX20250001", **drug: Any) -> dict[str, Any]:
    now = datetime.now(CHINA)
    row = {
        "medListCodg": AMLODIPINE["medListCodg"],
        "drugGenname": AMLODIPINE["drugGenname"],
        "drugSpec": AMLODIPINE["drugSpec"],
        "drugCnt": 1,
        "drugDosunt": "片",
        "sinDoscnt": 1,
        "sinDosunt": "片",
        "usedFrquCodg": "qd",
        "medcWayCodg": "1",
        "medcDays": 7,
        "drugTotlcnt": 1,
        "drugTotlcntEmp": "盒",
        **drug,
    }
    return {
        "mdtrtCertType": "02",
        "mdtrtCertNo": CERTNO,
        "bizTypeCode": "01",
        "hospRxno": hosp_rxno,
        "rxTypeCode": "1",
        "prscTime": now.strftime(TIME),
        "rxDrugCnt": 1,
        "valiDays": 3,
        "valiEndTime": (now + timedelta(days=3)).strftime(TIME),
        "mdtrtinfo": {
            "fixmedinsCode": FIXMEDINS,
            "fixmedinsName": HOSPITAL,
            "mdtrtId": "MDT202500001",
            "medType": "11",
            "otpIptFlag": "1",
            "patnName": PATIENT,
            "psnCertType": "01",
            "certno": CERTNO,
            "patnAge": 67,
            "gend": "1",
            "prscDeptCode": "A03",
            "prscDeptName": "心血管内科",
            "drCode": "D310106001001",
            "prscDrName": "李医生",
        },
        "rxdrugdetail": [row],
        "diseinfo": [
            {"diagType": "1", "maindiagFlag": "1", "diagCode": "I10", "diagName": "高血压"}
        ],
    }


def upload_fields(checked: dict[str, Any]) -> dict[str, Any]:
    return {
        "rxTraceCode": checked["rxTraceCode"],
        "hiRxno": checked["hiRxno"],
        "mdtrtId": "MDT202500001",
        "patnName": PATIENT,
        "psnCertType": "01",
        "certno": CERTNO,
        "fixmedinsName": HOSPITAL,
        "fixmedinsCode": FIXMEDINS,
        "drCode": "D310106001001",
        "prscDrName": "李医生",
        "pharName": "赵药师",
        "pharCode": "P310106001",
        "pharChkTime": datetime.now(CHINA).strftime(TIME),
    }


PDF = b"%PDF-1.7\n% e-prescription\n"


def sign_and_upload(port: HttpErxCentre, checked: dict[str, Any]) -> CentreAnswer:
    fields = upload_fields(checked)
    original = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    signed = port.call(
        Operation.SIGN,
        {
            "fixmedinsCode": FIXMEDINS,
            "originalValue": base64.b64encode(original.encode()).decode(),
            "originalRxFile": base64.b64encode(PDF).decode(),
            "extras": "",
        },
    )
    assert signed.code == 0, signed.message
    return port.call(
        Operation.UPLOAD,
        {**fields, "rxFile": signed.data["rxFile"], "signDigest": signed.data["signDigest"]},
    )


def query(port: HttpErxCentre, operation: Operation, hi_rxno: str) -> CentreAnswer:
    return port.call(operation, {"fixmedinsCode": FIXMEDINS, "hiRxno": hi_rxno})


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- the happy path -------------------------------------------------------------------


@pytest.mark.req("RX-1", "RX-2", "RX-3", "RX-5", "RX-6", "RX-7", "RX-8", "RX-9")
def test_prescription_goes_from_pre_check_to_pickup_with_notifications(
    centre: dict[str, Any],
) -> None:
    port, simulator, receiver = centre["port"], centre["simulator"], centre["receiver"]
    checked = port.call(Operation.UPLOAD_CHECK, upload_check_data())
    assert (checked.code, checked.message, sorted(checked.data)) == (
        0,
        "成功",
        ["hiRxno", "rxTraceCode"],
    )
    assert len(checked.data["rxTraceCode"]) == 24
    assert checked.request_envelope["appId"] == APP_ID
    assert checked.response_envelope["success"] is True

    fields = upload_fields(checked.data)
    original = base64.b64encode(json.dumps(fields, sort_keys=True).encode()).decode()
    signed = port.call(
        Operation.SIGN,
        {
            "fixmedinsCode": FIXMEDINS,
            "originalValue": original,
            "originalRxFile": base64.b64encode(PDF).decode(),
        },
    )
    assert signed.code == 0
    assert base64.b64decode(signed.data["rxFile"]) == PDF
    assert len(base64.b64decode(signed.data["signDigest"])) == 64
    assert signed.data["signCertSn"] == simulator.sign_cert_sn
    assert signed.data["signCertDn"].startswith("CN=国家医疗保障局电子处方中心（模拟）")
    assert simulator.verify_sign_digest(signed.data["signDigest"], base64.b64decode(original), PDF)

    uploaded = port.call(
        Operation.UPLOAD,
        {**fields, "rxFile": signed.data["rxFile"], "signDigest": signed.data["signDigest"]},
    )
    hi_rxno = checked.data["hiRxno"]
    assert (uploaded.code, uploaded.data) == (
        0,
        {"hiRxno": hi_rxno, "rxStasCodg": "01", "rxStasName": "有效"},
    )

    receiver.wait(1)
    kind, data, raw = receiver.received[0]
    assert kind is Notification.REVIEW_RESULT
    assert raw["transType"] == "rxChkInfoNotify"
    assert {k: data[k] for k in ("hiRxno", "fixmedinsCode", "rxChkStasCodg", "rxChkOpnn")} == {
        "hiRxno": hi_rxno,
        "fixmedinsCode": FIXMEDINS,
        "rxChkStasCodg": "02",
        "rxChkOpnn": "处方合理，审核通过",
    }
    wait_for(lambda: any(d.outcome == "delivered" for d in simulator.deliveries))

    review = query(port, Operation.REVIEW_RESULT, hi_rxno)
    assert review.data == {k: v for k, v in data.items() if k != "fixmedinsCode"}
    assert review.data["rxChkStasName"] == "审核通过"
    assert review.data["pharName"] == "王审方（模拟中心药师）"

    detail = query(port, Operation.DETAIL, hi_rxno)
    assert detail.code == 0
    assert detail.data["rxStasCodg"] == "01"
    assert detail.data["rxUsedStasCodg"] == "01"
    assert detail.data["hospRxno"] == "RX20250001"
    assert detail.data["rxTypeName"] == "西药处方"
    assert detail.data["rxDetlList"][0]["medListCodg"] == AMLODIPINE["medListCodg"]
    assert detail.data["rxOtpinfo"]["pharName"] == "赵药师"
    assert detail.data["diseinfo"][0]["diagCode"] == "I10"

    simulator.pharmacy(hi_rxno, "start")
    assert query(port, Operation.PICKUP_RESULT, hi_rxno).data["rxUsedStasCodg"] == "03"
    simulator.pharmacy(hi_rxno, "complete")
    receiver.wait(2)
    kind, pickup, raw = receiver.received[1]
    assert kind is Notification.PICKUP_RESULT
    assert raw["transType"] == "rxSetlInfoNotify"
    answer = query(port, Operation.PICKUP_RESULT, hi_rxno)
    assert answer.data == {k: v for k, v in pickup.items() if k != "fixmedinsCode"}
    assert answer.data["rxUsedStasCodg"] == "02"
    assert answer.data["rxUsedStasName"] == "已取药"
    assert answer.data["seltdelts"][0]["medListCodg"] == AMLODIPINE["medListCodg"]
    assert answer.data["seltdelts"][0]["aprvno"] == AMLODIPINE["aprvno"]
    assert answer.data["seltdelts"][0]["cnt"] == 1


@pytest.mark.req("RX-5", "RX-7")
def test_a_restarted_centre_still_knows_what_was_uploaded(
    backend: Any, keys: Any, tmp_path: Path
) -> None:
    state_path = tmp_path / "centre.json"
    register_app(
        state_path,
        app_id=APP_ID,
        app_secret=APP_SECRET,
        public_key_hex=keys.public_hex,
        fixmedins_code=FIXMEDINS,
        fixmedins_name=HOSPITAL,
        notify_url="http://127.0.0.1:9/notify",
        generate_keypair=lambda: (lambda pair: (pair.private_hex, pair.public_hex))(
            backend.generate_keypair()
        ),
    )
    credentials = AppCredentials(APP_ID, APP_SECRET, keys.private_hex, keys.public_hex)

    def started() -> tuple[ErxCentreSimulator, HttpErxCentre]:
        simulator = ErxCentreSimulator(
            backend=backend, state_path=state_path, review_delay_seconds=0.01, notify_attempts=1
        )
        port = HttpErxCentre(
            profile=CentreProfile(base_url=simulator.start(), timeout_seconds=5.0),
            credentials=credentials,
            centre_public_key_hex=simulator.centre_public_key_hex,
            backend=backend,
        )
        return simulator, port

    simulator, port = started()
    checked = port.call(Operation.UPLOAD_CHECK, upload_check_data()).data
    assert sign_and_upload(port, checked).code == 0
    hi_rxno = checked["hiRxno"]
    wait_for(lambda: simulator.prescription(hi_rxno).review_status == "02")  # type: ignore[union-attr]
    simulator.pharmacy(hi_rxno, "complete")
    port.close()
    simulator.stop()
    assert oct((tmp_path / "centre-prescriptions.json").stat().st_mode & 0o777) == "0o600"

    again, port = started()
    try:
        pickup = query(port, Operation.PICKUP_RESULT, hi_rxno)
        assert (pickup.code, pickup.data["rxUsedStasCodg"]) == (0, "02")
        assert pickup.data["pharmacyName"] in {name for _, name in PHARMACIES}
        assert query(port, Operation.REVIEW_RESULT, hi_rxno).data["rxChkStasCodg"] == "02"
        # The trace code stays spent across the restart.
        assert (
            port.call(
                Operation.UPLOAD, {**upload_fields(checked), "rxFile": "", "signDigest": ""}
            ).code
            != 0
        )
        assert [rx.hi_rxno for rx in again.prescriptions()] == [hi_rxno]
        # A second process on the same key store (a demo run beside `jingan serve`)
        # uploads; the running centre reads the records again and knows it too.
        other, other_port = started()
        try:
            checked = other_port.call(Operation.UPLOAD_CHECK, upload_check_data("RX20250002")).data
            assert sign_and_upload(other_port, checked).code == 0
        finally:
            other_port.close()
            other.stop()
        detail = query(port, Operation.DETAIL, checked["hiRxno"])
        assert (detail.code, detail.data["hospRxno"]) == (0, "RX20250002")
    finally:
        port.close()
        again.stop()


@pytest.mark.req("RX-6")
def test_centre_rejects_a_prescription_for_more_than_thirty_days(centre: dict[str, Any]) -> None:
    port, receiver = centre["port"], centre["receiver"]
    checked = port.call(Operation.UPLOAD_CHECK, upload_check_data(medcDays=31))
    assert sign_and_upload(port, checked.data).code == 0
    receiver.wait(1)
    review = query(port, Operation.REVIEW_RESULT, checked.data["hiRxno"])
    assert review.data["rxChkStasCodg"] == "03"
    assert review.data["rxChkStasName"] == "审核不通过"
    assert review.data["rxChkOpnn"] == (
        "第1行 苯磺酸氨氯地平片 用药天数 31 天超过 30 天上限，请核实后重新开具"
    )
    with pytest.raises(ValueError, match="药店不能结算"):
        centre["simulator"].pharmacy(checked.data["hiRxno"], "start")


@pytest.mark.req("RX-6")
def test_manual_review_page_lists_masked_patient_and_records_decision(
    centre: dict[str, Any],
) -> None:
    port, simulator, url = centre["port"], centre["simulator"], centre["url"]
    settings = httpx.post(f"{url}/simulator/settings", json={"review_mode": "manual"})
    assert settings.json() == {
        "review_mode": "manual",
        "review_delay_seconds": 0.05,
        "drop_notifications": 0,
    }
    checked = port.call(Operation.UPLOAD_CHECK, upload_check_data())
    sign_and_upload(port, checked.data)
    hi_rxno = checked.data["hiRxno"]
    page = httpx.get(f"{url}/simulator/review").text
    assert hi_rxno in page
    assert "张**" in page
    assert PATIENT not in page
    assert "<script" not in page
    refused = httpx.post(
        f"{url}/simulator/review", data={"hiRxno": hi_rxno, "decision": "reject", "opinion": ""}
    )
    assert refused.status_code == 303
    assert simulator.prescription(hi_rxno).review_status == "01"
    decided = httpx.post(
        f"{url}/simulator/review",
        data={"hiRxno": hi_rxno, "decision": "reject", "opinion": "剂量需调整"},
        follow_redirects=True,
    )
    assert f"处方 {hi_rxno} 已审核不通过" in decided.text
    review = query(port, Operation.REVIEW_RESULT, hi_rxno).data
    assert (review["rxChkStasCodg"], review["rxChkOpnn"]) == ("03", "剂量需调整")


@pytest.mark.req("RX-10")
def test_drug_catalogue_query_filters_and_pages(centre: dict[str, Any]) -> None:
    port = centre["port"]
    assert len(CATALOGUE) == 60
    assert all(len(d["medListCodg"]) == 23 and d["medListCodg"][0] == "X" for d in CATALOGUE)
    answer = port.call(
        Operation.DRUG_CATALOGUE, {"fixmedinsCode": FIXMEDINS, "drugGenname": "沙坦"}
    )
    assert answer.code == 0
    assert answer.data["total"] == 3
    assert [d["drugGenname"] for d in answer.data["list"]] == [
        "缬沙坦胶囊",
        "厄贝沙坦片",
        "氯沙坦钾片",
    ]
    page = port.call(
        Operation.DRUG_CATALOGUE, {"fixmedinsCode": FIXMEDINS, "pageNum": 3, "pageSize": 25}
    )
    assert (page.data["total"], len(page.data["list"])) == (60, 10)
    exact = port.call(
        Operation.DRUG_CATALOGUE,
        {"fixmedinsCode": FIXMEDINS, "medListCodg": METFORMIN["medListCodg"]},
    )
    assert exact.data["list"] == [METFORMIN]
    too_big = port.call(Operation.DRUG_CATALOGUE, {"fixmedinsCode": FIXMEDINS, "pageSize": 500})
    assert (too_big.code, too_big.message) == (1001, "pageSize 不能超过 100")


# --- revoke ---------------------------------------------------------------------------


def undo(port: HttpErxCentre, hi_rxno: str) -> CentreAnswer:
    return port.call(
        Operation.UNDO,
        {
            "hiRxno": hi_rxno,
            "fixmedinsCode": FIXMEDINS,
            "drCode": "D310106001001",
            "undoDrName": "李医生",
            "undoDrCertType": "01",
            "undoDrCertno": "310106197001011234",
            "undoRea": "患者要求更换药品",
            "undoTime": datetime.now(CHINA).strftime(TIME),
        },
    )


@pytest.mark.req("RX-4")
def test_revoke_of_an_unused_prescription_is_final(centre: dict[str, Any]) -> None:
    port = centre["port"]
    checked = port.call(Operation.UPLOAD_CHECK, upload_check_data())
    sign_and_upload(port, checked.data)
    hi_rxno = checked.data["hiRxno"]
    assert undo(port, hi_rxno).data == {
        "hiRxno": hi_rxno,
        "rxStasCodg": "02",
        "rxStasName": "已撤销",
    }
    again = undo(port, hi_rxno)
    assert (again.code, again.message) == (2004, "处方状态为已撤销，不能撤销")
    assert query(port, Operation.DETAIL, hi_rxno).data["rxStasCodg"] == "02"


@pytest.mark.req("RX-4")
def test_revoke_after_dispensing_is_refused_and_changes_nothing(centre: dict[str, Any]) -> None:
    port, simulator = centre["port"], centre["simulator"]
    checked = port.call(Operation.UPLOAD_CHECK, upload_check_data())
    sign_and_upload(port, checked.data)
    hi_rxno = checked.data["hiRxno"]
    wait_for(lambda: simulator.prescription(hi_rxno).review_status == "02")
    simulator.pharmacy(hi_rxno, "complete")
    refused = undo(port, hi_rxno)
    assert (refused.code, refused.message, refused.data) == (3001, "处方已取药，不能撤销", {})
    assert refused.response_envelope["success"] is False
    detail = query(port, Operation.DETAIL, hi_rxno).data
    assert (detail["rxStasCodg"], detail["rxUsedStasCodg"]) == ("01", "02")


@pytest.mark.req("RX-4", "RX-9")
def test_revoke_while_settling_is_pending_until_the_pharmacy_decides(
    centre: dict[str, Any],
) -> None:
    port, simulator, receiver, url = (
        centre["port"],
        centre["simulator"],
        centre["receiver"],
        centre["url"],
    )
    results = {}
    for outcome in ("release", "complete"):
        checked = port.call(Operation.UPLOAD_CHECK, upload_check_data(f"RX-{outcome}"))
        sign_and_upload(port, checked.data)
        hi_rxno = checked.data["hiRxno"]
        wait_for(lambda h=hi_rxno: simulator.prescription(h).review_status == "02")
        started = httpx.post(
            f"{url}/simulator/pharmacy", params={"hiRxno": hi_rxno, "stage": "start"}
        )
        assert started.json() == {"hiRxno": hi_rxno, "rxStasCodg": "01", "rxUsedStasCodg": "03"}
        pending = undo(port, hi_rxno)
        assert (pending.code, pending.data["rxStasCodg"], pending.data["rxStasName"]) == (
            0,
            "04",
            "撤销待确认",
        )
        done = httpx.post(f"{url}/simulator/pharmacy", params={"hiRxno": hi_rxno, "stage": outcome})
        results[outcome] = done.json()
    assert results["release"]["rxStasCodg"] == "02"
    assert results["release"]["rxUsedStasCodg"] == "01"
    assert results["complete"]["rxStasCodg"] == "01"
    assert results["complete"]["rxUsedStasCodg"] == "02"
    # Two reviews, then the completed revoke and the pickup each notify.
    receiver.wait(4)
    pickups = [data for kind, data, _ in receiver.received if kind is Notification.PICKUP_RESULT]
    assert sorted((p["rxStasCodg"], p["rxUsedStasCodg"]) for p in pickups) == [
        ("01", "02"),
        ("02", "01"),
    ]
    wrong = httpx.post(
        f"{url}/simulator/pharmacy", params={"hiRxno": results["release"]["hiRxno"], "stage": "x"}
    )
    assert wrong.status_code == 409


# --- bad input ------------------------------------------------------------------------


def snapshot(simulator: ErxCentreSimulator) -> list[tuple[Any, ...]]:
    return [
        (rx.hi_rxno, rx.status, rx.used_status, rx.review_status, rx.trace_used, rx.uploaded)
        for rx in simulator.prescriptions()
    ]


@pytest.mark.req("RX-1")
@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            lambda d: d["rxdrugdetail"][0].update(medListCodg="XC08CAA999A001010199999"),
            2001,
            "rxdrugdetail[1] 药品编码 XC08CAA999A001010199999 不在医保电子处方流转药品目录中",
        ),
        (lambda d: d["mdtrtinfo"].pop("patnName"), 1001, "缺少必填字段 mdtrtinfo.patnName"),
        (lambda d: d.pop("hospRxno"), 1001, "缺少必填字段 hospRxno"),
        (
            lambda d: d["rxdrugdetail"][0].update(medcDays="七"),
            1001,
            "rxdrugdetail[1].medcDays 应为正整数",
        ),
        (lambda d: d.update(rxDrugCnt=2), 1001, "rxDrugCnt（2）与 rxdrugdetail 条数（1）不符"),
        (
            lambda d: d["mdtrtinfo"].update(fixmedinsCode="H31010600202"),
            1001,
            "mdtrtinfo.fixmedinsCode H31010600202 与 appId 所属机构不符",
        ),
        (
            lambda d: d.update(valiEndTime="2020-01-01 00:00:00"),
            1001,
            "valiEndTime 已早于当前时间",
        ),
        (
            lambda d: d.update(prscTime="2025/01/01"),
            1001,
            "prscTime 格式应为 yyyy-MM-dd HH:mm:ss（收到 '2025/01/01'）",
        ),
    ],
)
def test_pre_check_refuses_bad_input_by_name(
    centre: dict[str, Any], change: Any, code: int, message: str
) -> None:
    port, simulator = centre["port"], centre["simulator"]
    data = upload_check_data()
    change(data)
    answer = port.call(Operation.UPLOAD_CHECK, data)
    assert (answer.code, answer.message, answer.data, answer.ok) == (code, message, {}, False)
    assert simulator.prescriptions() == []


@pytest.mark.req("RX-3")
def test_trace_code_is_single_use_and_expires(centre: dict[str, Any]) -> None:
    port, simulator = centre["port"], centre["simulator"]
    simulator.update_settings({"review_mode": "manual"})  # nothing moves on its own
    checked = port.call(Operation.UPLOAD_CHECK, upload_check_data())
    assert sign_and_upload(port, checked.data).code == 0
    before = snapshot(simulator)
    again = sign_and_upload(port, checked.data)
    assert (again.code, again.message) == (2002, "rxTraceCode 已使用，不能重复上传")
    wrong = sign_and_upload(port, {**checked.data, "rxTraceCode": "0" * 24})
    assert (wrong.code, wrong.message) == (2002, "rxTraceCode 与 hiRxno 不符")
    assert snapshot(simulator) == before

    expiring = port.call(Operation.UPLOAD_CHECK, upload_check_data("RX20250002"))
    record = simulator.prescription(expiring.data["hiRxno"])
    record.valid_until = datetime.now(record.valid_until.tzinfo) - timedelta(seconds=1)
    expired = sign_and_upload(port, expiring.data)
    assert expired.code == 2002
    assert expired.message == (
        f"rxTraceCode 已过期（有效期至 {record.valid_until.strftime(TIME)}）"
    )
    assert simulator.prescription(expiring.data["hiRxno"]).uploaded is False


@pytest.mark.req("RX-2", "RX-3")
def test_upload_refuses_a_file_other_than_the_signed_one(centre: dict[str, Any]) -> None:
    port, simulator = centre["port"], centre["simulator"]
    checked = port.call(Operation.UPLOAD_CHECK, upload_check_data())
    fields = upload_fields(checked.data)
    original = base64.b64encode(json.dumps(fields).encode()).decode()
    signed = port.call(
        Operation.SIGN,
        {
            "fixmedinsCode": FIXMEDINS,
            "originalValue": original,
            "originalRxFile": base64.b64encode(PDF).decode(),
        },
    )
    swapped = port.call(
        Operation.UPLOAD,
        {
            **fields,
            "rxFile": base64.b64encode(PDF + b"tampered").decode(),
            "signDigest": signed.data["signDigest"],
        },
    )
    assert (swapped.code, swapped.message) == (
        1001,
        "signDigest 验证失败：rxFile 与签名时的文件不一致",
    )
    changed = port.call(
        Operation.UPLOAD,
        {
            **fields,
            "pharName": "钱药师",
            "rxFile": signed.data["rxFile"],
            "signDigest": signed.data["signDigest"],
        },
    )
    assert (changed.code, changed.message) == (1001, "pharName 与签名原文（originalValue）不一致")
    forged = port.call(
        Operation.UPLOAD,
        {
            **fields,
            "rxFile": signed.data["rxFile"],
            "signDigest": base64.b64encode(bytes(64)).decode(),
        },
    )
    assert (forged.code, forged.message) == (1001, "signDigest 不是医保电子签名接口签发的签名")
    bad_base64 = port.call(
        Operation.SIGN,
        {"fixmedinsCode": FIXMEDINS, "originalValue": "not base64!", "originalRxFile": "AAAA"},
    )
    assert (bad_base64.code, bad_base64.message) == (1001, "originalValue 不是有效的 Base64")
    assert simulator.prescription(checked.data["hiRxno"]).uploaded is False


@pytest.mark.req("RX-5")
def test_queries_for_unknown_or_mismatched_prescriptions_find_nothing(
    centre: dict[str, Any],
) -> None:
    port = centre["port"]
    missing = query(port, Operation.DETAIL, "H31010999")
    assert (missing.code, missing.message) == (2003, "未找到本机构的电子处方 hiRxno=H31010999")
    checked = port.call(Operation.UPLOAD_CHECK, upload_check_data())
    other = port.call(
        Operation.REVIEW_RESULT,
        {"fixmedinsCode": FIXMEDINS, "hiRxno": checked.data["hiRxno"], "certno": "110101"},
    )
    assert (other.code, other.message) == (
        2003,
        f"未找到与 certno 相符的电子处方 hiRxno={checked.data['hiRxno']}",
    )
    early = undo(port, checked.data["hiRxno"])
    assert (early.code, early.message) == (2004, "处方尚未上传，无需撤销")


def post_raw(url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{url}/fixmedins/uploadChk", content=json.dumps(body).encode())
    assert answer.status_code == 200
    return dict(answer.json())


@pytest.mark.req("RX-1")
def test_envelope_faults_get_exact_codes_and_change_nothing(
    centre: dict[str, Any], backend: Any, keys: Any
) -> None:
    port, simulator, url = centre["port"], centre["simulator"], centre["url"]
    centre_public = simulator.centre_public_key_hex
    credentials = port.credentials
    good = port.seal_request(upload_check_data())

    def opened(answer: dict[str, Any]) -> tuple[int | None, str]:
        result = envelope.open_envelope(
            answer, credentials=credentials, verifying_key_hex=centre_public, backend=backend
        )
        return result.code, result.message

    tampered = dict(
        good, encData=good["encData"][:-2] + ("00" if good["encData"][-2:] != "00" else "11")
    )
    assert opened(post_raw(url, tampered))[0] == 1003
    assert opened(post_raw(url, dict(good, encData="ABC")))[1].startswith("encData 无法解密")

    stale = port.seal_request(upload_check_data())
    stale_body = envelope.seal(
        upload_check_data(),
        credentials=credentials,
        signing_key_hex=keys.private_hex,
        backend=backend,
        version="1.0.0",
        timestamp=envelope.now_ms() - 6 * 60 * 1000,
    )
    assert opened(post_raw(url, stale_body)) == (1003, "timestamp 已过期或超前（允许 ±5 分钟）")
    assert stale["timestamp"] != stale_body["timestamp"]

    other_key = backend.generate_keypair()
    wrong_signer = envelope.seal(
        upload_check_data(),
        credentials=credentials,
        signing_key_hex=other_key.private_hex,
        backend=backend,
        version="1.0.0",
    )
    assert opened(post_raw(url, wrong_signer)) == (1002, "signData 验签失败")
    changed_field = dict(good, version="9.9.9")
    assert opened(post_raw(url, changed_field)) == (1002, "signData 验签失败")
    assert opened(post_raw(url, dict(good, signData=""))) == (1002, "缺少必填字段 signData")
    assert opened(post_raw(url, dict(good, encType="AES"))) == (1003, "encType 应为 SM4")

    unknown = post_raw(url, dict(good, appId="NOSUCHAPP00000000"))
    assert unknown == {
        "code": 1003,
        "message": "appId NOSUCHAPP00000000 未在医保电子处方中心登记",
        "success": False,
    }
    not_json = httpx.post(f"{url}/fixmedins/uploadChk", content=b"<xml/>").json()
    assert not_json == {"code": 1003, "message": "报文不是有效的 JSON", "success": False}
    assert simulator.prescriptions() == []
    # The untouched envelope is still accepted afterwards.
    assert opened(post_raw(url, good)) == (0, "成功")


# --- the adapter's failures -----------------------------------------------------------


@pytest.mark.req("RX-1")
def test_unknown_app_is_a_centre_error_not_an_answer(
    centre: dict[str, Any], backend: Any, keys: Any
) -> None:
    stranger = HttpErxCentre(
        profile=CentreProfile(base_url=centre["url"]),
        credentials=AppCredentials("STRANGER000000001", "x", keys.private_hex, keys.public_hex),
        centre_public_key_hex=centre["simulator"].centre_public_key_hex,
        backend=backend,
    )
    with pytest.raises(CentreError) as caught:
        stranger.call(Operation.UPLOAD_CHECK, upload_check_data())
    assert caught.value.message == (
        "医保电子处方中心拒绝请求（HTTP 200，代码 1003）：appId STRANGER000000001 未在医保电子处方中心登记"
    )
    assert (caught.value.retryable, caught.value.reached) == (False, True)
    assert caught.value.request_envelope["appId"] == "STRANGER000000001"


def test_answer_signed_by_another_key_is_refused(centre: dict[str, Any], backend: Any) -> None:
    port = centre["port"]
    impostor = HttpErxCentre(
        profile=port.profile,
        credentials=port.credentials,
        centre_public_key_hex=backend.generate_keypair().public_hex,
        backend=backend,
    )
    with pytest.raises(CentreError) as caught:
        impostor.call(Operation.DRUG_CATALOGUE, {"fixmedinsCode": FIXMEDINS})
    assert caught.value.message == "医保电子处方中心应答无法验证：signData 验签失败"
    assert (caught.value.retryable, caught.value.reached) == (False, True)
    assert caught.value.response_body.startswith("{")


def mock_port(port: HttpErxCentre, handler: Any) -> HttpErxCentre:
    return HttpErxCentre(
        profile=port.profile,
        credentials=port.credentials,
        centre_public_key_hex=port.centre_public_key_hex,
        backend=port.backend,
        transport=httpx.MockTransport(handler),
        backoff_seconds=0,
    )


@pytest.mark.parametrize(
    ("operation", "calls", "retryable"),
    [(Operation.UPLOAD, 1, False), (Operation.DETAIL, 3, True)],
)
def test_read_timeout_is_never_repeated_for_a_write(
    centre: dict[str, Any], operation: Operation, calls: int, retryable: bool
) -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(CentreError) as caught:
        mock_port(centre["port"], handler).call(operation, {"hiRxno": "H1"})
    assert len(seen) == calls
    assert (caught.value.retryable, caught.value.reached) == (retryable, True)
    suffix = "" if retryable else "，请求可能已被处理，请先查询处方状态"
    assert caught.value.message == f"医保电子处方中心在 5 秒内未应答{suffix}"
    assert json.loads(seen[0].content)["appId"] == APP_ID


def test_refused_connection_is_retried_and_marked_not_reached(
    centre: dict[str, Any], backend: Any
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    port = HttpErxCentre(
        profile=CentreProfile(base_url=f"http://127.0.0.1:{closed_port}"),
        credentials=centre["port"].credentials,
        centre_public_key_hex=centre["port"].centre_public_key_hex,
        backend=backend,
        backoff_seconds=0,
    )
    with pytest.raises(CentreError) as caught:
        port.call(Operation.UPLOAD, {"hiRxno": "H1"})
    assert (caught.value.retryable, caught.value.reached) == (True, False)
    assert caught.value.message.startswith("无法连接医保电子处方中心")


@pytest.mark.parametrize(
    ("status", "retryable", "reached"), [(500, False, True), (503, True, False)]
)
def test_http_failures_say_whether_the_centre_acted(
    centre: dict[str, Any], status: int, retryable: bool, reached: bool
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="busy")

    with pytest.raises(CentreError) as caught:
        mock_port(centre["port"], handler).call(Operation.UPLOAD, {"hiRxno": "H1"})
    assert (caught.value.message, caught.value.retryable, caught.value.reached) == (
        f"医保电子处方中心返回 HTTP {status}",
        retryable,
        reached,
    )


def test_non_json_answer_is_a_centre_error(centre: dict[str, Any]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html>not found</html>")

    with pytest.raises(CentreError) as caught:
        mock_port(centre["port"], handler).call(Operation.DETAIL, {"hiRxno": "H1"})
    assert caught.value.message == "医保电子处方中心返回 HTTP 404，内容不是 JSON"
    assert caught.value.response_body == "<html>not found</html>"


# --- an independent implementation of the envelope rules ------------------------------


def pure_sm3(data: bytes) -> bytes:
    from pysmx.SM3 import digest

    return bytes(digest(data))


def pure_sm4(key: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.SM4(key), modes.ECB())
    if encrypt:
        padder = padding.PKCS7(128).padder()
        worker = cipher.encryptor()
        return worker.update(padder.update(data) + padder.finalize()) + worker.finalize()
    worker = cipher.decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    plain = worker.update(data) + worker.finalize()
    return unpadder.update(plain) + unpadder.finalize()


def independent_sign_text(fields: dict[str, Any], data: dict[str, Any], secret: str) -> str:
    def prune(value: Any) -> Any:
        if isinstance(value, dict):
            kept = {k: prune(v) for k, v in value.items()}
            return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
        if isinstance(value, list):
            return [v for v in (prune(v) for v in value) if v not in (None, "", [], {})]
        return value

    signed = {k: v for k, v in fields.items() if k not in ("signData", "encData", "extra")}
    signed["data"] = data
    signed = prune(signed)
    parts = []
    for key in sorted(signed):
        value = signed[key]
        if isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        else:
            text = str(value)
        parts.append(f"{key}={text}")
    return "&".join(parts) + f"&key={secret}"


def z_value(public_hex: str, user_id: bytes) -> bytes:
    return pure_sm3(
        (len(user_id) * 8).to_bytes(2, "big")
        + user_id
        + bytes.fromhex(CURVE_A + CURVE_B + CURVE_GX + CURVE_GY + public_hex[2:])
    )


def pure_sign(private_hex: str, public_hex: str, text: str, user_id: bytes) -> str:
    from pysmx import SM2

    digest = pure_sm3(z_value(public_hex, user_id) + text.encode("utf-8"))
    while True:
        k = f"{int.from_bytes(os.urandom(32), 'big') % (CURVE_N - 1) + 1:064x}"
        raw = SM2.Sign(digest.hex(), private_hex, k, 64, Hexstr=1)
        if raw is not None:
            raw = bytes.fromhex(raw) if isinstance(raw, str) else bytes(raw)
            return base64.b64encode(raw).decode()


def pure_verify(public_hex: str, text: str, user_id: bytes, sign_data: str) -> bool:
    from pysmx import SM2

    digest = pure_sm3(z_value(public_hex, user_id) + text.encode("utf-8"))
    raw = base64.b64decode(sign_data)
    return bool(SM2.Verify(raw.hex(), digest.hex(), public_hex[2:], 64, Hexstr=1))


def independent_data_key() -> bytes:
    seed = APP_ID.encode()[:16]
    return pure_sm4(seed, APP_SECRET.encode(), encrypt=True).hex().upper()[:16].encode()


@pytest.mark.req("RX-1", "RX-10")
def test_envelope_built_from_the_rules_alone_is_accepted(centre: dict[str, Any], keys: Any) -> None:
    url, simulator = centre["url"], centre["simulator"]
    data = {"fixmedinsCode": FIXMEDINS, "drugGenname": "二甲双胍", "pageNum": 1}
    fields = {
        "appId": APP_ID,
        "encType": "SM4",
        "signType": "SM2",
        "timestamp": int(time.time() * 1000),
        "version": "1.0.0",
    }
    text = independent_sign_text(fields, data, APP_SECRET)
    assert text.startswith(
        f'appId={APP_ID}&data={{"drugGenname":"二甲双胍","fixmedinsCode":"{FIXMEDINS}",'
        '"pageNum":1}&encType=SM4&signType=SM2&timestamp='
    )
    assert text.endswith(f"&version=1.0.0&key={APP_SECRET}")
    plain = json.dumps(data, ensure_ascii=False).encode()
    request = {
        **fields,
        "encData": pure_sm4(independent_data_key(), plain, encrypt=True).hex().upper(),
        "signData": pure_sign(keys.private_hex, keys.public_hex, text, APP_SECRET.encode()),
    }
    answer = httpx.post(f"{url}/fixmedins/circDrugQuery", json=request).json()
    assert (answer["code"], answer["message"], answer["success"]) == (0, "成功", True)
    # The answer opens and verifies with the same independent rules.
    body = json.loads(
        pure_sm4(independent_data_key(), bytes.fromhex(answer["encData"]), encrypt=False)
    )
    assert body["total"] == 1
    assert body["list"][0]["drugGenname"] == "盐酸二甲双胍片"
    answer_fields = {k: v for k, v in answer.items() if k not in ("encData", "signData", "success")}
    answer_text = independent_sign_text(answer_fields, body, APP_SECRET)
    assert pure_verify(
        simulator.centre_public_key_hex, answer_text, APP_SECRET.encode(), answer["signData"]
    )


@pytest.mark.req("RX-1")
def test_adapter_signature_verifies_under_the_independent_rules(
    centre: dict[str, Any], keys: Any
) -> None:
    answer = centre["port"].call(Operation.UPLOAD_CHECK, upload_check_data())
    request = answer.request_envelope
    data = json.loads(
        pure_sm4(independent_data_key(), bytes.fromhex(request["encData"]), encrypt=False)
    )
    assert data == upload_check_data() | {
        "prscTime": data["prscTime"],
        "valiEndTime": data["valiEndTime"],
    }
    text = independent_sign_text(request, data, APP_SECRET)
    assert pure_verify(keys.public_hex, text, APP_SECRET.encode(), request["signData"])
    assert not pure_verify(keys.public_hex, text + "x", APP_SECRET.encode(), request["signData"])
    signed = centre["port"].call(
        Operation.SIGN,
        {
            "fixmedinsCode": FIXMEDINS,
            "originalValue": base64.b64encode(b'{"hiRxno":"X"}').decode(),
            "originalRxFile": base64.b64encode(PDF).decode(),
        },
    )
    # signDigest: SM3withSM2 (default user ID) over SM3(originalValue || file), by the centre.
    assert signed.code == 2003
    checked = answer.data
    fields = upload_fields(checked)
    original = json.dumps(fields).encode()
    signed = centre["port"].call(
        Operation.SIGN,
        {
            "fixmedinsCode": FIXMEDINS,
            "originalValue": base64.b64encode(original).decode(),
            "originalRxFile": base64.b64encode(PDF).decode(),
        },
    )
    from pysmx import SM2

    message = pure_sm3(original + PDF)
    digest = pure_sm3(
        z_value(centre["simulator"].centre_public_key_hex, b"1234567812345678") + message
    )
    raw = base64.b64decode(signed.data["signDigest"])
    assert SM2.Verify(
        raw.hex(), digest.hex(), centre["simulator"].centre_public_key_hex[2:], 64, Hexstr=1
    )


# --- notifications --------------------------------------------------------------------


@pytest.mark.req("RX-8")
def test_dropped_and_refused_notifications(centre: dict[str, Any]) -> None:
    port, simulator, receiver, url = (
        centre["port"],
        centre["simulator"],
        centre["receiver"],
        centre["url"],
    )
    httpx.post(f"{url}/simulator/settings", json={"drop_notifications": 1})
    first = port.call(Operation.UPLOAD_CHECK, upload_check_data("RX-drop"))
    sign_and_upload(port, first.data)
    wait_for(lambda: any(d.outcome == "dropped" for d in simulator.deliveries))
    assert simulator.prescription(first.data["hiRxno"]).review_status == "02"
    time.sleep(0.2)
    assert receiver.received == []
    assert simulator.settings()["drop_notifications"] == 0

    receiver.answer_code = 1
    second = port.call(Operation.UPLOAD_CHECK, upload_check_data("RX-refused"))
    sign_and_upload(port, second.data)
    wait_for(lambda: len([d for d in simulator.deliveries if d.attempt]) == 4, seconds=8)
    attempts = [d for d in simulator.deliveries if d.attempt]
    assert [d.attempt for d in attempts] == [1, 2, 3, 4]
    assert {d.outcome for d in attempts} == {"failed: code 1 稍后再试"}
    assert len(receiver.received) == 4


def test_notification_with_a_forged_signature_does_not_open(
    centre: dict[str, Any], backend: Any, keys: Any
) -> None:
    credentials = centre["port"].credentials
    forged = envelope.seal(
        {"hiRxno": "H1"},
        credentials=credentials,
        signing_key_hex=keys.private_hex,  # not the centre's key
        backend=backend,
        version="1.0.0",
        extra_fields={"transType": "rxChkInfoNotify"},
    )
    with pytest.raises(EnvelopeError) as caught:
        open_notification(
            json.dumps(forged).encode(),
            credentials,
            centre["simulator"].centre_public_key_hex,
            backend,
        )
    assert (caught.value.field, caught.value.message) == ("signData", "signData 验签失败")
    unknown = dict(forged, transType="rxSomethingElse")
    with pytest.raises(EnvelopeError) as caught:
        open_notification(unknown, credentials, keys.public_hex, backend)
    assert caught.value.message == "不支持的通知类型 transType=rxSomethingElse"


# --- the state file, the CLI ------------------------------------------------------------


def test_register_app_is_idempotent_and_the_simulator_rereads_the_file(
    tmp_path: Path, backend: Any, keys: Any
) -> None:
    path = tmp_path / "erx" / "centre.json"
    generated = []

    def generate() -> tuple[str, str]:
        pair = backend.generate_keypair()
        generated.append(pair)
        return pair.private_hex, pair.public_hex

    simulator = ErxCentreSimulator(backend=backend, state_path=path)
    url = simulator.start()
    try:
        assert post_raw(url, {"appId": APP_ID})["code"] == 1003
        public = register_app(
            path,
            app_id=APP_ID,
            app_secret=APP_SECRET,
            public_key_hex=keys.public_hex,
            fixmedins_code=FIXMEDINS,
            fixmedins_name=HOSPITAL,
            notify_url="http://127.0.0.1:1/notify",
            generate_keypair=generate,
        )
        stamp = path.stat().st_mtime_ns
        again = register_app(
            path,
            app_id=APP_ID,
            app_secret=APP_SECRET,
            public_key_hex=keys.public_hex,
            fixmedins_code=FIXMEDINS,
            fixmedins_name=HOSPITAL,
            notify_url="http://127.0.0.1:1/notify",
            generate_keypair=generate,
        )
        assert public == again == generated[0].public_hex
        assert len(generated) == 1
        assert path.stat().st_mtime_ns == stamp
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        state = CentreState.load(path)
        assert state.apps[APP_ID].fixmedins_name == HOSPITAL
        port = HttpErxCentre(
            profile=CentreProfile(base_url=url),
            credentials=AppCredentials(APP_ID, APP_SECRET, keys.private_hex, keys.public_hex),
            centre_public_key_hex=public,
            backend=backend,
        )
        assert port.call(Operation.DRUG_CATALOGUE, {"fixmedinsCode": FIXMEDINS}).ok
    finally:
        simulator.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_simulate_command_runs_the_centre(tmp_path: Path) -> None:
    port = free_port()
    environment = dict(os.environ, JINGAN_DATA_DIR=str(tmp_path))
    jingan = Path(sys.executable).with_name("jingan")
    process = subprocess.Popen(
        [str(jingan), "simulate", "erx-centre", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/simulator/settings", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.2)
        assert answer.json() == {
            "review_mode": "auto",
            "review_delay_seconds": 0.5,
            "drop_notifications": 0,
        }
        unknown = httpx.post(
            f"http://127.0.0.1:{port}/fixmedins/uploadChk", json={"appId": "NOBODY00000000000"}
        )
        assert unknown.json()["code"] == 1003
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert f"医保电子处方中心模拟器: http://127.0.0.1:{port}" in output
