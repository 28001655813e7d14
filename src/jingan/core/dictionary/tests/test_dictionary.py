from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jingan.core.audit.models import AuditEntry
from jingan.core.dictionary.models import DictionaryCategory, DictionaryEntry
from jingan.core.dictionary.queries import entries, label_for

pytestmark = [pytest.mark.req("MR-A8")]

EDITOR = (
    "dictionary.view_dictionaryentry",
    "dictionary.add_dictionarycategory",
    "dictionary.change_dictionarycategory",
    "dictionary.delete_dictionarycategory",
    "dictionary.add_dictionaryentry",
    "dictionary.change_dictionaryentry",
    "dictionary.delete_dictionaryentry",
)


@pytest.fixture
def editor(make_staff: Callable[..., Any]) -> Any:
    return make_staff("dictionary-editor", permissions=EDITOR)


def _entry(category: str, code: str) -> DictionaryEntry:
    return DictionaryEntry.objects.get(category__code=category, code=code)


@pytest.mark.django_db
def test_system_code_lists_are_seeded() -> None:
    assert entries("sex") == [
        ("0", "未知的性别"),
        ("1", "男性"),
        ("2", "女性"),
        ("9", "未说明的性别"),
    ]
    assert entries("copy_purpose") == [
        ("reimbursement", "报销"),
        ("insurance_claim", "保险理赔"),
        ("transfer", "转院"),
        ("judicial", "司法"),
        ("personal", "个人留存"),
        ("other", "其他"),
    ]
    assert entries("delivery_method") == [("electronic", "电子版下载"), ("mail", "邮寄纸质件")]
    assert entries("id_document_type")[0] == ("01", "居民身份证")
    assert entries("family_relationship")[:2] == [("0", "本人"), ("1", "配偶")]
    assert set(DictionaryCategory.objects.values_list("code", flat=True)) == {
        "sex",
        "marital_status",
        "id_document_type",
        "family_relationship",
        "copy_purpose",
        "copy_reject_reason",
        "delivery_method",
        "record_section",
        "visit_type",
    }
    assert not DictionaryEntry.objects.filter(is_system=False).exists()
    assert entries("no_such_list") == []


