"""ID numbers (GB 11643) and phones: property tests over the checksum and the formats."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epigrid.core.errors import DomainError
from epigrid.core.validators import (
    ID_CHECK_CHARS,
    id_check_char,
    mask_id_number,
    mask_phone,
    parse_id_number,
    parse_phone,
)

REGIONS = ["370102", "420600", "110101", "440305", "379999"]


@st.composite
def valid_ids(draw):
    region = draw(st.sampled_from(REGIONS))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2025, 12, 31)))
    seq = draw(st.integers(0, 999))
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


def test_known_good_number():
    # The worked example of GB 11643 (check digit X).
    parsed = parse_id_number("11010519491231002X")
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.sex == "F"
    assert parsed.masked == "110105********002X"


@given(valid_ids())
def test_valid_numbers_parse_and_mask(number):
    parsed = parse_id_number(number)
    assert parsed.number == number
    assert parsed.masked == number[:6] + "********" + number[-4:]
    assert parsed.sex == ("M" if int(number[16]) % 2 else "F")


@given(valid_ids())
def test_lowercase_x_is_normalised(number):
    if number.endswith("X"):
        assert parse_id_number(number.lower()).number == number


@settings(max_examples=60)
@given(valid_ids(), st.data())
def test_every_single_character_change_is_rejected(number, data):
    position = data.draw(st.integers(0, 17))
    alphabet = ID_CHECK_CHARS if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != number[position]]))
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(DomainError):
        parse_id_number(changed)


def test_every_single_character_change_of_one_number_exhaustively():
    number = "370102198001010015"
    parse_id_number(number)
    for position in range(18):
        for replacement in "0123456789X":
            if replacement == number[position]:
                continue
            changed = number[:position] + replacement + number[position + 1 :]
            with pytest.raises(DomainError):
                parse_id_number(changed)


@settings(max_examples=60)
@given(valid_ids(), st.integers(0, 16))
def test_every_adjacent_swap_is_rejected(number, position):
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    if swapped == number:
        return  # equal neighbours: the same number
    with pytest.raises(DomainError):
        parse_id_number(swapped)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "id_number_required"),
        ("37010219800101001", "id_number_length"),
        ("3701021980010100151", "id_number_length"),
        ("37010219800101001A", "id_number_characters"),
        ("990102198001010016", "id_number_region"),
        ("370102198002300016", "id_number_birth_date"),
        ("370102198001010016", "id_number_checksum"),
    ],
)
def test_bad_numbers_have_specific_codes(value, code):
    with pytest.raises(DomainError) as excinfo:
        parse_id_number(value)
    assert excinfo.value.code == code
    messages = excinfo.value.as_dict()["messages"]
    assert messages["en"] and messages["zh-hans"]


def test_future_birth_date_is_refused():
    first17 = "370102" + "20990101" + "001"
    with pytest.raises(DomainError) as excinfo:
        parse_id_number(first17 + id_check_char(first17), today=dt.date(2026, 11, 29))
    assert excinfo.value.code == "id_number_birth_date"


def test_retired_county_code_is_accepted_but_flagged():
    # A real resident keeps the code of their original registration.
    first17 = "379999" + "19600101" + "001"
    parsed = parse_id_number(first17 + id_check_char(first17))
    assert parsed.county_known is False
    assert parse_id_number("370102198001010015").county_known is True


@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True))
def test_mobiles_are_accepted_and_masked(number):
    phone = parse_phone(number)
    assert phone.is_mobile and phone.number == number
    assert phone.masked == number[:3] + "****" + number[-4:]


@pytest.mark.parametrize("raw", ["+86 138 1234 5678", "138-1234-5678", "008613812345678"])
def test_mobile_formatting_is_normalised(raw):
    assert parse_phone(raw).number == "13812345678"


def test_landline_with_area_code():
    phone = parse_phone("0531-86012345")
    assert not phone.is_mobile and phone.number == "053186012345"
    assert mask_phone(phone.number) == "0531-****2345"


@pytest.mark.parametrize("raw", ["12812345678", "1381234567", "138123456789", "abc", "00000000000", "0531-1"])
def test_bad_phones_are_refused(raw):
    with pytest.raises(DomainError) as excinfo:
        parse_phone(raw)
    assert excinfo.value.code == "phone_invalid"


def test_mask_helpers():
    assert mask_id_number("370102198001011234") == "370102********1234"
    assert mask_phone("13812345678") == "138****5678"
