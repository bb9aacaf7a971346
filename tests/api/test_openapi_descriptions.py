"""An integrator reads in the schema who may call each operation and what follows from it
(issue 10: "Describe each endpoint's who-may-call and its cascades")."""

from epigrid.api.main import api

METHODS = {"get", "post", "put", "patch", "delete"}


def test_every_operation_says_who_may_call_it_and_what_follows():
    schema = api.get_openapi_schema()
    offenders = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            description = operation.get("description") or ""
            if not description.startswith("Who may call:") or "cascade" not in description.lower():
                offenders.append(f"{method.upper()} {path}: {description[:60]!r}")
    assert not offenders, "operations without 'Who may call: … cascade' in their description:\n" + "\n".join(offenders)
