"""Ledger import/export: all-or-nothing imports with a complete error report, round trips that
give back the same cells, and streaming of large files."""

import io
import tracemalloc

import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook
from stdnum.cn import uscc

from epigrid.core.errors import RowErrors
from epigrid.core.models import AuditEvent, ImportBatch, ImportStatus
from epigrid.grids import services as grid_services
from epigrid.grids.choices import GridLevel
from epigrid.people import ledgers
from epigrid.people.models import Household, Person
from tests.factories import make_id_number, make_phone

HEADER = ["网格编码", "户号", "住址", "姓名", "身份证号码", "联系电话", "与户主关系", "备注"]


def xlsx(rows) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    sheet = book.add_worksheet("居民台账")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value != "":
                sheet.write_string(r, c, value)
    book.close()
    return out.getvalue()


def read_xlsx(data: bytes) -> list[list[str]]:
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    return [[str(c) for c in row] for row in sheet.to_python()]


def resident_rows(n: int, building: str = "S-C-G3-B1"):
    rows = []
    for i in range(n):
        household = i // 3
        rows.append(
            [
                building,
                f"{household // 10 + 1}-{household % 10 + 1:02d}01",
                f"3号楼{household}室",
                f"居民{i}",
                make_id_number(),
                make_phone(),
                "户主" if i % 3 == 0 else "子女",
                "",
            ]
        )
    return rows


@pytest.fixture
def g3(world):
    grid = grid_services.grid_node_create(
        parent=world.nodes["S-C"], code="S-C-G3", name="第3网格", level=GridLevel.GRID, principal=world.admin
    )
    return grid_services.grid_node_create(
        parent=grid, code="S-C-G3-B1", name="3号楼", level=GridLevel.BUILDING, principal=world.admin
    )


def test_import_then_export_gives_back_the_same_cells(world, g3):
    rows = resident_rows(30)
    rows[4][7] = "行动不便"
    rows[5][5] = ""  # no phone
    batch = ledgers.ledger_import(
        data=xlsx([HEADER, *rows]), file_name="台账.xlsx", kind="residents", principal=world.users["staff"]
    )
    assert batch.status == ImportStatus.COMMITTED and batch.row_count == 30
    assert Person.objects.filter(import_batch=batch).count() == 30
    assert Household.objects.filter(import_batch=batch).count() == 10
    out, name = ledgers.ledger_export(
        kind="residents", node=g3.__class__.objects.get(code="S-C-G3"), principal=world.users["staff"]
    )
    assert name.endswith(".xlsx")
    exported = read_xlsx(out.read())
    assert exported[0] == HEADER
    assert exported[1:] == rows
    # Every imported person has a timeline entry; the export is an audited unmasking.
    assert AuditEvent.objects.filter(action="person.import").count() == 30
    assert AuditEvent.objects.get(action="ledger.export").changes["unmasked"] == [None, True]


def test_export_needs_the_import_export_right(world, g3):
    from epigrid.core.errors import Forbidden

    with pytest.raises(Forbidden):
        ledgers.ledger_export(kind="residents", node=world.nodes["S-C-G1"], principal=world.users["member1"])


def test_one_bad_row_writes_nothing_and_every_bad_row_is_listed(world, g3):
    rows = resident_rows(12)
    rows[2][4] = rows[2][4][:-1] + ("0" if rows[2][4][-1] != "0" else "1")  # checksum
    rows[5][0] = "NO-SUCH-GRID"
    rows[7][4] = rows[1][4]  # duplicate within the file
    rows[8][5] = "1234"  # phone
    rows[9][6] = "表哥"  # unknown relationship
    rows[10][4] = "123"  # too short
    before = (Person.objects.count(), Household.objects.count(), AuditEvent.objects.count())
    with pytest.raises(RowErrors) as excinfo:
        ledgers.ledger_import(
            data=xlsx([HEADER, *rows]), file_name="bad.xlsx", kind="residents", principal=world.users["staff"]
        )
    reported = {(r["row"], r["column"], r["code"]) for r in excinfo.value.rows}
    assert reported == {
        (4, "身份证号码", "id_number_checksum"),
        (7, "网格编码", "grid_unknown"),
        (9, "身份证号码", "id_number_duplicate_in_file"),
        (10, "联系电话", "phone_invalid"),
        (11, "与户主关系", "relationship_unknown"),
        (12, "身份证号码", "id_number_length"),
    }
    assert all(r["messages"]["zh-hans"] and r["messages"]["en"] for r in excinfo.value.rows)
    assert (Person.objects.count(), Household.objects.count()) == before[:2]
    # The refusal itself is kept, with no personal values in it.
    rejected = ImportBatch.objects.get(status=ImportStatus.REJECTED)
    assert rejected.error_count == 6
    assert rows[2][4] not in str(rejected.errors)
    assert AuditEvent.objects.filter(action="import.reject").count() == 1


def test_bad_row_after_many_good_chunks_rolls_everything_back(world, g3, monkeypatch):
    monkeypatch.setattr(ledgers, "CHUNK", 5)
    rows = resident_rows(23)
    rows[-1][4] = "370102198001010016"  # bad checksum in the last chunk
    with pytest.raises(RowErrors):
        ledgers.ledger_import(
            data=xlsx([HEADER, *rows]), file_name="late.xlsx", kind="residents", principal=world.users["staff"]
        )
    assert not Person.objects.filter(grid=g3).exists()
    assert not Household.objects.filter(grid=g3).exists()


