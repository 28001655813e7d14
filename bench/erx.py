"""E-prescriptions end to end against the centre simulator, per client SM2 back-end.

Figures and same-run baselines:

* Prescriptions/s through uploadChk → rxFixmedinsSign → rxFileUpld over real HTTP
  against an in-process ``ErxCentreSimulator`` (Tongsuo both times, manual review so no
  timers run), with the institution side on Tongsuo (C) and on snowland-smx (pure
  Python); the ratio says what the C back-end buys a doctor's "upload" click.
* Client-side crypto alone: seal a request and open a centre answer (SM4 + SM3withSM2
  sign + verify) per second, Tongsuo against snowland; the ratio of the crypto cost.
  The gap between the two ratios is what HTTP, JSON and the simulator add.
* Through the platform: the services a doctor's workstation drives (save draft →
  pre-verify → sign → upload) on SQLite in a temporary data directory, with the
  prescription PDF rendered by WeasyPrint, every call journaled and audited; baseline in
  the same run: the same three centre calls at the adapter level (first figure), so the
  ratio is what the platform adds per prescription (mostly the PDF).

    .venv/bin/python bench/erx.py [--prescriptions 40] [--platform 20] [--seconds 2.0]

The run stays well under two minutes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

APP_ID = "JA310106001BENCH01"
APP_SECRET = "bench-secret-0001"
FIXMEDINS = "H31010600101"
TIME = "%Y-%m-%d %H:%M:%S"
PDF = b"%PDF-1.7\n" + b"0" * 40_000  # about the size of a one-page prescription


def upload_check(number: int, drug: dict[str, Any], china: Any) -> dict[str, Any]:
    now = datetime.now(china)
    return {
        "mdtrtCertType": "02",
        "mdtrtCertNo": "310106195803124417",
        "hospRxno": f"BENCH{number:06d}",
        "rxTypeCode": "1",
        "prscTime": now.strftime(TIME),
        "rxDrugCnt": 1,
        "valiDays": 3,
        "valiEndTime": (now + timedelta(days=3)).strftime(TIME),
        "mdtrtinfo": {
            "fixmedinsCode": FIXMEDINS,
            "fixmedinsName": "上海市静安区中心医院",
            "mdtrtId": f"MDT{number:08d}",
            "patnName": "张建国",
            "psnCertType": "01",
            "certno": "310106195803124417",
            "prscDeptCode": "A03",
            "prscDeptName": "心血管内科",
            "drCode": "D310106001001",
            "prscDrName": "李医生",
        },
        "rxdrugdetail": [
            {
                "medListCodg": drug["medListCodg"],
                "drugGenname": drug["drugGenname"],
                "drugCnt": 1,
                "medcDays": 7,
                "drugTotlcnt": 1,
            }
        ],
        "diseinfo": [{"diagCode": "I10", "diagName": "高血压"}],
    }


def one_prescription(port: Any, number: int, drug: dict[str, Any], china: Any) -> None:
    from jingan.integrations.erx_centre.port import Operation

    checked = port.call(Operation.UPLOAD_CHECK, upload_check(number, drug, china))
    assert checked.ok, checked.message
    fields = {
        "rxTraceCode": checked.data["rxTraceCode"],
        "hiRxno": checked.data["hiRxno"],
        "mdtrtId": f"MDT{number:08d}",
        "patnName": "张建国",
        "psnCertType": "01",
        "certno": "310106195803124417",
        "fixmedinsCode": FIXMEDINS,
        "fixmedinsName": "上海市静安区中心医院",
        "drCode": "D310106001001",
        "prscDrName": "李医生",
    }
    original = json.dumps(fields, ensure_ascii=False, sort_keys=True).encode()
    signed = port.call(
        Operation.SIGN,
        {
            "fixmedinsCode": FIXMEDINS,
            "originalValue": base64.b64encode(original).decode(),
            "originalRxFile": base64.b64encode(PDF).decode(),
        },
    )
    assert signed.ok, signed.message
    uploaded = port.call(
        Operation.UPLOAD,
        {**fields, "rxFile": signed.data["rxFile"], "signDigest": signed.data["signDigest"]},
    )
    assert uploaded.ok, uploaded.message


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per wall second over about ``seconds`` (at least 3 runs), after a warm-up."""
    operation()
    count = 0
    started = time.perf_counter()
    while count < 3 or time.perf_counter() - started < seconds:
        operation()
        count += 1
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prescriptions", type=int, default=40, help="per back-end (Tongsuo)")
    parser.add_argument("--seconds", type=float, default=2.0, help="per crypto figure")
    parser.add_argument("--platform", type=int, default=20, help="through the services")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.update(
            {
                "JINGAN_DATA_DIR": data_dir,
                "DJANGO_SETTINGS_MODULE": "jingan.config.settings_test",
                "JINGAN_DEV_CHECKOUT": "1",
            }
        )
        import django

        django.setup()
        adapter_rate = bench_adapter(args)
        bench_platform(args.platform, adapter_rate, Path(data_dir))