def test_editor_creates_a_category_and_entries(editor: Any, client_for: Callable[..., Any]) -> None:
    client = client_for(editor)
    response = client.post(
        "/console/dictionary/new/",
        {"code": "payment_channel", "name": "支付渠道", "description": "线上支付渠道"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/console/dictionary/payment_channel/"
    for code, label, order in (("wechat", "微信支付", 10), ("alipay", "支付宝", 20)):
        response = client.post(
            "/console/dictionary/payment_channel/entries/new/",
            {"code": code, "label": label, "sort_order": order},
        )
        assert response.status_code == 302
    assert entries("payment_channel") == [("wechat", "微信支付"), ("alipay", "支付宝")]
    page = client.get("/console/dictionary/payment_channel/")
    assert "支付宝" in page.content.decode()
    assert list(
        AuditEntry.objects.filter(action__startswith="dictionary.")
        .order_by("sequence")
        .values_list("action", flat=True)
    ) == ["dictionary.category.create", "dictionary.entry.create", "dictionary.entry.create"]


def test_duplicate_codes_get_chinese_messages(editor: Any, client_for: Callable[..., Any]) -> None:
    client = client_for(editor)
    response = client.post("/console/dictionary/new/", {"code": "sex", "name": "性别2"})
    assert response.context["form"].errors == {"code": ["分类编码 sex 已被「性别」使用"]}
    response = client.post(
        "/console/dictionary/sex/entries/new/", {"code": "1", "label": "男", "sort_order": 5}
    )
    assert response.context["form"].errors == {"code": ["条目编码 1 已被「男性」使用"]}
    response = client.post("/console/dictionary/new/", {"code": "Bad Code", "name": "x"})
    assert response.context["form"].errors == {
        "code": ["分类编码只能包含小写字母、数字和下划线，且以字母开头"]
    }
    assert DictionaryEntry.objects.filter(category__code="sex").count() == 4


def test_system_entries_are_disabled_not_deleted(
    editor: Any, client_for: Callable[..., Any]
) -> None:
    client = client_for(editor)
    male = _entry("sex", "1")
    response = client.post(f"/console/dictionary/sex/entries/{male.pk}/delete/", follow=True)
    assert "系统内置条目不能删除，请改为停用" in response.content.decode()
    assert DictionaryEntry.objects.filter(pk=male.pk).exists()

    response = client.post(
        f"/console/dictionary/sex/entries/{male.pk}/toggle/", HTTP_HX_REQUEST="true"
    )
    assert response.content.decode().lstrip().startswith(f'<tr id="entry-{male.pk}">')
    male.refresh_from_db()
    assert male.is_active is False
    assert ("1", "男性") not in entries("sex")
    # Old records still show the label.
    assert label_for("sex", "1") == "男性"

    response = client.post("/console/dictionary/sex/delete/", follow=True)
    assert "系统内置分类不能删除" in response.content.decode()
    assert DictionaryCategory.objects.filter(code="sex").exists()


def test_system_codes_keep_their_code_but_can_be_relabelled(
    editor: Any, client_for: Callable[..., Any]
) -> None:
    mail = _entry("delivery_method", "mail")
    response = client_for(editor).post(
        f"/console/dictionary/delivery_method/entries/{mail.pk}/edit/",
        {"code": "post", "label": "快递寄送", "sort_order": 1},
    )
    assert response.status_code == 302
    mail.refresh_from_db()
    # The code field is disabled for system entries: a posted value is ignored.
    assert (mail.code, mail.label, mail.sort_order) == ("mail", "快递寄送", 1)


def test_custom_entries_and_categories_can_be_deleted(
    editor: Any, client_for: Callable[..., Any]
) -> None:
    client = client_for(editor)
    client.post("/console/dictionary/new/", {"code": "tmp_list", "name": "临时"})
    client.post(
        "/console/dictionary/tmp_list/entries/new/", {"code": "a", "label": "甲", "sort_order": 0}
    )
    entry = _entry("tmp_list", "a")
    assert (
        client.post(f"/console/dictionary/tmp_list/entries/{entry.pk}/delete/").status_code == 302
    )
    assert not DictionaryEntry.objects.filter(pk=entry.pk).exists()
    assert client.post("/console/dictionary/tmp_list/delete/").status_code == 302
    assert not DictionaryCategory.objects.filter(code="tmp_list").exists()


def test_outsiders_change_nothing(
    make_staff: Callable[..., Any], client_for: Callable[..., Any], client: Any
) -> None:
    male = _entry("sex", "1")
    reader = make_staff("reader", permissions=("dictionary.view_dictionaryentry",))
    stranger = make_staff("stranger", permissions=("institutions.view_institution",))
    writes = [
        ("/console/dictionary/new/", {"code": "x_list", "name": "X"}),
        ("/console/dictionary/sex/edit/", {"code": "sex", "name": "改名"}),
        ("/console/dictionary/sex/delete/", {}),
        ("/console/dictionary/sex/entries/new/", {"code": "7", "label": "七", "sort_order": 0}),
        (
            f"/console/dictionary/sex/entries/{male.pk}/edit/",
            {"code": "1", "label": "改", "sort_order": 0},
        ),
        (f"/console/dictionary/sex/entries/{male.pk}/toggle/", {}),
        (f"/console/dictionary/sex/entries/{male.pk}/delete/", {}),
    ]
    before = list(DictionaryEntry.objects.values_list("pk", "code", "label", "is_active"))
    for url, data in writes:
        anonymous = client.post(url, data)
        assert anonymous.status_code == 302
        assert anonymous["Location"].startswith("/console/login/")
        assert client_for(reader).post(url, data).status_code == 403, url
    assert client_for(stranger).get("/console/dictionary/").status_code == 403
    assert client_for(reader).get("/console/dictionary/sex/").status_code == 200
    # An entry addressed under the wrong category is not found.
    editor = make_staff("editor2", permissions=EDITOR)
    assert (
        client_for(editor)
        .post(f"/console/dictionary/visit_type/entries/{male.pk}/toggle/")
        .status_code
        == 404
    )
    assert list(DictionaryEntry.objects.values_list("pk", "code", "label", "is_active")) == before
    assert DictionaryCategory.objects.filter(code="x_list").exists() is False
