"""The token-gated HLS endpoints: playlists, segments with byte ranges, the key and the poster.

Real parts: URL routing, JWT authentication, the views, local file storage under a temporary
MEDIA_ROOT holding a hand-made AES-128 HLS set (see hls_samples.stored_hls_asset), the
database. No mocks.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from media.playback import issue_token
from tests import factories
from tests.media import hls_samples

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(local_storage, instructor):
    return hls_samples.stored_hls_asset(instructor)


def _hls(asset, path, token):
    return f"/api/v1/media/{asset.pk}/hls/{path}?token={token.value}"


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_master_playlist_is_rewritten_with_the_token(video, student, make_client):
    token = issue_token(asset_id=video.asset.pk, user=student)
    response = make_client().get(_hls(video.asset, "master.m3u8", token))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apple.mpegurl"
    assert response["Cache-Control"].startswith("private")
    variants = hls_samples.uris(response.content.decode())
    assert [urlsplit(u).path for u in variants] == [
        f"/api/v1/media/{video.asset.pk}/hls/720p/index.m3u8",
        f"/api/v1/media/{video.asset.pk}/hls/360p/index.m3u8",
    ]
    assert all(parse_qs(urlsplit(u).query)["token"] == [token.value] for u in variants)


def test_variant_playlist_carries_the_token_on_segments_and_key(video, student, make_client):
    token = issue_token(asset_id=video.asset.pk, user=student)
    text = make_client().get(_hls(video.asset, "720p/index.m3u8", token)).content.decode()

    key_uri = hls_samples.key_line_uri(text)
    assert urlsplit(key_uri).path == f"/api/v1/media/{video.asset.pk}/key/"
    assert parse_qs(urlsplit(key_uri).query)["token"] == [token.value]
    assert hls_samples.key_line_iv(text) == video.iv
    segments = hls_samples.uris(text)
    assert [urlsplit(u).path.rsplit("/", 2)[-2:] for u in segments] == [
        ["720p", "seg_00000.ts"],
        ["720p", "seg_00001.ts"],
    ]
    assert all(parse_qs(urlsplit(u).query)["token"] == [token.value] for u in segments)


def test_following_the_playlists_yields_decryptable_segments(video, student, make_client):
    """What a player does: master → variant → key + segments, all with the one token."""
    client = make_client()
    token = issue_token(asset_id=video.asset.pk, user=student)
    master = client.get(_hls(video.asset, "master.m3u8", token)).content.decode()
    variant_url = hls_samples.uris(master)[1]
    variant = client.get(variant_url).content.decode()
    key = client.get(hls_samples.key_line_uri(variant))
    assert key.status_code == 200
    assert key["Content-Type"] == "application/octet-stream"
    assert key["Cache-Control"] == "private, no-store"
    assert key.content == video.key
    for index, url in enumerate(hls_samples.uris(variant)):
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "video/mp2t"
        encrypted = _body(response)
        assert encrypted == video.encrypted[f"360p/seg_{index:05d}.ts"]
        plain = hls_samples.decrypt(encrypted, key.content, hls_samples.key_line_iv(variant))
        assert plain == video.segments[f"360p/seg_{index:05d}.ts"]
        assert hls_samples.looks_like_ts(plain)


def test_segment_full_and_byte_ranges(video, make_client):
    token = issue_token(asset_id=video.asset.pk, user=None)
    url = _hls(video.asset, "720p/seg_00001.ts", token)
    data = video.encrypted["720p/seg_00001.ts"]
    size = len(data)
    client = make_client()

    full = client.get(url)
    assert full.status_code == 200
    assert full["Accept-Ranges"] == "bytes"
    assert full["Content-Length"] == str(size)
    assert full["Cache-Control"].startswith("private, max-age=")
    assert _body(full) == data

    part = client.get(url, HTTP_RANGE="bytes=100-299")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-299/{size}"
    assert part["Content-Length"] == "200"
    assert part["Cache-Control"].startswith("private")
    assert _body(part) == data[100:300]

    tail = client.get(url, HTTP_RANGE="bytes=-50")
    assert tail.status_code == 206
    assert tail["Content-Range"] == f"bytes {size - 50}-{size - 1}/{size}"
    assert _body(tail) == data[-50:]

    open_ended = client.get(url, HTTP_RANGE=f"bytes={size - 10}-")
    assert _body(open_ended) == data[-10:]

    beyond = client.get(url, HTTP_RANGE=f"bytes={size}-")
    _problem(beyond, 416, "range_not_satisfiable")
    assert beyond["Content-Range"] == f"bytes */{size}"

    malformed = client.get(url, HTTP_RANGE="bytes=9-3")
    assert malformed.status_code == 200
    assert _body(malformed) == data


@pytest.mark.parametrize(
    "path",
    [
        "../original",
        "..%2Foriginal",
        "720p/../../original",
        "%2E%2E/original",
        "720p/seg_09999.ts",
        "720p/index.m3u8.bak",
        "thumbnail.jpg",
        "720p%5Cseg_00000.ts",
        "nope.m3u8",
    ],
)
def test_only_existing_files_under_the_assets_hls_folder_are_served(video, make_client, path):
    token = issue_token(asset_id=video.asset.pk, user=None)
    response = make_client().get(f"/api/v1/media/{video.asset.pk}/hls/{path}?token={token.value}")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_another_assets_files_cannot_be_reached_with_a_token(video, instructor, make_client):
    other = hls_samples.stored_hls_asset(instructor)
    token = issue_token(asset_id=video.asset.pk, user=None)
    response = make_client().get(_hls(other.asset, "720p/seg_00000.ts", token))
    _problem(response, 403, "playback_token_invalid")


@pytest.mark.parametrize("path", ["master.m3u8", "720p/seg_00000.ts", "KEY", "POSTER"])
def test_every_gated_url_refuses_bad_tokens(video, student, make_client, path):
    asset = video.asset

    def url(token_value):
        if path == "KEY":
            base = f"/api/v1/media/{asset.pk}/key/"
        elif path == "POSTER":
            base = f"/api/v1/media/{asset.pk}/poster/"
        else:
            base = f"/api/v1/media/{asset.pk}/hls/{path}"
        return base if token_value is None else f"{base}?token={token_value}"

    good = issue_token(asset_id=asset.pk, user=student)
    expired = issue_token(asset_id=asset.pk, user=student, now=time.time() - 3600)
    other_asset = issue_token(asset_id=uuid.uuid4(), user=student)
    tampered = good.value[:-2] + ("xx" if not good.value.endswith("xx") else "yy")

    _problem(make_client().get(url(None)), 403, "playback_token_missing")
    _problem(make_client().get(url(tampered)), 403, "playback_token_invalid")
    _problem(make_client().get(url(expired.value)), 403, "playback_token_expired")
    _problem(make_client().get(url(other_asset.value)), 403, "playback_token_invalid")
    intruder = factories.UserFactory()
    _problem(make_client(intruder).get(url(good.value)), 403, "playback_token_wrong_user")
    # The token's own user, signed in or not, gets through.
    assert make_client(student).get(url(good.value)).status_code == 200
    assert make_client().get(url(good.value)).status_code == 200


def test_weird_accept_headers_do_not_break_media_answers(video, make_client):
    token = issue_token(asset_id=video.asset.pk, user=None)
    response = make_client().get(
        _hls(video.asset, "master.m3u8", token), HTTP_ACCEPT="application/vnd.apple.mpegurl"
    )
    assert response.status_code == 200
    refused = make_client().get(
        f"/api/v1/media/{video.asset.pk}/key/", HTTP_ACCEPT="application/octet-stream"
    )
    _problem(refused, 403, "playback_token_missing")


def test_key_of_an_asset_that_is_not_ready_is_not_served(video, make_client):
    video.asset.status = "processing"
    video.asset.save()
    token = issue_token(asset_id=video.asset.pk, user=None)
    response = make_client().get(f"/api/v1/media/{video.asset.pk}/key/?token={token.value}")
    assert response.status_code == 404


def test_poster_is_served_to_token_holders(video, make_client):
    token = issue_token(asset_id=video.asset.pk, user=None)
    response = make_client().get(f"/api/v1/media/{video.asset.pk}/poster/?token={token.value}")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert _body(response)[:3] == b"\xff\xd8\xff"


def test_x_accel_redirect_hands_local_segments_to_nginx(video, make_client, settings):
    settings.MEDIA_X_ACCEL_REDIRECT = "/protected-media/"
    token = issue_token(asset_id=video.asset.pk, user=None)
    response = make_client().get(_hls(video.asset, "720p/seg_00000.ts", token))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == (
        f"/protected-media/assets/{video.asset.pk}/hls/720p/seg_00000.ts"
    )
    assert response["Content-Type"] == "video/mp2t"
    assert response["Cache-Control"].startswith("private")
    assert response.content == b""
    missing = make_client().get(_hls(video.asset, "720p/seg_00042.ts", token))
    assert missing.status_code == 404


def test_media_endpoints_are_not_throttled_per_client(video, make_client, monkeypatch):
    """A player fetches many files; the token, not a per-address rate, is the gate."""
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**SimpleRateThrottle.THROTTLE_RATES, "anon": "3/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    token = issue_token(asset_id=video.asset.pk, user=None)
    client = make_client()
    statuses = [client.get(_hls(video.asset, "720p/seg_00000.ts", token)).status_code
                for _ in range(6)]  # fmt: skip
    assert statuses == [200] * 6
    # The same client is throttled on an ordinary endpoint at that rate.
    catalog = [client.get("/api/v1/courses/").status_code for _ in range(4)]
    assert catalog == [200, 200, 200, 429]


@pytest.mark.parametrize(
    ("requester", "expected"),
    [
        ("anonymous", 200),
        ("token_holder", 200),
        ("other_student", 403),
        ("asset_owner", 403),
        ("admin", 403),
    ],
)
@pytest.mark.parametrize("endpoint", ["hls", "key", "poster"])
def test_permission_matrix_with_a_learners_token(
    video, instructor, admin_user, make_client, requester, expected, endpoint
):
    """A grant is personal: only its holder (or a player sending no credentials) uses it."""
    holder = factories.UserFactory()
    users = {
        "anonymous": None,
        "token_holder": holder,
        "other_student": factories.UserFactory(),
        "asset_owner": instructor,
        "admin": admin_user,
    }
    token = issue_token(asset_id=video.asset.pk, user=holder)
    path = {
        "hls": f"/api/v1/media/{video.asset.pk}/hls/master.m3u8",
        "key": f"/api/v1/media/{video.asset.pk}/key/",
        "poster": f"/api/v1/media/{video.asset.pk}/poster/",
    }[endpoint]
    response = make_client(users[requester]).get(f"{path}?token={token.value}")
    assert response.status_code == expected
    if expected == 403:
        assert response.json()["code"] == "playback_token_wrong_user"
