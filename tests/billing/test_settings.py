"""Configuration: production refuses a missing secret and passes Django's deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "k3R7-x9QpL2mZ8vN4wT6yB1cF5hJ0aS3dG7kL9pQ2rT6vX8zC4nM1bV5"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True,
        text=True, timeout=120,
    )


def test_production_refuses_to_start_without_a_real_secret():
    result = _manage("check", DJANGO_SETTINGS_MODULE="billing.settings.production")
    assert result.returncode != 0
    assert "SECRET_KEY must be set to a random secret" in result.stderr


def test_production_refuses_the_development_secret():
    result = _manage(
        "check", DJANGO_SETTINGS_MODULE="billing.settings.production",
        SECRET_KEY="django-insecure-local-only-tally-development-key-change-me",
    )
    assert result.returncode != 0


def test_deploy_checks_are_clean_with_production_settings():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SETTINGS_MODULE="billing.settings.production", SECRET_KEY=GOOD_SECRET,
        ALLOWED_HOSTS="billing.example.com,.billing.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_is_off_unless_asked_for():
    code = "from django.conf import settings; print(settings.DEBUG)"
    base = {"DJANGO_SETTINGS_MODULE": "billing.settings.local"}
    off = _manage("shell", "--no-imports", "-c", code, **base)
    on = _manage("shell", "--no-imports", "-c", code, DEBUG="1", **base)
    assert off.stdout.strip() == "False"
    assert on.stdout.strip() == "True"
