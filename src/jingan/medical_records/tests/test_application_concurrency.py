from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from jingan.medical_records import services
from jingan.medical_records.models import CopyApplication
from jingan.medical_records.tests.application_fixtures import archive, inpatient
from jingan.testing.residents import DEFAULT_ID_NUMBER

__all__ = ["archive", "inpatient"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_draw_distinct_consecutive_numbers(
    make_resident: Any, inpatient: list[Any], archive: Any
) -> None:
    resident = make_resident()
    stays = [archive(inpatient[0], DEFAULT_ID_NUMBER, f"ZY-C{n}") for n in range(3)]
    duplicate_stay = archive(inpatient[0], DEFAULT_ID_NUMBER, "ZY-DUP")
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(5)

    def submit(stay: Any) -> None:
        try:
            start.wait()
            application = services.submit_application(
                actor=resident,
                institution_id=inpatient[0].pk,
                admission_ids=[stay.pk],
                applicant_type="self",
                purpose="transfer",
                sections=["front_page"],
                copies=1,
                delivery_method="electronic",
            )
            result = application.number
        except services.ApplicationError as refused:
            result = refused.code
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [
        threading.Thread(target=submit, args=(stay,))
        for stay in [*stays, duplicate_stay, duplicate_stay]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    day = timezone.localdate()
    assert sorted(outcomes) == sorted(
        ["duplicate", *(f"BA{day:%Y%m%d}{n:06d}" for n in range(1, 5))]
    )
    assert CopyApplication.objects.unscoped().count() == 4
