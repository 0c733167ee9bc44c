"""The PROGRESS_* settings: read from the environment, refused at start-up when nonsensical.

Real parts: `manage.py` run in a subprocess with an explicit environment, and the services
reading the settings of this process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from progress.services import progress_policy

BASE = {"DJANGO_DEBUG": "1", "SECRET_KEY": "progress-settings-test-key-0123456789abcdefghij"}


def run_python(tmp_path, code: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` after `django.setup()` in a fresh interpreter with this environment."""
    return subprocess.run(  # noqa: S603 - fixed interpreter and arguments
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=settings.BASE_DIR,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "EDUFLOW_DATA_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "eduflow.settings",
            **BASE,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_values_come_from_the_environment(tmp_path):
    code = (
        "from progress.services import progress_policy as p; x = p(); "
        "print(x.completion_ratio, x.max_playback_rate, x.rate_slack_seconds, "
        "x.resume_min_seconds, x.end_seconds)"
    )
    result = run_python(
        tmp_path,
        code,
        PROGRESS_VIDEO_COMPLETION="0.95",
        PROGRESS_MAX_PLAYBACK_RATE="3",
        PROGRESS_RATE_SLACK_SECONDS="20",
        PROGRESS_RESUME_MIN_SECONDS="2",
        PROGRESS_END_SECONDS="15",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0.95", "3.0", "20.0", "2.0", "15.0"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROGRESS_VIDEO_COMPLETION", "0"),
        ("PROGRESS_VIDEO_COMPLETION", "1.5"),
        ("PROGRESS_VIDEO_COMPLETION", "nan"),
        ("PROGRESS_RATE_SLACK_SECONDS", "ten"),
        ("PROGRESS_MAX_PLAYBACK_RATE", "0"),
        ("PROGRESS_END_SECONDS", "-1"),
    ],
)
def test_nonsense_stops_start_up(tmp_path, name, value):
    result = run_python(tmp_path, "print('started')", **{name: value})
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert f"ImproperlyConfigured: {name} must be a number" in result.stderr


def test_defaults():
    policy = progress_policy()
    assert (
        policy.completion_ratio,
        policy.max_playback_rate,
        policy.rate_slack_seconds,
        policy.resume_min_seconds,
        policy.end_seconds,
    ) == (0.9, 2.0, 10.0, 5.0, 10.0)
