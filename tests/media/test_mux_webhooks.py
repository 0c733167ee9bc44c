"""`POST /api/v1/media/webhooks/mux/`: signature checks and idempotent event handling.

Real parts: routes, the view (no authentication, no CSRF), HMAC-SHA256 signatures computed here
the way Mux computes them, the database, the `asset_ready` signal and the lessons receiver.
No mocks (Mux only sends; nothing calls the Mux API here).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from rest_framework.test import APIClient

from media import mux
from media.models import AssetKind, AssetStatus, MediaAsset, Provider
from tests import factories
from tests.media.mux_stub import WEBHOOK_SECRET, configure_mux, rsa_private_pem

pytestmark = pytest.mark.django_db

URL = "/api/v1/media/webhooks/mux/"


@pytest.fixture(scope="module")
def signing_pem() -> bytes:
    return rsa_private_pem()


@pytest.fixture(autouse=True)
def mux_on(settings, signing_pem):
    configure_mux(settings, signing_pem)


def sign(body: bytes, *, timestamp: int | None = None, secret: str = WEBHOOK_SECRET) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def post(body: bytes | dict, *, signature: str | None = "sign", client=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if signature == "sign":
        headers["HTTP_MUX_SIGNATURE"] = sign(raw)
    elif signature is not None:
        headers["HTTP_MUX_SIGNATURE"] = signature
    client = client or APIClient(enforce_csrf_checks=True)
    return client.post(URL, data=raw, content_type="application/json", **headers)


@pytest.fixture
def mux_asset(instructor):
    return MediaAsset.objects.create(
        owner=instructor,
        kind=AssetKind.VIDEO,
        provider=Provider.MUX,
        status=AssetStatus.UPLOADED,
        mux_upload_id="up-1",
    )


def created(upload_id="up-1", asset_id="mux-asset-1", passthrough=""):
    return {
        "type": "video.upload.asset_created",
        "data": {
            "id": upload_id,
            "asset_id": asset_id,
            "status": "asset_created",
            "new_asset_settings": {"passthrough": passthrough, "playback_policies": ["signed"]},
        },
    }


def ready(asset_id="mux-asset-1", upload_id="up-1", passthrough="", duration=95.4):
    return {
        "type": "video.asset.ready",
        "data": {
            "id": asset_id,
            "upload_id": upload_id,
            "passthrough": passthrough,
            "status": "ready",
            "duration": duration,
            "playback_ids": [
                {"id": "public-id", "policy": "public"},
                {"id": "signed-playback-id", "policy": "signed"},
            ],
            "tracks": [{"type": "video", "max_width": 1920, "max_height": 1080}],
        },
    }


def errored(asset_id="mux-asset-1", upload_id="up-1"):
    return {
        "type": "video.asset.errored",
        "data": {
            "id": asset_id,
            "upload_id": upload_id,
            "status": "errored",
            "errors": {"type": "invalid_input", "messages": ["The file is not a video."]},
        },
    }


# --- signatures ---------------------------------------------------------------------------


def test_valid_signature_is_accepted_without_credentials_or_csrf(mux_asset):
    response = post(created())
    assert response.status_code == 200, response.content
    assert response.json() == {"result": "processing"}


@pytest.mark.parametrize(
    ("signature", "status", "code"),
    [
        (None, 400, "webhook_signature_missing"),
        ("", 400, "webhook_signature_missing"),
        ("v1=abc", 400, "webhook_signature_missing"),
        ("t=notanumber,v1=abc", 400, "webhook_signature_missing"),
        ("t=123", 400, "webhook_signature_missing"),
    ],
)
def test_missing_or_malformed_signature(mux_asset, signature, status, code):
    response = post(created(), signature=signature)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    mux_asset.refresh_from_db()
    assert mux_asset.status == AssetStatus.UPLOADED


def test_tampered_body_is_refused(mux_asset):
    body = json.dumps(created()).encode()
    signature = sign(body)
    tampered = body.replace(b"mux-asset-1", b"mux-asset-9")
    response = post(tampered, signature=signature)
    assert response.status_code == 401
    assert response.json()["code"] == "webhook_signature_invalid"
    mux_asset.refresh_from_db()
    assert mux_asset.mux_asset_id == ""


def test_wrong_secret_is_refused(mux_asset):
    body = json.dumps(created()).encode()
    response = post(body, signature=sign(body, secret="someone-elses-secret"))
    assert response.status_code == 401
    assert response.json()["code"] == "webhook_signature_invalid"


# 10 s past the 300 s tolerance either way: whole-second timestamps must not make this flaky.
@pytest.mark.parametrize("offset", [-310, -3600, 310])
def test_stale_or_future_signatures_are_refused(mux_asset, offset):
    body = json.dumps(created()).encode()
    response = post(body, signature=sign(body, timestamp=int(time.time()) + offset))
    assert response.status_code == 401
    assert response.json()["code"] == "webhook_signature_expired"


def test_signature_inside_the_tolerance_and_rotated_secrets(mux_asset):
    body = json.dumps(created()).encode()
    t = int(time.time()) - 290
    good = sign(body, timestamp=t).split("v1=")[1]
    # During a secret rotation Mux sends several v1 values; one match is enough.
    response = post(body, signature=f"t={t},v1={'0' * 64},v1={good}")
    assert response.status_code == 200


def test_verification_uses_a_constant_time_comparison(monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(mux.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    body = b"{}"
    mux.verify_webhook_signature(header=sign(body), body=body, secret=WEBHOOK_SECRET)
    assert calls


def test_bad_json_with_a_good_signature_is_a_400():
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        response = post(body)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_webhook_payload"


def test_without_mux_configured_webhooks_are_refused(settings, mux_asset):
    settings.MUX_ENABLED = False
    response = post(created())
    assert response.status_code == 409
    assert response.json()["code"] == "mux_not_configured"


# --- events -------------------------------------------------------------------------------


def test_upload_then_ready_makes_the_asset_playable(mux_asset):
    assert post(created()).json() == {"result": "processing"}
    mux_asset.refresh_from_db()
    assert (mux_asset.status, mux_asset.mux_asset_id) == (AssetStatus.PROCESSING, "mux-asset-1")

    assert post(ready()).json() == {"result": "ready"}
    mux_asset.refresh_from_db()
    assert mux_asset.status == AssetStatus.READY
    assert mux_asset.mux_playback_id == "signed-playback-id"  # the signed one, not the public
    assert mux_asset.metadata == {"duration": 95.4, "width": 1920, "height": 1080}


def test_replayed_events_change_nothing(mux_asset, django_capture_on_commit_callbacks):
    post(created())
    with django_capture_on_commit_callbacks(execute=True) as first:
        assert post(ready()).json() == {"result": "ready"}
    mux_asset.refresh_from_db()
    stamp = mux_asset.updated_at
    with django_capture_on_commit_callbacks(execute=True) as again:
        assert post(ready()).json() == {"result": "unchanged"}
        assert post(created()).json() == {"result": "unchanged"}
    mux_asset.refresh_from_db()
    assert mux_asset.updated_at == stamp
    assert len(first) == 1 and len(again) == 0  # asset_ready announced once


def test_ready_before_upload_event_is_matched_by_upload_id_or_passthrough(instructor):
    by_upload = MediaAsset.objects.create(
        owner=instructor, kind="video", provider="mux", mux_upload_id="up-7"
    )
    by_passthrough = MediaAsset.objects.create(owner=instructor, kind="video", provider="mux")
    assert post(ready(asset_id="a-7", upload_id="up-7")).json() == {"result": "ready"}
    assert post(
        ready(asset_id="a-8", upload_id="unknown", passthrough=str(by_passthrough.pk))
    ).json() == {"result": "ready"}
    by_upload.refresh_from_db()
    by_passthrough.refresh_from_db()
    assert (by_upload.status, by_upload.mux_asset_id) == ("ready", "a-7")
    assert (by_passthrough.status, by_passthrough.mux_asset_id) == ("ready", "a-8")
    # A late upload event does not move a ready asset back.
    assert post(created(upload_id="up-7", asset_id="a-7")).json() == {"result": "unchanged"}
    by_upload.refresh_from_db()
    assert by_upload.status == "ready"


def test_errored_marks_failed_once_and_never_undoes_ready(mux_asset, instructor):
    post(created())
    assert post(errored()).json() == {"result": "failed"}
    mux_asset.refresh_from_db()
    assert mux_asset.status == AssetStatus.FAILED
    assert mux_asset.error == "Mux could not process the video: The file is not a video."
    assert post(errored()).json() == {"result": "unchanged"}

    done = MediaAsset.objects.create(
        owner=instructor, kind="video", provider="mux", mux_asset_id="a-ok", status="ready"
    )
    assert post(errored(asset_id="a-ok", upload_id="")).json() == {"result": "unchanged"}
    done.refresh_from_db()
    assert done.status == "ready"


@pytest.mark.parametrize(
    "event",
    [
        {"type": "video.asset.created", "data": {"id": "x"}},
        {"type": "video.live_stream.active", "data": {}},
        {"type": "video.asset.ready"},
        {"data": {"id": "x"}},
    ],
)
def test_unknown_or_incomplete_events_are_acknowledged_and_ignored(mux_asset, event):
    response = post(event)
    assert response.status_code == 200
    mux_asset.refresh_from_db()
    assert mux_asset.status == AssetStatus.UPLOADED


def test_events_for_unknown_assets_are_acknowledged(mux_asset):
    response = post(ready(asset_id="nobody", upload_id="nobody"))
    assert response.json() == {"result": "unknown_asset"}


def test_local_assets_are_never_touched_by_mux_events(instructor):
    local = MediaAsset.objects.create(owner=instructor, kind="video", mux_upload_id="up-1")
    post(ready(passthrough=str(local.pk)))
    local.refresh_from_db()
    assert local.status == AssetStatus.UPLOADED


def test_ready_fills_the_duration_of_lessons_using_the_video(
    mux_asset, django_capture_on_commit_callbacks
):
    lesson = factories.LessonFactory(kind="video", asset=mux_asset, duration_seconds=0)
    with django_capture_on_commit_callbacks(execute=True):
        post(ready(duration=95.4))
    lesson.refresh_from_db()
    assert lesson.duration_seconds == 95


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_twice_at_once_is_applied_once(settings, signing_pem):
    import threading

    from django.db import connection

    from media.signals import asset_ready

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite cannot run the two transactions")
    configure_mux(settings, signing_pem)
    owner = factories.InstructorFactory()
    asset = MediaAsset.objects.create(
        owner=owner, kind="video", provider="mux", mux_upload_id="up-race"
    )
    announced = []

    def on_ready(sender, **kwargs):
        announced.append(kwargs["asset_id"])

    asset_ready.connect(on_ready, dispatch_uid="test-race")
    body = json.dumps(ready(asset_id="a-race", upload_id="up-race")).encode()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def deliver():
        from django.db import connection as thread_connection

        try:
            barrier.wait(timeout=10)
            results.append(post(body).json()["result"])
        except BaseException as exc:
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        asset_ready.disconnect(dispatch_uid="test-race")
    assert not errors, errors
    assert sorted(results) == ["ready", "unchanged"]
    assert announced == [asset.pk]
