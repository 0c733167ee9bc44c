"""Video probing and transcoding to an encrypted HLS ladder with ffmpeg (subprocess, no wrapper).

One ffmpeg run reads the source once and writes:

- one HLS VOD variant per rung of the ladder that fits the source (1080p, 720p, 480p, 360p by
  the short side, so portrait videos work too; never upscaled; a source smaller than 360p gets
  one variant at its own size), each in `<name>/index.m3u8` with `<name>/seg_00000.ts` ...;
- 6-second segments whose keyframes line up across variants: every variant is cut from the
  same decoded frames, with a keyframe forced at every multiple of 6 s, a fixed GOP of
  fps x 6 frames and scene-cut keyframes off;
- AES-128 encryption of every segment with the asset's key (`-hls_key_info_file`), the key URI
  written into the playlists being the key endpoint (rewritten per request with a token);
- the master playlist `master.m3u8` (`-master_pl_name`, `-var_stream_map`);
- a JPEG thumbnail taken a little into the video.

Errors are `TranscodeError` subclasses whose message is fit to show the asset's owner.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from django.conf import settings

SEGMENT_SECONDS = 6
MASTER_PLAYLIST = "master.m3u8"
VARIANT_PLAYLIST = "index.m3u8"
SEGMENT_PATTERN = "seg_%05d.ts"
PROBE_TIMEOUT_SECONDS = 60
DEFAULT_FPS = 30.0
MAX_FPS = 60.0
THUMBNAIL_MAX = (1280, 720)
NOT_INSTALLED = "ffmpeg not installed: apt-get install ffmpeg"
_STDERR_TAIL = 600


class TranscodeError(Exception):
    """Transcoding failed for a reason retrying will not fix. The message is user-readable."""


class FFmpegNotInstalled(TranscodeError):
    def __init__(self, detail: str = NOT_INSTALLED) -> None:
        super().__init__(detail)


class CorruptMedia(TranscodeError):
    """The file is not a video ffmpeg can decode."""


class TranscodeTimeout(TranscodeError):
    pass


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: `short_side` is the height of a landscape picture."""

    name: str
    short_side: int
    video_kbps: int
    audio_kbps: int


LADDER: tuple[Rung, ...] = (
    Rung("1080p", 1080, 5000, 192),
    Rung("720p", 720, 2800, 128),
    Rung("480p", 480, 1400, 128),
    Rung("360p", 360, 800, 96),
)


@dataclass(frozen=True)
class Probe:
    duration: float
    width: int  # as displayed (rotation and pixel aspect applied)
    height: int
    fps: float
    has_audio: bool


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    video_kbps: int
    audio_kbps: int

    @property
    def bandwidth(self) -> int:
        """Peak bits per second (maxrate + audio), as the master playlist advertises it."""
        return (self.maxrate_kbps + self.audio_kbps) * 1000

    @property
    def maxrate_kbps(self) -> int:
        return self.video_kbps * 107 // 100

    @property
    def bufsize_kbps(self) -> int:
        return self.video_kbps * 3 // 2

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bandwidth": self.bandwidth}


@dataclass(frozen=True)
class TranscodeOutput:
    probe: Probe
    renditions: list[Rendition]
    hls_dir: Path  # master.m3u8 and one directory per rendition
    thumbnail: Path | None


# --- binaries -----------------------------------------------------------------------------


def _binary(setting: str) -> str:
    """Absolute path of ffmpeg/ffprobe as configured, or FFmpegNotInstalled."""
    configured = getattr(settings, setting)
    found = shutil.which(configured)
    if not found:
        raise FFmpegNotInstalled()
    return found


