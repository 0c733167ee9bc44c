"""Media benchmarks: transcoding speed and HLS segment serving. Not part of the test suite.

    .venv/bin/python bench/media_bench.py [--seconds 60] [--repeat 1] [--requests 400]
                                          [--concurrency 4] [--no-gunicorn] [--record]

1. Transcoding: a generated 60-second 720p clip (ffmpeg `testsrc2` + `sine`, 30 fps, x264) is
   transcoded (a) by hand: the exact ffmpeg command the task builds, run directly, and (b) by
   the `media.transcode_asset` task code (copy from storage, probe, the same ffmpeg run, upload
   of the outputs, database writes). Both are reported as multiples of real time (clip length /
   wall time); their ratio is the task's overhead.
2. Segment serving: one 720p segment of that clip read (a) directly from the file, (b) through
   Django's HLS endpoint in-process (test client: URL routing, token check, storage, streaming),
   and (c) over HTTP from gunicorn (the production configuration, on loopback, measured with the
   bench harness's load generator).

Everything runs in a temporary directory with its own SQLite database and MEDIA_ROOT, so the
script needs nothing but ffmpeg and the project's virtualenv. With --record the results are
appended to the "## Media" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

DOC = BASE_DIR / "docs" / "benchmarks.md"
SECTION = "## Media"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="clip length (default 60)")
    parser.add_argument("--repeat", type=int, default=1, help="transcodes of each kind (median)")
    parser.add_argument("--requests", type=int, default=400, help="segment requests per mode")
    parser.add_argument("--concurrency", type=int, default=4, help="HTTP connections (gunicorn)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--no-gunicorn", action="store_true", help="skip the HTTP measurement")
    parser.add_argument("--record", action="store_true", help="append to docs/benchmarks.md")
    return parser.parse_args(argv)


def configure(workdir: Path) -> dict[str, str]:
    """Environment for this process and the gunicorn server: production mode, private files."""
    env = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "EDUFLOW_DATA_DIR": str(workdir / "data"),
        "MEDIA_ROOT": str(workdir / "media"),
        "DJANGO_SETTINGS_MODULE": "eduflow.settings",
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG_LEVEL": "WARNING",
        "GUNICORN_LOG_LEVEL": "warning",
        "GUNICORN_MAX_REQUESTS": "0",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "AWS_STORAGE_BUCKET_NAME"):
        os.environ.pop(name, None)
    os.environ.update(env)
    return env


def machine() -> str:
    cores = os.cpu_count() or 0
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip() + ", "
                break
    except OSError:
        pass
    return f"{model}{cores} cores{memory}, {platform.system()} {platform.release()}"


def ffmpeg_version() -> str:
    output = subprocess.run(  # noqa: S603
        [shutil.which("ffmpeg") or "ffmpeg", "-version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return output.splitlines()[0].split(" Copyright")[0]


def make_clip(path: Path, seconds: int) -> float:
    command = [
        shutil.which("ffmpeg") or "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(path),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, timeout=1800)  # noqa: S603
    return time.perf_counter() - started


def transcode_by_hand(clip: Path, workdir: Path) -> tuple[float, str]:
    """The task's ffmpeg command, built by the same code, run directly. (seconds, command)"""
    from media import transcoding

    out = workdir / f"hand-{secrets.token_hex(4)}"
    out.mkdir(parents=True)
    info = transcoding.probe(clip)
    renditions = transcoding.plan_renditions(info.width, info.height)
    command = transcoding.build_command(
        ffmpeg=shutil.which("ffmpeg") or "ffmpeg",
        source=clip,
        hls_dir=out / "hls",
        thumbnail=out / "thumbnail.jpg",
        probe=info,
        renditions=renditions,
        key_info=transcoding.write_key_info(
            out, key=os.urandom(16), iv=os.urandom(16), key_uri="/key"
        ),
        preset=os.environ.get("MEDIA_X264_PRESET", "veryfast"),
    )
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=3600)  # noqa: S603
    elapsed = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return elapsed, shlex.join(command)


