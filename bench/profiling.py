"""Sampling profiles of the gunicorn workers while a scenario's rows run (`--profile KEY`).

Two py-spy recordings attach to the gunicorn master with `--subprocesses` (so they follow every
worker) and aggregate frames by function: a wall-clock one samples every thread, `--idle`
included (a thread waiting for PostgreSQL or Redis is where the request's time goes too), and
a `--gil` one samples only the thread holding the interpreter lock, i.e. the Python CPU (on a
2-core machine shared with PostgreSQL and Redis, waiting in the wall-clock view partly means
waiting for a core). Each writes py-spy's raw format:
collapsed stacks, one `frame;frame;... count` line per distinct stack, which flamegraph.pl
turns into an SVG and https://www.speedscope.app opens as it is; a speedscope JSON file is
written next to it as well. py-spy needs ptrace rights on the workers (root, or
`kernel.yama.ptrace_scope=0` for the same user).

The text summary splits the samples of the worker threads into:

- *in a request* (below gunicorn's `handle_request`: the Django application and writing the
  answer), *reading requests* (gunicorn parsing a request that has arrived) and *idle*
  (threads waiting for a connection or the next request on a keep-alive one, the master);
- within requests, *where the time goes*: each sample is put in the category of the frame
  nearest the leaf that belongs to one (waiting for PostgreSQL, Redis round trips, Argon2,
  JSON rendering ...), so the categories add up to 100%;
- the functions with the most time *inside them* (inclusive) and *in them* (self), as shares
  of the in-request samples;
- the same, shorter, for the GIL recording: which Python code the CPU runs.

Sampling pauses the workers briefly at each sample (100 per second by default): the
throughput of a profiled row is lower than usual, so profiled runs are never recorded.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Frames look like `Class.method (package/module.py:12)` (py-spy --function: the line is the
# function's first); process frames `process 123:"command line"` come first with
# --subprocesses.
_FRAME = re.compile(r"^(?P<name>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")

REQUEST_FRAME = ("ThreadWorker.handle_request", "gunicorn/workers/gthread.py")
READ_FRAME = ("ThreadWorker.handle", "gunicorn/workers/gthread.py")
WAIT_FRAMES = frozenset({"TConn.wait_for_data"})

# (category, test on one frame): the first category, from the leaf upwards, that a frame of the
# sample belongs to. Order matters only within one frame.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("password hashing (argon2)", ("argon2/",)),
    ("PostgreSQL (driver and waiting for the server)", ("psycopg/", "psycopg_pool/")),
    ("SQLite", ("sqlite3/", "django/db/backends/sqlite3/")),
    ("Redis round trips (redis-py, django-redis)", ("redis/", "django_redis/")),
    ("JWT decode and verify (PyJWT, simplejwt)", ("jwt/", "rest_framework_simplejwt/")),
    ("email (console backend, Celery eager task)", ("django/core/mail/", "celery/", "kombu/")),
    ("logging (JSON access log)", ("logging/", "eduflow/core/logging.py")),
    ("JSON rendering", ("rest_framework/renderers.py", "json/")),
    (
        "serializers and fields (DRF)",
        (
            "rest_framework/serializers.py",
            "rest_framework/fields.py",
            "rest_framework/relations.py",
        ),
    ),
    ("ORM: SQL compiling", ("django/db/models/sql/",)),
    ("ORM: querysets, model instances", ("django/db/models/", "django/db/backends/", "django/db/")),
    ("transactions", ("django/db/transaction.py",)),
    ("throttles (DRF)", ("rest_framework/throttling.py", "eduflow/core/throttling.py")),
    (
        "filters and pagination (django-filter, DRF)",
        ("django_filters/", "rest_framework/pagination"),
    ),
    ("URL resolving", ("django/urls/",)),
    ("DRF request/response plumbing", ("rest_framework/",)),
    ("Django middleware and handlers", ("django/middleware/", "django/core/handlers/")),
    ("WhiteNoise", ("whitenoise/",)),
    ("Django (other)", ("django/",)),
    (
        "EduFlow code",
        (
            "eduflow/",
            "accounts/",
            "courses/",
            "lessons/",
            "enrollments/",
            "progress/",
            "media/",
        ),
    ),
    ("gunicorn (writing the answer)", ("gunicorn/",)),
)
OTHER = "other (standard library)"
WRAPPER_SHARE = 0.95
# Frames every request passes through on its way to the view: left out of the inclusive lists
# (they would fill them with the same near-100% lines); their own work shows in the categories.
CHAIN_FRAMES = frozenset(
    {
        "WSGIHandler.__call__",
        "BaseHandler.get_response",
        "BaseHandler._get_response",
        "convert_exception_to_response.<locals>.inner",
        "MiddlewareMixin.__call__",
        "csrf_exempt.<locals>._view_wrapper",
        "View.as_view.<locals>.view",
        "ViewSetMixin.as_view.<locals>.view",
        "APIView.dispatch",
    }
)


def _in_chain(label: str) -> bool:
    name = label.split(" (", 1)[0]
    return name in CHAIN_FRAMES or name.endswith("Middleware.__call__")


def _inclusive(summary: Summary) -> list[tuple[str, int]]:
    return [
        (label, count)
        for label, count in summary.inclusive.most_common()
        if count < WRAPPER_SHARE * summary.request and not _in_chain(label)
    ]


@dataclass(frozen=True)
class Frame:
    name: str
    path: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.path})" if self.path else self.name


def parse_frame(text: str) -> Frame:
    match = _FRAME.match(text)
    if match is None:
        return Frame(text, "")
    return Frame(match["name"], match["path"])


def parse_collapsed(text: str) -> list[tuple[list[Frame], int]]:
    """py-spy's raw output: (frames root first, count) per line; process frames dropped."""
    stacks = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [parse_frame(part) for part in stack.split(";") if not part.startswith("process ")]
        stacks.append((frames, int(count)))
    return stacks


