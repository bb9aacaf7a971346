"""Validation at the edge: national ID numbers (GB 11643) and phone numbers.

Each parser returns a normalised value or raises DomainError with a bilingual message.
"""

import datetime as dt
import operator
import re
from dataclasses import dataclass
from functools import cache

import phonenumbers
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum import numdb

from .errors import DomainError

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
# GB/T 2260 province-level codes. Stable since 1997 (50 重庆); 71/81/82 for 台湾/香港/澳门.
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class IdNumber:
    number: str
    birth_date: dt.date
    sex: str  # "M" or "F" (17th digit odd = male)
    county_known: bool

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)


def id_check_char(first17: str) -> str:
    if len(first17) != len(ID_WEIGHTS):
        raise ValueError("id_check_char takes the first 17 digits")
    # map/mul rather than a generator: an import checks every row's number (bench import.per_row).
    total = sum(map(operator.mul, map(int, first17), ID_WEIGHTS))
    return ID_CHECK_CHARS[total % 11]


@cache
def county_is_known(code6: str) -> bool:
    """True when the address code is in the GB/T 2260 table that python-stdnum ships."""
    return any("county" in props for _part, props in numdb.get("cn/loc").info(code6))


def parse_id_number(value, *, field: str = "id_number", today: dt.date | None = None) -> IdNumber:
    """Validate an 18-character resident ID number; lowercase x is accepted.

    The county code is not refused when unknown: it is the household registration's code at
    issue time, and codes are retired; only the province must exist.
    """
    number = str(value if value is not None else "").strip().upper()
    if not number:
        raise DomainError("id_number_required", _("The ID number is required."), field=field)
    if len(number) != 18:
        raise DomainError("id_number_length", _("An ID number has 18 characters."), field=field)
    if not _ID_SHAPE.match(number):
        raise DomainError(
            "id_number_characters",
            _("An ID number is 17 digits followed by a digit or X."),
            field=field,
        )
    if number[:2] not in PROVINCE_CODES:
        raise DomainError("id_number_region", _("The ID number's province code does not exist."), field=field)
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise DomainError("id_number_birth_date", _("The ID number holds no valid birth date."), field=field) from None
    today = today or timezone.localdate()
    if birth > today or birth.year < 1900:
        raise DomainError("id_number_birth_date", _("The ID number holds no valid birth date."), field=field)
    if id_check_char(number[:17]) != number[17]:
        raise DomainError(
            "id_number_checksum",
            _("The ID number's check digit is wrong: please check each digit."),
            field=field,
        )
    return IdNumber(
        number=number,
        birth_date=birth,
        sex="M" if int(number[16]) % 2 else "F",
        county_known=county_is_known(number[:6]),
    )


def mask_id_number(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


@dataclass(frozen=True)
class Phone:
    number: str  # digits only: 13812345678, or 053186012345 for a landline
    is_mobile: bool

    @property
    def masked(self) -> str:
        return mask_phone(self.number)


def parse_phone(value, *, field: str = "phone") -> Phone:
    """A mainland mobile (1[3-9] + 9 digits) or a landline with its area code."""
    raw = re.sub(r"[\s\-()（）]", "", str(value if value is not None else ""))
    if raw.startswith("+86"):
        raw = raw[3:]
    elif raw.startswith("0086"):
        raw = raw[4:]
    if not raw:
        raise DomainError("phone_required", _("The phone number is required."), field=field)
    if _MOBILE.match(raw):
        return Phone(number=raw, is_mobile=True)
    if raw.isdigit() and raw.startswith("0") and 10 <= len(raw) <= 12:
        try:
            parsed = phonenumbers.parse(raw, "CN")
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_valid_number(parsed):
            if phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.FIXED_LINE:
                return Phone(number=raw, is_mobile=False)
    raise DomainError(
        "phone_invalid",
        _("Enter an 11-digit mobile number starting with 13–19, or a landline with its area code."),
        field=field,
    )


def mask_phone(number: str) -> str:
    if number.startswith("1") and len(number) == 11:
        return number[:3] + "****" + number[-4:]
    area = 3 if number[:2] in {"01", "02"} else 4
    return number[:area] + "-****" + number[-4:]


@cache
def region_name(code6: str) -> str:
    """The division's name from GB/T 2260 ("湖北省襄阳市襄城区"), or "" when unknown."""
    levels = [code6[:2] + "0000"]
    if code6[2:4] != "00":
        levels.append(code6[:4] + "00")
    if code6[4:] != "00":
        levels.append(code6)
    names = []
    for code in levels:
        for _part, props in numdb.get("cn/loc").info(code):
            value = props.get("province") if code.endswith("0000") else props.get("county")
            if value:
                # Entries carry validity years, the current name last: "[-2009]襄樊市,[2010-]襄阳市".
                name = value.split(",")[-1].split("]")[-1]
                if name != "市辖区":
                    names.append(name)
    return "".join(dict.fromkeys(names))
