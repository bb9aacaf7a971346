"""The print sheet of all of a grid's pass cards as a background job (gates.ledgers.pass_sheet_start):
its starter downloads one PDF (A4, eight cards a page) with every card's QR code; nobody else does;
the printing is audited."""

import base64
import io
import re
import zlib

import pytest
import segno
from django.test import Client
from django.urls import reverse

from epigrid.accounts.services import api_token_issue
from epigrid.core.crypto import unseal
from epigrid.core.models import AuditEvent, Job, JobStatus
from epigrid.gates import services as gates
from epigrid.gates.models import HouseholdPass
from epigrid.gates.sheet_pdf import QR_BORDER, SheetWriter, draw_qr
from epigrid.people import services as people


@pytest.fixture
def passes(world):
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=world.admin)
    gates.passes_issue(grid=world.nodes["S-C-G2"], principal=world.admin)
    return {
        code: HouseholdPass.objects.get(household=world.households[key], revoked_at__isnull=True)
        for key, code in (("h1", "S-C-G1"), ("h2", "S-C-G2"))
    }


def _login(world, name):
    client = Client()
    client.force_login(world.users[name])
    return client


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page[^s]", pdf))


def _streams(pdf: bytes) -> list[str]:
    """The PDF's content streams, decoded (reportlab writes them ASCII85 over Flate)."""
    found = re.findall(rb"/Filter \[ /ASCII85Decode /FlateDecode \][^>]*>>\s*stream\r?\n(.*?)endstream", pdf, re.S)
    return [zlib.decompress(base64.a85decode(raw.strip().removesuffix(b"~>"))).decode("latin-1") for raw in found]


NUMBER = r"(-?[\d.]+)"
QR_DRAWN = re.compile(rf"1 1 1 rg\nn {NUMBER} {NUMBER} {NUMBER} {NUMBER} re f\*?\n0 0 0 rg\nn (.*?)\s+f\*?\n", re.S)
RECT = re.compile(rf"{NUMBER} {NUMBER} {NUMBER} {NUMBER} re")


def _qr_symbols(stream: str) -> list[list[list[bool]]]:
    """Every QR code drawn in a page's content stream, read back module by module from the
    rectangles drawn over its white square (row 0 at the top), quiet zone included."""
    symbols = []
    for match in QR_DRAWN.finditer(stream):
        x0, y0, size, _ = (float(v) for v in match.groups()[:4])
        rects = [tuple(float(v) for v in r) for r in RECT.findall(match.group(5))]
        module = min(h for *_, h in rects)
        n = round(size / module)
        grid = [[False] * n for _ in range(n)]
        for x, y, w, h in rects:
            row = round((y0 + size - y - h) / module)
            first = round((x - x0) / module)
            for column in range(first, first + round(w / module)):
                grid[row][column] = True
        symbols.append(grid)
    return symbols


def _segno_symbol(token: str) -> list[list[bool]]:
    return [[bool(m) for m in row] for row in segno.make(token, error="m").matrix_iter(border=QR_BORDER)]


def test_the_passes_page_queues_the_whole_sheet_and_its_starter_downloads_it(world, passes):
    client = _login(world, "head1")
    page = client.get(reverse("gates:passes", args=["S-C-G1"])).content.decode()
    assert f'action="{reverse("gates:pass_sheet_job", args=["S-C-G1"])}"' in page
    response = client.post(reverse("gates:pass_sheet_job", args=["S-C-G1"]))
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.status == JobStatus.DONE and job.kind == "pass_sheet"
    assert job.result["cards"] == 1 and job.result["pages"] == 1 and job.result["file_name"].endswith(".pdf")
    printed = AuditEvent.objects.get(action="passes.print")
    assert printed.actor_id == world.users["head1"].pk and printed.changes["page"] == [None, "all"]
    assert f'href="/jobs/{job.pk}/download/"' in client.get(f"/jobs/{job.pk}/").content.decode()
    download = client.get(f"/jobs/{job.pk}/download/")
    pdf = _body(download)
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert download["Content-Type"] == "application/pdf" and pdf.startswith(b"%PDF-") and _page_count(pdf) == 1
    (page,) = _streams(pdf)
    assert f"({passes['S-C-G1'].number}) Tj" in page
    assert passes["S-C-G2"].number not in page  # 第2网格's card is not 第1网格's to print
    # The card's QR code is the symbol of its pass's token, module for module.
    assert _qr_symbols(page) == [_segno_symbol(unseal(passes["S-C-G1"].token_sealed))]
    # Nobody else gets the file (its cards carry the tokens).
    for name in ("head2", "member1", "inspector"):
        assert _login(world, name).get(f"/jobs/{job.pk}/download/").status_code == 404, name


