"""`python -m bench` (what `make bench` runs): generate data, start gunicorn, measure, report.

One run: the data is topped up to each scale asked for (smallest first); at each scale every
selected scenario runs against the same server, scenario 1 first so every row has its ratio to
it. The table is printed and appended to docs/benchmarks.md. The exit status is 1 when any row
failed (errors, or the time cap reached before its planned requests).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import sqlite3
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from . import machine
from .report import Report, Row, append_to_section, render_markdown, render_text
from .server import BASE_DIR, GunicornServer

DEFAULT_DOC = BASE_DIR / "docs" / "benchmarks.md"
DEFAULT_SECTION = "Progress heartbeats"
BENCH_DIR = BASE_DIR / "var" / "bench"
RAISED_RATE = "1000000/min"
THROTTLE_VARIABLES = (
    "THROTTLE_ANON",
    "THROTTLE_USER",
    "THROTTLE_AUTH_IP",
    "THROTTLE_LOGIN_ACCOUNT",
)
JWT_MINUTES = "240"


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers: {text!r}"
        ) from None
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"expected numbers of at least 1: {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Load benchmarks: EduFlow under gunicorn on loopback, against the configured "
            "database and cache (DATABASE_URL / REDIS_URL; SQLite under var/bench/ and "
            "local memory when unset)."
        ),
    )
    parser.add_argument(
        "--scenarios",
        default="health,heartbeat,store",
        help="comma-separated scenario keys: health (1), heartbeat (6), store (6, the progress "
        "store alone, in process) (default: all three)",
    )
    parser.add_argument(
        "--scales",
        "--scale",
        type=_int_list,
        default=[1000, 100000],
        help="progress records to load, one measurement step per value, e.g. 1000,100000,1000000"
        " (default: 1000,100000)",
    )
    parser.add_argument(
        "--intervals",
        type=_int_list,
        default=[1, 100, 1000],
        help="heartbeat rows: disjoint intervals in each learner's record before the run"
        " (default: 1,100,1000)",
    )
    parser.add_argument(
        "--requests", type=int, help="measured requests per row (default: per scenario)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="connections (default: 16)")
    parser.add_argument(
        "--warmup", type=int, default=200, help="unmeasured requests before each row (default: 200)"
    )
    parser.add_argument(
        "--time-cap", type=float, default=120.0, help="seconds per row at most (default: 120)"
    )
    parser.add_argument(
        "--learners", type=int, default=256, help="learners sending heartbeats (default: 256)"
    )
    parser.add_argument(
        "--workers", type=int, help="gunicorn workers (default: GUNICORN_WORKERS or 2)"
    )
    parser.add_argument(
        "--threads", type=int, help="threads per worker (default: GUNICORN_THREADS or 4)"
    )
    parser.add_argument(
        "--doc", type=Path, default=DEFAULT_DOC, help="Markdown file the table is appended to"
    )
    parser.add_argument(
        "--section", default=DEFAULT_SECTION, help=f"its section (default: {DEFAULT_SECTION!r})"
    )
    parser.add_argument("--no-record", action="store_true", help="print only, do not append")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start from an empty database: the SQLite file under var/bench/ is deleted, any "
        "other (bench) database flushed",
    )
    parser.add_argument(
        "--any-database",
        action="store_true",
        help="allow a database whose name does not contain 'bench' (it receives generated data)",
    )
    args = parser.parse_args(argv)
    args.scenario_keys = [key.strip() for key in args.scenarios.split(",") if key.strip()]
    args.scales = sorted(set(args.scales))
    args.intervals = sorted(set(args.intervals))
    for name in ("requests", "concurrency", "learners", "workers", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0 or args.time_cap <= 0:
        parser.error("--warmup must be >= 0 and --time-cap > 0")
    if args.fresh and args.any_database:
        parser.error("--fresh empties the database: not with --any-database")
    if args.learners < args.concurrency:
        parser.error("--learners must be at least --concurrency (one learner per connection)")
    return args


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def run_environment(args: argparse.Namespace) -> dict[str, str]:
    """What both this process and the server get: production mode, loopback, raised throttles."""
    workers = args.workers or int(os.environ.get("GUNICORN_WORKERS") or 2)
    threads = args.threads or int(os.environ.get("GUNICORN_THREADS") or 4)
    env = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        # SQLite (when DATABASE_URL is unset) and uploaded files live here.
        "EDUFLOW_DATA_DIR": str(BENCH_DIR),
        "JWT_ACCESS_MINUTES": JWT_MINUTES,
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads),
        # A worker recycled mid-row would drop its keep-alive connections.
        "GUNICORN_MAX_REQUESTS": "0",
        "CACHE_KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "eduflow-bench"),
    }
    env.update(dict.fromkeys(THROTTLE_VARIABLES, RAISED_RATE))
    return env


def _command_line(argv: list[str]) -> str:
    prefix = " ".join(
        f"{name}={_masked(os.environ[name])}"
        for name in ("DATABASE_URL", "REDIS_URL", "MONGO_URL")
        if os.environ.get(name)
    )
    arguments = shlex.join(argv)
    if os.environ.get("MAKELEVEL"):
        command = "make bench" + (f" ARGS={shlex.quote(arguments)}" if arguments else "")
    else:
        command = ".venv/bin/python -m bench" + (f" {arguments}" if arguments else "")
    return f"{prefix} {command}".strip()


# --- Django side ----------------------------------------------------------------------------


def _database_name() -> tuple[str, str]:
    from django.conf import settings

    database = settings.DATABASES["default"]
    return database["ENGINE"], str(database["NAME"])


def guard_database(args: argparse.Namespace) -> None:
    from django.conf import settings

    engine, name = _database_name()
    if args.any_database:
        return
    if settings.MONGO_URL and "bench" not in settings.MONGO_DB_NAME:
        raise SystemExit(
            f"The benchmark writes generated progress into the MongoDB database "
            f"{settings.MONGO_DB_NAME!r}: set MONGO_DB_NAME to one for benchmarks (its name "
            f"containing 'bench') or pass --any-database."
        )
    if engine.endswith("sqlite3"):
        bench_file = Path(name).resolve().is_relative_to(BENCH_DIR.resolve())
        if bench_file or "bench" in Path(name).name:
            return
    elif "bench" in name:
        return
    raise SystemExit(
        f"The benchmark writes generated users, courses and progress into the database "
        f"{name!r}. Point DATABASE_URL at a database for benchmarks (its name containing "
        f"'bench', e.g. eduflow_bench), unset it for SQLite under var/bench/, or pass "
        f"--any-database."
    )


def empty_database() -> None:
    """Start from nothing: delete the bench SQLite file, or flush a (bench) server database."""
    from django.core.management import call_command
    from django.db import connection

    engine, name = _database_name()
    if engine.endswith("sqlite3"):
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)
        print(f"--fresh: removed {name}", flush=True)
        _empty_document_store()
        return
    call_command("migrate", interactive=False, verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    print(f"--fresh: flushed database {name}", flush=True)
    _empty_document_store()


def _empty_document_store() -> None:
    """With MONGO_URL the progress records live outside the SQL database: empty them too
    (guard_database has checked the MongoDB database is one for benchmarks)."""
    from progress.repository import get_progress_repository

    collection = getattr(get_progress_repository(), "collection", None)
    if collection is not None:
        collection.delete_many({})
        print(f"--fresh: emptied MongoDB collection {collection.full_name}", flush=True)


def describe_database() -> str:
    from django.db import connection

    engine, name = _database_name()
    if engine.endswith("sqlite3"):
        return (
            f"SQLite {sqlite3.sqlite_version} ({name}; WAL, IMMEDIATE transactions; ANALYZE "
            "after loading data and after each reset of the heartbeat learners' records)"
        )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
    settings_dict = connection.settings_dict
    where = f"{settings_dict.get('HOST') or 'local socket'}:{settings_dict.get('PORT') or 5432}"
    reuse = settings_dict["CONN_MAX_AGE"]
    return (
        f"PostgreSQL {version} (database {name} at {where}; connections kept {reuse} s; "
        f"autovacuum {autovacuum}; the run itself runs VACUUM (ANALYZE) after loading data "
        "and after each reset of the heartbeat learners' records)"
    )


def describe_cache() -> str:
    from django.conf import settings

    backend = settings.CACHES["default"]["BACKEND"]
    if "redis" in backend.lower():
        from django_redis import get_redis_connection

        version = get_redis_connection("default").info().get("redis_version", "?")
        return f"Redis {version} ({_masked(settings.CACHES['default']['LOCATION'])})"
    return (
        "local memory (each gunicorn worker keeps its own: throttle counts are per worker, "
        "as in any multi-process deployment without Redis)"
    )


def describe_progress_store() -> str:
    from progress.repository import get_progress_repository

    return type(get_progress_repository()).__name__


# --- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    environment = run_environment(args)
    os.environ.update(environment)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eduflow.settings")

    import django

    django.setup()

    from django.core.management import call_command

    from . import scenarios
    from .datagen import BENCH_PASSWORD, Generator, HeartbeatData, settle_database

    chosen = scenarios.selected(args.scenario_keys)
    guard_database(args)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        empty_database()
    call_command("migrate", interactive=False, verbosity=0)

    started_at = machine.now_utc()
    stamp = started_at.strftime("%Y%m%d-%H%M%S")
    log_path = BENCH_DIR / f"server-{stamp}.log"
    database = describe_database()
    cache = describe_cache()
    store = describe_progress_store()
    short_database = database.split(" (")[0]
    short_cache = "Redis" if cache.startswith("Redis") else "local-memory cache"
    report = Report(
        title=(
            f"Run {started_at:%Y-%m-%d %H:%M} UTC, commit {machine.git_commit()}, "
            f"{short_database} + {short_cache}"
        )
    )
    server_env = {**os.environ}
    workers = int(environment["GUNICORN_WORKERS"])
    threads = int(environment["GUNICORN_THREADS"])
    keepalive = os.environ.get("GUNICORN_KEEPALIVE") or "5"
    load_before = machine.load_average()
    report.context += [
        ("Command", f"`{_command_line(argv)}`"),
        ("Machine", f"{machine.describe_machine()}; the load generator and the server share it"),
        ("Database", database),
        ("Cache", cache),
        ("Progress store", store),
        (
            "Server",
            f"gunicorn with eduflow/gunicorn.conf.py: {workers} workers x {threads} threads "
            f"({'gthread' if threads > 1 else 'sync'}), keep-alive {keepalive} s, worker "
            f"recycling off (GUNICORN_MAX_REQUESTS=0); DJANGO_DEBUG=0, access log on "
            f"(one JSON line per request, to {log_path.relative_to(BASE_DIR)})",
        ),
        (
            "Throttles",
            f"rates raised for the run to {RAISED_RATE} ({', '.join(THROTTLE_VARIABLES)}); "
            "the throttle checks still run on every API request",
        ),
        (
            "Load",
            f"Python load generator (bench/loadgen.py), {args.concurrency} keep-alive "
            f"connections (one thread each), {args.warmup} unmeasured warm-up requests then the "
            f"measured ones per row, time cap {args.time_cap:.0f} s per row",
        ),
        (
            "Users",
            "generated accounts share one password hash computed once (hashing each would "
            f"dominate generation); heartbeat learners use JWTs signed with the run's key, "
            f"valid {JWT_MINUTES} min, instead of logging in",
        ),
    ]

    generator = Generator(show_progress=not args.no_progress)
    heartbeat_data = HeartbeatData(generator)
    settings = scenarios.Settings(
        requests=args.requests,
        concurrency=args.concurrency,
        warmup=args.warmup,
        time_cap=args.time_cap,
        learners=args.learners,
        interval_counts=args.intervals,
    )
    data_lines: list[str] = []
    checks: list[tuple[str, str | None]] = []
    memory_line = ""
    server = GunicornServer(env=server_env, log_path=log_path)
    print(f"Benchmark: {database}; {cache}; progress store {store}", flush=True)
    print(f"Generated accounts' password (bench data only): {BENCH_PASSWORD}", flush=True)
    with server:
        print(f"gunicorn ready on 127.0.0.1:{server.port} (log: {log_path})", flush=True)
        fixture = None
        measured_at: set[int] = set()
        for scale in args.scales:
            started = time.perf_counter()
            generation = generator.ensure_scale(scale)
            if generation.records in measured_at:
                print(f"already measured at {generation.records:,} records; step skipped")
                continue
            measured_at.add(generation.records)
            if fixture is None:
                fixture = heartbeat_data.ensure(
                    learners=args.learners, interval_counts=args.intervals
                )
            settle_database()
            line = f"{generation.describe()} ({time.perf_counter() - started:.1f} s in all)"
            data_lines.append(line)
            print(line, flush=True)
            context = scenarios.Context(
                host=server.host,
                port=server.port,
                settings=settings,
                records=generation.records,
                heartbeat_data=heartbeat_data,
                heartbeat_fixture=fixture,
            )
            step_rows: list[Row] = []
            for item in chosen:
                print(
                    f"  running {item.number}. {item.title} at {generation.records:,} records",
                    flush=True,
                )
                step_rows.extend(item.run(context))
            report.rows.extend(step_rows)
            report.notes.extend(context.notes)
            checks.extend(context.checks)
            print(render_text(Report(title=f"At {generation.records:,} records", rows=step_rows)))
        rss = server.worker_rss_kib()
        if rss:
            memory_line = ", ".join(f"{value / 1024:.0f} MiB" for value in rss)
    report.context.append(("Data", "; ".join(data_lines)))
    report.context.append(
        (
            "Load average (1/5/15 min)",
            f"{load_before} before the run, {machine.load_average()} after it (other "
            "processes on the machine compete with the server and the load generator)",
        )
    )
    if memory_line:
        report.context.append(("Worker memory after the run (RSS)", memory_line))
    report.notes.insert(
        0,
        "Loadgen CPU: the load generator's own CPU use while measuring, as a share of one "
        "core; what it uses is not available to the server on this machine.",
    )
    failed_checks = [(label, problem) for label, problem in checks if problem is not None]
    if checks and not failed_checks:
        report.notes.append(
            f"Checks: after each of the {len(checks)} heartbeat and store rows the learners' "
            "records were read back and held exactly the watched seconds sent (10 s per "
            "heartbeat, warm-up included): no heartbeat was lost."
        )
    for label, problem in failed_checks:
        report.notes.append(f"CHECK FAILED ({label}): {problem}.")
    for row in report.failed:
        samples = "; ".join(row.result.error_samples) or "no sample"
        report.notes.append(f"FAILED {row.scenario} {row.variant}: {row.status} ({samples})")

    print()
    print(render_text(report))
    if not args.no_record:
        append_to_section(args.doc, args.section, render_markdown(report))
        print(f"appended to {args.doc} (section {args.section!r})")
    return 1 if report.failed or failed_checks else 0
