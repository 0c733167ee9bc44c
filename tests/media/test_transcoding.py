"""Transcoding: the ladder plan, ffprobe parsing, the ffmpeg command, and the task end to end.

Real parts: ffmpeg and ffprobe (clips generated from `testsrc2` + `sine`; tests needing them
skip with "ffmpeg not installed: apt-get install ffmpeg" when absent), local file storage under
a temporary MEDIA_ROOT, the database, Celery in eager mode. Nothing is mocked except where a
test says so: a storage error injected to show the retry, a missing binary simulated through
FFMPEG_BINARY/FFPROBE_BINARY.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from media import storage as media_storage
from media import tasks, transcoding
from media.models import AssetStatus, MediaAsset
from media.transcoding import CorruptMedia, Probe, parse_probe, plan_renditions
from tests import factories
from tests.media import hls_samples, samples

pytestmark = pytest.mark.django_db


# --- the plan ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1920, 1080), [("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 852, 480),
                        ("360p", 640, 360)]),
        ((1280, 720), [("720p", 1280, 720), ("480p", 852, 480), ("360p", 640, 360)]),
        ((640, 360), [("360p", 640, 360)]),
        ((720, 1280), [("720p", 720, 1280), ("480p", 480, 852), ("360p", 360, 640)]),
        ((1000, 700), [("480p", 684, 480), ("360p", 514, 360)]),
        ((320, 240), [("240p", 320, 240)]),
        ((321, 179), [("178p", 320, 178)]),
    ],
)  # fmt: skip
def test_plan_keeps_the_rungs_that_fit_and_never_upscales(size, expected):
    plan = plan_renditions(*size)
    assert [(r.name, r.width, r.height) for r in plan] == expected
    for rendition in plan:
        assert rendition.width % 2 == 0 and rendition.height % 2 == 0
        assert rendition.width <= max(size) and rendition.height <= max(size)
        assert min(rendition.width, rendition.height) <= min(size)


def _probe_json(**video):
    stream = {"codec_type": "video", "width": 1280, "height": 720, "avg_frame_rate": "30/1"}
    stream.update(video)
    return {
        "streams": [stream, {"codec_type": "audio"}],
        "format": {"duration": "12.480000"},
    }


def test_parse_probe_reads_duration_size_fps_and_audio():
    probe = parse_probe(_probe_json())
    assert probe == Probe(duration=12.48, width=1280, height=720, fps=30.0, has_audio=True)


def test_parse_probe_applies_rotation_and_pixel_aspect():
    rotated = parse_probe(_probe_json(side_data_list=[{"rotation": -90}]))
    assert (rotated.width, rotated.height) == (720, 1280)
    legacy = parse_probe(_probe_json(tags={"rotate": "270"}))
    assert (legacy.width, legacy.height) == (720, 1280)
    anamorphic = parse_probe(_probe_json(width=720, height=576, sample_aspect_ratio="16:11"))
    assert (anamorphic.width, anamorphic.height) == (1047, 576)


def test_parse_probe_ntsc_rate_and_missing_rate():
    assert parse_probe(_probe_json(avg_frame_rate="30000/1001")).fps == pytest.approx(29.97, 0.01)
    assert parse_probe(_probe_json(avg_frame_rate="0/0", r_frame_rate="0/0")).fps == 30.0


@pytest.mark.parametrize(
    "data",
    [
        {"streams": [{"codec_type": "audio"}], "format": {"duration": "3"}},
        {"streams": [{"codec_type": "video", "width": 0, "height": 0}], "format": {}},
        {"streams": [{"codec_type": "video", "width": 10, "height": 10}], "format": {}},
        {"streams": [], "format": {"duration": "5"}},
        {
            "streams": [
                {"codec_type": "video", "width": 600, "height": 600,
                 "disposition": {"attached_pic": 1}},
                {"codec_type": "audio"},
            ],
            "format": {"duration": "200"},
        },
    ],
    ids=["audio-only", "no-size", "no-duration", "no-streams", "cover-art-only"],
)  # fmt: skip
def test_parse_probe_refuses_what_is_not_a_video(data):
    with pytest.raises(CorruptMedia):
        parse_probe(data)


def test_one_command_with_aligned_keyframes_encryption_and_master(tmp_path):
    probe = Probe(duration=30.0, width=1280, height=720, fps=25.0, has_audio=True)
    plan = plan_renditions(1280, 720)
    command = transcoding.build_command(
        ffmpeg="ffmpeg",
        source=tmp_path / "in.mp4",
        hls_dir=tmp_path / "hls",
        thumbnail=tmp_path / "thumb.jpg",
        probe=probe,
        renditions=plan,
        key_info=tmp_path / "hls.keyinfo",
        preset="veryfast",
    )
    assert command.count("-i") == 1  # the source is read once
    joined = " ".join(command)

    def value(flag):
        return command[command.index(flag) + 1]

    assert value("-g") == value("-keyint_min") == "150"  # 25 fps x 6 s
    assert value("-sc_threshold") == "0"
    assert value("-force_key_frames") == "expr:gte(t,n_forced*6)"
    assert value("-hls_time") == "6"
    assert value("-hls_playlist_type") == "vod"
    assert value("-hls_key_info_file") == str(tmp_path / "hls.keyinfo")
    assert value("-master_pl_name") == "master.m3u8"
    assert value("-var_stream_map") == ("v:0,a:0,name:720p v:1,a:1,name:480p v:2,a:2,name:360p")
    assert "scale=1280:720" in joined and "scale=852:480" in joined and "scale=640:360" in joined
    assert "split=4" in joined  # three renditions and the thumbnail from one decode
    assert str(tmp_path / "thumb.jpg") == command[-1]


def test_command_without_audio_maps_video_only(tmp_path):
    probe = Probe(duration=4.0, width=640, height=360, fps=30.0, has_audio=False)
    command = transcoding.build_command(
        ffmpeg="ffmpeg",
        source=tmp_path / "in.mp4",
        hls_dir=tmp_path / "hls",
        thumbnail=tmp_path / "t.jpg",
        probe=probe,
        renditions=plan_renditions(640, 360),
        key_info=tmp_path / "k",
        preset="veryfast",
    )
    assert "0:a:0" not in command
    assert command[command.index("-var_stream_map") + 1] == "v:0,name:360p"


def test_key_info_file_names_uri_key_and_iv(tmp_path):
    key, iv = bytes(range(16)), bytes(range(16, 32))
    info = transcoding.write_key_info(tmp_path, key=key, key_uri="/api/v1/media/x/key/", iv=iv)
    uri, key_path, iv_hex = info.read_text().splitlines()
    assert uri == "/api/v1/media/x/key/"
    assert Path(key_path).read_bytes() == key
    assert iv_hex == iv.hex()
    with pytest.raises(ValueError):
        transcoding.write_key_info(tmp_path, key=b"short", key_uri="/k", iv=iv)


# --- the task, end to end ---------------------------------------------------------------


def _run(asset_id, capture) -> str:
    with capture(execute=True):
        return tasks.transcode_asset.delay(str(asset_id)).get()


def _run_with_retries(asset_id) -> str:
    """Run the task eagerly with Celery's own retry loop (retries run inline, in order).

    With CELERY_TASK_EAGER_PROPAGATES a retry would surface as an exception instead (and a
    nested retry does, as Celery applies it with the default propagation).
    """
    return tasks.transcode_asset.apply(args=[str(asset_id)], throw=False).get()


def _stored(asset_id) -> list[str]:
    return media_storage.list_prefix(media_storage.hls_prefix(asset_id))


def _read(key: str) -> bytes:
    with media_storage.get_storage().open(key, "rb") as handle:
        return handle.read()


def test_640x360_clip_becomes_one_encrypted_360p_variant(
    local_storage, instructor, tmp_path, django_capture_on_commit_callbacks
):
    samples.require_ffmpeg()
    asset = hls_samples.video_asset(instructor, tmp_path, seconds=7, width=640, height=360)

    assert _run(asset.pk, django_capture_on_commit_callbacks) == "ready"

    asset.refresh_from_db()
    assert asset.status == AssetStatus.READY and asset.error == ""
    assert asset.metadata["duration"] == pytest.approx(7.0, abs=0.1)
    assert (asset.metadata["width"], asset.metadata["height"]) == (640, 360)
    assert [v["name"] for v in asset.renditions["variants"]] == ["360p"]
    assert len(bytes(asset.hls_key)) == 16

    prefix = media_storage.hls_prefix(asset.pk)
    master = _read(prefix + "master.m3u8").decode()
    assert hls_samples.master_variants(master) == [("640x360", "360p/index.m3u8")]
    playlist = _read(prefix + "360p/index.m3u8").decode()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist
    assert hls_samples.key_line_uri(playlist) == f"/api/v1/media/{asset.pk}/key/"
    segments = hls_samples.uris(playlist)
    assert len(segments) == 2  # 7 s in 6-second segments
    durations = [float(x) for x in re.findall(r"#EXTINF:([\d.]+)", playlist)]
    assert durations[0] == pytest.approx(6.0, abs=0.05)

    iv = hls_samples.key_line_iv(playlist)
    for name in segments:
        encrypted = _read(f"{prefix}360p/{name}")
        assert not hls_samples.looks_like_ts(encrypted)  # useless without the key
        raw = tmp_path / f"enc-{name}"
        raw.write_bytes(encrypted)
        assert hls_samples.ffprobe_streams(raw) == []
        plain = hls_samples.decrypt(encrypted, bytes(asset.hls_key), iv)
        assert hls_samples.looks_like_ts(plain)
        clear = tmp_path / f"dec-{name}"
        clear.write_bytes(plain)
        assert hls_samples.ffprobe_streams(clear) == ["audio", "video"]
        assert hls_samples.first_frame_is_keyframe(clear)

    assert asset.thumbnail.name == media_storage.thumbnail_key(asset.pk)
    thumbnail = _read(asset.thumbnail.name)
    assert thumbnail[:3] == b"\xff\xd8\xff"
    from PIL import Image

    assert Image.open(io.BytesIO(thumbnail)).size == (640, 360)


def test_720p_clip_gets_three_aligned_variants(
    local_storage, instructor, tmp_path, django_capture_on_commit_callbacks
):
    samples.require_ffmpeg()
    asset = hls_samples.video_asset(instructor, tmp_path, seconds=13, width=1280, height=720)

    assert _run(asset.pk, django_capture_on_commit_callbacks) == "ready"

    asset.refresh_from_db()
    prefix = media_storage.hls_prefix(asset.pk)
    master = _read(prefix + "master.m3u8").decode()
    assert hls_samples.master_variants(master) == [
        ("1280x720", "720p/index.m3u8"),
        ("852x480", "480p/index.m3u8"),
        ("640x360", "360p/index.m3u8"),
    ]
    assert [(v["width"], v["height"]) for v in asset.renditions["variants"]] == [
        (1280, 720),
        (852, 480),
        (640, 360),
    ]
    extinf = {}
    for name in ("720p", "480p", "360p"):
        playlist = _read(f"{prefix}{name}/index.m3u8").decode()
        extinf[name] = re.findall(r"#EXTINF:([\d.]+)", playlist)
        iv = hls_samples.key_line_iv(playlist)
        for segment in hls_samples.uris(playlist):
            plain = hls_samples.decrypt(
                _read(f"{prefix}{name}/{segment}"), bytes(asset.hls_key), iv
            )
            path = tmp_path / f"{name}-{segment}"
            path.write_bytes(plain)
            assert hls_samples.first_frame_is_keyframe(path), (name, segment)
    # Cut at the same instants in every variant: segment boundaries line up.
    assert extinf["720p"] == extinf["480p"] == extinf["360p"]
    assert len(extinf["720p"]) == 3
    from PIL import Image

    assert Image.open(io.BytesIO(_read(asset.thumbnail.name))).size == (1280, 720)


def test_upload_through_the_api_is_transcoded_on_commit(
    local_storage, instructor, make_client, tmp_path, django_capture_on_commit_callbacks
):
    samples.require_ffmpeg()
    clip = samples.video_bytes(tmp_path, seconds=3, width=640, height=360)
    upload = io.BytesIO(clip)
    upload.name = "lecture.mp4"
    with django_capture_on_commit_callbacks(execute=True):
        response = make_client(instructor).post(
            "/api/v1/media/", {"file": upload}, format="multipart"
        )
    assert response.status_code == 201, response.content
    asset = MediaAsset.objects.get(pk=response.json()["id"])
    assert asset.status == AssetStatus.READY
    assert asset.metadata["duration"] == pytest.approx(3.0, abs=0.1)
    assert media_storage.hls_prefix(asset.pk) + "master.m3u8" in _stored(asset.pk)


def test_running_twice_is_harmless_and_a_rerun_rewrites_the_same_keys(
    local_storage, instructor, tmp_path, django_capture_on_commit_callbacks
):
    samples.require_ffmpeg()
    asset = hls_samples.video_asset(instructor, tmp_path, seconds=7, width=640, height=360)
    assert _run(asset.pk, django_capture_on_commit_callbacks) == "ready"
    first_keys = _stored(asset.pk)
    asset.refresh_from_db()
    first_key, first_updated = bytes(asset.hls_key), asset.updated_at

    # A second delivery of the same job: the asset is ready, nothing is done.
    assert _run(asset.pk, django_capture_on_commit_callbacks) == "ready"
    asset.refresh_from_db()
    assert asset.updated_at == first_updated

    # A forced rerun (e.g. after an operator reset) writes the very same keys, no copies,
    # and keeps the key, so segments already cached by players stay decryptable.
    stray = media_storage.hls_prefix(asset.pk) + "999p/index.m3u8"
    media_storage.put(stray, io.BytesIO(b"#EXTM3U\n"))
    MediaAsset.objects.filter(pk=asset.pk).update(status=AssetStatus.UPLOADED)
    assert _run(asset.pk, django_capture_on_commit_callbacks) == "ready"
    assert _stored(asset.pk) == first_keys
    asset.refresh_from_db()
    assert bytes(asset.hls_key) == first_key
    root = Path(local_storage) / "assets" / str(asset.pk)
    assert sorted(p.name for p in root.iterdir()) == ["hls", "original", "thumbnail.jpg"]


def test_corrupt_video_fails_once_with_a_readable_error(
    local_storage, instructor, monkeypatch, django_capture_on_commit_callbacks
):
    samples.require_ffmpeg()
    asset = hls_samples.original_asset(instructor, samples.fake_mp4_bytes())
    runs = []
    real_run = transcoding._run

    def counting_run(command, **kwargs):
        runs.append(command[0])
        return real_run(command, **kwargs)

    monkeypatch.setattr(transcoding, "_run", counting_run)

    assert _run(asset.pk, django_capture_on_commit_callbacks) == "failed"

    asset.refresh_from_db()
    assert asset.status == AssetStatus.FAILED
    assert asset.error.startswith("The file is not a readable video")
    assert len(runs) == 1  # one ffprobe, no ffmpeg, no retry
    assert _stored(asset.pk) == []


@pytest.mark.parametrize("setting", ["FFMPEG_BINARY", "FFPROBE_BINARY"])
def test_missing_ffmpeg_fails_with_the_install_hint(
    local_storage, instructor, settings, setting, django_capture_on_commit_callbacks
):
    setattr(settings, setting, "/nonexistent/bin/ffmpeg-missing")
    asset = hls_samples.original_asset(instructor, b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)

    assert _run(asset.pk, django_capture_on_commit_callbacks) == "failed"

    asset.refresh_from_db()
    assert asset.status == AssetStatus.FAILED
    assert asset.error == "ffmpeg not installed: apt-get install ffmpeg"


def test_storage_error_is_retried_then_succeeds(
    local_storage, instructor, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    samples.require_ffmpeg()
    asset = hls_samples.video_asset(instructor, tmp_path, seconds=2, width=640, height=360)
    failures = iter([ConnectionResetError("connection reset by storage")])
    real_copy = tasks._copy_original

    def flaky_copy(*args, **kwargs):
        error = next(failures, None)
        if error is not None:
            raise error
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(tasks, "_copy_original", flaky_copy)
    assert _run_with_retries(asset.pk) == "ready"
    asset.refresh_from_db()
    assert asset.status == AssetStatus.READY


def test_persistent_storage_errors_end_in_failed_after_the_retries(
    local_storage, instructor, monkeypatch, django_capture_on_commit_callbacks
):
    asset = hls_samples.original_asset(instructor, b"not used")
    monkeypatch.setattr(tasks, "_copy_original", _raise(TimeoutError("storage timed out")))
    monkeypatch.setattr(transcoding, "require_binaries", lambda: None)
    # One retry: Celery's eager mode runs a nested retry with propagation on (see above).
    monkeypatch.setattr(tasks.transcode_asset, "max_retries", 1)
    releases = []
    real_release = tasks._release

    def counting_release(asset_id):
        releases.append(asset_id)
        real_release(asset_id)

    monkeypatch.setattr(tasks, "_release", counting_release)

    assert _run_with_retries(asset.pk) == "failed"

    asset.refresh_from_db()
    assert asset.status == AssetStatus.FAILED
    assert asset.error == "Transcoding failed after 2 attempts: storage timed out"
    assert len(releases) == 1  # the claim was given back for the retry


def _raise(exc):
    def raiser(*args, **kwargs):
        raise exc

    return raiser


def test_missing_or_other_assets_are_left_alone(
    local_storage, instructor, django_capture_on_commit_callbacks
):
    import uuid

    assert _run(uuid.uuid4(), django_capture_on_commit_callbacks) == "gone"
    document = MediaAsset.objects.create(owner=instructor, kind="document", status="ready")
    assert _run(document.pk, django_capture_on_commit_callbacks) == "skipped"
    mux_video = MediaAsset.objects.create(owner=instructor, kind="video", provider="mux")
    assert _run(mux_video.pk, django_capture_on_commit_callbacks) == "skipped"
    mux_video.refresh_from_db()
    assert mux_video.status == AssetStatus.UPLOADED


def test_an_asset_being_processed_is_left_to_its_worker_until_the_lease_ends(
    local_storage, instructor, monkeypatch, django_capture_on_commit_callbacks
):
    asset = hls_samples.original_asset(instructor, b"whatever")
    MediaAsset.objects.filter(pk=asset.pk).update(status=AssetStatus.PROCESSING)
    assert _run(asset.pk, django_capture_on_commit_callbacks) == "busy"
    asset.refresh_from_db()
    assert asset.status == AssetStatus.PROCESSING

    # The claim went stale (its worker died): the next run takes the asset over.
    stale = timezone.now() - tasks.TRANSCODE_LEASE - dt.timedelta(seconds=5)
    MediaAsset.objects.filter(pk=asset.pk).update(updated_at=stale)
    monkeypatch.setattr(transcoding, "require_binaries", _raise(transcoding.FFmpegNotInstalled()))
    assert _run(asset.pk, django_capture_on_commit_callbacks) == "failed"


def test_a_redelivered_task_takes_over_its_own_claim(local_storage, instructor, monkeypatch):
    asset = hls_samples.original_asset(instructor, b"whatever")
    assert tasks._claim(str(asset.pk), task_id="job-1") is None
    assert tasks._claim(str(asset.pk), task_id="job-2") == "busy"
    assert tasks._claim(str(asset.pk), task_id=None) == "busy"
    assert tasks._claim(str(asset.pk), task_id="job-1") is None  # same job delivered again


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_asset_transcode_it_once(tmp_path, settings, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite cannot run the two transactions")
    samples.require_ffmpeg()
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    owner = factories.InstructorFactory()
    asset = hls_samples.video_asset(owner, tmp_path, seconds=2, width=640, height=360)
    ffmpeg_runs = []
    real_transcode = transcoding.transcode

    def counting_transcode(*args, **kwargs):
        ffmpeg_runs.append(1)
        return real_transcode(*args, **kwargs)

    monkeypatch.setattr(transcoding, "transcode", counting_transcode)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker(task_id):
        from django.db import connection as thread_connection

        try:
            barrier.wait(timeout=10)
            outcome = tasks.transcode_asset.apply(args=[str(asset.pk)], task_id=task_id)
            # An eager result is already computed: nothing blocks. Celery's guard against
            # waiting inside a task would otherwise see the other thread's running task.
            results.append(outcome.get(disable_sync_subtasks=False))
        except BaseException as exc:
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=worker, args=(f"job-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(results) == ["busy", "ready"]
    assert len(ffmpeg_runs) == 1
    asset.refresh_from_db()
    assert asset.status == AssetStatus.READY