def _is(frame: Frame, wanted: tuple[str, str]) -> bool:
    return frame.name == wanted[0] and frame.path.endswith(wanted[1])


def category_of(frames: list[Frame]) -> str:
    for frame in reversed(frames):
        for name, prefixes in CATEGORIES:
            if any(
                frame.path.startswith(prefix) or f"/{prefix}" in frame.path for prefix in prefixes
            ):
                return name
    return OTHER


@dataclass
class Summary:
    total: int = 0
    idle: int = 0
    reading: int = 0
    request: int = 0
    categories: Counter = field(default_factory=Counter)
    inclusive: Counter = field(default_factory=Counter)
    self_time: Counter = field(default_factory=Counter)

    def share(self, count: int) -> str:
        return f"{100 * count / self.request:5.1f}%" if self.request else "    -"


def summarise(stacks: list[tuple[list[Frame], int]]) -> Summary:
    summary = Summary()
    for frames, count in stacks:
        summary.total += count
        where = next((i for i, frame in enumerate(frames) if _is(frame, REQUEST_FRAME)), None)
        if where is None:
            reading = any(_is(frame, READ_FRAME) for frame in frames) and not any(
                frame.name in WAIT_FRAMES for frame in frames
            )
            if reading:
                summary.reading += count
            else:
                summary.idle += count
            continue
        summary.request += count
        inside = frames[where + 1 :]
        summary.categories[category_of(inside)] += count
        for label in {frame.label for frame in inside}:
            summary.inclusive[label] += count
        if inside:
            summary.self_time[inside[-1].label] += count
    return summary


