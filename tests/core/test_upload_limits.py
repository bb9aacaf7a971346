"""Uploads that would take the server down are refused with a clear 400: the 1.5 KB workbook that
declares A1:XFD1048576, zip bombs, too many rows or columns, huge cells, CSVs that are not UTF-8
(GB18030 is read) or hold a 200 KB cell. Normal files import as before."""

import datetime as dt
import io
import time
import zipfile

import pytest
import xlsxwriter
from django.test import Client

from epigrid.accounts.services import api_token_issue
from epigrid.core import tabular
from epigrid.core.errors import DomainError
from epigrid.health import ledgers as health_ledgers
from epigrid.people import ledgers
from epigrid.people.models import Person
from tests.factories import make_id_number

HEADER = ["网格编码", "户号", "住址", "姓名", "身份证号码"]
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def handmade_xlsx(sheet_xml: str, *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A minimal valid workbook around one worksheet's XML."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{NS}" xmlns:r="{REL}">'
            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": sheet_xml,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as book:
        for name, text in parts.items():
            book.writestr(name, text)
    return out.getvalue()


def sheet(cells: str, dimension: str | None = None, before: str = "") -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    body = f'<worksheet xmlns="{NS}">{dim}<sheetData>{cells}</sheetData></worksheet>'
    return f'<?xml version="1.0" encoding="UTF-8"?>{before}{body}'


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


BOMB = handmade_xlsx(
    sheet(
        f'<row r="1">{inline("A1", "样本编号")}</row><row r="1048576">{inline("XFD1048576", "x")}</row>',
        dimension="A1:XFD1048576",
    )
)


def xlsx(rows) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    ws = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    book.close()
    return out.getvalue()


def upload(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


@pytest.fixture
def api(world):
    def post(path, data, name, **fields):
        client = Client()
        token = api_token_issue(user=world.users["staff"])
        return client.post(path, {"file": upload(data, name), **fields}, HTTP_AUTHORIZATION=f"Bearer {token}")

    return post


@pytest.fixture
def page(world):
    client = Client()
    client.force_login(world.users["staff"])

    def post(path, data, name, **fields):
        return client.post(path, {"file": upload(data, name), **fields})

    return post


def resident_rows(n: int):
    return [
        ["S-C-G1-B1", f"9-{i // 3 + 1:02d}01", f"9单元{i // 3 + 1}01", f"居民{i}", make_id_number()] for i in range(n)
    ]


# ---------------------------------------------------------------- the 1.5 KB bomb


def test_the_bomb_is_small():
    # python-calamine would have allocated the dense A1:XFD1048576 range (~550 GB) for it.
    assert len(BOMB) < 2048


# Measured in a fresh interpreter: tracemalloc counts every thread of the process, and in a full
# run another test's leftovers would be counted as the reader's.
_MEASURE_BOMB = """
import sys, time, tracemalloc
import django
django.setup()
from epigrid.core import tabular
from epigrid.core.errors import DomainError
bomb = sys.stdin.buffer.read()
tracemalloc.start()
started = time.monotonic()
try:
    list(tabular.iter_table(bomb, "bomb.xlsx"))
except DomainError as exc:
    code, status, text = exc.code, exc.status, exc.render("en")
elapsed = time.monotonic() - started
peak = tracemalloc.get_traced_memory()[1]
print(code, status, elapsed, peak, "XFD1048576" in text)
"""


def test_bomb_is_refused_quickly_in_little_memory():
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "epigrid.config.settings"}
    out = (
        subprocess.run(
            [sys.executable, "-c", _MEASURE_BOMB], input=BOMB, capture_output=True, env=env, check=True, timeout=60
        )
        .stdout.decode()
        .split()
    )
    code, status, elapsed, peak, names_the_cell = out[0], int(out[1]), float(out[2]), int(out[3]), out[4]
    assert (code, status, names_the_cell) == ("file_too_large_sheet", 400, "True")
    assert elapsed < 2
    assert peak < 5 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


@pytest.mark.parametrize(
    ("path", "fields"),
    [("/api/v1/results/import", {}), ("/api/v1/imports", {"kind": "residents"})],
)
def test_bomb_through_the_api_is_a_400(api, path, fields):
    started = time.monotonic()
    response = api(path, BOMB, "bomb.xlsx", **fields)
    assert time.monotonic() - started < 5
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "file_too_large_sheet"
    assert "XFD1048576" in body["messages"]["en"]
    assert "行" in body["messages"]["zh-hans"]


@pytest.mark.parametrize(
    ("path", "fields"),
    [("/health/results/import/", {}), ("/people/import/", {"kind": "residents"})],
)
def test_bomb_through_the_pages_is_a_400(page, path, fields):
    started = time.monotonic()
    response = page(path, BOMB, "bomb.xlsx", **fields)
    assert time.monotonic() - started < 5
    assert response.status_code == 400
    assert "XFD1048576" in response.content.decode()


FIRST = f'<row r="1">{inline("A1", "a")}</row>'


@pytest.mark.parametrize(
    ("cells", "code"),
    [
        (f'{FIRST}<row r="1048576">{inline("A1048576", "x")}</row>', "file_too_many_rows"),
        (f'<row r="1">{inline("A1", "a")}{inline("XFD1", "x")}</row>', "file_too_many_columns"),
        (f'{FIRST}<row r="1048576">{inline("XFD1048576", "x")}</row>', "file_too_many_rows"),
    ],
)
def test_without_a_dimension_the_cells_themselves_are_checked(cells, code):
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(handmade_xlsx(sheet(cells)), "x.xlsx"))
    assert excinfo.value.code == code


