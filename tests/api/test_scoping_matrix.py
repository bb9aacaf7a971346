"""The scoping matrix: every API endpoint, for anonymous, no-role, out-of-scope and in-scope
users. A new endpoint that is not listed here fails `test_every_endpoint_is_in_the_matrix`, so
every later endpoint inherits the check (ARCHITECTURE "Tests")."""

import io
import re
from dataclasses import dataclass, field

import pytest
import xlsxwriter
from django.test import Client

from epigrid.accounts.services import api_token_issue
from epigrid.api.main import api
from tests.factories import make_id_number


@dataclass
class Endpoint:
    method: str
    path: str  # {grid} {person} {household} {place} {assignment} are filled from the world
    body: object = None  # dict, or a callable(world) -> dict; "multipart" for uploads
    in_scope_status: int = 200
    # What a user without any role gets: lists answer empty (200), objects 404.
    no_role_status: int = 404
    out_of_scope_status: int = 404
    in_scope_user: str = "member1"
    out_of_scope_user: str = "member2"
    extra: dict = field(default_factory=dict)


def _xlsx(rows):
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    return out.getvalue()


ENDPOINTS = [
    Endpoint("GET", "/api/v1/grids", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/grids/{grid}"),
    Endpoint(
        "POST",
        "/api/v1/grids",
        body={"parent": "{grid}", "code": "S-C-G1-B9", "name": "9号楼", "level": "building"},
        in_scope_status=201,
        in_scope_user="secretary",
    ),
    Endpoint("GET", "/api/v1/coverage", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/coverage?grid={grid}"),
    Endpoint("GET", "/api/v1/places", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/places/{place}"),
    Endpoint("POST", "/api/v1/places", body={"name": "药店", "kind": "shop", "grid": "{grid}"}, in_scope_status=201),
    Endpoint("PATCH", "/api/v1/places/{place}", body={"address": "新地址"}),
    Endpoint("GET", "/api/v1/households", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/households/{household}"),
    Endpoint(
        "POST",
        "/api/v1/households",
        body={"grid": "{building}", "number": "2-202", "address": "2单元202"},
        in_scope_status=201,
    ),
    Endpoint("PATCH", "/api/v1/households/{household}", body={"address": "1单元101室"}),
    Endpoint("GET", "/api/v1/persons", no_role_status=200, out_of_scope_status=200),
    Endpoint("GET", "/api/v1/persons?grid={grid}"),
    Endpoint("GET", "/api/v1/persons/{person}"),
    Endpoint(
        "POST",
        "/api/v1/persons",
        body=lambda w: {"name": "新人", "id_number": make_id_number(), "household_id": w.households["h1"].pk},
        in_scope_status=201,
    ),
    Endpoint("PATCH", "/api/v1/persons/{person}", body={"note": "行动不便"}),
    Endpoint("POST", "/api/v1/persons/{person}/reveal", body={"field": "phone"}),
    Endpoint("POST", "/api/v1/persons/{person}/archive", body={"reason": "搬离"}),
    Endpoint("GET", "/api/v1/persons/{person}/timeline"),
    Endpoint("GET", "/api/v1/assignments", no_role_status=200, out_of_scope_status=200),
    Endpoint(
        "POST",
        "/api/v1/assignments",
        body={"username": "norole", "grid": "{grid}", "role": "volunteer"},
        in_scope_status=201,
        in_scope_user="head1",
    ),
    Endpoint("PATCH", "/api/v1/assignments/{assignment}", body={"duties": ["work_safety"]}, in_scope_user="head1"),
    Endpoint("POST", "/api/v1/assignments/{assignment}/end", in_scope_user="head1"),
    Endpoint(
        "POST",
        "/api/v1/imports",
        body="multipart",
        in_scope_status=201,
        in_scope_user="staff",
        # Refused before any row is read for users without the import right (scope of the
        # rows themselves: tests/people/test_ledgers.py).
        no_role_status=403,
        out_of_scope_status=403,
    ),
    Endpoint("GET", "/api/v1/exports/{kind}?grid={grid}", in_scope_user="staff"),
]


def _fill(world, template: str) -> str:
    values = {
        "grid": "S-C-G1",
        "kind": "residents",
        "building": "S-C-G1-B1",
        "person": world.persons["p1"].pk,
        "household": world.households["h1"].pk,
        "place": world.places["clinic"].pk,
        "assignment": world.users["member1"].grid_assignments.get().pk,
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), template)


def _call(world, endpoint: Endpoint, username: str | None):
    client = Client()
    headers = {}
    if username:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {api_token_issue(user=world.users[username])}"
    path = _fill(world, endpoint.path)
    method = getattr(client, endpoint.method.lower())
    if endpoint.body == "multipart":
        rows = [
            ["网格编码", "户号", "住址", "姓名", "身份证号码"],
            ["S-C-G1-B1", "3-301", "3单元301", "钱七", make_id_number()],
        ]
        upload = io.BytesIO(_xlsx(rows))
        upload.name = "roster.xlsx"
        return method(path, {"kind": "residents", "file": upload}, **headers)
    body = endpoint.body(world) if callable(endpoint.body) else endpoint.body
    if body is None:
        return method(path, **headers)
    body = {k: _fill(world, v) if isinstance(v, str) else v for k, v in body.items()}
    return method(path, body, content_type="application/json", **headers)


def _ids(endpoint):
    return f"{endpoint.method} {endpoint.path}"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_anonymous_is_refused(world, endpoint):
    response = _call(world, endpoint, None)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_user_without_role_sees_nothing(world, endpoint):
    response = _call(world, endpoint, "norole")
    assert response.status_code == endpoint.no_role_status, response.content
    if response.status_code == 200 and "json" in response["Content-Type"]:
        data = response.json()
        items = data.get("items", data) if isinstance(data, dict) else data
        if isinstance(data, dict) and "gaps" in data:
            items = data["gaps"] + data["overlaps"]
        assert items == [], data


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_out_of_scope_user_gets_404_or_nothing(world, endpoint):
    response = _call(world, endpoint, endpoint.out_of_scope_user)
    assert response.status_code == endpoint.out_of_scope_status, response.content
    body = response.content.decode()
    # Nothing of the other grid leaks into a list.
    assert "张三" not in body and str(world.persons["p1"].id_number_masked) not in body


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_in_scope_user_is_served(world, endpoint):
    response = _call(world, endpoint, endpoint.in_scope_user)
    assert response.status_code == endpoint.in_scope_status, response.content


PUBLIC = {("POST", "/api/v1/auth/token")}


def test_every_endpoint_is_in_the_matrix():
    listed = {(e.method, e.path.split("?")[0]) for e in ENDPOINTS} | PUBLIC
    schema = api.get_openapi_schema()
    for path, operations in schema["paths"].items():
        template = re.sub(r"\{\w+\}", "{x}", path)
        for method in operations:
            known = {(m, re.sub(r"\{\w+\}", "{x}", p)) for m, p in listed}
            assert (method.upper(), template) in known, f"{method.upper()} {path} is not in the scoping matrix"
