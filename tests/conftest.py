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
def _empty_cache():
    # Counters kept in the cache (the gate's typed-number misses) are per user id, and ids come
    # again from test to test: every test starts with an empty cache.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


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