def test_who_may_not_issue_passes_queues_nothing(world, passes):
    assert _login(world, "member1").post(reverse("gates:pass_sheet_job", args=["S-C-G1"])).status_code == 403
    assert _login(world, "head2").post(reverse("gates:pass_sheet_job", args=["S-C-G1"])).status_code == 404
    assert not Job.objects.exists()


def test_the_api_answers_202_and_the_job_serves_the_sheet(world, passes):
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=world.users['head1'])}"}
    response = client.post("/api/v1/passes/sheet-jobs", {"grid": "S-C-G1"}, content_type="application/json", **auth)
    assert response.status_code == 202, response.content
    job = client.get(f"/api/v1/jobs/{response.json()['id']}", **auth).json()
    assert job["status"] == "done" and job["result"]["cards"] == 1
    download = client.get(job["download_url"], **auth)
    assert download.status_code == 200 and passes["S-C-G1"].number in _streams(_body(download))[0]
    other = {"HTTP_AUTHORIZATION": f"Bearer {api_token_issue(user=world.users['member2'])}"}
    assert (
        client.post(
            "/api/v1/passes/sheet-jobs", {"grid": "S-C-G1"}, content_type="application/json", **other
        ).status_code
        == 404
    )
    assert client.get(job["download_url"], **other).status_code == 404


def test_a_grid_of_ten_households_prints_on_two_pages_its_progress_recorded(world, passes):
    for n in range(2, 11):
        people.household_create(
            grid=world.nodes["S-C-G1-B1"], number=f"1-{100 + n}", address=f"1号楼{n}单元", principal=world.admin
        )
    gates.passes_issue(grid=world.nodes["S-C-G1"], principal=world.admin)
    response = _login(world, "head1").post(reverse("gates:pass_sheet_job", args=["S-C-G1"]))
    job = Job.objects.get()
    assert response.status_code == 302 and job.status == JobStatus.DONE
    assert (job.rows_total, job.rows_checked, job.result["cards"], job.result["pages"]) == (10, 10, 10, 2)
    with job.result_file.open("rb") as handle:
        pdf = handle.read()
    assert pdf.startswith(b"%PDF-") and _page_count(pdf) == 2
    pages = _streams(pdf)
    assert [len(_qr_symbols(page)) for page in pages] == [8, 2]
    tokens = {
        unseal(p.token_sealed)
        for p in HouseholdPass.objects.filter(grid__path__startswith=world.nodes["S-C-G1"].path, revoked_at=None)
    }
    drawn = [symbol for page in pages for symbol in _qr_symbols(page)]
    assert sorted(map(str, drawn)) == sorted(str(_segno_symbol(token)) for token in tokens)


@pytest.mark.parametrize("token", ["a", "x" * 43, "Zm9vYmFyLWJhei0xMjM0NTY3ODkw_-"])
def test_draw_qr_draws_segnos_symbol_upright_with_its_quiet_zone(token):
    out = io.BytesIO()
    sheet = SheetWriter(out, title="test")
    draw_qr(sheet.canvas, token, x=100, y=200, size=90)
    sheet.close()
    (page,) = _streams(out.getvalue())
    (symbol,) = _qr_symbols(page)
    assert symbol == _segno_symbol(token)
    assert not any(symbol[0]) and not any(row[0] for row in symbol)  # the quiet zone is white
