"""Fixtures of the record-room console tests: three applications at two institutions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from jingan.medical_records import services
from jingan.medical_records.models import CopyApplication
from jingan.medical_records.tests.application_fixtures import JPEG, PDF, PNG, id_number, upload
from jingan.testing.residents import DEFAULT_ID_NUMBER

REVIEW = "medical_records.review_copyapplication"
SECOND = "medical_records.second_review_copyapplication"
VIEW = "medical_records.view_copyapplication"

AGENT_PATIENT_NAME = "李建国"
AGENT_PATIENT_ID = id_number("19500101", 11)
OTHER_PATIENT_NAME = "欧阳娜娜"
OTHER_PATIENT_ID = id_number("19620315", 23)


@dataclass
class ConsoleData:
    central: Any
    other: Any
    self_application: CopyApplication
    agent_application: CopyApplication
    other_application: CopyApplication

    def refreshed(self, application: CopyApplication) -> CopyApplication:
        return CopyApplication.objects.unscoped().get(pk=application.pk)


def submit(resident: Any, institution: Any, admission: Any, **overrides: Any) -> CopyApplication:
    fields: dict[str, Any] = {
        "actor": resident,
        "institution_id": institution.pk,
        "admission_ids": [admission.pk],
        "applicant_type": "self",
        "purpose": "insurance_claim",
        "sections": ["front_page", "discharge_summary"],
        "copies": 1,
        "delivery_method": "electronic",
    }
    fields.update(overrides)
    return services.submit_application(**fields)


@pytest.fixture
def console_data(make_resident: Any, inpatient: list[Any], archive: Any) -> ConsoleData:
    """A self application (electronic) and an agent one (mail, three materials) at the
    first inpatient institution; a self application at the second."""
    central, other = inpatient[0], inpatient[1]
    resident = make_resident()
    own = archive(central, DEFAULT_ID_NUMBER, "ZY-C1")
    self_application = submit(resident, central, own)

    agent = make_resident(name="张伟", id_number=id_number("19800101", 21))
    stay = archive(central, AGENT_PATIENT_ID, "ZY-C2", patient_name=AGENT_PATIENT_NAME)
    agent_application = submit(
        agent,
        central,
        stay,
        applicant_type="agent",
        patient_name=AGENT_PATIENT_NAME,
        patient_id_number=AGENT_PATIENT_ID,
        applicant_relation="子女",
        purpose="judicial",
        sections=["front_page", "operation_record"],
        delivery_method="mail",
        mail=services.MailAddress("张伟", "13912345678", "上海市静安区共和新路 1000 号 5 楼"),
        materials={
            "id_card_front": upload("id_card_front", JPEG),
            "authorisation_letter": upload("authorisation_letter", PDF, "letter.pdf"),
            "agent_id_card": upload("agent_id_card", PNG, "agent.png"),
        },
    )

    outsider = make_resident(name=OTHER_PATIENT_NAME, id_number=OTHER_PATIENT_ID)
    elsewhere = archive(other, OTHER_PATIENT_ID, "ZY-C3", patient_name=OTHER_PATIENT_NAME)
    other_application = submit(outsider, other, elsewhere, purpose="reimbursement")
    return ConsoleData(central, other, self_application, agent_application, other_application)
