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


def test_every_schema_name_is_used_once():
    """OpenAPI names a component by its class: two apps' `ReleaseIn` would be documented as one,
    and an integrator would read the wrong fields for one of the endpoints."""
    import importlib
    import inspect
    import pkgutil

    from ninja import Schema

    import epigrid

    owners: dict[str, list[str]] = {}
    for module_info in pkgutil.walk_packages(epigrid.__path__, "epigrid."):
        if not module_info.name.endswith(("api", "user_api")):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, Schema) and value.__module__ == module.__name__:
                owners.setdefault(name, []).append(module.__name__)
    twice = {name: modules for name, modules in owners.items() if len(modules) > 1}
    assert not twice, f"schema names used in more than one module: {twice}"
