import pytest
from django.contrib.auth.signals import user_logged_in
from django_otp import DEVICE_ID_SESSION_KEY

from tests.factories import build_world


def _factory_logins_carry_their_second_factor(sender, request, user, **kwargs):
    """`Client.force_login(user)` of a factory user (tests.factories.make_user) logs in as that
    user object is: past its second factor. django-otp would store the device itself, but the test
    client's login request has no `request.user` for it to check against."""
    device = getattr(user, "otp_device", None)
    if getattr(device, "persistent_id", "") and not hasattr(request, "user"):
        request.session[DEVICE_ID_SESSION_KEY] = device.persistent_id


user_logged_in.connect(_factory_logins_carry_their_second_factor, dispatch_uid="tests-factory-second-factor")


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    # Argon2 is the production hasher (see test_settings); tests don't need its cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _compiled_reads_checked(settings):
    # Every compiled read (core.compiled) is also read through the ORM, and a difference fails.
    settings.EPIGRID_CHECK_COMPILED_READS = True


@pytest.fixture(autouse=True)
def _jobs_inline(settings):
    # Background jobs run right after the request's commit (core.jobs); browser tests use threads.
    settings.JOBS_RUNNER = "inline"


@pytest.fixture(autouse=True)
def _empty_cache():
    # Counters kept in the cache (the gate's typed-number misses) are per user id, and ids come
    # again from test to test: every test starts with an empty cache.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True, scope="session")
def _private_media_root(tmp_path_factory):
    # Uploaded photos go to a temporary directory, never a developer's var/private (session-wide,
    # so the module-wide worlds of the matrices keep their files; a test that checks what was
    # stored points PRIVATE_MEDIA_ROOT at its own tmp_path).
    from django.test import override_settings

    with override_settings(PRIVATE_MEDIA_ROOT=tmp_path_factory.mktemp("private-media")):
        yield


@pytest.fixture(autouse=True)
def _audit_anchor_file(settings, tmp_path):
    # Never read or append to a developer's real anchor file.
    settings.AUDIT_ANCHOR_FILE = tmp_path / "audit-anchors.jsonl"


@pytest.fixture(autouse=True)
def _flush_past_audit_triggers(request):
    """A transactional test's database is emptied by TRUNCATE on PostgreSQL, which the audit
    triggers refuse: let that one flush through (the test runs as superuser; the connection is
    closed after the flush, which ends the setting)."""
    marker = request.node.get_closest_marker("django_db")
    if not (marker and marker.kwargs.get("transaction")):
        return
    from django.db import connection

    request.getfixturevalue("transactional_db")
    if connection.vendor != "postgresql":
        return

    def replica_for_flush():
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")

    request.addfinalizer(replica_for_flush)


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def concurrent_db(request, tmp_path):
    """A database that threads may write at once, for a `django_db(transaction=True)` test.

    PostgreSQL: the test database itself. SQLite: the in-memory test database is one shared-cache
    database whose table locks fail a second writer at once (no waiting), and its audit triggers
    refuse the flush after a transactional test that wrote audit rows. So the test gets a file
    copy of it (migrated, empty), as the "default" database of the main thread and of every thread
    it starts, and the copy is thrown away afterwards.
    """
    import sqlite3

    from django.db import connection, connections

    marker = request.node.get_closest_marker("django_db")
    assert marker and marker.kwargs.get("transaction"), "concurrent_db needs django_db(transaction=True)"
    if connection.vendor != "sqlite":
        yield
        return
    memory = connections["default"]
    shared = connections.settings["default"]  # new threads' connections are made from this dict
    memory_name = shared["NAME"]
    path = tmp_path / "concurrent.sqlite3"
    memory.ensure_connection()
    copy = sqlite3.connect(path)
    memory.connection.backup(copy)
    copy.close()
    shared["NAME"] = str(path)
    on_file = memory.__class__(dict(shared), "default")
    connections["default"] = on_file
    try:
        yield path
    finally:
        on_file.close()
        connections["default"] = memory
        shared["NAME"] = memory_name
