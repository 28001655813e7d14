from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jingan.core.audit.models import AuditEntry
from jingan.core.dictionary import services
from jingan.core.dictionary.models import InstitutionSetting
from jingan.core.dictionary.queries import institution_setting, setting_specs
from jingan.core.institutions.models import Institution
from jingan.lib.settings_spec import SettingSpec

pytestmark = [pytest.mark.req("MR-A8")]

REVIEW_MODE = "medical_records.review_mode"
SETTINGS_PERMISSIONS = (
    "dictionary.view_institutionsetting",
    "dictionary.change_institutionsetting",
)


def _institution(code: str) -> Institution:
    return Institution.objects.unscoped().get(code=code)


@pytest.fixture
def central(db: None) -> Institution:
    return _institution("310106001")


@pytest.fixture
def zhabei(db: None) -> Institution:
    return _institution("310106002")


@pytest.fixture
def central_admin(make_staff: Callable[..., Any], central: Institution) -> Any:
    return make_staff("central-settings", permissions=SETTINGS_PERMISSIONS, institution=central)


def test_review_mode_is_declared_with_its_three_choices() -> None:
    spec = setting_specs()[REVIEW_MODE]
    assert spec.choices == (
        ("manual", "人工审核"),
        ("two_level", "两级审核"),
        ("auto_when_verified", "身份核验通过自动审核"),
    )
    assert (spec.default, spec.kind) == ("manual", "choice")


def test_a_spec_rejects_a_default_outside_its_choices() -> None:
    with pytest.raises(ValueError, match="default"):
        SettingSpec("x.y", "X", "", (("a", "甲"),), "b", "choice")


@pytest.mark.django_db
def test_default_applies_until_an_institution_chooses(
    central: Institution, zhabei: Institution
) -> None:
    assert institution_setting(central.pk, REVIEW_MODE) == "manual"
    changed = services.set_institution_settings(
        actor=None, institution_id=central.pk, values={REVIEW_MODE: "two_level"}
    )
    assert changed == {REVIEW_MODE: ["manual", "two_level"]}
    assert institution_setting(central.pk, REVIEW_MODE) == "two_level"
    assert institution_setting(zhabei.pk, REVIEW_MODE) == "manual"


@pytest.mark.django_db
def test_invalid_values_and_unknown_keys_are_refused(central: Institution) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        services.set_institution_settings(
            actor=None, institution_id=central.pk, values={REVIEW_MODE: "always", "x.unknown": 1}
        )
    assert refused.value.message_dict == {
        REVIEW_MODE: ["「病案复印审核方式」的取值无效"],
        "x.unknown": ["未声明的参数 x.unknown"],
    }
    assert not InstitutionSetting.objects.unscoped().exists()


def test_institution_admin_sets_their_review_mode(
    central_admin: Any, central: Institution, client_for: Callable[..., Any]
) -> None:
    client = client_for(central_admin)
    listing = client.get("/console/institution-settings/")
    assert [row["institution"].code for row in listing.context["rows"]] == ["310106001"]
    assert listing.context["rows"][0]["values"] == [("病案复印审核方式", "人工审核", True)]
    page = client.get(f"/console/institution-settings/{central.pk}/")
    assert "身份核验通过自动审核" in page.content.decode()
    response = client.post(
        f"/console/institution-settings/{central.pk}/", {REVIEW_MODE: "auto_when_verified"}
    )
    assert response.status_code == 302
    assert institution_setting(central.pk, REVIEW_MODE) == "auto_when_verified"
    setting = InstitutionSetting.objects.unscoped().get(institution=central, key=REVIEW_MODE)
    assert setting.updated_by == central_admin
    entry = AuditEntry.objects.get(action="dictionary.institution_setting.update")
    assert (entry.actor_id, entry.institution_id) == (central_admin.pk, central.pk)


def test_a_bad_choice_is_shown_in_chinese(
    central_admin: Any, central: Institution, client_for: Callable[..., Any]
) -> None:
    response = client_for(central_admin).post(
        f"/console/institution-settings/{central.pk}/", {REVIEW_MODE: "always"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors[REVIEW_MODE] == [
        "选择一个有效的选项。 always 不在可用的选项中。"
    ]
    assert institution_setting(central.pk, REVIEW_MODE) == "manual"


def test_outsiders_cannot_see_or_change_settings(
    central_admin: Any,
    zhabei: Institution,
    central: Institution,
    make_staff: Callable[..., Any],
    client_for: Callable[..., Any],
    client: Any,
) -> None:
    url = f"/console/institution-settings/{zhabei.pk}/"
    data = {REVIEW_MODE: "two_level"}
    assert client_for(central_admin).get(url).status_code == 404
    assert client_for(central_admin).post(url, data).status_code == 404
    viewer = make_staff(
        "settings-viewer", permissions=("dictionary.view_institutionsetting",), institution=central
    )
    own = f"/console/institution-settings/{central.pk}/"
    assert client_for(viewer).get(own).status_code == 200
    assert client_for(viewer).post(own, data).status_code == 404
    stranger = make_staff("stranger", permissions=("institutions.view_institution",))
    assert client_for(stranger).get(url).status_code == 403
    assert client_for(stranger).get("/console/institution-settings/").status_code == 403
    anonymous = client.post(url, data)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/console/login/")
    assert not InstitutionSetting.objects.unscoped().exists()
