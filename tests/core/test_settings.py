"""Settings fail closed in production and read their values from the environment.

Real parts: `manage.py` run in a subprocess with an explicit environment (real variables win
over the development `.env`, which is read with overwrite=False), Django's system checks
including `check --deploy`, and the settings loaded in this test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
PRODUCTION_KEY = "x7Qp2vNw9LmZr4Tb8YcK1HsJd6FgAeU3oXiWnVqRtMyPzCbE5lSk0hGuDfIjO"


@pytest.fixture
def run(tmp_path):
    def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
        clean_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "EDUFLOW_DATA_DIR": str(tmp_path / "var"),
            "STATIC_ROOT": str(tmp_path / "static"),
            "DJANGO_SETTINGS_MODULE": "eduflow.settings",
            **env,
        }
        return subprocess.run(  # noqa: S603 - fixed interpreter and arguments
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=clean_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run_manage


PRODUCTION = {"DJANGO_DEBUG": "0", "SECRET_KEY": PRODUCTION_KEY, "ALLOWED_HOSTS": "lms.example.org"}


def test_production_without_secret_key_refuses_to_start(run):
    result = run("check", **{**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


def test_production_without_allowed_hosts_refuses_to_start(run):
    result = run("check", **{**PRODUCTION, "ALLOWED_HOSTS": ""})
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is required" in result.stderr


def test_invalid_trusted_proxy_refuses_to_start(run):
    result = run("check", **PRODUCTION, TRUSTED_PROXIES="10.0.0.0/8,not-an-address")
    assert result.returncode != 0
    assert "TRUSTED_PROXIES entry 'not-an-address'" in result.stderr


def test_production_settings_pass_the_deploy_check(run):
    result = run("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr + result.stdout


def test_deploy_check_still_catches_a_weakened_setting(run):
    result = run(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, SECURE_HSTS_SECONDS="0"
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr


def test_token_lifetimes_come_from_the_environment(run):
    code = (
        "from django.conf import settings as s; "
        "print(s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].total_seconds(), "
        "s.SIMPLE_JWT['REFRESH_TOKEN_LIFETIME'].total_seconds())"
    )
    result = run(
        "shell",
        "--no-imports",
        "-c",
        code,
        **PRODUCTION,
        JWT_ACCESS_MINUTES="5",
        JWT_REFRESH_DAYS="2",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["300.0", "172800.0"]


def test_database_url_gets_persistent_connections(run):
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default']; "
        "print(d['ENGINE'], d['NAME'], d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    result = run(
        "shell",
        "--no-imports",
        "-c",
        code,
        **PRODUCTION,
        DATABASE_URL="postgres://app@db.internal:5432/eduflow",
    )
    assert result.returncode == 0, result.stderr
    engine, name, max_age, health = result.stdout.split()
    assert (engine, name, health) == ("django.db.backends.postgresql", "eduflow", "True")
    assert int(max_age) > 0


def test_this_process_uses_persistent_connections():
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


@pytest.mark.argon2
def test_argon2_is_the_production_hasher():
    assert settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
