"""Demo data of the one-click medical record service (``jingan demo-data``)."""

from __future__ import annotations

from jingan.lib.demo import DemoStep
from jingan.medical_records.application_demo import (
    HISTORY_SIZE,
    RESIDENT_PLAN,
    load_history,
    load_resident_applications,
)
from jingan.medical_records.archive_demo import initial_sync, load_sources

INPATIENT_INSTITUTIONS = 18

STEPS = [
    DemoStep(
        "archive_sources",
        "住院机构病案归档接口",
        lambda scale: INPATIENT_INSTITUTIONS,
        load_sources,
    ),
    DemoStep(
        "archive_initial_sync",
        "首次同步归档病案与文档",
        lambda scale: INPATIENT_INSTITUTIONS,
        initial_sync,
    ),
    DemoStep(
        "copy_applications",
        "居民病案复印申请（各状态）",
        lambda scale: len(RESIDENT_PLAN),
        load_resident_applications,
    ),
    DemoStep(
        "copy_application_history",
        "近半年病案复印申请记录",
        lambda scale: HISTORY_SIZE[scale],
        load_history,
    ),
]
