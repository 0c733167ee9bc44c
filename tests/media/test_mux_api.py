"""`POST /api/v1/media/uploads/mux/` against a stub of the Mux API, and Mux's settings rules.

Mocked: the Mux API only, by a stub HTTP server (tests/media/mux_stub.py: http.server in a
thread on 127.0.0.1) that checks the method, path, Basic auth header and JSON body of the
create-upload call the real mux_python client sends (MUX_API_BASE_URL points at it).
Real: mux_python, routes, JWT authentication, the database; start-up configuration checks run
in fresh interpreters.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from media.models import AssetKind, AssetStatus, MediaAsset, Provider
from tests.media.mux_stub import MuxStub, configure_mux, rsa_private_pem

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def signing_pem() -> bytes:
    return rsa_private_pem()


@pytest.fixture
def mux_settings(settings, signing_pem):
    configure_mux(settings, signing_pem)
    return settings


@pytest.fixture
def mux_stub(mux_settings):
    with MuxStub() as stub:
        mux_settings.MUX_API_BASE_URL = stub.url
        yield stub


URL = "/api/v1/media/uploads/mux/"


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 401), ("student", 403), ("instructor", 201), ("admin", 201)],
)
def test_permission_matrix(mux_stub, make_client, student, instructor, admin_user, role, expected):
    user = {"anonymous": None, "student": student, "instructor": instructor, "admin": admin_user}
    response = make_client(user[role]).post(URL)
    assert response.status_code == expected, response.content
    if expected != 201:
        assert mux_stub.requests == []  # Mux is not called for refused callers
        assert not MediaAsset.objects.exists()


def test_creates_a_direct_upload_and_a_mux_asset(mux_stub, make_client, instructor):
    response = make_client(instructor).post(URL)

    assert response.status_code == 201, response.content
    assert mux_stub.problems == []
    [call] = mux_stub.requests
    assert (call["method"], call["path"]) == ("POST", "/video/v1/uploads")
    body = json.loads(call["raw"])
    assert body["cors_origin"] == "https://learn.example"
    assert body["new_asset_settings"]["playback_policy"] == ["signed"]

    data = response.json()
    assert data["upload_url"].startswith("https://storage.googleapis.com/")
    asset = MediaAsset.objects.get(pk=data["asset"]["id"])
    assert (asset.provider, asset.kind, asset.status) == (
        Provider.MUX,
        AssetKind.VIDEO,
        AssetStatus.UPLOADED,
    )
    assert asset.owner == instructor
    assert asset.mux_upload_id == "upload-abc123"
    # The asset id travels as the passthrough, so webhooks can find it whatever their order.
    assert body["new_asset_settings"]["passthrough"] == str(asset.pk)
    assert data["asset"]["provider"] == "mux"


@pytest.mark.parametrize("status", [500, 401, 429])
def test_mux_errors_are_a_502_and_record_nothing(mux_stub, make_client, instructor, status):
    mux_stub.fail_with = status
    response = make_client(instructor).post(URL)
    assert response.status_code == 502
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "mux_unavailable"
    assert not MediaAsset.objects.exists()


def test_unreachable_mux_is_a_502(mux_settings, make_client, instructor):
    with MuxStub() as stub:
        dead = stub.url
    mux_settings.MUX_API_BASE_URL = dead  # nothing listens there any more
    response = make_client(instructor).post(URL)
    assert response.status_code == 502
    assert response.json()["code"] == "mux_unavailable"


def test_without_mux_configured_the_endpoint_says_so(make_client, instructor, settings):
    settings.MUX_ENABLED = False
    response = make_client(instructor).post(URL)
    assert response.status_code == 409
    assert response.json()["code"] == "mux_not_configured"


# --- start-up configuration ---------------------------------------------------------------

_MUX_VARS = (
    "MUX_TOKEN_ID",
    "MUX_TOKEN_SECRET",
    "MUX_SIGNING_KEY_ID",
    "MUX_SIGNING_PRIVATE_KEY",
    "MUX_WEBHOOK_SECRET",
)


def _start(extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUX_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "eduflow.settings",
            "SECRET_KEY": "start-up-check-key",
            "DJANGO_DEBUG": "1",
            **extra,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _full(pem: bytes) -> dict[str, str]:
    return {
        "MUX_TOKEN_ID": "id",
        "MUX_TOKEN_SECRET": "secret",
        "MUX_SIGNING_KEY_ID": "kid",
        "MUX_SIGNING_PRIVATE_KEY": base64.b64encode(pem).decode(),
        "MUX_WEBHOOK_SECRET": "whsec",
    }


def test_start_up_with_all_or_no_mux_settings(signing_pem):
    assert "started" in _start({}).stdout
    assert "started" in _start(_full(signing_pem)).stdout


@pytest.mark.parametrize("missing", _MUX_VARS)
def test_partial_mux_configuration_stops_start_up(signing_pem, missing):
    partial = _full(signing_pem)
    del partial[missing]
    result = _start(partial)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"missing: {missing}" in result.stderr


def test_a_signing_key_that_is_not_a_pem_stops_start_up(signing_pem):
    bad = {**_full(signing_pem), "MUX_SIGNING_PRIVATE_KEY": base64.b64encode(b"hello").decode()}
    result = _start(bad)
    assert result.returncode != 0
    assert "MUX_SIGNING_PRIVATE_KEY" in result.stderr
