"""The scenarios, numbered as in the full benchmark set, in one registry.

A scenario is a function that takes the run's `Context` and returns its table rows; register it
with `@scenario(key, number, title)`. Scenarios run in number order at every data scale of the
run; scenario 1 (`GET /health/live/`, the in-app ceiling) runs first so every other row gets its
ratio to it. The issue's eight: 1 health, 2 list, 3 detail, 4 me, 5 dashboard, 6 heartbeat,
7 enroll, 8 login; `store` (60) is heartbeat's store-only companion.

Catalog rows (2, 3) run twice: "cached" against the main server (catalog cache as configured)
after one priming request per URL, "uncached" against a second server of the same run started
with `CATALOG_CACHE_SECONDS=0`.

After each HTTP row one more request of the same shape is sent in this process through
Django's test client, counting its SQL queries and cache round trips (the "SQL / cache per
request" column): what the row's requests cost besides CPU.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .loadgen import LoadResult, Request, RequestSource, run_load
from .report import Row, Target


@dataclass
class Settings:
    """How hard and how long each row pushes."""

    requests: int | None  # None: each scenario's default
    concurrency: int
    warmup: int
    time_cap: float
    learners: int
    interval_counts: list[int]
    detail_courses: int = 300


@dataclass(frozen=True)
class Endpoint:
    """One gunicorn server of the run."""

    name: str  # "main", or "uncached" (CATALOG_CACHE_SECONDS=0)
    host: str
    port: int
    pid: int  # the master's (profiling follows its workers)


@dataclass
class Context:
    servers: dict[str, Endpoint]
    settings: Settings
    records: int  # bulk-loaded progress records at this step
    heartbeat_data: object | None = None  # datagen.HeartbeatData, set by the CLI
    heartbeat_fixture: object | None = None  # datagen.HeartbeatFixture
    data: object | None = None  # datagen.ScenarioData
    profiler: object | None = None  # cli.Profiler when --profile
    local_cache: bool = False  # the cache is per worker process (no REDIS_URL)
    workers: int = 1
    baseline: LoadResult | None = None  # scenario 1 of this step
    current: Scenario | None = None  # set by the CLI while a scenario runs
    notes: list[str] = field(default_factory=list)
    checks: list[tuple[str, str | None]] = field(default_factory=list)  # (row, problem or None)
    probes: dict[str, str] = field(default_factory=dict)  # row label -> SQL of its probe

    @property
    def host(self) -> str:
        return self.servers["main"].host

    @property
    def port(self) -> int:
        return self.servers["main"].port

    def check_heartbeats(self, label: str, intervals: int, sent: int) -> None:
        """Read the learners' records back: did every heartbeat sent land in the store?"""
        problem = self.heartbeat_data.check(self.heartbeat_fixture, intervals, sent)
        self.checks.append((f"{label} at {self.records:,} records", problem))

    def load(
        self,
        source: RequestSource,
        *,
        default_requests: int,
        server: str = "main",
        label: str = "",
        ok_statuses: frozenset[int] = frozenset({200}),
        warmup: int | None = None,
    ) -> LoadResult:
        """One bounded load run with this run's settings (profiled when --profile asks)."""
        total = self.settings.requests or default_requests
        endpoint = self.servers[server]

        def measure() -> LoadResult:
            return run_load(
                host=endpoint.host,
                port=endpoint.port,
                source=source,
                total=total,
                concurrency=self.settings.concurrency,
                time_cap=self.settings.time_cap,
                warmup=self.settings.warmup if warmup is None else warmup,
                ok_statuses=ok_statuses,
            )

        if self.profiler is not None and self.current is not None:
            return self.profiler.profile(self, endpoint, label, measure)
        return measure()

    def prime(self, paths: list[str], *, server: str = "main") -> None:
        """One request per URL before a cached row (every connection asks for every URL when
        the cache is per worker, so each worker is likely to have seen each URL)."""
        endpoint = self.servers[server]
        if self.local_cache:
            concurrency = min(self.settings.concurrency, 4 * self.workers)

            def source(connection: int) -> Iterator[Request]:
                return itertools.cycle([Request("GET", path) for path in paths])

            total = len(paths) * concurrency
        else:
            concurrency = self.settings.concurrency
            source = shared_source(Request("GET", path) for path in paths)
            total = len(paths)
        result = run_load(
            host=endpoint.host,
            port=endpoint.port,
            source=source,
            total=total,
            concurrency=concurrency,
            time_cap=self.settings.time_cap,
        )
        if not result.ok:
            raise SystemExit(
                f"priming the catalog cache failed: {result.errors} errors "
                f"({'; '.join(result.error_samples)})"
            )

    def probe(self, request: Request, *, label: str, uncached: bool = False) -> str:
        """Send `request` in this process; its SQL queries and cache round trips. A GET is
        sent twice and the second counted: the first fills this process's caches, as the
        row's warm-up did in the workers."""
        if request.method == "GET":
            probe_request(request, uncached=uncached)
        text, statements = probe_request(request, uncached=uncached)
        self.probes[label] = statements
        return text