def test_formatted_empty_cells_far_away_are_ignored():
    """A styled cell without a value is no cell, as in the reader before."""
    cells = f'<row r="1">{inline("A1", "a")}</row><row r="900000"><c r="XFD900000" s="1"/></row>'
    assert list(tabular.iter_table(handmade_xlsx(sheet(cells)), "x.xlsx")) == [["a"]]


def test_a_doctype_is_refused():
    evil = sheet(inline("A1", "&a;"), before='<!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">]>')
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(handmade_xlsx(evil), "x.xlsx"))
    assert excinfo.value.code == "file_unreadable"


# ---------------------------------------------------------------- zip bombs


def test_zip_bomb_by_ratio_is_refused(api):
    padding = " " * (3 * 1024 * 1024)  # 3 MB of spaces deflate to a few KB
    data = handmade_xlsx(sheet(f'<row r="1">{inline("A1", "样本编号")}</row>{padding}'))
    assert len(data) < 20 * 1024
    response = api("/api/v1/results/import", data, "zip.xlsx")
    assert response.status_code == 400
    assert response.json()["code"] == "file_expands"


def test_zip_bomb_by_total_size_is_refused(settings):
    settings.IMPORT_MAX_UNCOMPRESSED_BYTES = 64 * 1024
    data = handmade_xlsx(sheet("".join(f'<row r="{i}">{inline(f"A{i}", "x" * 50)}</row>' for i in range(1, 2000))))
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(data, "x.xlsx"))
    assert excinfo.value.code == "file_expands"


def test_not_a_zip_is_unreadable():
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(b"PK\x03\x04 not really", "x.xlsx"))
    assert excinfo.value.code == "file_unreadable"


# ---------------------------------------------------------------- limits


def test_file_size_is_capped_before_reading(api, settings):
    settings.IMPORT_MAX_FILE_BYTES = 1024
    response = api("/api/v1/imports", b"x" * 2048, "big.csv", kind="residents")
    assert response.status_code == 400
    assert response.json()["code"] == "file_too_large"


def test_too_many_rows(world, settings):
    settings.IMPORT_MAX_ROWS = 5
    ledgers.ledger_import(
        data=xlsx([HEADER, *resident_rows(5)]), file_name="ok.xlsx", kind="residents", principal=world.users["staff"]
    )
    with pytest.raises(DomainError) as excinfo:
        ledgers.ledger_import(
            data=xlsx([HEADER, *resident_rows(6)]), file_name="x.xlsx", kind="residents", principal=world.users["staff"]
        )
    assert excinfo.value.code == "file_too_large_sheet"  # the dimension xlsxwriter writes says so first
    assert excinfo.value.status == 400
    assert Person.objects.filter(name="居民4").count() == 1  # only the first file's


def test_too_many_rows_in_a_csv(settings):
    settings.IMPORT_MAX_ROWS = 3
    data = "\n".join(["a,b"] + ["1,2"] * 4).encode()
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(data, "x.csv"))
    assert excinfo.value.code == "file_too_many_rows"


def test_too_many_columns(world, api):
    header = HEADER + [f"列{i}" for i in range(60)]
    response = api("/api/v1/imports", xlsx([header]), "wide.xlsx", kind="residents")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "file_too_large_sheet"  # from the sheet's declared dimension
    assert "50" in body["message"]
    cells = "".join(inline(f"{col}1", col) for col in _letters(60))
    undeclared = handmade_xlsx(sheet(f'<row r="1">{cells}</row>'))
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(undeclared, "wide.xlsx"))
    assert excinfo.value.code == "file_too_many_columns"
    assert "AY" in excinfo.value.render("en")  # column 51
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(",".join(header).encode(), "wide.csv"))
    assert excinfo.value.code == "file_too_many_columns"


def _letters(n):
    return [tabular._column_letters(i) for i in range(1, n + 1)]


@pytest.mark.parametrize("kind", ["shared", "inline"])
def test_huge_cell(api, kind):
    if kind == "shared":
        data = xlsx([["样本编号", "检测结果", "报告时间"], ["A" * 5000, "阴性", "2020-02-06 10:00"]])
    else:
        header = inline("A1", "样本编号") + inline("B1", "检测结果") + inline("C1", "报告时间")
        data = handmade_xlsx(sheet(f'<row r="1">{header}</row><row r="2">{inline("B2", "A" * 5000)}</row>'))
    response = api("/api/v1/results/import", data, "huge.xlsx")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "file_cell_too_long"
    assert ("row 2, column B" if kind == "inline" else "row 2, column A") in body["messages"]["en"]