def transcode_by_task(clip: Path, owner) -> tuple[float, object]:
    from media import storage as media_storage
    from media import tasks
    from media.models import AssetKind, MediaAsset

    asset = MediaAsset(owner=owner, kind=AssetKind.VIDEO, content_type="video/mp4")
    with clip.open("rb") as handle:
        asset.original.name = media_storage.put(
            media_storage.original_key(asset.pk), handle, content_type="video/mp4"
        )
    asset.size = clip.stat().st_size
    asset.save()
    started = time.perf_counter()
    result = tasks.transcode_asset.apply(args=[str(asset.pk)]).get()
    elapsed = time.perf_counter() - started
    if result != "ready":
        asset.refresh_from_db()
        raise RuntimeError(f"transcode ended {result}: {asset.error}")
    asset.refresh_from_db()
    return elapsed, asset


def serve_direct(path: Path, count: int) -> float:
    """Seconds to read the file `count` times from disk (open + read in 64 KiB chunks)."""
    started = time.perf_counter()
    for _ in range(count):
        with path.open("rb") as handle:
            while handle.read(64 * 1024):
                pass
    return time.perf_counter() - started


def serve_test_client(url: str, count: int) -> float:
    from django.test import Client

    client = Client()
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    started = time.perf_counter()
    for _ in range(count):
        response = client.get(url)
        for _chunk in response.streaming_content if response.streaming else [response.content]:
            pass
        response.close()
    return time.perf_counter() - started