@dataclass(frozen=True)
class Scenario:
    key: str
    number: int
    title: str
    run: Callable[[Context], list[Row]]


SCENARIOS: dict[str, Scenario] = {}
ISSUE_SCENARIOS = ("health", "list", "detail", "me", "dashboard", "heartbeat", "enroll", "login")
CATALOG_SCENARIOS = frozenset({"list", "detail"})


def scenario(key: str, number: int, title: str):
    def register(function: Callable[[Context], list[Row]]):
        if key in SCENARIOS:
            raise ValueError(f"scenario {key!r} registered twice")
        SCENARIOS[key] = Scenario(key=key, number=number, title=title, run=function)
        return function

    return register


def selected(keys: list[str]) -> list[Scenario]:
    expanded: list[str] = []
    for key in keys:
        if key == "all":
            expanded.extend(SCENARIOS)
        elif key == "issue":
            expanded.extend(ISSUE_SCENARIOS)
        else:
            expanded.append(key)
    unknown = [key for key in expanded if key not in SCENARIOS]
    if unknown:
        raise SystemExit(
            f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(sorted(SCENARIOS))}"
            " (or issue, all)"
        )
    return sorted((SCENARIOS[key] for key in dict.fromkeys(expanded)), key=lambda item: item.number)


# --- request sources ------------------------------------------------------------------------


def shared_source(requests: Iterable[Request]) -> RequestSource:
    """One stream of requests shared by every connection, each request sent once (for
    requests that must not repeat, like enrolling a (student, course) pair)."""
    iterator = iter(requests)
    lock = threading.Lock()

    def source(connection: int) -> Iterator[Request]:
        while True:
            with lock:
                request = next(iterator, None)
            if request is None:
                raise RuntimeError("the shared request stream ran out")
            yield request

    return source


def rotating_source(requests: list[Request]) -> RequestSource:
    """Every connection cycles through all `requests`, each starting at its own offset, so at
    any moment the connections ask for different ones."""
    if not requests:
        raise ValueError("no requests to rotate")

    def source(connection: int) -> Iterator[Request]:
        offset = (connection * 7919) % len(requests)
        return itertools.cycle(requests[offset:] + requests[:offset])

    return source


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def per_user_source(
    tokens: list[str], make: Callable[[int, str], Request], concurrency: int
) -> RequestSource:
    """Connection k speaks for users k, k + concurrency, ... in turn (`make(index, token)`)."""

    def source(connection: int) -> Iterator[Request]:
        mine = list(range(connection, len(tokens), concurrency)) or [connection % len(tokens)]
        requests = [make(index, tokens[index]) for index in mine]
        return itertools.cycle(requests)

    return source


# --- counting what one request costs, in this process --------------------------------------


