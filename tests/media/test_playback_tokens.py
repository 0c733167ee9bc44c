"""Playback tokens, playlist rewriting, path cleaning and byte-range parsing (pure functions).

Real parts: Django's signing with the project's SECRET_KEY and the URL resolver. No mocks.
"""

from __future__ import annotations

import time
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import signing

from media.playback import (
    TOKEN_SALT,
    PlaybackTokenError,
    PlaylistError,
    RangeNotSatisfiable,
    clean_hls_path,
    issue_token,
    parse_range,
    rewrite_playlist,
    verify_token,
)
from tests import factories

ASSET = uuid.uuid4()


def _user(pk=None):
    user = factories.UserFactory.build()
    user.pk = pk or uuid.uuid4()
    return user


def _code(excinfo) -> str:
    return excinfo.value.problem_code


def test_token_round_trip_for_its_user_and_for_requests_without_credentials(settings):
    settings.PLAYBACK_TOKEN_TTL = 600
    owner = _user()
    token = issue_token(asset_id=ASSET, user=owner, now=1_000_000)
    assert token.expires == 1_000_600
    for requester in (owner, AnonymousUser()):
        checked = verify_token(token.value, asset_id=ASSET, user=requester, now=1_000_500)
        assert (checked.asset_id, checked.user_id) == (str(ASSET), str(owner.pk))


def test_expired_token_is_refused():
    token = issue_token(asset_id=ASSET, user=None, now=time.time() - 3600)
    with pytest.raises(PlaybackTokenError) as excinfo:
        verify_token(token.value, asset_id=ASSET, user=None)
    assert _code(excinfo) == "playback_token_expired"
    assert excinfo.value.status_code == 403


def test_token_for_another_asset_is_refused():
    token = issue_token(asset_id=ASSET, user=None)
    with pytest.raises(PlaybackTokenError) as excinfo:
        verify_token(token.value, asset_id=uuid.uuid4(), user=None)
    assert _code(excinfo) == "playback_token_invalid"


def test_token_used_by_another_signed_in_user_is_refused():
    token = issue_token(asset_id=ASSET, user=_user())
    with pytest.raises(PlaybackTokenError) as excinfo:
        verify_token(token.value, asset_id=ASSET, user=_user())
    assert _code(excinfo) == "playback_token_wrong_user"


def test_preview_token_without_user_works_for_anyone():
    token = issue_token(asset_id=ASSET, user=AnonymousUser())
    assert token.user_id is None
    verify_token(token.value, asset_id=ASSET, user=_user())


@pytest.mark.parametrize("mangle", ["flip", "payload", "salt", "empty", "garbage"])
def test_tampered_or_foreign_tokens_are_refused(mangle):
    value = issue_token(asset_id=ASSET, user=None).value
    if mangle == "flip":
        value = value[:-1] + ("A" if value[-1] != "A" else "B")
    elif mangle == "payload":
        # Re-encode a payload that claims a far expiry, keeping the old signature.
        forged = signing.Signer(salt=TOKEN_SALT).sign_object(
            {"a": str(ASSET), "u": None, "e": 9_999_999_999}
        )
        value = forged.rsplit(":", 1)[0] + ":" + value.rsplit(":", 1)[1]
    elif mangle == "salt":
        value = signing.Signer(salt="another.purpose").sign_object(
            {"a": str(ASSET), "u": None, "e": 9_999_999_999}
        )
    elif mangle == "empty":
        value = ""
    else:
        value = "not-a-token"
    with pytest.raises(PlaybackTokenError) as excinfo:
        verify_token(value, asset_id=ASSET, user=None)
    assert _code(excinfo) in {"playback_token_invalid", "playback_token_missing"}


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("master.m3u8", True),
        ("720p/index.m3u8", True),
        ("720p/seg_00001.ts", True),
        ("../original", False),
        ("720p/../../original", False),
        ("..", False),
        ("/etc/passwd", False),
        ("720p//seg.ts", False),
        ("720p\\seg.ts", False),
        (".hidden.ts", False),
        ("720p/seg.exe", False),
        ("original", False),
        ("a/b/c/d.ts", False),
        ("seg%2F..%2F.ts", False),
    ],
)
def test_only_plain_relative_media_paths_pass(path, ok):
    assert (clean_hls_path(path) == path) is ok


MASTER = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-STREAM-INF:BANDWIDTH=3220800,RESOLUTION=1280x720
720p/index.m3u8

#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="en",URI="subs/en.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=985600,RESOLUTION=640x360
360p/index.m3u8
"""

VARIANT = """#EXTM3U
#EXT-X-TARGETDURATION:6
#EXT-X-KEY:METHOD=AES-128,URI="/api/v1/media/old/key/",IV=0x0102
#EXT-X-MAP:URI="init.mp4"
#EXTINF:6.000000,
seg_00000.ts
#EXTINF:2.000000,
seg_00001.ts
#EXT-X-ENDLIST
"""


def _url(path: str) -> str:
    return f"https://cdn.example/{path}?t=1"


def test_master_rewrite_points_every_variant_and_media_uri_at_served_urls():
    out = rewrite_playlist(MASTER, playlist_path="master.m3u8", media_url=_url, key_uri="K")
    assert out.splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        "#EXT-X-STREAM-INF:BANDWIDTH=3220800,RESOLUTION=1280x720",
        "https://cdn.example/720p/index.m3u8?t=1",
        "",
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="en",'
        'URI="https://cdn.example/subs/en.m3u8?t=1"',
        "#EXT-X-STREAM-INF:BANDWIDTH=985600,RESOLUTION=640x360",
        "https://cdn.example/360p/index.m3u8?t=1",
    ]


def test_variant_rewrite_resolves_relative_to_the_playlist_and_swaps_the_key_uri():
    out = rewrite_playlist(
        VARIANT, playlist_path="720p/index.m3u8", media_url=_url, key_uri="/key?token=T"
    )
    assert '#EXT-X-KEY:METHOD=AES-128,URI="/key?token=T",IV=0x0102' in out
    assert '#EXT-X-MAP:URI="https://cdn.example/720p/init.mp4?t=1"' in out
    assert [line for line in out.splitlines() if not line.startswith("#")] == [
        "https://cdn.example/720p/seg_00000.ts?t=1",
        "https://cdn.example/720p/seg_00001.ts?t=1",
    ]


@pytest.mark.parametrize(
    "uri", ["../../original", "/abs/seg.ts", "https://evil.example/x.ts", "seg.ts?x=1", "a.exe"]
)
def test_playlists_pointing_outside_the_asset_are_refused(uri):
    with pytest.raises(PlaylistError):
        rewrite_playlist(
            f"#EXTM3U\n#EXTINF:6,\n{uri}\n",
            playlist_path="720p/index.m3u8",
            media_url=_url,
            key_uri="K",
        )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=999-999", (999, 999)),
        ("bytes=5-1", None),  # malformed: ignored, whole file
        ("bytes=0-1,5-9", None),  # several ranges: whole file
        ("items=0-5", None),
        ("bytes=-", None),
        ("bytes=abc", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=1000-", 1000), ("bytes=5000-6000", 1000),
                                              ("bytes=-0", 1000), ("bytes=0-", 0)])  # fmt: skip
def test_unsatisfiable_ranges(header, size):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)
