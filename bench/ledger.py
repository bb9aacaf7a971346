"""Residents ledgers for the import benchmark: valid GB 11643 ID numbers, mobile phones, existing
building codes, households of 1–4 persons; written as .csv or .xlsx (XlsxWriter)."""

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass

import xlsxwriter

from epigrid.core.validators import id_check_char
from epigrid.people.choices import Relationship
from epigrid.people.ledgers import RELATIONSHIP_LABELS, RESIDENT_COLUMNS

from .city import GIVEN, SURNAMES

REGIONS = ["370102", "370103", "370104", "370105", "370112", "370113", "110101", "310101", "440106", "510104"]
HOUSEHOLD_SIZES = [3, 2, 1, 4, 2, 3]  # 2.5 persons a household on average
RELATIONSHIPS = [Relationship.HEAD, Relationship.SPOUSE, Relationship.CHILD, Relationship.CHILD]
NOTES = ["", "", "", "", "", "", "", "", "租户", "独居老人"]
# Every set of rows draws its ID numbers from its own counter range, so sets never collide.
ID_RANGE = 1_000_000
BIRTH_DAYS = 20_000  # births 1950-01-01 … 2004-10


@dataclass(frozen=True)
class LedgerRow:
    grid: str
    household_number: str
    address: str
    name: str
    id_number: str
    phone: str
    relationship: str  # the Chinese label, as in the ledger
    note: str

    def cells(self) -> list[str]:
        return [
            self.grid,
            self.household_number,
            self.address,
            self.name,
            self.id_number,
            self.phone,
            self.relationship,
            self.note,
        ]


def id_number(counter: int) -> str:
    """A unique, valid 18-character ID number for each counter value (< 199,800,000)."""
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=(counter // 999) % BIRTH_DAYS)
    region = REGIONS[(counter // (999 * BIRTH_DAYS)) % len(REGIONS)]
    first17 = f"{region}{birth:%Y%m%d}{counter % 999 + 1:03d}"
    return first17 + id_check_char(first17)


def ledger_rows(*, building_codes: list[str], rows: int, set_index: int, seed: int = 531) -> list[LedgerRow]:
    """`rows` ledger rows whose households fill the buildings in order (one community after
    another, as offices send them)."""
    rng = random.Random(seed + set_index)
    households = max(1, round(rows / 2.5))
    out: list[LedgerRow] = []
    k = 0
    while len(out) < rows:
        building = building_codes[(k * len(building_codes) // households) % len(building_codes)]
        number = f"S{set_index}-{k + 1}"
        address = f"历下区基准路{k // 100 + 1}号{k % 100 + 1}室(批次{set_index})"
        for member in range(min(HOUSEHOLD_SIZES[k % len(HOUSEHOLD_SIZES)], rows - len(out))):
            surname, _ = rng.choice(SURNAMES)
            given, _ = rng.choice(GIVEN)
            out.append(
                LedgerRow(
                    grid=building,
                    household_number=number,
                    address=address,
                    name=surname + given,
                    id_number=id_number(set_index * ID_RANGE + len(out)),
                    phone=f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
                    relationship=RELATIONSHIP_LABELS[RELATIONSHIPS[min(member, len(RELATIONSHIPS) - 1)]],
                    note=rng.choice(NOTES),
                )
            )
        k += 1
    return out


HEADERS = [c.header for c in RESIDENT_COLUMNS]


def csv_bytes(rows: list[LedgerRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow(row.cells())
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: list[LedgerRow]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("居民台账")
    for col, header in enumerate(HEADERS):
        sheet.write_string(0, col, header)
    for r, row in enumerate(rows, start=1):
        for col, value in enumerate(row.cells()):
            if value:
                sheet.write_string(r, col, value)
    book.close()
    return buffer.getvalue()