# ---------------------------------------------------------------- CSV


def test_csv_neither_utf8_nor_gb18030_is_a_clear_400(api, page):
    data = "网格编码,户号\n".encode() + b"\x80\xff\x80\n"
    response = api("/api/v1/imports", data, "bad.csv", kind="residents")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "csv_encoding"
    assert "GB18030" in body["messages"]["zh-hans"]
    assert page("/people/import/", data, "bad.csv", kind="residents").status_code == 400
    assert page("/health/results/import/", data, "bad.csv").status_code == 400


def test_gb18030_csv_of_chinese_names_imports(world):
    rows = resident_rows(3)
    rows[0][3], rows[1][3], rows[2][3] = "张三", "李四", "欧阳娜娜"
    text = "\r\n".join(",".join(row) for row in [HEADER, *rows]) + "\r\n"
    batch = ledgers.ledger_import(
        data=text.encode("gb18030"), file_name="居民.csv", kind="residents", principal=world.users["staff"]
    )
    assert batch.row_count == 3
    assert set(Person.objects.filter(import_batch=batch).values_list("name", flat=True)) == {"张三", "李四", "欧阳娜娜"}


def test_utf8_csv_with_bom_imports_as_before(world):
    rows = resident_rows(2)
    text = "\n".join(",".join(row) for row in [HEADER, *rows])
    batch = ledgers.ledger_import(
        data=text.encode("utf-8-sig"), file_name="居民.csv", kind="residents", principal=world.users["staff"]
    )
    assert batch.row_count == 2


def test_csv_with_a_200_kb_cell_is_a_clear_400(api, page):
    data = ("样本编号,检测结果,报告时间\n" + "A" * 200_000 + ",阴性,2020-02-06 10:00\n").encode()
    response = api("/api/v1/results/import", data, "huge.csv")
    assert response.status_code == 400
    assert response.json()["code"] == "csv_unreadable"
    assert page("/health/results/import/", data, "huge.csv").status_code == 400


def test_csv_with_a_long_cell_under_the_csv_limit_names_the_cell():
    data = ("样本编号,检测结果\n1," + "B" * 2000 + "\n").encode()
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(data, "x.csv"))
    assert excinfo.value.code == "file_cell_too_long"
    assert "row 2, column B" in excinfo.value.render("en")


# ---------------------------------------------------------------- normal files as before


def test_results_with_excel_dates_and_numbers_read_as_before():
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    ws = book.add_worksheet()
    when = book.add_format({"num_format": "yyyy/m/d h:mm"})
    for c, h in enumerate(["样本编号", "检测结果", "报告时间", "检测机构"]):
        ws.write_string(0, c, h)
    ws.write_number(1, 0, 20200206001)
    ws.write_string(1, 1, "阴性")
    ws.write_datetime(1, 2, dt.datetime(2020, 2, 6, 10, 0), when)
    ws.write_string(1, 3, " 疾控 ")
    book.close()
    [result] = health_ledgers.read_results(out.getvalue(), "r.xlsx")
    assert result.specimen_number == "20200206001"
    assert result.result == "negative"
    assert (result.result_at.year, result.result_at.hour) == (2020, 10)
    assert result.lab == "疾控"


def test_first_sheet_and_row_numbers_as_the_sheet_has_them():
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    first, second = book.add_worksheet("甲"), book.add_worksheet("乙")
    first.write_string(0, 1, "h")
    first.write_string(3, 2, "x")
    first.write_boolean(4, 0, True)
    first.write_number(4, 1, 36.5)
    second.write_string(0, 0, "other")
    book.close()
    rows = list(tabular.iter_table(out.getvalue(), "x.xlsx"))
    assert rows == [["", "h"], [], [], ["", "", "x"], ["True", "36.5"]]


def test_utf8_csv_with_one_bad_byte_is_refused_not_read_as_gb18030():
    text = "网格编码,户号,住址,姓名,身份证号码\n" + "S-C-G1-B1,1-101,一单元一〇一室,张三丰,1\n" * 20
    data = bytearray(text.encode())
    data[-10] = 0xFF
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(bytes(data), "x.csv"))
    assert excinfo.value.code == "csv_encoding"


def test_corrupt_compressed_sheet_is_unreadable():
    data = bytearray(handmade_xlsx(sheet(FIRST * 200)))
    start = data.index(b"xl/worksheets/sheet1.xml") + len(b"xl/worksheets/sheet1.xml")
    data[start + 20 : start + 60] = b"\x00" * 40  # inside the deflated stream
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(bytes(data), "x.xlsx"))
    assert excinfo.value.code == "file_unreadable"


def test_more_shared_strings_than_cells_is_a_bomb(settings):
    settings.IMPORT_MAX_ROWS, settings.IMPORT_MAX_COLUMNS = 9, 10  # 100 cells at most
    data = xlsx([["x"], *[[f"s{i}"] for i in range(150)]])
    with pytest.raises(DomainError) as excinfo:
        list(tabular.iter_table(data, "x.xlsx"))
    assert excinfo.value.code == "file_expands"
