from __future__ import annotations

from datetime import date

import pytest

from jingan.core.residents.identity import IdFacts, InvalidIdNumber, check_id_number, check_name


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "请填写身份证号"),
        ("31010619450312100", "身份证号应为 18 位，前 17 位为数字，最后一位为数字或 X"),
        ("3101061945031210A2", "身份证号应为 18 位，前 17 位为数字，最后一位为数字或 X"),
        ("310106194503121003", "身份证号校验位不正确"),
        ("310106194502301001", "出生日期无效"),
        ("310106209901011000", "出生日期无效"),
        ("999999194503121004", "地区码不存在"),
    ],
)
def test_invalid_id_numbers_get_a_specific_chinese_error(value: str, message: str) -> None:
    with pytest.raises(InvalidIdNumber) as raised:
        check_id_number(value, today=date(2026, 1, 1))
    assert str(raised.value) == message


def test_check_digits_of_the_fixtures_are_right() -> None:
    # Derived by hand from GB 11643 weights, so the test does not trust stdnum alone.
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    body = "31010619450312100"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    assert check == "2"
    assert check_id_number(body + check) == IdFacts("310106194503121002", date(1945, 3, 12), "F")


def test_valid_number_is_normalised_and_yields_birth_date_and_sex() -> None:
    facts = check_id_number(" 11010519491231002x ")
    assert facts == IdFacts("11010519491231002X", date(1949, 12, 31), "F")
    assert check_id_number("310108195207081074").sex == "M"


def test_full_width_digits_are_accepted() -> None:
    assert check_id_number("３１０１０６１９４５０３１２１００２").id_number == "310106194503121002"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("王秀英", "王秀英"),
        ("  王 秀英 ", None),
        ("阿卜杜·热合曼", "阿卜杜·热合曼"),
        ("John Smith", "John Smith"),
    ],
)
def test_names(value: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="请填写与身份证一致的姓名"):
            check_name(value)
    else:
        assert check_name(value) == expected


def test_empty_name() -> None:
    with pytest.raises(ValueError, match="请填写姓名"):
        check_name(" ")