def render_summary(summary: Summary, *, title: str, top: int = 25) -> str:
    lines = [title, ""]
    if not summary.total:
        return "\n".join([*lines, "no samples"]) + "\n"
    lines.append(
        f"samples: {summary.total:,} over all threads of the workers and the master; "
        f"in a request {summary.request:,}, reading requests {summary.reading:,}, "
        f"idle {summary.idle:,} (waiting for a connection or the next request, the master)"
    )
    lines += ["", "Where the request time goes (share of in-request samples, wall clock):"]
    for name, count in summary.categories.most_common():
        lines.append(f"  {summary.share(count)}  {name}")
    lines += [
        "",
        f"Most time inside (inclusive), top {top}; the handler and middleware chain every "
        f"request passes, and frames in {WRAPPER_SHARE:.0%} or more of the samples, left out:",
    ]
    shown = _inclusive(summary)
    for label, count in shown[:top]:
        lines.append(f"  {summary.share(count)}  {label}")
    lines += ["", f"Most time in the function itself (self), top {top}:"]
    for label, count in summary.self_time.most_common(top):
        lines.append(f"  {summary.share(count)}  {label}")
    return "\n".join(lines) + "\n"


def speedscope(stacks: list[tuple[list[Frame], int]], *, name: str) -> dict:
    """The stacks as a speedscope 'sampled' profile (one sample per distinct stack, weighted)."""
    index: dict[Frame, int] = {}
    frames_out: list[dict] = []
    samples, weights = [], []
    for frames, count in stacks:
        sample = []
        for frame in frames:
            if frame not in index:
                index[frame] = len(frames_out)
                frames_out.append({"name": frame.name, "file": frame.path})
            sample.append(index[frame])
        samples.append(sample)
        weights.append(count)
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames_out},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": "none",
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            }
        ],
        "name": name,
        "exporter": "eduflow bench/profiling.py",
    }


def py_spy_binary() -> str:
    """py-spy from the virtualenv (requirements-dev.txt), else from PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise SystemExit(
            "--profile needs py-spy: `.venv/bin/pip install -r requirements-dev.txt` (make "
            "bench does it)."
        )
    return found


class Recording:
    """One py-spy run attached to a gunicorn master and its workers; `stop()` writes the file."""

    def __init__(self, *, pid: int, output: Path, rate: int, log: Path, gil: bool = False):
        self.output = output
        self.log = log
        output.parent.mkdir(parents=True, exist_ok=True)
        # Wall clock: every thread, waiting ones included, the workers paused at each sample.
        # GIL: only the thread holding the interpreter lock (the Python CPU), read without
        # pausing, so both can sample the same workers at once (one ptrace user at a time).
        mode = ["--gil", "--nonblocking"] if gil else ["--idle"]
        command = [
            py_spy_binary(),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            *mode,
            "--function",
            "--format",
            "raw",
            "--rate",
            str(rate),
            "--output",
            str(output),
        ]
        self._log = log.open("wb")
        # A fixed argument list, no shell.
        self.process = subprocess.Popen(  # noqa: S603
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_started()

    def _wait_started(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                raise SystemExit(
                    f"py-spy exited with status {self.process.returncode}:\n"
                    + self.log.read_text(errors="replace")[-2000:]
                    + "\n(py-spy needs ptrace rights on the workers: root, or "
                    "kernel.yama.ptrace_scope=0)"
                )
            if b"Sampling process" in self.log.read_bytes():
                return
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"py-spy did not start sampling within {timeout:.0f} s ({self.log})")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@dataclass
class ProfileResult:
    raw: Path
    speedscope: Path
    summary: Path
    text: str


def _stacks(recording: Recording, title: str) -> list[tuple[list[Frame], int]]:
    """Stop `recording`, read its stacks and write its speedscope file beside it."""
    recording.stop()
    raw = recording.output
    if not raw.exists():
        raise SystemExit(
            f"py-spy wrote no profile ({raw}):\n"
            + recording.log.read_text(errors="replace")[-2000:]
        )
    stacks = parse_collapsed(raw.read_text(errors="replace"))
    raw.with_suffix(".speedscope.json").write_text(json.dumps(speedscope(stacks, name=title)))
    return stacks


def render_gil_summary(summary: Summary, *, top: int = 15) -> str:
    """The GIL recording: which Python code the workers' CPU runs (no waiting in it)."""
    lines = [
        "",
        "Python CPU (samples of the thread holding the GIL; waits for PostgreSQL, Redis or the "
        f"GIL itself are not in them): {summary.request:,} in requests of {summary.total:,}",
    ]
    if not summary.request:
        return "\n".join(lines) + "\n"
    lines.append("By kind of work:")
    for name, count in summary.categories.most_common():
        lines.append(f"  {summary.share(count)}  {name}")
    lines.append(f"Most CPU inside (inclusive, handler and middleware chain left out), top {top}:")
    shown = _inclusive(summary)
    for label, count in shown[:top]:
        lines.append(f"  {summary.share(count)}  {label}")
    lines.append(f"Most CPU in the function itself (self), top {top}:")
    for label, count in summary.self_time.most_common(top):
        lines.append(f"  {summary.share(count)}  {label}")
    return "\n".join(lines) + "\n"