def probe_request(request: Request, *, uncached: bool = False) -> tuple[str, str]:
    """Run `request` once through Django's test client here: ("SQL n, Redis m", the SQL).

    Cache round trips are redis-py commands when the cache is Redis, cache calls otherwise.
    The access log line of the probe is kept out of the output.
    """
    from django.conf import settings
    from django.core.cache import caches
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    headers = {"HTTP_HOST": "127.0.0.1"}
    for name, value in request.headers.items():
        headers["HTTP_" + name.upper().replace("-", "_")] = value
    client = Client(**headers)
    calls = [0]
    cache = caches["default"]
    redis_backend = "redis" in settings.CACHES["default"]["BACKEND"].lower()
    restore: list[Callable[[], None]] = []

    def counting(owner, name):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            calls[0] += 1
            return original(*args, **kwargs)

        own = name in vars(owner)
        setattr(owner, name, wrapper)
        if own and isinstance(owner, type):
            restore.append(lambda: setattr(owner, name, original))
        else:
            restore.append(lambda: delattr(owner, name))

    if redis_backend:
        import redis

        counting(redis.Redis, "execute_command")
        counting(redis.client.Pipeline, "execute")
    else:
        for name in ("get", "set", "add", "delete", "get_many", "set_many", "incr", "touch"):
            counting(cache, name)
    # Keep the probe's access line, task log lines and email (eager Celery, console backend)
    # out of the output: only its queries and round trips matter here.
    quiet = [logging.getLogger(name) for name in ("eduflow.access", "celery")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    overrides = {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if uncached:
        overrides["CATALOG_CACHE_SECONDS"] = 0
    switch = override_settings(**overrides)
    try:
        switch.enable()
        with CaptureQueriesContext(connection) as captured:
            if request.method == "GET":
                response = client.get(request.path)
            else:
                response = client.generic(
                    request.method,
                    request.path,
                    data=request.body or b"",
                    content_type="application/json",
                )
    finally:
        switch.disable()
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
        for undo in reversed(restore):
            undo()
    statements = "\n".join(
        f"  {index}. [{float(query['time']) * 1000:.1f} ms] {query['sql'][:400]}"
        for index, query in enumerate(captured.captured_queries, 1)
    )
    kind = "Redis" if redis_backend else "cache calls"
    text = f"SQL {len(captured.captured_queries)}, {kind} {calls[0]}"
    if response.status_code >= 300:
        text += f" (probe answered {response.status_code})"
    return text, statements


# --- 1. GET /health/live/ -------------------------------------------------------------------


@scenario("health", 1, "GET /health/live/")
def health(context: Context) -> list[Row]:
    def source(connection: int) -> Iterator[Request]:
        request = Request("GET", "/health/live/")
        while True:
            yield request

    result = context.load(source, default_requests=5000, label="health")
    context.baseline = result
    return [Row(1, "GET /health/live/", "", context.records, result, baseline=result)]


# --- 2. anonymous course list, 3. course detail: cached and uncached -----------------------

LIST_PATH = "/api/v1/courses/"
PAGE_SIZE = 20  # REST_FRAMEWORK PAGE_SIZE: the anonymous list uses the default page size
DEEP_PAGE = 40
CACHED_TARGET = 0.8
UNCACHED_LIST_TARGET = 0.4
DEEP_PAGE_FACTOR = 1.2


def _catalog_servers(context: Context) -> list[tuple[str, str, bool]]:
    """(server, variant suffix, uncached) for the catalog rows of this run."""
    servers = [("main", "cached", False)]
    if "uncached" in context.servers:
        servers.append(("uncached", "uncached", True))
    return servers


def _published_courses() -> int:
    from django.contrib.auth.models import AnonymousUser

    from courses.models import Course

    return Course.objects.visible_to(AnonymousUser()).count()


def _catalog_row(
    context: Context,
    *,
    number: int,
    title: str,
    variant: str,
    paths: list[str],
    server: str,
    uncached: bool,
    default_requests: int,
) -> Row:
    if not uncached:
        context.prime(paths, server=server)
    requests = [Request("GET", path) for path in paths]
    label = f"{number}. {title}, {variant}"
    result = context.load(
        rotating_source(requests), default_requests=default_requests, server=server, label=label
    )
    row = Row(number, title, variant, context.records, result, context.baseline)
    row.per_request = context.probe(requests[0], label=label, uncached=uncached)
    return row


@scenario("list", 2, "GET /api/v1/courses/ (anonymous)")
def course_list(context: Context) -> list[Row]:
    pages = max(1, -(-_published_courses() // PAGE_SIZE))
    deep = min(DEEP_PAGE, pages)
    deep_name = (
        f"page {deep}" if deep == DEEP_PAGE else f"page {deep} (last; {DEEP_PAGE} needs more data)"
    )
    if deep != DEEP_PAGE:
        instead = f"page {deep} instead of {DEEP_PAGE}" if deep > 1 else "nothing (one page)"
        context.notes.append(
            f"At {context.records:,} records the catalog has {pages} page(s) of {PAGE_SIZE}: "
            f"the deep-page rows ask for {instead}."
        )
    title = "GET /api/v1/courses/ (anonymous)"
    rows: list[Row] = []
    firsts: dict[str, Row] = {}
    pages_measured = [(1, "page 1")] + ([(deep, deep_name)] if deep > 1 else [])
    for page, name in pages_measured:
        path = LIST_PATH if page == 1 else f"{LIST_PATH}?page={page}"
        for server, kind, uncached in _catalog_servers(context):
            row = _catalog_row(
                context,
                number=2,
                title=title,
                variant=f"{name}, {kind}",
                paths=[path],
                server=server,
                uncached=uncached,
                default_requests=3000,
            )
            if not uncached:
                row.targets.append(Target(f"cached list {name}", minimum=CACHED_TARGET))
            elif page == 1:
                row.targets.append(Target("uncached list", minimum=UNCACHED_LIST_TARGET))
            else:
                row.targets.append(
                    Target(
                        f"uncached {name} no slower than page 1",
                        reference=firsts[kind],
                        factor=DEEP_PAGE_FACTOR,
                    )
                )
            if page == 1:
                firsts[kind] = row
            rows.append(row)
    return rows


@scenario("detail", 3, "GET /api/v1/courses/<id>/ (anonymous)")
def course_detail(context: Context) -> list[Row]:
    ids = context.data.course_ids(context.records, context.settings.detail_courses)
    paths = [f"{LIST_PATH}{course_id}/" for course_id in ids]
    title = "GET /api/v1/courses/<id>/ (anonymous)"
    rows = []
    for server, kind, uncached in _catalog_servers(context):
        row = _catalog_row(
            context,
            number=3,
            title=title,
            variant=f"{len(ids)} courses, {kind}",
            paths=paths,
            server=server,
            uncached=uncached,
            default_requests=3000,
        )
        if not uncached:
            row.targets.append(Target("cached detail", minimum=CACHED_TARGET))
        rows.append(row)
    return rows


# --- 4. GET /api/v1/auth/me/, 5. GET /api/v1/progress/dashboard/ ---------------------------


def _signed_in_get(
    context: Context, *, number: int, title: str, variant: str, path: str, user_ids, default: int
) -> Row:
    from .tokens import access_tokens

    tokens = access_tokens(user_ids)
    label = f"{number}. {title}, {variant}"

    def make(index: int, token: str) -> Request:
        return Request("GET", path, headers=bearer(token))

    source = per_user_source(tokens, make, context.settings.concurrency)
    result = context.load(source, default_requests=default, label=label)
    row = Row(number, title, variant, context.records, result, context.baseline)
    row.per_request = context.probe(make(0, tokens[0]), label=label)
    return row


@scenario("me", 4, "GET /api/v1/auth/me/")
def me(context: Context) -> list[Row]:
    count = context.settings.learners
    users = context.data.students_with_enrollments(context.records, count)
    row = _signed_in_get(
        context,
        number=4,
        title="GET /api/v1/auth/me/",
        variant=f"{len(users)} students (JWT)",
        path="/api/v1/auth/me/",
        user_ids=users,
        default=4000,
    )
    row.targets.append(Target("me", minimum=0.7))
    return [row]


@scenario("dashboard", 5, "GET /api/v1/progress/dashboard/")
def dashboard(context: Context) -> list[Row]:
    from .datagen import COURSES_PER_BLOCK, RECORDS_PER_ENROLLMENT

    users = context.data.students_with_enrollments(context.records, context.settings.learners)
    row = _signed_in_get(
        context,
        number=5,
        title="GET /api/v1/progress/dashboard/",
        variant=(
            f"{len(users)} students, {COURSES_PER_BLOCK} enrollments and "
            f"{COURSES_PER_BLOCK * RECORDS_PER_ENROLLMENT} progress records each"
        ),
        path="/api/v1/progress/dashboard/",
        user_ids=users,
        default=2000,
    )
    row.targets.append(Target("dashboard", minimum=0.4))
    return [row]


# --- 6. heartbeats from many learners -------------------------------------------------------


def heartbeat_source(
    *,
    learners: list[tuple[uuid.UUID, str]],
    lesson_id: uuid.UUID,
    start: float,
    step: float,
    concurrency: int,
) -> RequestSource:
    """Heartbeats of many learners, each on its own connection's share of the learners.

    Learner k is served by connection k % concurrency, in turn with that connection's other
    learners. Each learner has one playback session; its heartbeats carry seq 1, 2, 3 ... and
    the `step` seconds just watched, advancing from `start`, with the position at their end.
    """
    lesson = str(lesson_id)

    def source(connection: int) -> Iterator[Request]:
        mine = learners[connection::concurrency]
        if not mine:
            raise ValueError("more connections than learners")
        states = [
            {"session": str(uuid.uuid4()), "seq": 0, "position": start, "token": token}
            for _user_id, token in mine
        ]
        while True:
            for state in states:
                state["seq"] += 1
                begin = state["position"]
                end = begin + step
                state["position"] = end
                body = json.dumps(
                    {
                        "lesson": lesson,
                        "session": state["session"],
                        "seq": state["seq"],
                        "position": end,
                        "ranges": [[begin, end]],
                    }
                ).encode()
                yield Request(
                    "POST",
                    "/api/v1/progress/heartbeat/",
                    body,
                    {"Authorization": f"Bearer {state['token']}"},
                )

    return source


@scenario("heartbeat", 6, "POST /api/v1/progress/heartbeat/")
def heartbeat(context: Context) -> list[Row]:
    from .datagen import HEARTBEAT_STEP
    from .tokens import access_tokens

    data = context.heartbeat_data
    fixture = context.heartbeat_fixture
    settings = context.settings
    rows = []
    tokens = access_tokens(fixture.learner_ids)
    learners = list(zip(fixture.learner_ids, tokens, strict=True))
    for count in settings.interval_counts:
        lesson = fixture.lessons[count]
        total = settings.requests or 3000
        per_learner = -(-(total + settings.warmup) // len(learners))
        if per_learner > lesson.heartbeats_per_learner:
            raise SystemExit(
                f"{total} heartbeats from {len(learners)} learners would run past the end of "
                f"the lesson: raise --learners to at least "
                f"{-(-(total + settings.warmup) // lesson.heartbeats_per_learner)}."
            )
        data.reset(fixture, count)
        source = heartbeat_source(
            learners=learners,
            lesson_id=lesson.lesson_id,
            start=lesson.first_free_second,
            step=HEARTBEAT_STEP,
            concurrency=min(settings.concurrency, total),
        )
        variant = f"{count:,} interval{'s' if count != 1 else ''} before"
        label = f"6. heartbeat, {variant}"
        result = context.load(source, default_requests=3000, label=label)
        records = context.records + len(learners)
        row = Row(6, "POST /api/v1/progress/heartbeat/", variant, records, result, context.baseline)
        row.targets.append(Target("heartbeat", minimum=HEARTBEAT_TARGET))
        rows.append(row)
        # Warm-up heartbeats were answered 200 too (or the row failed): they count as sent.
        sent = result.completed + result.warmup_requests
        context.check_heartbeats(f"heartbeat, {variant}", count, sent)
        # After the check: a new session of learner 0 reporting 10 s near the lesson's end,
        # past anything the row watched (the next row resets the records anyway).
        end = lesson.duration - 30
        probe = Request(
            "POST",
            "/api/v1/progress/heartbeat/",
            json.dumps(
                {
                    "lesson": str(lesson.lesson_id),
                    "session": str(uuid.uuid4()),
                    "seq": 1,
                    "position": end,
                    "ranges": [[end - HEARTBEAT_STEP, end]],
                }
            ).encode(),
            bearer(tokens[0]),
        )
        row.per_request = context.probe(probe, label=label)
    return rows


HEARTBEAT_TARGET = 0.35


# --- 7. POST /api/v1/enrollments/: a new (student, course) pair each time -------------------


@scenario("enroll", 7, "POST /api/v1/enrollments/")
def enroll(context: Context) -> list[Row]:
    """Each request enrolls a pair never enrolled before (answer 201); the pairs are chosen
    from what the database holds, so reruns stay valid. Afterwards the pairs are counted."""
    from .tokens import access_tokens

    settings = context.settings
    total = settings.requests or 2000
    concurrency = min(settings.concurrency, total)
    warmup = -(-settings.warmup // concurrency) * concurrency if settings.warmup else 0
    pairs = context.data.enrollment_pairs(context.records, total + warmup + concurrency + 1)
    users = list(dict.fromkeys(user_id for user_id, _course in pairs))
    tokens = dict(zip(users, access_tokens(users), strict=True))

    def make(pair) -> Request:
        user_id, course_id = pair
        body = json.dumps({"course": str(course_id)}).encode()
        return Request("POST", "/api/v1/enrollments/", body, bearer(tokens[user_id]))

    probe_pair, load_pairs = pairs[-1], pairs[:-1]
    title = "POST /api/v1/enrollments/"
    variant = "a new (student, course) pair each"
    label = f"7. {title}, {variant}"
    result = context.load(
        shared_source(make(pair) for pair in load_pairs),
        default_requests=2000,
        label=label,
        ok_statuses=frozenset({201}),
    )
    row = Row(7, title, variant, context.records, result, context.baseline)
    row.targets.append(Target("enroll", minimum=0.3))
    answered = result.statuses.get(201, 0) + (result.warmup_requests - result.warmup_errors)
    found = context.data.enrolled_pairs(load_pairs)
    problem = None
    if found != answered:
        problem = f"{answered:,} enrollments answered 201 but {found:,} pairs are enrolled"
    context.checks.append((f"enroll at {context.records:,} records", problem))
    row.per_request = context.probe(make(probe_pair), label=label)
    return [row]


# --- 8. POST /api/v1/auth/login/: Argon2 by design ------------------------------------------

LOGIN_ACCOUNTS = 64
# Argon2 makes a login cost about 100 ms of both cores: 100 logins fit the time cap even on a
# busy machine (2 logins/s were measured while other work ran).
LOGIN_REQUESTS = 100


def argon2_parameters() -> str:
    """The configured password hasher and its cost, as the login row reports it."""
    from django.contrib.auth.hashers import get_hasher

    hasher = get_hasher("default")
    if hasher.algorithm != "argon2":
        return f"{hasher.algorithm} (not Argon2)"
    params = hasher.params()
    return (
        f"Argon2{params.type.name.lower()}: time_cost={params.time_cost}, "
        f"memory_cost={params.memory_cost} KiB, parallelism={params.parallelism}"
    )


@scenario("login", 8, "POST /api/v1/auth/login/")
def login(context: Context) -> list[Row]:
    """Password logins of generated students (their shared password); dominated by Argon2 by
    design, reported with the hasher's parameters. Warm-up: one login per connection."""
    from .datagen import BENCH_PASSWORD

    emails = context.data.student_emails(
        context.records, max(LOGIN_ACCOUNTS, context.settings.concurrency)
    )
    requests = [
        Request(
            "POST",
            "/api/v1/auth/login/",
            json.dumps({"email": email, "password": BENCH_PASSWORD}).encode(),
        )
        for email in emails
    ]
    title = "POST /api/v1/auth/login/"
    variant = argon2_parameters()
    label = f"8. {title}"
    result = context.load(
        rotating_source(requests),
        default_requests=LOGIN_REQUESTS,
        label=label,
        warmup=min(context.settings.warmup, context.settings.concurrency),
    )
    row = Row(8, title, variant, context.records, result, context.baseline)
    row.per_request = context.probe(requests[0], label=label)
    return [row]


# --- 6, store only: the progress store's heartbeat write, in this process -------------------


def _policy():
    """The heartbeat rules the services apply (from the PROGRESS_* settings)."""
    from progress.services import progress_policy

    return progress_policy()


def _count_queries(function) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured.captured_queries)


def _store_heartbeats(context: Context, count: int, policy) -> Row:
    import time
    from collections import Counter

    from django.utils import timezone

    from progress.ledger import Heartbeat

    from .datagen import HEARTBEAT_STEP

    data = context.heartbeat_data
    fixture = context.heartbeat_fixture
    settings = context.settings
    total = settings.requests or 2000
    lesson = fixture.lessons[count]
    data.reset(fixture, count)
    learners = [
        {"user_id": user_id, "session": str(uuid.uuid4()), "seq": 0, "position": None}
        for user_id in fixture.learner_ids
    ]

    def call(learner) -> None:
        learner["seq"] += 1
        begin = learner["position"] or lesson.first_free_second
        end = begin + HEARTBEAT_STEP
        learner["position"] = end
        data.repository.record_heartbeat(
            user_id=learner["user_id"],
            course_id=fixture.course_id,
            lesson_id=lesson.lesson_id,
            duration=lesson.duration,
            heartbeat=Heartbeat(
                session=learner["session"], seq=learner["seq"], position=end, ranges=((begin, end),)
            ),
            policy=policy,
            now=timezone.now(),
        )

    calls = itertools.cycle(learners)
    for _ in range(min(settings.warmup, len(learners))):
        call(next(calls))
    queries = _count_queries(lambda: call(next(calls)))
    latencies = []
    started = time.perf_counter()
    for _ in range(total):
        learner = next(calls)
        before = time.perf_counter()
        call(learner)
        latencies.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    latencies.sort()
    sent = min(settings.warmup, len(learners)) + 1 + total
    label = f"store, {count:,} interval{'s' if count != 1 else ''} before"
    context.check_heartbeats(label, count, sent)
    result = LoadResult(
        planned=total,
        concurrency=1,
        elapsed=elapsed,
        latencies=latencies,
        statuses=Counter({200: total}),
        ok_statuses=frozenset({200}),
        transport_errors=0,
        warmup_errors=0,
        reconnects=0,
        capped=False,
        error_samples=[],
    )
    variant = f"{count:,} interval{'s' if count != 1 else ''} before, {queries} queries/call"
    scenario_name = "store.record_heartbeat (no HTTP, 1 thread)"
    return Row(6, scenario_name, variant, context.records + len(learners), result)


@scenario("store", 60, "progress store: record_heartbeat (in process, no HTTP)")
def store(context: Context) -> list[Row]:
    """The store's heartbeat write alone, one call at a time: what a heartbeat costs the store
    as the learner's interval list and the collection grow, without HTTP and framework noise.
    A call that raises stops the run; the check afterwards confirms every call was applied."""
    policy = _policy()
    return [_store_heartbeats(context, count, policy) for count in context.settings.interval_counts]
