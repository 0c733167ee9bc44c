"""Playback grants for Mux videos: signed stream and thumbnail URLs (RS256 JWTs).

Real parts: routes, JWT authentication, lessons access rules, media's grant with PyJWT signing;
the tokens are verified here with the public half of an RSA key generated for the test
(PyJWT + cryptography). No network: a grant needs no call to Mux.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from media.models import AssetKind, AssetStatus, MediaAsset, Provider
from tests.media.mux_stub import SIGNING_KEY_ID, configure_mux, rsa_private_pem

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def signing_pem() -> bytes:
    return rsa_private_pem()


@pytest.fixture
def public_key(signing_pem):
    return serialization.load_pem_private_key(signing_pem, password=None).public_key()


@pytest.fixture
def mux_lesson(world, settings, signing_pem):
    configure_mux(settings, signing_pem)
    asset = MediaAsset.objects.create(
        owner=world.users["owner"],
        kind=AssetKind.VIDEO,
        provider=Provider.MUX,
        status=AssetStatus.READY,
        mux_asset_id="mux-asset",
        mux_playback_id="PlAyBaCkId",
        metadata={"duration": 42.0},
    )
    lesson = world.lessons["published"]
    lesson.kind, lesson.asset = "video", asset
    lesson.save()
    return lesson


def _token(url: str, prefix: str) -> str:
    assert url.startswith(prefix), url
    return parse_qs(urlsplit(url).query)["token"][0]


def test_grant_carries_short_lived_rs256_tokens_for_video_and_thumbnail(
    world, mux_lesson, public_key
):
    before = int(time.time())
    response = world.client("enrolled_student").post(f"/api/v1/lessons/{mux_lesson.pk}/playback/")

    assert response.status_code == 200, response.content
    grant = response.json()
    assert grant["provider"] == "mux"
    video = _token(grant["hls_url"], "https://stream.mux.com/PlAyBaCkId.m3u8?token=")
    thumb = _token(grant["thumbnail_url"], "https://image.mux.com/PlAyBaCkId/thumbnail.jpg?token=")

    assert jwt.get_unverified_header(video) == {"alg": "RS256", "typ": "JWT", "kid": SIGNING_KEY_ID}
    claims = jwt.decode(video, public_key, algorithms=["RS256"], audience="v")
    assert claims["sub"] == "PlAyBaCkId"
    # Minutes, not the SDK's default of days.
    assert before + 600 <= claims["exp"] <= int(time.time()) + 600
    thumb_claims = jwt.decode(thumb, public_key, algorithms=["RS256"], audience="t")
    assert thumb_claims["sub"] == "PlAyBaCkId"
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(thumb, public_key, algorithms=["RS256"], audience="v")
    expires = grant["expires_at"].replace("Z", "+00:00")
    from datetime import datetime

    assert int(datetime.fromisoformat(expires).timestamp()) == claims["exp"]


def test_tokens_do_not_verify_with_another_key(world, mux_lesson):
    other = serialization.load_pem_private_key(rsa_private_pem(), password=None).public_key()
    grant = world.client("owner").post(f"/api/v1/lessons/{mux_lesson.pk}/playback/").json()
    video = _token(grant["hls_url"], "https://stream.mux.com/")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(video, other, algorithms=["RS256"], audience="v")


def test_ttl_setting_is_in_minutes(world, mux_lesson, settings, public_key):
    settings.MUX_PLAYBACK_TTL = 3
    grant = world.client("admin").post(f"/api/v1/lessons/{mux_lesson.pk}/playback/").json()
    claims = jwt.decode(
        _token(grant["hls_url"], "https://stream.mux.com/"),
        public_key,
        algorithms=["RS256"],
        audience="v",
    )
    assert 170 <= claims["exp"] - time.time() <= 180


def test_mux_access_rules_are_the_lessons(world, mux_lesson):
    assert (
        world.client("student").post(f"/api/v1/lessons/{mux_lesson.pk}/playback/").status_code
        == 403
    )
    assert (
        world.client("anonymous").post(f"/api/v1/lessons/{mux_lesson.pk}/playback/").status_code
        == 403
    )


def test_mux_video_still_processing_is_not_ready(world, mux_lesson):
    MediaAsset.objects.filter(pk=mux_lesson.asset_id).update(status=AssetStatus.PROCESSING)
    response = world.client("owner").post(f"/api/v1/lessons/{mux_lesson.pk}/playback/")
    assert response.status_code == 409
    assert response.json()["code"] == "media_not_ready"


def test_mux_video_without_mux_configured_is_a_clear_conflict(world, mux_lesson, settings):
    settings.MUX_ENABLED = False
    response = world.client("owner").post(f"/api/v1/lessons/{mux_lesson.pk}/playback/")
    assert response.status_code == 409
    assert response.json()["code"] == "mux_not_configured"