def bench_platform(count: int, adapter_rate: float, data_dir: Path) -> None:
    """Prescriptions/s through the platform's services against the simulator."""
    from django.core.management import call_command
    from django.test.utils import override_settings

    from jingan.core.crypto.sm2 import get_backend
    from jingan.integrations.erx_centre.simulator import CATALOGUE, ErxCentreSimulator
    from jingan.prescriptions.erx import demo, services
    from jingan.prescriptions.erx.models import CentreConnection
    from jingan.prescriptions.erx.schemas import PrescriptionDraft

    call_command("migrate", verbosity=0, interactive=False)
    state = data_dir / "erx" / "centre.json"
    simulator = ErxCentreSimulator(backend=get_backend(), state_path=state, review_mode="manual")
    url = simulator.start()
    from django.conf import settings

    erx = {**settings.ERX_CENTRE, "api_base_url": url, "simulator_state": state}
    try:
        with override_settings(ERX_CENTRE=erx):
            from django.apps import apps

            institution = (
                apps.get_model("institutions", "Institution").objects.unscoped().order_by("code")
            ).first()
            connection = demo.ensure_connection(institution)
            CentreConnection.objects.unscoped().filter(pk=connection.pk).update(
                requires_pharmacist_review=False
            )
            actor = services.SYSTEM_ACTOR
            services.sync_drug_catalogue(actor=actor, institution_id=institution.pk)

            def one(number: int) -> None:
                drug = CATALOGUE[number % len(CATALOGUE)]
                draft = PrescriptionDraft.model_validate(
                    {
                        "hosp_rxno": f"BENCH{number:06d}",
                        "patient_name": "王秀英",
                        "patient_id_number": "310106195803120022",
                        "patient_gender": "2",
                        "patient_age": 68,
                        "mdtrt_id": f"MZ{number:08d}",
                        "department_code": "A03.01",
                        "department_name": "心血管内科门诊",
                        "doctor_code": "D310106001",
                        "doctor_name": "陈立新",
                        "diagnoses": [{"code": "I10.X00", "name": "原发性高血压", "main": True}],
                        "items": [
                            {
                                "med_list_codg": drug["medListCodg"],
                                "quantity": "2",
                                "single_dose": "1 片",
                                "route_code": "01",
                                "frequency_code": "qd",
                                "days": 14,
                            }
                        ],
                    }
                )
                rx = services.save_draft(actor=actor, institution_id=institution.pk, draft=draft)
                services.preverify(actor=actor, prescription_id=rx.pk)
                services.submit_for_review(actor=actor, prescription_id=rx.pk)
                services.sign(actor=actor, prescription_id=rx.pk)
                services.upload(actor=actor, prescription_id=rx.pk)

            one(0)  # warm up (fonts, templates)
            started = time.perf_counter()
            for number in range(1, count + 1):
                one(number)
            elapsed = time.perf_counter() - started
    finally:
        simulator.stop()
    rate_ = count / elapsed
    print(
        f"platform services: {count:3d} prescriptions in {elapsed:6.2f} s = {rate_:7.2f} "
        f"prescriptions/s ({elapsed / count * 1000:.0f} ms each: draft, pre-verify, PDF, "
        "sign, upload, journal, audit)"
    )
    print(f"platform vs adapter-only (tongsuopy) {adapter_rate / rate_:.1f}x the time")