def test_rows_outside_the_importers_area_are_refused(world, g3):
    from epigrid.accounts import services as account_services
    from tests.factories import make_user

    other = grid_services.grid_node_create(
        parent=world.nodes["S"], code="S-D", name="另一社区", level=GridLevel.COMMUNITY, principal=world.admin
    )
    staff2 = make_user("staff2")
    account_services.grid_assignment_create(node=other, user=staff2, role="community_staff", principal=world.admin)
    rows = resident_rows(1, building="S-C-G2-B1")
    with pytest.raises(RowErrors) as excinfo:
        ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="x.xlsx", kind="residents", principal=staff2)
    assert [(r["row"], r["code"]) for r in excinfo.value.rows] == [(2, "grid_unknown")]


def test_missing_header_is_a_clear_error(world):
    from epigrid.core.errors import DomainError

    with pytest.raises(DomainError) as excinfo:
        ledgers.ledger_import(
            data=xlsx([["姓名", "身份证号码"], ["张三", make_id_number()]]),
            file_name="h.xlsx",
            kind="residents",
            principal=world.users["staff"],
        )
    assert excinfo.value.code == "header_missing" and "网格编码" in excinfo.value.render()


def test_not_an_excel_file(world):
    from epigrid.core.errors import DomainError

    with pytest.raises(DomainError) as excinfo:
        ledgers.ledger_import(data=b"not a zip", file_name="x.xlsx", kind="residents", principal=world.users["staff"])
    assert excinfo.value.code == "file_unreadable"


USCC = "91370102MA3C0X8P4" + uscc.calc_check_digit("91370102MA3C0X8P4")
PLACE_HEADER = ["场所名称", "类型", "地址", "网格编码", "专属网格编码", "统一社会信用代码", "联系人", "联系电话"]


def test_places_round_trip(world, g3):
    rows = [
        ["第三诊所", "医疗机构", "花园路3号", "S-C-G3", "S-MED", "", "刘医生", "053186012345"],
        ["小卖部", "商户", "花园路5号", "S-C-G3-B1", "", USCC, "", ""],
    ]
    data = xlsx([PLACE_HEADER, *rows])
    batch = ledgers.ledger_import(data=data, file_name="场所.xlsx", kind="places", principal=world.users["commander"])
    assert batch.row_count == 2
    out, _ = ledgers.ledger_export(
        kind="places", node=g3.__class__.objects.get(code="S-C-G3"), principal=world.users["commander"]
    )
    assert read_xlsx(out.read())[1:] == rows


def test_large_file_streams(world, g3, settings):
    """A big roster imports in chunks: Python memory stays bounded by the chunk, not the file."""
    rows = resident_rows(6000)
    data = xlsx([HEADER, *rows])
    tracemalloc.start()
    batch = ledgers.ledger_import(data=data, file_name="big.xlsx", kind="residents", principal=world.users["staff"])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert batch.row_count == 6000
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_rows_in_view_but_without_the_import_right_are_refused_as_such(world, g3):
    """A grid the importer sees but may not import into is refused as forbidden, one it does not
    see as unknown: the rows' 403 and 404, decided by restrict like every other load."""
    from epigrid.accounts import services as account_services
    from tests.factories import make_user

    other = grid_services.grid_node_create(
        parent=world.nodes["S"], code="S-D", name="另一社区", level=GridLevel.COMMUNITY, principal=world.admin
    )
    clerk = make_user("clerk")
    account_services.grid_assignment_create(node=other, user=clerk, role="community_staff", principal=world.admin)
    # Also a grid member in 第1网格: sees it, may not import there.
    account_services.grid_assignment_create(
        node=world.nodes["S-C-G1"], user=clerk, role="grid_member", principal=world.admin
    )
    rows = [*resident_rows(1, building="S-C-G1-B1"), *resident_rows(1, building="S-C-G2-B1")]
    with pytest.raises(RowErrors) as excinfo:
        ledgers.ledger_import(data=xlsx([HEADER, *rows]), file_name="x.xlsx", kind="residents", principal=clerk)
    assert [(r["row"], r["code"]) for r in excinfo.value.rows] == [(2, "grid_forbidden"), (3, "grid_unknown")]


def test_a_number_registered_during_the_import_fails_it_whole(world, g3, monkeypatch):
    """Someone registers one of the file's ID numbers after the import checked it and before its
    rows are written: the write meets the taken number and the whole import is refused with a
    message saying to import again; none of the file's persons is kept."""
    from epigrid.core.errors import DomainError
    from epigrid.people import services as people_services

    rows = resident_rows(12)
    check = ledgers._ResidentImporter._check_existing

    def checked_then_registered_elsewhere(self, clean_rows):
        registered = check(self, clean_rows)
        people_services.person_create(
            name="另一人", id_number=rows[7][4], household=world.households["h1"], principal=world.admin
        )
        return registered

    monkeypatch.setattr(ledgers._ResidentImporter, "_check_existing", checked_then_registered_elsewhere)
    with pytest.raises(DomainError) as refused:
        ledgers.ledger_import(
            data=xlsx([HEADER, *rows]), file_name="race.xlsx", kind="residents", principal=world.users["staff"]
        )
    assert refused.value.code == "id_number_registered_meanwhile"
    assert not Person.objects.filter(grid=g3).exists()
