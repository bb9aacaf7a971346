"""Crypto-shredding of the audit log (docs/architecture.md "Retention and erasure").

An audit row about a person (the person itself, or an object with a `person`) keeps the values
of its personal and free-text fields (`PERSONAL_KEYS`) sealed with that person's own key
(`core.models.PersonKey`, itself sealed with the field key): `{"sealed_for": 42, "v": "…"}` in
place of `[old, new]`. The chain hashes what is stored, so erasing a person deletes their key,
the values can no longer be opened, and `epigrid audit verify` still passes. Rows written before
this existed keep their values as they were (masks, "[redacted]").
"""

import base64
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import DEFAULT_DB_ALIAS

from .crypto import seal, unseal
from .models import PersonKey

VERSION = 1
ERASED = "[erased]"
# Change keys whose values are personal or free text: sealed when the row is about a person.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "full_name",
        "id_number",
        "phone",
        "birth_date",
        "address",
        "note",
        "reason",
        "early_reason",
        "remarks",
        "review_note",
        "request",
        "conclusion",
        "wish",
        "visitor",
        "comment",
        "text",
        "description",
        "value",  # a temperature: health data
    }
)
PERSONAL_SUFFIXES = ("_name", "_phone", "_note", "_reason", "_text", "_address")


def is_personal(key: str) -> bool:
    return key in PERSONAL_KEYS or key.endswith(PERSONAL_SUFFIXES)


def _aad(person_id: int) -> bytes:
    return f"epigrid audit person {person_id}".encode()


def _open_key(row: PersonKey) -> AESGCM:
    return AESGCM(base64.b64decode(unseal(row.key_sealed)))


def keys_for(person_ids, *, create: bool, using: str | None = None) -> dict[int, AESGCM]:
    """The persons' keys (one query; missing ones made in the caller's transaction when `create`)."""
    db = using or DEFAULT_DB_ALIAS
    ids = {int(pk) for pk in person_ids}
    if not ids:
        return {}
    rows = _read(db, ids)
    missing = ids - rows.keys()
    if missing and create:
        PersonKey.objects.using(db).bulk_create(
            [PersonKey(person_id=pk, key_sealed=seal(base64.b64encode(os.urandom(32)).decode())) for pk in missing],
            batch_size=CHUNK,
            ignore_conflicts=True,  # a concurrent writer made one first: read it back
        )
        rows.update(_read(db, missing))
    return {pk: _open_key(row) for pk, row in rows.items()}


CHUNK = 500  # ids per query: an import's 200,000 rows stay under SQLite's parameter limit


def _read(db: str, ids: set[int]) -> dict[int, PersonKey]:
    ordered, rows = sorted(ids), {}
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        rows.update({row.person_id: row for row in PersonKey.objects.using(db).filter(person_id__in=chunk)})
    return rows


def _seal_value(person_id: int, aead: AESGCM, value) -> dict:
    nonce = os.urandom(12)
    plain = json.dumps(value, ensure_ascii=False, default=str).encode()
    blob = bytes([VERSION]) + nonce + aead.encrypt(nonce, plain, _aad(person_id))
    return {"sealed_for": person_id, "v": base64.b64encode(blob).decode()}


def seal_changes(entries, person_of, *, using: str | None = None) -> None:
    """Seal, in place, the personal values of each entry that `person_of(entry)` ties to a person."""
    wanted = []
    for entry in entries:
        person_id = person_of(entry)
        if person_id and any(is_personal(key) and not is_sealed(v) for key, v in entry.changes.items()):
            wanted.append((entry, int(person_id)))
    if not wanted:
        return
    keys = keys_for({person_id for _, person_id in wanted}, create=True, using=using)
    for entry, person_id in wanted:
        entry.changes = {
            key: _seal_value(person_id, keys[person_id], value) if is_personal(key) and not is_sealed(value) else value
            for key, value in entry.changes.items()
        }


def is_sealed(value) -> bool:
    return isinstance(value, dict) and "sealed_for" in value and "v" in value


def sealed_persons(changes: dict) -> set[int]:
    return {int(v["sealed_for"]) for v in (changes or {}).values() if is_sealed(v)}


def open_changes(changes: dict, keys: dict[int, AESGCM] | None = None) -> dict:
    """`changes` with its sealed values opened; a value whose person's key is gone (erased)
    reads ERASED. `keys` (from `keys_for`) saves the lookup when opening many rows."""
    changes = changes or {}
    persons = sealed_persons(changes)
    if not persons:
        return changes
    if keys is None:
        keys = keys_for(persons, create=False)
    out = {}
    for key, value in changes.items():
        if not is_sealed(value):
            out[key] = value
            continue
        aead = keys.get(int(value["sealed_for"]))
        if aead is None:
            out[key] = ERASED
            continue
        blob = base64.b64decode(value["v"])
        if blob[:1] != bytes([VERSION]):
            out[key] = ERASED
            continue
        out[key] = json.loads(aead.decrypt(blob[1:13], blob[13:], _aad(int(value["sealed_for"]))))
    return out


def open_many(changes_list) -> list[dict]:
    """open_changes over many rows with one key lookup."""
    changes_list = list(changes_list)
    persons = set().union(*(sealed_persons(c) for c in changes_list)) if changes_list else set()
    keys = keys_for(persons, create=False)
    return [open_changes(c, keys) for c in changes_list]


def forget(person_ids, *, using: str | None = None) -> int:
    """Delete the persons' keys: their sealed audit values can never be read again."""
    ordered, deleted = sorted(int(pk) for pk in person_ids), 0
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        deleted += PersonKey.objects.using(using or DEFAULT_DB_ALIAS).filter(person_id__in=chunk).delete()[0]
    return deleted