def _run(command: list[str], *, timeout: float, what: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(  # noqa: S603 (fixed argument list, no shell)
            command, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise FFmpegNotInstalled() from exc
    except PermissionError as exc:
        raise FFmpegNotInstalled(f"{NOT_INSTALLED} ({command[0]} is not executable)") from exc
    except subprocess.TimeoutExpired as exc:
        raise TranscodeTimeout(f"{what} took longer than {int(timeout)} seconds.") from exc


def _stderr_tail(process: subprocess.CompletedProcess) -> str:
    text = process.stderr.decode("utf-8", errors="replace").strip()
    return text[-_STDERR_TAIL:] if text else f"exit status {process.returncode}"


# --- probing ------------------------------------------------------------------------------


def _fraction(value: Any) -> float:
    try:
        result = float(Fraction(str(value).replace(":", "/")))
    except (ValueError, ZeroDivisionError):
        return 0.0
    return result if math.isfinite(result) else 0.0


def _rotation(stream: dict[str, Any]) -> int:
    for item in stream.get("side_data_list") or []:
        if "rotation" in item:
            try:
                return int(float(item["rotation"]))
            except (TypeError, ValueError):
                return 0
    try:
        return int((stream.get("tags") or {}).get("rotate", 0))
    except (TypeError, ValueError):
        return 0


def parse_probe(data: dict[str, Any]) -> Probe:
    """Read duration, displayed size, frame rate and audio presence from ffprobe's JSON."""
    streams = data.get("streams") or []
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not (s.get("disposition") or {}).get("attached_pic")
        ),
        None,
    )
    if video is None:
        raise CorruptMedia("The file has no video stream.")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise CorruptMedia("The video's picture size could not be read.")
    sar = _fraction(video.get("sample_aspect_ratio") or "1/1")
    if sar > 0 and abs(sar - 1) > 1e-3:
        width = round(width * sar)
    if abs(_rotation(video)) % 180 == 90:
        width, height = height, width
    duration = _fraction((data.get("format") or {}).get("duration") or 0) or _fraction(
        video.get("duration") or 0
    )
    if duration <= 0:
        raise CorruptMedia("The video's duration could not be read.")
    fps = _fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate"))
    if not 0 < fps <= 1000:
        fps = DEFAULT_FPS
    return Probe(
        duration=duration,
        width=width,
        height=height,
        fps=fps,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
    )


def probe(path: Path) -> Probe:
    """Run ffprobe on a local file."""
    command = [
        _binary("FFPROBE_BINARY"),
        "-v", "error",
        "-print_format", "json",
        "-show_format", "-show_streams",
        str(path),
    ]  # fmt: skip
    process = _run(command, timeout=PROBE_TIMEOUT_SECONDS, what="Reading the video")
    if process.returncode != 0:
        raise CorruptMedia(f"The file is not a readable video: {_stderr_tail(process)}")
    try:
        data = json.loads(process.stdout or b"{}")
    except ValueError as exc:
        raise CorruptMedia("The file is not a readable video.") from exc
    return parse_probe(data)


