"""Damaged files never cause a server error: seeded random mutations (bit flips, cuts, inserted
and repeated bytes) of valid samples of every accepted format go through the upload endpoint.
Each answer is a 201 (and then the stored file is sound) or a 4xx problem+json with nothing
stored for it.

Real parts: the API with real JWTs, Django's multipart parsing, Pillow, pypdf, zipfile,
ffprobe/ffmpeg (the video cases skip with a message when missing), `FileSystemStorage` under a
per-test directory. No mocks.
"""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from media.models import MediaAsset
from tests.media import samples
from tests.media.samples import stored_files, upload

pytestmark = pytest.mark.django_db


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    operation = rng.choice(["flip", "cut", "insert", "repeat", "zero"])
    # Keep the first 16 bytes most of the time, so the damage reaches the decoders.
    start = 16 if rng.random() < 0.8 and len(buf) > 32 else 0
    where = rng.randrange(start, len(buf))
    if operation == "flip":
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(start, len(buf))] ^= 1 << rng.randrange(8)
    elif operation == "cut":
        del buf[where:]
    elif operation == "insert":
        buf[where:where] = rng.randbytes(rng.randint(1, 64))
    elif operation == "repeat":
        span = buf[where : where + rng.randint(1, 256)]
        buf[where:where] = span * rng.randint(1, 20)
    else:
        buf[where : where + rng.randint(1, 512)] = b"\x00" * min(512, len(buf) - where)
    return bytes(buf) or b"\x00"


SOURCES = {
    "png": lambda t: samples.png_bytes(64, 48),
    "jpeg": lambda t: samples.jpeg_bytes(64, 48),
    "gif": lambda t: samples.gif_bytes(32, 24),
    "webp": lambda t: samples.webp_bytes(64, 48),
    "pdf": lambda t: samples.pdf_bytes(2),
    "pptx": lambda t: samples.pptx_bytes(2),
    "mp4": lambda t: samples.video_bytes(t, seconds=0.5, width=96, height=64, audio=False),
    "webm": lambda t: samples.video_bytes(
        t, seconds=0.5, width=96, height=64, audio=False, container="webm"
    ),
}
ROUNDS = {"mp4": 12, "webm": 12}


@pytest.mark.parametrize("fmt", list(SOURCES))
def test_mutated_files_are_refused_cleanly_or_stored_sound(
    make_client, instructor, local_storage, tmp_path, fmt
):
    client = make_client(instructor)
    original = SOURCES[fmt](tmp_path)
    rng = random.Random(f"eduflow-{fmt}")
    outcomes = {"accepted": 0, "refused": 0}
    for _ in range(ROUNDS.get(fmt, 60)):
        data = _mutate(original, rng)
        response = upload(client, data, name=f"sample.{fmt}")
        assert response.status_code in (201, 400, 413), (response.status_code, response.content)
        if response.status_code == 201:
            outcomes["accepted"] += 1
            body = response.json()
            stored = (local_storage / f"assets/{body['id']}/original").read_bytes()
            if body["kind"] == "image":
                Image.open(io.BytesIO(stored)).load()
                assert stored[8:12] == b"WEBP"
        else:
            outcomes["refused"] += 1
            assert response["Content-Type"].startswith("application/problem+json")
            assert response.json()["code"]
    assert outcomes["refused"] > 0
    assert len(stored_files(local_storage)) == MediaAsset.objects.count() == outcomes["accepted"]