def bench_adapter(args: argparse.Namespace) -> float:

    import logging

    from jingan.core.crypto.sm2 import get_backend
    from jingan.integrations.erx_centre import envelope
    from jingan.integrations.erx_centre.adapter import HttpErxCentre
    from jingan.integrations.erx_centre.port import CentreProfile
    from jingan.integrations.erx_centre.simulator import (
        CATALOGUE,
        CHINA,
        CentreApp,
        ErxCentreSimulator,
    )

    logging.getLogger("jingan.outbound").setLevel(logging.WARNING)
    tongsuo, snowland = get_backend("tongsuopy"), get_backend("snowland")
    keys = tongsuo.generate_keypair()
    simulator = ErxCentreSimulator(backend=tongsuo, review_mode="manual")
    simulator.add_app(CentreApp(APP_ID, APP_SECRET, keys.public_hex, FIXMEDINS, "静安", ""))
    url = simulator.start()
    credentials = envelope.AppCredentials(APP_ID, APP_SECRET, keys.private_hex, keys.public_hex)
    counts = {"tongsuopy": args.prescriptions, "snowland": max(5, args.prescriptions // 4)}
    per_second: dict[str, float] = {}
    serial = 0
    try:
        for name, backend in (("tongsuopy", tongsuo), ("snowland", snowland)):
            port = HttpErxCentre(
                profile=CentreProfile(base_url=url),
                credentials=credentials,
                centre_public_key_hex=simulator.centre_public_key_hex,
                backend=backend,
            )
            one_prescription(port, serial, CATALOGUE[0], CHINA)  # warm up
            serial += 1
            started = time.perf_counter()
            for index in range(counts[name]):
                one_prescription(port, serial, CATALOGUE[index % len(CATALOGUE)], CHINA)
                serial += 1
            elapsed = time.perf_counter() - started
            per_second[name] = counts[name] / elapsed
            print(
                f"client {name:9}: {counts[name]:3d} prescriptions in {elapsed:6.2f} s "
                f"= {per_second[name]:7.2f} prescriptions/s "
                f"({elapsed / counts[name] * 1000:.0f} ms each, 3 calls)"
            )
        print(
            "end to end ratio tongsuopy/snowland "
            f"{per_second['tongsuopy'] / per_second['snowland']:.1f}x"
        )

        # Client-side crypto alone: seal one uploadChk request, open one centre answer.
        request = upload_check(1, CATALOGUE[0], CHINA)
        answer = envelope.seal(
            {"hiRxno": "H310106000001", "rxTraceCode": "A" * 24},
            credentials=credentials,
            signing_key_hex=simulator.state.centre_private_key_hex,
            backend=tongsuo,
            version="1.0.0",
            answer={"code": 0, "message": "成功"},
        )
        crypto: dict[str, float] = {}
        for name, backend in (("tongsuopy", tongsuo), ("snowland", snowland)):

            def seal_and_open(backend: Any = backend) -> None:
                envelope.seal(
                    request,
                    credentials=credentials,
                    signing_key_hex=keys.private_hex,
                    backend=backend,
                    version="1.0.0",
                )
                envelope.open_envelope(
                    answer,
                    credentials=credentials,
                    verifying_key_hex=simulator.centre_public_key_hex,
                    backend=backend,
                )

            crypto[name] = rate(seal_and_open, args.seconds)
            print(f"client crypto {name:9}: {crypto[name]:8.1f} seal+open/s")
        print(
            f"client crypto ratio tongsuopy/snowland {crypto['tongsuopy'] / crypto['snowland']:.1f}x"
        )
    finally:
        simulator.stop()
    return per_second["tongsuopy"]


if __name__ == "__main__":
    main()
