"""The project as a new user meets it: deploy checks, the demo data, the console script."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

EPIGRID = str(Path(sys.executable).parent / "epigrid")


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        {
            "EPIGRID_PRODUCTION": "1",
            "SECRET_KEY": "a-long-random-production-secret-key-with-many-characters-0531-xyz",
            "EPIGRID_FIELD_KEY": "c2VjcmV0LWZpZWxkLWtleS1mb3ItZXBpZ3JpZC10ZXN0cyE=",
            "EPIGRID_AUDIT_KEY": "a-long-random-production-audit-key-0531-xyz",
            "ALLOWED_HOSTS": "epigrid.example.org",
            "EPIGRID_VAR_DIR": str(tmp_path),
            # a deployment as docs/deploy.md has it: PostgreSQL, the anchors off the app's disk
            "DATABASE_URL": "postgres://epigrid@db.example.org:5432/epigrid",
            "EPIGRID_AUDIT_ANCHOR_FILE": "/srv/anchors/epigrid-anchors.jsonl",
        }
    )
    result = subprocess.run(
        [EPIGRID, "check", "--deploy", "--fail-level", "WARNING"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_secrets(tmp_path):
    secrets = {"DATABASE_URL", "SECRET_KEY", "EPIGRID_FIELD_KEY", "EPIGRID_AUDIT_KEY"}
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    env.update({"EPIGRID_PRODUCTION": "1", "EPIGRID_VAR_DIR": str(tmp_path)})
    result = subprocess.run([EPIGRID, "check"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "EPIGRID_FIELD_KEY" in result.stderr
    # The audit key alone missing is refused too.
    env.update({"SECRET_KEY": "a-long-random-production-secret-key-0531", "EPIGRID_FIELD_KEY": "c2VjcmV0"})
    result = subprocess.run([EPIGRID, "check"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "EPIGRID_AUDIT_KEY" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRET_KEY", "dev-only-insecure-secret-key-0531-0531-0531-0531-0531-0531"),  # the published default
        ("SECRET_KEY", "short-secret"),
        ("EPIGRID_FIELD_KEY", "ZGV2LW9ubHktZmllbGQta2V5LTA1MzEtMDUzMS0wNTM="),  # the published default
        ("EPIGRID_FIELD_KEY", "c2hvcnQ="),  # 5 bytes
        ("EPIGRID_AUDIT_KEY", "dev-only-insecure-audit-key-0531-0531-0531-0531"),  # the published default
        ("EPIGRID_AUDIT_KEY", "short"),
    ],
)
def test_production_refuses_published_or_short_keys(tmp_path, name, value):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        {
            "EPIGRID_PRODUCTION": "1",
            "SECRET_KEY": "a-long-random-production-secret-key-with-many-characters-0531-xyz",
            "EPIGRID_FIELD_KEY": "c2VjcmV0LWZpZWxkLWtleS1mb3ItZXBpZ3JpZC10ZXN0cyE=",
            "EPIGRID_AUDIT_KEY": "a-long-random-production-audit-key-0531-xyz",
            "ALLOWED_HOSTS": "epigrid.example.org",
            "EPIGRID_VAR_DIR": str(tmp_path),
            name: value,
        }
    )
    for command in (["check", "--deploy"], ["migrate", "--plan"]):
        result = subprocess.run([EPIGRID, *command], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode != 0 and name in result.stderr, result.stderr[-500:]


@pytest.mark.django_db
def test_demo_is_the_reference_scenario(capsys):
    from epigrid.accounts.choices import Role
    from epigrid.accounts.models import GridAssignment
    from epigrid.accounts.permissions import operator_principal
    from epigrid.grids.models import GridNode
    from epigrid.oversight.selectors import coverage_audit

    call_command("demo")
    out = capsys.readouterr().out
    for login in ("commander", "community", "gridhead9", "member9", "guard", "inspector"):
        assert login in out
    community = GridNode.objects.get(name="花园路社区")
    assert GridNode.objects.filter(level="grid", path__startswith=community.path).count() == 10
    grid9 = GridNode.objects.get(name="第9网格")
    assert grid9.address == "利农庄路23号院"
    assert GridAssignment.objects.active().filter(node=grid9, role=Role.GRID_MEMBER).count() == 18
    assert set(GridNode.objects.filter(level="thematic").values_list("name", flat=True)) == {
        "医疗网格",
        "教育网格",
        "企业网格",
        "民生网格",
        "驻区单位网格",
    }
    assert coverage_audit(user=operator_principal()).ok
    # 泉心愿: the community's four teams, and the quarantined family's wish done by a volunteer.
    from epigrid.mobilization.models import VolunteerTeam, Wish

    assert set(VolunteerTeam.objects.filter(grid=community).values_list("name", flat=True)) == {
        "红色管家",
        "爱邻联盟",
        "解放先锋",
        "红色工匠",
    }
    wish = Wish.objects.get(source="resident")
    assert wish.status == "done" and wish.volunteer.team.name == "红色管家" and wish.household.number == "1-301"
    call_command("audit", "verify")


def test_the_lock_file_pins_what_pyproject_pins():
    """requirements.lock (what `make venv` installs, hashes checked) holds every pin of
    pyproject.toml at the same version: a pin moved in one place only fails here."""
    import re
    import tomllib

    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    pins = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    lock = (root / "requirements.lock").read_text()
    locked = {
        name.lower().replace("_", "-"): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", lock, re.M)
    }
    for pin in pins:
        name, version = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", pin).groups()
        assert locked.get(name.lower().replace("_", "-")) == version, pin
    assert lock.count("--hash=sha256:") >= len(locked)  # every package with its hashes
