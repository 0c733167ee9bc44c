"""Helpers for the playback, transcoding and S3 tests: ready video assets and HLS inspection.

`stored_hls_asset` writes a small, hand-made encrypted HLS set (real AES-128-CBC over
TS-looking payloads) straight to the configured storage, so the serving endpoints can be tested
without ffmpeg. `transcoded_asset` stores a generated clip as an asset's original and runs the
real transcoding task on it (needs ffmpeg).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from PIL import Image

from media import storage as media_storage
from media.models import AssetKind, AssetStatus, MediaAsset, Provider
from tests.media import samples

TS_PACKET = 188


def encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()


def decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def looks_like_ts(data: bytes) -> bool:
    """MPEG-TS: whole 188-byte packets, each starting with the 0x47 sync byte."""
    return (
        len(data) >= TS_PACKET
        and len(data) % TS_PACKET == 0
        and all(data[i] == 0x47 for i in range(0, len(data), TS_PACKET))
    )


def key_line_iv(playlist: str) -> bytes:
    match = re.search(r"#EXT-X-KEY:METHOD=AES-128,[^\n]*IV=0x([0-9a-fA-F]{32})", playlist)
    assert match, playlist
    return bytes.fromhex(match.group(1))


def key_line_uri(playlist: str) -> str:
    match = re.search(r'#EXT-X-KEY:[^\n]*URI="([^"]+)"', playlist)
    assert match, playlist
    return match.group(1)


def uris(playlist: str) -> list[str]:
    """The URI lines of a playlist (variants in a master, segments in a media playlist)."""
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def master_variants(master: str) -> list[tuple[str, str]]:
    """(RESOLUTION, uri) for each #EXT-X-STREAM-INF of a master playlist."""
    lines = master.splitlines()
    found = []
    for index, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            resolution = re.search(r"RESOLUTION=(\d+x\d+)", line)
            found.append((resolution.group(1) if resolution else "", lines[index + 1]))
    return found


def fake_ts(seed: int, packets: int = 40) -> bytes:
    """Bytes shaped like MPEG-TS (sync byte every 188 bytes), distinct per seed."""
    body = bytearray()
    for n in range(packets):
        payload = bytes((seed * 31 + n + i) % 256 for i in range(TS_PACKET - 1))
        body += b"\x47" + payload
    return bytes(body)


@dataclass
class StoredHls:
    asset: MediaAsset
    key: bytes
    iv: bytes
    segments: dict[str, bytes] = field(default_factory=dict)  # path below hls/ -> plaintext
    encrypted: dict[str, bytes] = field(default_factory=dict)


def stored_hls_asset(
    owner, *, variants=("720p", "360p"), segments: int = 2, thumbnail: bool = True
) -> StoredHls:
    """A ready local video asset whose HLS files (encrypted) are in the default storage."""
    asset = MediaAsset.objects.create(
        owner=owner,
        kind=AssetKind.VIDEO,
        status=AssetStatus.READY,
        provider=Provider.LOCAL,
        content_type="video/mp4",
        metadata={"duration": 12.0, "width": 1280, "height": 720},
    )
    key, iv = os.urandom(16), os.urandom(16)
    prefix = media_storage.hls_prefix(asset.pk)
    stored = StoredHls(asset=asset, key=key, iv=iv)
    sizes = {"720p": "1280x720", "480p": "852x480", "360p": "640x360"}
    master = ["#EXTM3U", "#EXT-X-VERSION:6"]
    for v_index, name in enumerate(variants):
        master += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={(v_index + 1) * 800000},RESOLUTION={sizes[name]}",
            f"{name}/index.m3u8",
        ]
        playlist = [
            "#EXTM3U",
            "#EXT-X-VERSION:6",
            "#EXT-X-TARGETDURATION:6",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            f'#EXT-X-KEY:METHOD=AES-128,URI="/stored/key/uri",IV=0x{iv.hex()}',
        ]
        for s_index in range(segments):
            path = f"{name}/seg_{s_index:05d}.ts"
            plain = fake_ts(v_index * 100 + s_index)
            stored.segments[path] = plain
            stored.encrypted[path] = encrypt(plain, key, iv)
            media_storage.put(prefix + path, io.BytesIO(stored.encrypted[path]))
            playlist += ["#EXTINF:6.000000,", f"seg_{s_index:05d}.ts"]
        playlist.append("#EXT-X-ENDLIST")
        media_storage.put(prefix + f"{name}/index.m3u8", io.BytesIO("\n".join(playlist).encode()))
    media_storage.put(prefix + "master.m3u8", io.BytesIO("\n".join(master).encode()))
    asset.hls_key = key
    asset.renditions = {"master": prefix + "master.m3u8", "variants": []}
    if thumbnail:
        buffer = io.BytesIO()
        Image.new("RGB", (64, 36), (10, 120, 200)).save(buffer, "JPEG")
        buffer.seek(0)
        asset.thumbnail.name = media_storage.put(media_storage.thumbnail_key(asset.pk), buffer)
    asset.save()
    return stored


def video_asset(owner, tmp_path: Path, **clip) -> MediaAsset:
    """An uploaded (not yet transcoded) local video asset whose original is a generated clip."""
    path = samples.video_file(tmp_path / f"clip-{os.urandom(4).hex()}.mp4", **clip)
    return original_asset(owner, path.read_bytes(), content_type="video/mp4")


def original_asset(owner, data: bytes, *, content_type: str = "video/mp4") -> MediaAsset:
    """An uploaded local video asset with `data` stored as its original."""
    asset = MediaAsset(
        owner=owner,
        kind=AssetKind.VIDEO,
        status=AssetStatus.UPLOADED,
        provider=Provider.LOCAL,
        content_type=content_type,
        size=len(data),
        original_filename="clip.mp4",
    )
    asset.original.name = media_storage.put(
        media_storage.original_key(asset.pk), io.BytesIO(data), content_type=content_type
    )
    asset.save()
    return asset


def ffprobe_streams(path: Path) -> list[str]:
    """The kinds of stream ffprobe finds in a file, sorted ([] when it cannot read it)."""
    process = subprocess.run(  # noqa: S603
        [
            shutil.which("ffprobe") or "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if process.returncode != 0:
        return []
    return sorted({line.strip() for line in process.stdout.decode().splitlines() if line.strip()})


def first_frame_is_keyframe(path: Path) -> bool:
    """Whether the first video frame of a (decrypted) segment is a keyframe."""
    process = subprocess.run(  # noqa: S603
        [
            shutil.which("ffprobe") or "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=key_frame",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    first = process.stdout.decode().split()
    return bool(first) and first[0].strip(",") == "1"
