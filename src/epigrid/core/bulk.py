"""Bulk inserts for the high-volume writes (imports, temperatures, passages): COPY on PostgreSQL,
`bulk_create` elsewhere (docs/architecture.md "Who may do what", high-volume writes).

Like `bulk_create`: no `save()`, no signals, `auto_now`/`auto_now_add` and defaults applied, and
primary keys are set on the objects afterwards (taken from the table's sequence in one query
beforehand, since COPY returns nothing). Runs inside the caller's transaction. COPY bypasses
Django's execute wrappers, so it is not counted by `assertNumQueries`.
"""

import datetime as dt

from django.db import connections, router
from django.utils import timezone

_NEXTVAL = "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)"
# Per field type, the Python types psycopg writes exactly as Django would store them; any other
# value (lazy strings, naive datetimes, JSON, decimals, UUIDs…) goes through the field's own
# get_db_prep_save, as in bulk_create.
_INT = frozenset({int, type(None)})
_NATIVE = {
    "AutoField": _INT,
    "BigAutoField": _INT,
    "SmallAutoField": _INT,
    "BigIntegerField": _INT,
    "IntegerField": _INT,
    "PositiveBigIntegerField": _INT,
    "PositiveIntegerField": _INT,
    "PositiveSmallIntegerField": _INT,
    "SmallIntegerField": _INT,
    "ForeignKey": _INT,
    "OneToOneField": _INT,
    "BooleanField": frozenset({bool, type(None)}),
    "CharField": frozenset({str, type(None)}),
    "TextField": frozenset({str, type(None)}),
    "BinaryField": frozenset({bytes, type(None)}),
    "DateField": frozenset({dt.date, type(None)}),
    "DateTimeField": frozenset({type(None)}),  # plus aware datetimes, below
}


def _converter(field, connection, now: dt.datetime):
    """One function per column: obj -> the value to COPY."""
    prep = field.get_db_prep_save
    attname = field.attname
    stamped = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    if stamped and field.get_internal_type() == "DateTimeField":
        # What pre_save(add=True) does, with one timestamp for the whole batch.
        def stamp(obj):
            setattr(obj, attname, now)
            return now

        return stamp
    native = _NATIVE.get(field.get_internal_type())
    if native is None or stamped:
        return lambda obj: prep(field.pre_save(obj, True), connection)
    aware_ok = field.get_internal_type() == "DateTimeField"

    def convert(obj):
        value = getattr(obj, attname)
        kind = type(value)
        if kind in native or (aware_ok and kind is dt.datetime and value.tzinfo is not None):
            return value
        return prep(value, connection)

    return convert


def bulk_insert(model, objs, *, using: str | None = None, batch_size: int | None = None) -> list:
    objs = list(objs)
    if not objs:
        return objs
    db = using or router.db_for_write(model)
    connection = connections[db]
    if connection.vendor != "postgresql":
        return model._base_manager.using(db).bulk_create(objs, batch_size=batch_size)
    opts = model._meta
    pk = opts.pk
    fields = [f for f in opts.concrete_fields if not getattr(f, "generated", False)]
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_insert")
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        without_pk = [obj for obj in objs if obj.pk is None]
        if without_pk:
            if not getattr(pk, "db_returning", False):
                raise ValueError(f"{opts.label}: bulk_insert needs primary keys or a database-generated key")
            cursor.execute(_NEXTVAL, [opts.db_table, pk.column, len(without_pk)])
            for obj, (value,) in zip(without_pk, cursor.fetchall(), strict=True):
                setattr(obj, pk.attname, value)
        now = timezone.now()
        converters = [_converter(f, connection, now) for f in fields]
        columns = ", ".join(quote(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {quote(opts.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([convert(obj) for convert in converters])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = db
    return objs
