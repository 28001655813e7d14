import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jingan.lib.masking import (
    MaskingFilter,
    mask_address,
    mask_id_number,
    mask_mobile,
    mask_name,
    mask_text,
)


@pytest.mark.req("SEC-2")
@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("11010119900307123X", "110***********123X"),
        ("310106198001011234", "310***********1234"),
        ("310106800101123", "310********1123"),
        ("", ""),
        ("12345", "*****"),
    ],
)
def test_id_numbers_keep_only_prefix_and_last_four(raw: str, masked: str) -> None:
    assert mask_id_number(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812341234", "138****1234"),
        ("+86 138-1234-1234", "138****1234"),
        ("8613812341234", "138****1234"),
        ("", ""),
    ],
)
def test_mobiles_keep_first_three_and_last_four(raw: str, masked: str) -> None:
    assert mask_mobile(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [("张三", "张*"), ("王小明", "王**"), ("欧阳娜娜", "欧阳**"), ("李", "*"), ("", "")],
)
def test_names_keep_the_surname(raw: str, masked: str) -> None:
    assert mask_name(raw) == masked


def test_addresses_keep_the_district() -> None:
    assert mask_address("上海市静安区武定路1号301室") == "上海市静安区****"
    assert mask_address("静安寺") == "静****"


def test_free_text_is_masked_wherever_ids_and_mobiles_appear() -> None:
    text = "患者 310106198001011234 电话13812341234，订单号 2026112500000000001234"
    assert mask_text(text) == (
        "患者 310***********1234 电话138****1234，订单号 2026112500000000001234"
    )


@given(st.from_regex(r"\A[1-9]\d{16}[\dX]\Z"))
def test_no_id_number_survives_masking(id_number: str) -> None:
    assert id_number not in mask_text(f"身份证:{id_number};")
    assert mask_text(id_number)[-4:] == id_number[-4:]


@given(st.from_regex(r"\A1[3-9]\d{9}\Z"))
def test_no_mobile_survives_masking(mobile: str) -> None:
    assert mobile not in mask_text(f"tel {mobile}.")


@pytest.mark.req("SEC-2")
def test_log_filter_masks_messages_and_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("jingan.test.masking")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="jingan.test.masking"):
        logger.info("resident %s phone %s", "310106198001011234", "13812341234")
    assert caplog.records[0].getMessage() == "resident 310***********1234 phone 138****1234"
