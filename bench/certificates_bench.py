"""Certificate benchmark: PDFs rendered per second on this machine. Not part of the test suite.

    .venv/bin/python bench/certificates_bench.py [--count 40] [--processes N] [--record]

Measured rows:

1. `render_certificate()` alone (fpdf2 + segno, A4 landscape, QR code), one process, for a name
   DejaVu covers ("Zoë Łukasiewicz") and for one that needs the CJK fallback font
   ("Zoë Łukasiewicz \N{EN DASH} 李雷"; loading Droid Sans Fallback is most of that render's cost).
2. The same renders spread over N processes (default: the usable cores): the machine's rate.
3. `certificate_render_pdf(force=True)`, what the `enrollments.issue_certificate` task does for a
   missing PDF: row lock, render, write to storage (`certificates/<id>.pdf`), sha256, update.

Everything runs in a temporary directory with its own SQLite database and MEDIA_ROOT, so the
script needs nothing but the project's virtualenv. With --record the results go into the
"## Certificates" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench.machine import describe_machine, git_commit, load_average, usable_cores  # noqa: E402

DOC = BASE_DIR / "docs" / "benchmarks.md"
SECTION = "## Certificates"
INTRO = (
    "Certificate PDFs (fpdf2, A4 landscape, DejaVu Sans with the Droid Sans Fallback CJK font,\n"
    "segno QR code) rendered per second. Produced by `bench/certificates_bench.py` (see its\n"
    "docstring)."
)
LATIN = "Zoë Łukasiewicz"
CJK = "Zoë Łukasiewicz \N{EN DASH} 李雷"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40, help="renders per row (default 40)")
    parser.add_argument(
        "--processes", type=int, default=0, help="processes for the parallel rows (default: cores)"
    )
    parser.add_argument("--record", action="store_true", help="write to docs/benchmarks.md")
    return parser.parse_args(argv)


def content(name: str, index: int):
    from enrollments.certificates import CertificateContent

    code = secrets.token_urlsafe(16)
    return CertificateContent(
        learner_name=name,
        course_title=f"Linear Algebra for Everyone, part {index}",
        instructor_name="Ana Pérez",
        completed_on=dt.date(2026, 1, 15),
        issued_at=dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC),
        code=code,
        verify_url=f"https://lms.example.org/api/v1/certificates/verify/{code}/",
    )


def _render_one(args: tuple[str, int]) -> int:
    from enrollments.certificates import render_certificate

    name, index = args
    return len(render_certificate(content(name, index)))


def sequential(name: str, count: int) -> tuple[float, float, int]:
    """(per second, median ms per render, median size in bytes)."""
    _render_one((name, -1))  # warm-up: imports, the font coverage table
    times, sizes = [], []
    started = time.perf_counter()
    for index in range(count):
        t0 = time.perf_counter()
        sizes.append(_render_one((name, index)))
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    return count / total, statistics.median(times) * 1000, int(statistics.median(sizes))


def parallel(name: str, count: int, processes: int) -> float:
    with ProcessPoolExecutor(max_workers=processes) as pool:
        list(pool.map(_render_one, [(name, -1 - i) for i in range(processes)]))  # warm-up
        started = time.perf_counter()
        list(pool.map(_render_one, [(name, i) for i in range(count)]))
        return count / (time.perf_counter() - started)


def setup_django(workdir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "eduflow.settings",
            "DJANGO_DEBUG": "1",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "EDUFLOW_DATA_DIR": str(workdir),
            "MEDIA_ROOT": str(workdir / "media"),
            "LOG_LEVEL": "WARNING",
        }
    )
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "AWS_STORAGE_BUCKET_NAME"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def through_service(name: str, count: int) -> float:
    """Renders per second through `certificate_render_pdf(force=True)` (storage + database)."""
    from django.utils import timezone

    from accounts.models import Role, User
    from courses.models import Category, Course, CourseStatus
    from enrollments import services
    from enrollments.models import Certificate

    instructor = User.objects.create_user(
        email="bench-instructor@example.org", password=None, role=Role.INSTRUCTOR
    )
    category = Category.objects.create(name="Bench", slug="bench")
    ids = []
    for index in range(count + 1):
        course = Course.objects.create(
            title=f"Course {index}",
            slug=f"course-{index}",
            category=category,
            instructor=instructor,
            status=CourseStatus.PUBLISHED,
            published_at=timezone.now(),
        )
        learner = User.objects.create_user(email=f"learner{index}@example.org", password=None)
        ids.append(
            Certificate.objects.create(
                user=learner,
                course=course,
                learner_name=name,
                course_title=course.title,
                instructor_name="Ana Pérez",
                completed_on=timezone.localdate(),
            ).pk
        )
    services.certificate_render_pdf(certificate_id=ids[0], force=True)  # warm-up
    started = time.perf_counter()
    for certificate_id in ids[1:]:
        services.certificate_render_pdf(certificate_id=certificate_id, force=True)
    return count / (time.perf_counter() - started)


def record(text: str) -> None:
    """Append `text` at the end of the "## Certificates" section (created if missing)."""
    current = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    lines = current.rstrip("\n").split("\n")
    if SECTION not in lines:
        DOC.write_text("\n".join(lines) + f"\n\n{SECTION}\n\n{INTRO}\n\n{text.rstrip()}\n")
        return
    start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    before, after = lines[:end], lines[end:]
    while before and not before[-1].strip():
        before.pop()
    block = [*before, "", *text.rstrip().split("\n")]
    DOC.write_text("\n".join(block + (["", *after] if after else [])) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    processes = args.processes or usable_cores()
    started_at = dt.datetime.now(tz=dt.UTC)
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="eduflow-certificates-bench-") as tmp:
        setup_django(Path(tmp))
        rows = []
        for label, name in (("Latin name (DejaVu only)", LATIN), ("Name with CJK (fallback)", CJK)):
            rate, median_ms, size = sequential(name, args.count)
            rows.append((f"`render_certificate()`, 1 process, {label}", rate, median_ms, size))
            print(f"{rows[-1][0]}: {rate:.2f}/s, median {median_ms:.0f} ms, {size} bytes")
        for label, name in (("Latin name", LATIN), ("Name with CJK", CJK)):
            rate = parallel(name, args.count, processes)
            rows.append((f"`render_certificate()`, {processes} processes, {label}", rate, 0, 0))
            print(f"{rows[-1][0]}: {rate:.2f}/s")
        rate = through_service(LATIN, args.count)
        rows.append(
            ("`certificate_render_pdf` (SQLite + local file), 1 process, Latin name", rate, 0, 0)
        )
        print(f"{rows[-1][0]}: {rate:.2f}/s")
    load_after = load_average()

    command = ".venv/bin/python bench/certificates_bench.py " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:])
    )
    lines = [
        f"### Run of {started_at:%Y-%m-%d %H:%M} UTC (commit {git_commit()})",
        "",
        f"- Machine: {describe_machine()}; load average (1/5/15 min) at the start "
        f"{load_before}, at the end {load_after} (other work shared the cores when high).",
        f"- Command: `{command.strip()}`.",
        f"- {args.count} renders per row; each certificate has its own code and QR code.",
        "",
        "| Rendering | PDFs/s | Median per PDF | PDF size |",
        "|---|---:|---:|---:|",
    ]
    for label, rate, median_ms, size in rows:
        median = f"{median_ms:.0f} ms" if median_ms else ""
        size_text = f"{size / 1024:.0f} KiB" if size else ""
        lines.append(f"| {label} | {rate:.1f} | {median} | {size_text} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.record:
        record(text)
        print(f"recorded in {DOC.relative_to(BASE_DIR)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