# --- planning -----------------------------------------------------------------------------


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _fit(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Scale (width, height) so that its short side is `short_side`, both even."""
    if width >= height:
        return _even(width * short_side / height), _even(short_side)
    return _even(short_side), _even(height * short_side / width)


def plan_renditions(width: int, height: int) -> list[Rendition]:
    """The ladder rungs that fit the source (never upscaling), largest first."""
    short = min(width, height)
    rungs = [rung for rung in LADDER if rung.short_side <= short]
    if not rungs:
        smallest = LADDER[-1]
        w, h = _even(width), _even(height)
        return [Rendition(f"{min(w, h)}p", w, h, smallest.video_kbps, smallest.audio_kbps)]
    return [
        Rendition(
            rung.name, *_fit(width, height, rung.short_side), rung.video_kbps, rung.audio_kbps
        )
        for rung in rungs
    ]


def gop_frames(fps: float) -> int:
    return max(1, round(min(fps, MAX_FPS) * SEGMENT_SECONDS))


def thumbnail_time(duration: float) -> float:
    """A moment a little into the video (past a black first frame), inside short clips."""
    return round(min(2.0, duration / 3), 3)


def thumbnail_size(renditions: list[Rendition]) -> tuple[int, int]:
    """The largest rendition's size, fitted into 1280x720 (720x1280 for portrait)."""
    largest = renditions[0]
    box = THUMBNAIL_MAX if largest.width >= largest.height else THUMBNAIL_MAX[::-1]
    scale = min(1.0, box[0] / largest.width, box[1] / largest.height)
    return _even(largest.width * scale), _even(largest.height * scale)


def write_key_info(workdir: Path, *, key: bytes, key_uri: str, iv: bytes) -> Path:
    """The files `-hls_key_info_file` reads: the key URI for playlists, the key file, the IV."""
    if len(key) != 16 or len(iv) != 16:
        raise ValueError("AES-128 needs a 16-byte key and a 16-byte IV.")
    key_path = workdir / "hls.key"
    key_path.write_bytes(key)
    key_path.chmod(0o600)
    info_path = workdir / "hls.keyinfo"
    info_path.write_text(f"{key_uri}\n{key_path}\n{iv.hex()}\n", encoding="utf-8")
    return info_path


def build_command(
    *,
    ffmpeg: str,
    source: Path,
    hls_dir: Path,
    thumbnail: Path,
    probe: Probe,
    renditions: list[Rendition],
    key_info: Path,
    preset: str,
) -> list[str]:
    """The one ffmpeg invocation producing every rendition, the master playlist and thumbnail."""
    count = len(renditions)
    gop = gop_frames(probe.fps)
    thumb_w, thumb_h = thumbnail_size(renditions)
    branches = "".join(f"[s{i}]" for i in range(count))
    graph = [f"[0:v:0]split={count + 1}{branches}[st]"]
    rate = f",fps={MAX_FPS:g}" if probe.fps > MAX_FPS else ""
    graph += [
        f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1{rate}[v{i}]"
        for i, r in enumerate(renditions)
    ]
    graph.append(
        f"[st]trim=start={thumbnail_time(probe.duration)},setpts=PTS-STARTPTS,"
        f"scale={thumb_w}:{thumb_h},setsar=1[thumb]"
    )

    command = [
        ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
        "-i", str(source),
        "-filter_complex", ";".join(graph),
    ]  # fmt: skip
    stream_map = []
    for i, rendition in enumerate(renditions):
        command += ["-map", f"[v{i}]"]
        if probe.has_audio:
            command += ["-map", "0:a:0"]
        command += [
            f"-b:v:{i}", f"{rendition.video_kbps}k",
            f"-maxrate:v:{i}", f"{rendition.maxrate_kbps}k",
            f"-bufsize:v:{i}", f"{rendition.bufsize_kbps}k",
        ]  # fmt: skip
        if probe.has_audio:
            command += [f"-b:a:{i}", f"{rendition.audio_kbps}k"]
            stream_map.append(f"v:{i},a:{i},name:{rendition.name}")
        else:
            stream_map.append(f"v:{i},name:{rendition.name}")
    command += [
        "-c:v", "libx264", "-preset", preset, "-profile:v", "high", "-pix_fmt", "yuv420p",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_SECONDS})",
    ]  # fmt: skip
    if probe.has_audio:
        command += ["-c:a", "aac", "-ac", "2", "-ar", "48000"]
    command += [
        "-f", "hls",
        "-hls_time", str(SEGMENT_SECONDS),
        "-hls_playlist_type", "vod",
        "-hls_flags", "independent_segments",
        "-hls_segment_type", "mpegts",
        "-hls_key_info_file", str(key_info),
        "-hls_segment_filename", str(hls_dir / "%v" / SEGMENT_PATTERN),
        "-master_pl_name", MASTER_PLAYLIST,
        "-var_stream_map", " ".join(stream_map),
        str(hls_dir / "%v" / VARIANT_PLAYLIST),
        "-map", "[thumb]", "-frames:v", "1", "-update", "1", "-q:v", "3",
        str(thumbnail),
    ]  # fmt: skip
    return command


def transcode(
    source: Path, workdir: Path, *, key: bytes, iv: bytes, key_uri: str, timeout: float
) -> TranscodeOutput:
    """Probe `source` and transcode it into `workdir/hls` (+ `workdir/thumbnail.jpg`)."""
    ffmpeg = _binary("FFMPEG_BINARY")
    info = probe(source)
    renditions = plan_renditions(info.width, info.height)
    hls_dir = workdir / "hls"
    hls_dir.mkdir(parents=True, exist_ok=True)
    thumbnail = workdir / "thumbnail.jpg"
    command = build_command(
        ffmpeg=ffmpeg,
        source=source,
        hls_dir=hls_dir,
        thumbnail=thumbnail,
        probe=info,
        renditions=renditions,
        key_info=write_key_info(workdir, key=key, key_uri=key_uri, iv=iv),
        preset=settings.MEDIA_X264_PRESET,
    )
    process = _run(command, timeout=timeout, what="Transcoding")
    if process.returncode != 0:
        raise CorruptMedia(f"The video could not be transcoded: {_stderr_tail(process)}")
    missing = [
        name
        for name in [MASTER_PLAYLIST, *(f"{r.name}/{VARIANT_PLAYLIST}" for r in renditions)]
        if not (hls_dir / name).is_file()
    ]
    if missing:
        raise TranscodeError(f"ffmpeg finished without writing {', '.join(missing)}.")
    return TranscodeOutput(
        probe=info,
        renditions=renditions,
        hls_dir=hls_dir,
        thumbnail=thumbnail if thumbnail.is_file() and thumbnail.stat().st_size else None,
    )


def require_binaries() -> None:
    """FFmpegNotInstalled unless both configured binaries can be found."""
    _binary("FFMPEG_BINARY")
    _binary("FFPROBE_BINARY")
