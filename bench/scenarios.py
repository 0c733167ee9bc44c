"""The scenarios, numbered as in the full benchmark set, in one registry.

A scenario is a function that takes the run's `Context` and returns its table rows; register it
with `@scenario(key, number, title)`. Scenarios run in number order at every data scale of the
run; scenario 1 (`GET /health/live/`, the in-app ceiling) runs first so every other row gets its
ratio to it. Implemented so far: 1 (health) and 6 (heartbeats).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .loadgen import LoadResult, Request, RequestSource, run_load
from .report import Row


@dataclass
class Settings:
    """How hard and how long each row pushes."""

    requests: int | None  # None: each scenario's default
    concurrency: int
    warmup: int
    time_cap: float
    learners: int
    interval_counts: list[int]


@dataclass
class Context:
    host: str
    port: int
    settings: Settings
    records: int  # bulk-loaded progress records at this step
    heartbeat_data: object | None = None  # datagen.HeartbeatData, set by the CLI
    heartbeat_fixture: object | None = None  # datagen.HeartbeatFixture
    baseline: LoadResult | None = None  # scenario 1 of this step
    notes: list[str] = field(default_factory=list)
    checks: list[tuple[str, str | None]] = field(default_factory=list)  # (row, problem or None)

    def check_heartbeats(self, label: str, intervals: int, sent: int) -> None:
        """Read the learners' records back: did every heartbeat sent land in the store?"""
        problem = self.heartbeat_data.check(self.heartbeat_fixture, intervals, sent)
        self.checks.append((f"{label} at {self.records:,} records", problem))

    def load(self, source: RequestSource, *, default_requests: int) -> LoadResult:
        """One bounded load run with this run's settings."""
        total = self.settings.requests or default_requests
        return run_load(
            host=self.host,
            port=self.port,
            source=source,
            total=total,
            concurrency=self.settings.concurrency,
            time_cap=self.settings.time_cap,
            warmup=self.settings.warmup,
        )


@dataclass(frozen=True)
class Scenario:
    key: str
    number: int
    title: str
    run: Callable[[Context], list[Row]]


SCENARIOS: dict[str, Scenario] = {}


def scenario(key: str, number: int, title: str):
    def register(function: Callable[[Context], list[Row]]):
        if key in SCENARIOS:
            raise ValueError(f"scenario {key!r} registered twice")
        SCENARIOS[key] = Scenario(key=key, number=number, title=title, run=function)
        return function

    return register


def selected(keys: list[str]) -> list[Scenario]:
    unknown = [key for key in keys if key not in SCENARIOS]
    if unknown:
        raise SystemExit(
            f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(sorted(SCENARIOS))}"
        )
    return sorted((SCENARIOS[key] for key in dict.fromkeys(keys)), key=lambda item: item.number)


# --- 1. GET /health/live/ -------------------------------------------------------------------


@scenario("health", 1, "GET /health/live/")
def health(context: Context) -> list[Row]:
    def source(connection: int) -> Iterator[Request]:
        request = Request("GET", "/health/live/")
        while True:
            yield request

    result = context.load(source, default_requests=5000)
    context.baseline = result
    return [Row(1, "GET /health/live/", "", context.records, result, baseline=result)]


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
        result = context.load(source, default_requests=3000)
        records = context.records + len(learners)
        variant = f"{count:,} interval{'s' if count != 1 else ''} before"
        rows.append(
            Row(6, "POST /api/v1/progress/heartbeat/", variant, records, result, context.baseline)
        )
        # Warm-up heartbeats were answered 200 too (or the row failed): they count as sent.
        sent = result.completed + result.warmup_requests
        context.check_heartbeats(f"heartbeat, {variant}", count, sent)
    return rows


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