def serve_gunicorn(env: dict[str, str], url: str, args) -> dict[str, object]:
    from bench.loadgen import Request, run_load
    from bench.server import GunicornServer

    server_env = {
        **os.environ,
        **env,
        "GUNICORN_WORKERS": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
    }
    log = Path(env["EDUFLOW_DATA_DIR"]) / "gunicorn.log"
    with GunicornServer(env=server_env, log_path=log) as server:

        def source(_index):
            while True:
                yield Request("GET", url)

        result = run_load(
            host="127.0.0.1",
            port=server.port,
            source=source,
            total=args.requests,
            concurrency=args.concurrency,
            time_cap=300,
            warmup=args.concurrency * 2,
        )
    if not result.ok:
        raise RuntimeError(f"gunicorn run had errors: {result.statuses} {result.error_samples}")
    return {
        "rps": result.requests_per_second,
        "p50": result.p50,
        "p99": result.p99,
        "cpu": result.client_cpu_share,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_before = os.getloadavg()[0]
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        print("ffmpeg not installed: apt-get install ffmpeg", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="eduflow-media-bench-"))
    try:
        env = configure(workdir)
        import django

        # Production mode without collectstatic: whitenoise says so once per worker; not ours.
        warnings.filterwarnings("ignore", message="No directory at")
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from accounts.models import User
        from media.playback import issue_token
        from media.storage import hls_prefix

        owner = User.objects.create_user(
            email="bench@example.com", username="bench", password=secrets.token_urlsafe(16)
        )

        clip = workdir / "clip.mp4"
        print(f"generating a {args.seconds}-second 1280x720 clip ...", flush=True)
        make_clip(clip, args.seconds)

        by_hand, by_task, command, asset = [], [], "", None
        for round_ in range(args.repeat):
            print(f"transcoding, round {round_ + 1}/{args.repeat}: by hand ...", flush=True)
            elapsed, command = transcode_by_hand(clip, workdir)
            by_hand.append(elapsed)
            print(f"  {elapsed:.1f} s; through the task ...", flush=True)
            elapsed, asset = transcode_by_task(clip, owner)
            by_task.append(elapsed)
            print(f"  {elapsed:.1f} s", flush=True)
        hand_s, task_s = statistics.median(by_hand), statistics.median(by_task)

        segment_key = hls_prefix(asset.pk) + "720p/seg_00001.ts"
        segment = Path(env["MEDIA_ROOT"]) / segment_key
        size = segment.stat().st_size
        # A grant's token (PLAYBACK_TOKEN_TTL, 600 s by default) outlives the measurements.
        token = issue_token(asset_id=asset.pk, user=None)
        url = f"/api/v1/media/{asset.pk}/hls/720p/seg_00001.ts?token={token.value}"
        playlist_url = f"/api/v1/media/{asset.pk}/hls/720p/index.m3u8?token={token.value}"

        print("serving one segment: direct reads, test client, gunicorn ...", flush=True)
        direct_s = serve_direct(segment, args.requests)
        client_s = serve_test_client(url, args.requests)
        playlist_s = serve_test_client(playlist_url, args.requests)
        http = None if args.no_gunicorn else serve_gunicorn(env, url, args)

        rows = build_report(
            args=args,
            command=command,
            hand_s=hand_s,
            task_s=task_s,
            asset=asset,
            size=size,
            direct_s=direct_s,
            client_s=client_s,
            playlist_s=playlist_s,
            http=http,
            argv=sys.argv[1:] if argv is None else argv,
        )
        print()
        print(rows)
        if args.record:
            record(rows)
            print(f"appended to {DOC.relative_to(BASE_DIR)}")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _commit() -> str:
    try:
        return subprocess.run(  # noqa: S603
            [shutil.which("git") or "git", "rev-parse", "--short", "HEAD"],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build_report(
    *, args, command, hand_s, task_s, asset, size, direct_s, client_s, playlist_s, http, argv
) -> str:
    n = args.requests
    mib = size / 1024 / 1024
    variants = ", ".join(v["name"] for v in asset.renditions["variants"])
    lines = [
        f"### Run of {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (commit {_commit()})",
        "",
        f"- Machine: {machine()}; {ffmpeg_version()}; x264 preset "
        f"`{os.environ.get('MEDIA_X264_PRESET', 'veryfast')}`; load average at the start "
        f"{args.load_before:.1f}, at the end {os.getloadavg()[0]:.1f} (other work shared "
        "the cores when above 0).",
        f"- Command: `{' '.join(['.venv/bin/python bench/media_bench.py', *argv])}`.",
        f"- Clip: {args.seconds} s, 1280x720, 30 fps, testsrc2 + sine; ladder {variants}, "
        "6-second AES-128 segments, thumbnail. Median of "
        f"{args.repeat} run(s) each.",
        "",
        "| Transcoding | Wall time | Speed (x real time) |",
        "|---|---:|---:|",
        f"| ffmpeg by hand (same command) | {hand_s:.1f} s | {args.seconds / hand_s:.2f}x |",
        f"| `media.transcode_asset` task | {task_s:.1f} s | {args.seconds / task_s:.2f}x |",
        f"| Overhead of the task (task / by hand) | {task_s / hand_s:.3f} | |",
        "",
        f"| Serving one 720p segment ({size / 1024:.0f} KiB), {n} requests | Requests/s "
        "| MiB/s | Ratio to direct |",
        "|---|---:|---:|---:|",
        f"| Direct file reads (open + read) | {n / direct_s:,.0f} | {n * mib / direct_s:,.0f} "
        "| 1.00 |",
        f"| Django HLS endpoint, in-process test client (sequential) | {n / client_s:,.0f} | "
        f"{n * mib / client_s:,.0f} | {direct_s / client_s:.3f} |",
    ]
    if http is not None:
        lines.append(
            f"| gunicorn over loopback ({args.workers} workers x {args.threads} threads, "
            f"{args.concurrency} connections; p50 {http['p50'] * 1000:.1f} ms, "
            f"p99 {http['p99'] * 1000:.1f} ms) | {http['rps']:,.0f} | "
            f"{http['rps'] * mib:,.0f} | {http['rps'] / (n / direct_s):.3f} |"
        )
    lines += [
        f"| Variant playlist, rewritten per request (test client) | {n / playlist_s:,.0f} | | |",
        "",
    ]
    if http is not None and http.get("cpu") is not None:
        lines += [
            "The load generator shared the machine's cores with gunicorn (it used "
            f"{http['cpu']:.0%} of one core while measuring).",
            "",
        ]
    lines += ["The hand-run command (paths from that run):", "", "```", command, "```", ""]
    return "\n".join(lines)


def record(text: str) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    current = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if SECTION not in current.splitlines():
        current = current.rstrip("\n") + f"\n\n{SECTION}\n\n" + MEDIA_INTRO + "\n"
    DOC.write_text(current.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")


MEDIA_INTRO = (
    "Transcoding speed of a generated 720p clip through the task code next to the same ffmpeg\n"
    "command run by hand, and the throughput of serving one HLS segment through Django next to\n"
    "reading the file directly. Produced by `bench/media_bench.py` (see its docstring)."
)


if __name__ == "__main__":
    raise SystemExit(main())
