from __future__ import annotations

import pytest

from jingan.core.institutions.models import Department, Institution

# The tender, section 项目单位, in its order.
TENDER_INSTITUTIONS = [
    "上海市静安区中心医院",
    "上海市静安区闸北中心医院",
    "上海市静安区市北医院",
    "上海市静安区北站医院",
    "上海市静安区中医医院",
    "上海市公惠医院",
    "上海市第三康复医院",
    "上海市第四康复医院",
    "上海市静安区妇幼保健所",
    "上海市静安区牙病防治所",
    "上海市静安区精神卫生中心",
    "上海市静安区彭浦新村街道社区卫生服务中心",
    "上海市静安区临汾路街道社区卫生服务中心",
    "上海市静安区彭浦镇社区卫生服务中心",
    "上海市静安区彭浦镇第二社区卫生服务中心",
    "上海市静安区宝山路街道社区卫生服务中心",
    "上海市静安区北站街道社区卫生服务中心",
    "上海市静安区天目西路街道社区卫生服务中心",
    "上海市静安区共和新路街道社区卫生服务中心",
    "上海市静安区大宁路街道社区卫生服务中心",
    "上海市静安区芷江西路街道社区卫生服务中心",
    "上海市静安区静安寺街道社区卫生服务中心",
    "上海市静安区曹家渡街道社区卫生服务中心",
    "上海市静安区石门二路街道社区卫生服务中心",
    "上海市静安区江宁路街道社区卫生服务中心",
    "上海市静安区南京西路街道社区卫生服务中心",
]

# The tender, 一键式病案服务 → 覆盖范围 (it drops "街道" from the centres' names).
TENDER_INPATIENT = [
    "上海市静安区闸北中心医院",
    "上海市静安区市北医院",
    "上海市静安区北站医院",
    "上海市公惠医院",
    "上海市第四康复医院",
    "上海市静安区中医医院",
    "上海市静安区精神卫生中心",
    "上海市第三康复医院",
    "上海市静安区中心医院",
    "上海市静安区静安寺社区卫生服务中心",
    "上海市静安区曹家渡社区卫生服务中心",
    "上海市静安区江宁路社区卫生服务中心",
    "上海市静安区石门二路社区卫生服务中心",
    "上海市静安区南京西路社区卫生服务中心",
    "上海市静安区芷江西路社区卫生服务中心",
    "上海市静安区彭浦新村社区卫生服务中心",
    "上海市静安区临汾路社区卫生服务中心",
    "上海市静安区彭浦镇第二社区卫生服务中心",
]


@pytest.mark.req("MR-C1")
@pytest.mark.django_db
def test_every_deployment_has_the_26_tender_institutions_in_order() -> None:
    institutions = list(Institution.objects.unscoped().order_by("code"))
    assert [i.name for i in institutions] == TENDER_INSTITUTIONS
    assert [i.code for i in institutions] == [f"310106{n:03d}" for n in range(1, 27)]
    assert all(i.is_active for i in institutions)


@pytest.mark.req("MR-C1")
@pytest.mark.django_db
def test_exactly_the_18_tender_institutions_have_inpatient_services() -> None:
    inpatient = Institution.objects.unscoped().filter(has_inpatient=True)
    assert inpatient.count() == 18
    tender_names = {name.replace("社区卫生服务中心", "") for name in TENDER_INPATIENT}
    ours = {
        i.name.replace("街道社区卫生服务中心", "").replace("社区卫生服务中心", "")
        for i in inpatient
    }
    assert ours == tender_names


@pytest.mark.django_db
def test_kinds_and_dialects_of_the_reference_data() -> None:
    kinds = dict(
        (kind, Institution.objects.unscoped().filter(kind=kind).count())
        for kind in (
            "secondary_hospital",
            "specialist",
            "rehabilitation",
            "community_health_centre",
            "station",
        )
    )
    assert kinds == {
        "secondary_hospital": 6,
        "specialist": 1,
        "rehabilitation": 2,
        "community_health_centre": 15,
        "station": 2,
    }
    used = set(Institution.objects.unscoped().values_list("his_dialect", flat=True))
    assert used == {"A", "B", "C", "D"}


@pytest.mark.django_db
def test_demo_departments_load_once_and_follow_each_kind() -> None:
    from jingan.core.institutions.demo import STEPS

    step = STEPS[0]
    advanced: list[int] = []
    step.run("tiny", advanced.append)
    first = Department.objects.unscoped().count()
    step.run("tiny", advanced.append)
    assert Department.objects.unscoped().count() == first
    assert sum(advanced) == 52
    central = Institution.objects.unscoped().get(code="310106001")
    assert list(central.departments.filter(code="A02").values_list("name", flat=True)) == ["病案室"]
    dental = Institution.objects.unscoped().get(code="310106010")
    assert dental.departments.count() == 7
    # No ward where the institution has no inpatient services.
    assert (
        not Department.objects.unscoped()
        .filter(institution__has_inpatient=False, has_inpatient=True)
        .exists()
    )
