"""`python -m bench` (what `make bench` runs): generate data, start gunicorn, measure, report.

One run: the data is topped up to each scale asked for (smallest first); at each scale every
selected scenario runs against the same server, scenario 1 first so every row has its ratio to
it. When a catalog scenario (2, 3) is selected a second server runs beside the first, with the
catalog cache switched off (`CATALOG_CACHE_SECONDS=0`), for the "uncached" rows. The table is
printed and appended to docs/benchmarks.md (`--doc`, `--no-record`). The exit status is 1 when
any row failed (errors, or the time cap reached before its planned requests) or a check found
lost writes; a missed target is reported, not a failure.

`--profile KEY[,KEY]` samples the workers with py-spy while those scenarios' rows run and
writes flame data and a summary under var/bench/profile-<time>/ (see bench/profiling.py);
profiled runs are not recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shlex
import sqlite3
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from . import machine
from .report import Report, Row, append_to_section, render_markdown, render_text
from .server import BASE_DIR, GunicornServer

DEFAULT_DOC = BASE_DIR / "docs" / "benchmarks.md"
DEFAULT_SECTION = "Load scenarios"
DEFAULT_SCALES = [1_000_000]
CATALOG_CACHE_VARIABLE = "CATALOG_CACHE_SECONDS"
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
        default=None,
        help="comma-separated scenario keys: health (1), list (2), detail (3), me (4), "
        "dashboard (5), heartbeat (6), enroll (7), login (8), store (6, the progress store "
        "alone, in process); 'issue' for 1-8, 'all' for every one (default: issue; with "
        "--profile: health and the profiled ones)",
    )
    parser.add_argument(
        "--scales",
        "--scale",
        type=_int_list,
        default=DEFAULT_SCALES,
        help="progress records to load, one measurement step per value, e.g. 1000,100000,1000000"
        " (default: 1000000)",
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
        "--learners",
        type=int,
        default=256,
        help="learners sending heartbeats, and students for me and dashboard (default: 256)",
    )
    parser.add_argument(
        "--detail-courses",
        type=int,
        default=300,
        help="different courses the detail rows ask for (default: 300)",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="comma-separated scenario keys to profile with py-spy while they run (flame data "
        "and a summary under var/bench/profile-<time>/); implies --no-record",
    )
    parser.add_argument(
        "--profile-rate", type=int, default=100, help="py-spy samples per second (default: 100)"
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
    args.profile_keys = [key.strip() for key in args.profile.split(",") if key.strip()]
    if args.scenarios is None:
        args.scenarios = "health," + ",".join(args.profile_keys) if args.profile_keys else "issue"
    args.scenario_keys = [key.strip() for key in args.scenarios.split(",") if key.strip()]
    if args.profile_keys:
        args.no_record = True
    args.scales = sorted(set(args.scales))
    args.intervals = sorted(set(args.intervals))
    for name in ("requests", "concurrency", "learners", "workers", "threads", "detail_courses"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0 or args.time_cap <= 0:
        parser.error("--warmup must be >= 0 and --time-cap > 0")
    if args.profile_rate < 1:
        parser.error("--profile-rate must be at least 1")
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


def describe_catalog_cache(uncached_server: bool) -> str:
    """What the catalog rows compare: the main server's setting against the second server's 0."""
    from django.conf import settings

    value = os.environ.get(CATALOG_CACHE_VARIABLE)
    main_text = f"{CATALOG_CACHE_VARIABLE}={value}" if value else f"{CATALOG_CACHE_VARIABLE} unset"
    in_app = getattr(settings, CATALOG_CACHE_VARIABLE, None)
    text = f"main server: {main_text} (the application reads {in_app!r})"
    if in_app is None:
        text = (
            f"main server: {main_text}; the application has no {CATALOG_CACHE_VARIABLE} setting "
            "yet, so cached and uncached rows run the same code"
        )
    if uncached_server:
        text += (
            f"; a second server of the same configuration with {CATALOG_CACHE_VARIABLE}=0 "
            "answers the uncached rows; cached rows run after one priming request per URL"
        )
    return text


def describe_password_hashing() -> str:
    from .scenarios import argon2_parameters

    return (
        f"{argon2_parameters()} (Django's Argon2PasswordHasher): every login (8) hashes "
        "once; generated accounts share one hash made with these parameters"
    )


def describe_jobs() -> str:
    from django.conf import settings

    broker = getattr(settings, "CELERY_BROKER_URL", "")
    if not broker:
        return (
            "Celery eager (no CELERY_BROKER_URL): tasks queued on commit run inside the "
            "request, e.g. the enrollment confirmation email of each enroll (7), sent with "
            "the configured email backend"
        )
    return f"Celery broker {_masked(broker)}: tasks are queued there, not run by the server"


# --- the run --------------------------------------------------------------------------------


def _rss_text(server: GunicornServer) -> str:
    return ", ".join(f"{value / 1024:.0f} MiB" for value in server.worker_rss_kib())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    environment = run_environment(args)
    os.environ.update(environment)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eduflow.settings")

    import django

    django.setup()
    # WhiteNoise warns once, in the probes, that collectstatic has not run: the API needs none.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)

    from django.conf import settings as django_settings
    from django.core.management import call_command

    from . import scenarios
    from .datagen import BENCH_PASSWORD, Generator, HeartbeatData, ScenarioData, settle_database
    from .profiling import Profiler, py_spy_binary

    chosen = scenarios.selected(args.scenario_keys)
    chosen_keys = {item.key for item in chosen}
    unknown_profile = [key for key in args.profile_keys if key not in chosen_keys]
    if unknown_profile:
        raise SystemExit(f"--profile {','.join(unknown_profile)}: not among the scenarios run")
    if args.profile_keys:
        py_spy_binary()  # fail before generating anything when py-spy is missing
    guard_database(args)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        empty_database()
    call_command("migrate", interactive=False, verbosity=0)

    started_at = machine.now_utc()
    stamp = started_at.strftime("%Y%m%d-%H%M%S")
    log_path = BENCH_DIR / f"server-{stamp}.log"
    uncached_log_path = BENCH_DIR / f"server-{stamp}-uncached.log"
    wants_uncached = bool(chosen_keys & scenarios.CATALOG_SCENARIOS)
    database = describe_database()
    cache = describe_cache()
    store = describe_progress_store()
    short_database = database.split(" (")[0]
    short_cache = "Redis" if cache.startswith("Redis") else "local-memory cache"
    local_cache = not cache.startswith("Redis")
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
    logs = f"to {log_path.relative_to(BASE_DIR)}"
    if wants_uncached:
        logs += f" and {uncached_log_path.relative_to(BASE_DIR)}"
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
            f"(one JSON line per request, {logs})",
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
            f"measured ones per row (login: one per connection), time cap "
            f"{args.time_cap:.0f} s per row",
        ),
        (
            "Users",
            "generated accounts share one password hash computed once (hashing each would "
            f"dominate generation); every scenario but login uses JWTs signed with the run's "
            f"key, valid {JWT_MINUTES} min, instead of logging in",
        ),
        ("Password hashing", describe_password_hashing()),
        ("Background jobs", describe_jobs()),
    ]
    if chosen_keys & scenarios.CATALOG_SCENARIOS:
        report.context.append(("Catalog cache", describe_catalog_cache(wants_uncached)))

    generator = Generator(show_progress=not args.no_progress)
    heartbeat_data = HeartbeatData(generator)
    scenario_data = ScenarioData(generator)
    settings = scenarios.Settings(
        requests=args.requests,
        concurrency=args.concurrency,
        warmup=args.warmup,
        time_cap=args.time_cap,
        learners=args.learners,
        interval_counts=args.intervals,
        detail_courses=args.detail_courses,
    )
    profiler = None
    if args.profile_keys:
        profiler = Profiler(
            keys=args.profile_keys, directory=BENCH_DIR / f"profile-{stamp}", rate=args.profile_rate
        )
    data_lines: list[str] = []
    checks: list[tuple[str, str | None]] = []
    memory_lines: list[str] = []
    server = GunicornServer(env=server_env, log_path=log_path)
    uncached = None
    if wants_uncached:
        uncached = GunicornServer(
            env={**server_env, CATALOG_CACHE_VARIABLE: "0"}, log_path=uncached_log_path
        )
    print(f"Benchmark: {database}; {cache}; progress store {store}", flush=True)
    print(f"Generated accounts' password (bench data only): {BENCH_PASSWORD}", flush=True)
    print(f"Throttle rates raised for the run to {RAISED_RATE} ({', '.join(THROTTLE_VARIABLES)})")
    with server, uncached if uncached is not None else contextlib.nullcontext():
        print(f"gunicorn ready on 127.0.0.1:{server.port} (log: {log_path})", flush=True)
        servers = {"main": scenarios.Endpoint("main", server.host, server.port, server.process.pid)}
        if uncached is not None:
            print(
                f"second gunicorn ({CATALOG_CACHE_VARIABLE}=0) ready on 127.0.0.1:"
                f"{uncached.port} (log: {uncached_log_path})",
                flush=True,
            )
            servers["uncached"] = scenarios.Endpoint(
                "uncached", uncached.host, uncached.port, uncached.process.pid
            )
        fixture = None
        measured_at: set[int] = set()
        for scale in args.scales:
            started = time.perf_counter()
            generation = generator.ensure_scale(scale)
            if generation.records in measured_at:
                print(f"already measured at {generation.records:,} records; step skipped")
                continue
            measured_at.add(generation.records)
            if fixture is None and chosen_keys & {"heartbeat", "store"}:
                fixture = heartbeat_data.ensure(
                    learners=args.learners, interval_counts=args.intervals
                )
            settle_database()
            line = f"{generation.describe()} ({time.perf_counter() - started:.1f} s in all)"
            data_lines.append(line)
            print(line, flush=True)
            context = scenarios.Context(
                servers=servers,
                settings=settings,
                records=generation.records,
                heartbeat_data=heartbeat_data,
                heartbeat_fixture=fixture,
                data=scenario_data,
                profiler=profiler,
                local_cache=local_cache,
                workers=workers,
            )
            step_rows: list[Row] = []
            for item in chosen:
                print(
                    f"  running {item.number}. {item.title} at {generation.records:,} records",
                    flush=True,
                )
                context.current = item
                step_rows.extend(item.run(context))
                context.current = None
                if profiler is not None:
                    for profile in profiler.add_probes(context.probes):
                        print(profile.text)
                        print(f"  profile: {profile.raw} (flame data), {profile.speedscope}")
            report.rows.extend(step_rows)
            report.notes.extend(context.notes)
            checks.extend(context.checks)
            print(render_text(Report(title=f"At {generation.records:,} records", rows=step_rows)))
        if server.worker_rss_kib():
            memory_lines.append(f"main server: {_rss_text(server)}")
        if uncached is not None and uncached.worker_rss_kib():
            memory_lines.append(f"uncached server: {_rss_text(uncached)}")
    report.context.append(("Data", "; ".join(data_lines)))
    report.context.append(
        (
            "Load average (1/5/15 min)",
            f"{load_before} before the run, {machine.load_average()} after it (other "
            "processes on the machine compete with the server and the load generator)",
        )
    )
    if memory_lines:
        report.context.append(
            ("Worker memory after the run (RSS, per worker)", "; ".join(memory_lines))
        )
    report.notes.insert(
        0,
        "Loadgen CPU: the load generator's own CPU use while measuring, as a share of one "
        "core; what it uses is not available to the server on this machine. SQL / cache per "
        "request: one more request of the row's shape sent in the benchmark process through "
        "Django's test client, its SQL queries and cache round trips counted (Redis commands "
        "with Redis).",
    )
    failed_checks = [(label, problem) for label, problem in checks if problem is not None]
    if checks and not failed_checks:
        report.notes.append(
            f"Checks: after each of the {len(checks)} writing rows (heartbeat, store, enroll) "
            "the data was read back: heartbeat records held exactly the watched seconds sent "
            "(10 s per heartbeat, warm-up included) and every enrollment answered 201 exists; "
            "no write was lost."
        )
    for label, problem in failed_checks:
        report.notes.append(f"CHECK FAILED ({label}): {problem}.")
    for row in report.failed:
        samples = "; ".join(row.result.error_samples) or "no sample"
        report.notes.append(f"FAILED {row.scenario} {row.variant}: {row.status} ({samples})")
    if django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") or local_cache:
        report.notes.append(
            "The targets are set for PostgreSQL + Redis; on this configuration they are shown "
            "for orientation only."
        )

    print()
    print(render_text(report))
    if profiler is not None:
        print(f"profiles written to {profiler.directory} (profiled runs are not recorded)")
    elif not args.no_record:
        append_to_section(args.doc, args.section, render_markdown(report))
        print(f"appended to {args.doc} (section {args.section!r})")
    return 1 if report.failed or failed_checks else 0
