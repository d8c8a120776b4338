"""Settings come from the environment, fail loudly on bad values, and pass Django's deploy checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_SECRET = "k3!x9-production-like-secret-for-the-deploy-check-0123456789abcdef"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "PYTEST_"))}
    base.update(
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ["REDIS_URL"],
        DJANGO_SETTINGS_MODULE="qingdao_ops.settings",
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": PRODUCTION_SECRET,
        "DJANGO_ALLOWED_HOSTS": "ops.qingdao.example",
    }
    env.update(overrides)
    return env


def test_production_settings_pass_the_deploy_check_without_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_a_bad_boolean_stops_start_up_and_names_the_variable():
    result = manage("check", **production_env(DJANGO_DEBUG="maybe"))

    assert result.returncode != 0
    assert "DJANGO_DEBUG='maybe' is not a boolean" in result.stderr


def test_production_without_a_secret_key_refuses_to_start():
    env = production_env()
    env.pop("DJANGO_SECRET_KEY")
    result = manage("check", **env)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_a_short_secret_key_is_refused_in_production():
    result = manage("check", **production_env(DJANGO_SECRET_KEY="short"))

    assert result.returncode != 0
    assert "at least 50 characters" in result.stderr


def test_a_database_url_that_is_not_postgis_is_refused():
    result = manage("check", **production_env(DATABASE_URL="sqlite:///tmp/x.db"))

    assert result.returncode != 0
    assert "postgis://" in result.stderr


def test_a_bad_integer_is_refused():
    result = manage("check", **production_env(DJANGO_SECURE_HSTS_SECONDS="a year"))

    assert result.returncode != 0
    assert "DJANGO_SECURE_HSTS_SECONDS='a year' is not an integer" in result.stderr


def test_docker_compose_file_describes_the_production_services():
    compose = shutil.which("docker-compose")
    if not compose:
        missing("docker-compose (Debian package) is not installed; make test installs it")
    env = dict(os.environ, DJANGO_SECRET_KEY=PRODUCTION_SECRET, DJANGO_ALLOWED_HOSTS="h", POSTGRES_PASSWORD="p")
    result = subprocess.run(
        [compose, "-f", "docker-compose.yml", "config", "--services"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) >= {"postgis", "redis", "web", "ws", "proxy", "worker", "beat"}


def test_docker_compose_refuses_to_start_without_secrets():
    compose = shutil.which("docker-compose")
    if not compose:
        missing("docker-compose (Debian package) is not installed; make test installs it")
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD"}}
    result = subprocess.run(
        [compose, "-f", "docker-compose.yml", "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert result.returncode != 0
    assert "set DJANGO_SECRET_KEY" in result.stderr or "set POSTGRES_PASSWORD" in result.stderr


@pytest.mark.parametrize("name", ["DATABASE_URL", "REDIS_URL"])
def test_missing_service_urls_say_how_to_get_them(name, tmp_path):
    # Run from a copy of the settings' directory layout without var/services.env, so nothing fills the gap.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    if name == "REDIS_URL":
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    env.update(DJANGO_SETTINGS_MODULE="qingdao_ops.settings", DJANGO_DEBUG="true", QDOPS_NO_ENV_FILE="1")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert f"{name} is not set" in result.stderr


def test_the_openapi_schema_generates_without_warnings_and_describes_the_api(tmp_path):
    out = tmp_path / "schema.yml"
    result = manage("spectacular", "--validate", "--fail-on-warn", "--file", str(out), DJANGO_DEBUG="true")

    assert result.returncode == 0, result.stderr
    schema = out.read_text()
    assert schema.startswith("openapi: 3")
    for path in ("/api/v1/components/", "/api/v1/locate/", "/api/v1/units/", "/api/v1/me/", "/api/v1/cases/"):
        assert f"  {path}:" in schema


def test_collected_static_modules_import_each_other_by_their_hashed_names(tmp_path):
    """A release's page script must load the same release's modules: the ES module imports are rewritten."""
    root = tmp_path / "static"
    result = manage("collectstatic", "--noinput", "-v", "0", **production_env(DJANGO_STATIC_ROOT=str(root)))
    assert result.returncode == 0, result.stderr

    manifest = json.loads((root / "staticfiles.json").read_text())["paths"]
    command = (root / manifest["js/command.js"]).read_text()
    assert f'from "./{manifest["js/live.js"].rsplit("/", 1)[1]}"' in command
    assert f'from "./{manifest["js/cluster-layer.js"].rsplit("/", 1)[1]}"' in command
    assert 'from "./live.js"' not in command