def finish(wall: Recording, gil: Recording | None, *, title: str) -> ProfileResult:
    """Stop the recordings; write their speedscope files and one summary beside the raw file."""
    text = render_summary(summarise(_stacks(wall, title)), title=title)
    if gil is not None:
        text += render_gil_summary(summarise(_stacks(gil, title + " (GIL)")))
    raw = wall.output
    summary_path = raw.with_suffix(".summary.txt")
    summary_path.write_text(text)
    return ProfileResult(
        raw=raw,
        speedscope=raw.with_suffix(".speedscope.json"),
        summary=summary_path,
        text=text,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


class Profiler:
    """Profiles every load run of the chosen scenarios (`--profile list,me`), one file set each:
    `<n>-<row>.txt` (raw collapsed stacks), `.speedscope.json` and `.summary.txt`, to which
    the SQL of the row's in-process probe request is appended."""

    def __init__(self, *, keys: list[str], directory: Path, rate: int):
        self.keys = frozenset(keys)
        self.directory = directory
        self.rate = rate
        self.results: list[tuple[str, ProfileResult]] = []
        self._probed: set[str] = set()

    def profile(self, context, endpoint, label: str, measure):
        if context.current is None or context.current.key not in self.keys:
            return measure()
        name = f"{len(self.results) + 1:02d}-{_slug(label)}-{context.records}"
        wall = Recording(
            pid=endpoint.pid,
            output=self.directory / f"{name}.txt",
            rate=self.rate,
            log=self.directory / f"{name}.py-spy.log",
        )
        try:
            gil = Recording(
                pid=endpoint.pid,
                output=self.directory / f"{name}.gil.txt",
                rate=self.rate,
                log=self.directory / f"{name}.gil.py-spy.log",
                gil=True,
            )
        except BaseException:
            wall.stop()
            raise
        try:
            result = measure()
        except BaseException:
            wall.stop()
            gil.stop()
            raise
        title = (
            f"{label}: {endpoint.name} server at {context.records:,} records, "
            f"{result.requests_per_second:,.0f} req/s while sampled ({self.rate}/s), "
            f"{result.completed:,} requests, {result.errors} errors"
        )
        profile = finish(wall, gil, title=title)
        self.results.append((label, profile))
        return result

    def add_probes(self, probes: dict[str, str]) -> list[ProfileResult]:
        """Append each profiled row's probe SQL to its summary; the summaries completed."""
        done = []
        for label, profile in self.results:
            if profile.summary in self._probed or label not in probes:
                continue
            extra = "\nSQL of one request of this row (in process, Django test client):\n"
            extra += (probes[label] or "  (none)") + "\n"
            profile.text += extra
            with profile.summary.open("a") as handle:
                handle.write(extra)
            self._probed.add(profile.summary)
            done.append(profile)
        return done
