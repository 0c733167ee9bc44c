"""Storage settings: local files by default, S3 when a bucket is named, and start-up refused when
the bucket is named without credentials (fail closed).

Real parts: `manage.py` run in a subprocess with an explicit environment, so the settings module
is imported fresh. No mocks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
SHOW_STORAGE = (
    "from django.conf import settings; from django.core.files.storage import default_storage; "
    "o = settings.STORAGES['default'].get('OPTIONS', {}); "
    "print(default_storage.__class__.__name__, o.get('bucket_name'), o.get('endpoint_url'), "
    "o.get('addressing_style'), o.get('querystring_expire'), o.get('file_overwrite'), "
    "settings.MEDIA_MAX_IMAGE_BYTES, settings.FILE_UPLOAD_MAX_MEMORY_SIZE)"
)


@pytest.fixture
def shell(tmp_path):
    def run(**env: str) -> subprocess.CompletedProcess:
        clean_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "EDUFLOW_DATA_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "eduflow.settings",
            "DJANGO_DEBUG": "1",
            "SECRET_KEY": "test-secret-key-for-a-subprocess-0123456789",
            **env,
        }
        return subprocess.run(  # noqa: S603 - fixed interpreter and arguments
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", SHOW_STORAGE],
            cwd=BASE_DIR,
            env=clean_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def test_local_file_storage_by_default(shell):
    result = shell()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "FileSystemStorage", "None", "None", "None", "None", "None", "10485760", "2621440",
    ]  # fmt: skip


def test_a_bucket_with_credentials_switches_to_s3(shell):
    result = shell(
        AWS_STORAGE_BUCKET_NAME="course-media",
        AWS_ACCESS_KEY_ID="key-id",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        AWS_S3_ADDRESSING_STYLE="path",
        AWS_QUERYSTRING_EXPIRE="120",
        MEDIA_MAX_IMAGE_BYTES="5000000",
        FILE_UPLOAD_MAX_MEMORY_SIZE="1000000",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "S3Storage", "course-media", "http://127.0.0.1:9000", "path", "120", "True", "5000000",
        "1000000",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({}, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ({"AWS_ACCESS_KEY_ID": "key-id"}, "AWS_SECRET_ACCESS_KEY"),
        ({"AWS_SECRET_ACCESS_KEY": "secret"}, "AWS_ACCESS_KEY_ID"),
    ],
)
def test_a_bucket_without_credentials_refuses_to_start(shell, present, missing):
    result = shell(AWS_STORAGE_BUCKET_NAME="course-media", **present)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"but {missing} missing" in result.stderr
