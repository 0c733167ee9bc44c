"""Smoke tests of the benchmark harness: the load generator against a tiny local HTTP server.

Everything here is real: a `http.server` on loopback answers the load generator's requests
over real keep-alive connections. Nothing is mocked and nothing is timed: the tests check the
counting (requests, errors, statuses, connections, reconnects), the percentile maths, the
targets (PASS/MISS), the scenarios' request sources, the profile summaries (from py-spy's
collapsed-stack text, written here by hand) and the Markdown output, never how fast anything
ran. The scenario data helpers are tested against the test database in test_scenario_data.py.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.cli import parse_args
from bench.loadgen import LoadResult, Request, percentile, run_load
from bench.profiling import (
    parse_collapsed,
    render_gil_summary,
    render_summary,
    speedscope,
    summarise,
)
from bench.report import Report, Row, Target, append_to_section, render_markdown, text_table
from bench.scenarios import bearer, per_user_source, rotating_source, selected, shared_source


class _Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[tuple[tuple[str, int], str, str, bytes]] = []

    def add(self, peer, method, path, body) -> int:
        with self.lock:
            self.requests.append((peer, method, path, body))
            return len(self.requests)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless a side says otherwise
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        number = self.server.recorder.add(self.client_address, self.command, self.path, body)
        query = parse_qs(urlsplit(self.path).query)
        status = 500 if urlsplit(self.path).path == "/fail" else 200
        payload = b'{"ok": true}' if status == 200 else b'{"code": "boom"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        drop_every = int(query.get("drop_every", ["0"])[0])
        if drop_every and number % drop_every == 0:
            # Close the connection without saying so, like a server dropping an idle one.
            self.close_connection = True

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.recorder = _Recorder()
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _constant(path: str, method: str = "GET", body: bytes | None = None):
    def source(connection: int):
        while True:
            yield Request(method, path, body)

    return source


def _run(server, source, **options) -> LoadResult:
    options.setdefault("total", 20)
    options.setdefault("concurrency", 4)
    options.setdefault("time_cap", 120)
    return run_load(host="127.0.0.1", port=server.server_address[1], source=source, **options)


def test_counts_twenty_requests_over_keep_alive_connections(server):
    result = _run(server, _constant("/ok"))

    assert result.completed == 20
    assert result.errors == 0
    assert result.statuses == Counter({200: 20})
    assert len(result.latencies) == 20
    assert result.ok
    assert result.requests_per_second > 0
    seen = server.recorder.requests
    assert len(seen) == 20
    # Keep-alive: the 20 requests travelled over the 4 connections, one per thread.
    assert len({peer for peer, *_ in seen}) == 4
    assert result.reconnects == 0


def test_percentiles_come_from_the_measured_latencies(server):
    result = _run(server, _constant("/ok"))

    assert result.latencies == sorted(result.latencies)
    assert result.p50 == result.latencies[9]  # nearest rank: the 10th of 20
    assert result.p99 == result.latencies[19]  # the 20th of 20


def test_wrong_statuses_are_errors_and_fail_the_run(server):
    def alternating(connection: int):
        while True:
            yield Request("GET", "/ok")
            yield Request("GET", "/fail")

    result = _run(server, alternating, concurrency=1)

    assert result.completed == 20
    assert result.statuses == Counter({200: 10, 500: 10})
    assert result.errors == 10
    assert not result.ok
    assert result.error_samples and "500" in result.error_samples[0]
    assert "boom" in result.error_samples[0]


def test_warm_up_requests_are_sent_but_not_measured(server):
    result = _run(server, _constant("/ok"), concurrency=2, warmup=4)

    assert result.completed == 20
    assert result.warmup_requests == 4
    assert len(server.recorder.requests) == 24


def test_each_connection_gets_its_own_ordered_request_stream(server):
    def numbered(connection: int):
        sequence = 0
        while True:
            sequence += 1
            yield Request(
                "POST", f"/ok?conn={connection}&seq={sequence}", body=b'{"seq": %d}' % sequence
            )

    _run(server, numbered, concurrency=3)

    per_connection: dict[str, list[int]] = {}
    for _peer, method, path, body in server.recorder.requests:
        assert method == "POST"
        query = parse_qs(urlsplit(path).query)
        per_connection.setdefault(query["conn"][0], []).append(int(query["seq"][0]))
        assert body == b'{"seq": %s}' % query["seq"][0].encode()
    # Which threads got a share of the 20 requests depends on scheduling; what each sent
    # must come from its own stream, in order, and nothing may come from a fourth.
    assert per_connection and set(per_connection) <= {"0", "1", "2"}
    assert sum(map(len, per_connection.values())) == 20
    for sequence in per_connection.values():
        assert sequence == list(range(1, len(sequence) + 1))


def test_a_dropped_keep_alive_connection_is_reopened_not_counted_as_error(server):
    result = _run(server, _constant("/ok?drop_every=3"), concurrency=1)

    assert result.completed == 20
    assert result.errors == 0
    assert result.reconnects > 0
    assert len(server.recorder.requests) == 20


def test_an_unreachable_server_counts_every_request_as_an_error(server):
    port = server.server_address[1]
    server.shutdown()
    server.server_close()

    result = run_load(
        host="127.0.0.1",
        port=port,
        source=_constant("/ok"),
        total=20,
        concurrency=4,
        time_cap=120,
    )

    assert result.completed == 20
    assert result.transport_errors == 20
    assert result.errors == 20
    assert result.latencies == []
    assert result.p50 is None
    assert not result.ok


def test_the_time_cap_stops_the_run_and_fails_it(server):
    result = _run(server, _constant("/ok"), time_cap=0)

    assert result.capped
    assert result.completed == 0  # the cap is checked before each request is sent
    assert not result.ok
    assert len(server.recorder.requests) == 0


def test_only_loopback_targets_are_accepted():
    with pytest.raises(ValueError, match="loopback"):
        run_load(
            host="192.0.2.10",
            port=80,
            source=_constant("/"),
            total=1,
            concurrency=1,
            time_cap=1,
        )


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        (list(range(1, 21)), 50, 10),
        (list(range(1, 21)), 99, 20),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 101)), 50, 50),
        (list(range(1, 1001)), 99, 990),
        ([7], 50, 7),
        ([7], 99, 7),
        ([], 50, None),
    ],
)
def test_nearest_rank_percentile(values, pct, expected):
    assert percentile(values, pct) == expected


def test_percentile_outside_its_range_is_refused():
    with pytest.raises(ValueError):
        percentile([1, 2, 3], 0)


def _result(rps_requests: int, elapsed: float, *, statuses=None) -> LoadResult:
    return LoadResult(
        planned=rps_requests,
        concurrency=1,
        elapsed=elapsed,
        latencies=[0.001] * rps_requests,
        statuses=statuses or Counter({200: rps_requests}),
        ok_statuses=frozenset({200}),
        transport_errors=0,
        warmup_errors=0,
        reconnects=0,
        capped=False,
        error_samples=[],
    )


def test_rows_compute_the_ratio_to_scenario_one_and_flag_failures():
    health = _result(1000, 1.0)
    heartbeat = _result(400, 1.0)
    failing = _result(10, 1.0, statuses=Counter({200: 9, 500: 1}))

    ok_row = Row(6, "heartbeat", "1 interval", 1000, heartbeat, baseline=health)
    bad_row = Row(6, "heartbeat", "100 intervals", 1000, failing, baseline=health)

    assert ok_row.ratio == pytest.approx(0.4)
    assert ok_row.status == "ok"
    assert bad_row.status == "FAILED: 1 error"
    table = text_table([ok_row, bad_row])
    assert "0.40" in table and "FAILED: 1 error" in table


def test_runs_are_appended_inside_their_section(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nIntro.\n\n## Progress heartbeats\n\nFirst.\n\n## Media\n\nM.\n")
    report = Report(title="Run A", context=[("Machine", "2 cores")])
    report.rows.append(Row(1, "GET /health/live/", "", None, _result(20, 1.0)))

    append_to_section(doc, "Progress heartbeats", render_markdown(report))
    append_to_section(doc, "Elsewhere", "new text\n")

    text = doc.read_text()
    assert text.index("First.") < text.index("### Run A") < text.index("## Media")
    assert "| 1 | GET /health/live/ |" in text
    assert text.endswith("## Elsewhere\n\nnew text\n")
    assert text.count("## Media") == 1 and "M.\n" in text


# --- targets -------------------------------------------------------------------------------


def test_ratio_targets_pass_at_or_above_their_minimum_and_miss_below():
    health = _result(1000, 1.0)
    fast = Row(4, "me", "", 1000, _result(700, 1.0), baseline=health, targets=[])
    slow = Row(4, "me", "", 1000, _result(699, 1.0), baseline=health)
    fast.targets.append(Target("me", minimum=0.7))
    slow.targets.append(Target("me", minimum=0.7))

    assert fast.target_cell() == ">= 0.70 PASS"
    assert slow.target_cell() == ">= 0.70 MISS"
    report = Report(title="t", rows=[fast, slow])
    assert report.target_lines()[0].startswith("PASS me")
    assert report.target_lines()[1].startswith("MISS me")
    assert "ratio 0.70 (>= 0.70)" in report.target_lines()[0]


def test_a_failed_row_misses_its_target_whatever_its_speed():
    health = _result(1000, 1.0)
    failing = _result(10, 0.001, statuses=Counter({200: 9, 500: 1}))
    row = Row(2, "list", "page 1, cached", 1000, failing, baseline=health)
    row.targets.append(Target("cached list", minimum=0.8))

    assert row.ratio > 0.8
    assert row.target_cell() == ">= 0.80 MISS"


def test_deep_page_target_compares_time_per_request_with_page_one():
    page_one = Row(2, "list", "page 1, uncached", 1000, _result(120, 1.0))
    within = Row(2, "list", "page 40, uncached", 1000, _result(100, 1.0))  # 1.20x the time
    beyond = Row(2, "list", "page 40, uncached", 1000, _result(99, 1.0))
    for row in (within, beyond):
        row.targets.append(Target("deep page", reference=page_one, factor=1.2))

    assert within.target_cell() == "<= 1.20x page 1 PASS"
    assert beyond.target_cell() == "<= 1.20x page 1 MISS"
    passed, text = beyond.targets[0].evaluate(beyond)
    assert not passed and text.startswith("1.21x the time of page 1, uncached")


def test_markdown_shows_the_target_and_probe_columns_and_the_target_list():
    health = _result(1000, 1.0)
    row = Row(5, "dashboard", "10 enrollments", 1000, _result(500, 1.0), baseline=health)
    row.targets.append(Target("dashboard", minimum=0.4))
    row.per_request = "SQL 4, Redis 2"

    text = render_markdown(Report(title="Run", rows=[row]))

    assert "| Target | SQL / cache per request |" in text
    assert "| 0.50 | >= 0.40 PASS | SQL 4, Redis 2 |" in text
    assert "- PASS dashboard (#5 10 enrollments, 1,000 records): ratio 0.50 (>= 0.40)" in text


# --- request sources for the scenarios ------------------------------------------------------


def test_a_shared_source_sends_each_request_exactly_once_over_all_connections(server):
    source = shared_source(Request("POST", f"/ok?n={n}", b"{}") for n in range(24))

    result = _run(server, source, total=20, concurrency=4, warmup=4)

    assert result.ok
    sent = [
        parse_qs(urlsplit(path).query)["n"][0] for _peer, _m, path, _b in server.recorder.requests
    ]
    assert len(sent) == 24 and len(set(sent)) == 24  # 4 warm-up + 20 measured, no repeat


def test_a_shared_source_that_runs_out_stops_the_run_loudly(server):
    source = shared_source(Request("GET", "/ok") for _ in range(5))

    with pytest.raises(RuntimeError, match="ran out"):
        _run(server, source, total=20, concurrency=2)


def test_a_rotating_source_starts_each_connection_elsewhere_and_covers_every_request():
    requests = [Request("GET", f"/c/{n}/") for n in range(10)]
    source = rotating_source(requests)

    firsts = [next(source(connection)).path for connection in range(4)]
    stream = source(3)
    cycle = [next(stream).path for _ in range(10)]

    assert len(set(firsts)) == 4
    assert sorted(cycle) == sorted(request.path for request in requests)


def test_a_per_user_source_keeps_each_user_on_one_connection():
    tokens = [f"t{n}" for n in range(10)]
    source = per_user_source(tokens, lambda i, t: Request("GET", "/me", headers=bearer(t)), 4)

    seen = {
        connection: {next(stream).headers["Authorization"] for _ in range(12)}
        for connection in range(4)
        for stream in [source(connection)]
    }

    assert seen[1] == {"Bearer t1", "Bearer t5", "Bearer t9"}
    assert seen[3] == {"Bearer t3", "Bearer t7"}
    assert set().union(*seen.values()) == {f"Bearer t{n}" for n in range(10)}


def test_issue_selects_the_eight_scenarios_in_number_order_and_unknown_keys_stop():
    assert [item.number for item in selected(["issue"])] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [item.key for item in selected(["login", "health", "login"])] == ["health", "login"]
    assert 60 in [item.number for item in selected(["all"])]
    with pytest.raises(SystemExit, match="unknown scenario"):
        selected(["health", "nope"])


def test_the_default_run_is_the_issue_run_and_profiling_is_never_recorded():
    default = parse_args([])
    profiled = parse_args(["--profile", "me,dashboard"])

    assert default.scenario_keys == ["issue"] and default.scales == [1_000_000]
    assert not default.no_record
    assert profiled.scenario_keys == ["health", "me", "dashboard"]
    assert profiled.no_record


# --- profiling summaries --------------------------------------------------------------------

_GTHREAD = (
    'process 1:"gunicorn";process 2:"gunicorn";Thread.run (threading.py:971);'
    "_worker (concurrent/futures/thread.py:69);"
    "ThreadWorker.handle (gunicorn/workers/gthread.py:514)"
)
_REQUEST = _GTHREAD + (
    ";ThreadWorker.handle_request (gunicorn/workers/gthread.py:750)"
    ";WSGIHandler.__call__ (django/core/handlers/wsgi.py:120)"
    ";APIView.dispatch (rest_framework/views.py:500)"
)
_COLLAPSED = "\n".join(
    [
        _REQUEST + ";Connection.wait (psycopg/connection.py:900) 60",
        _REQUEST + ";JSONRenderer.render (rest_framework/renderers.py:90)"
        ";dumps (json/__init__.py:183) 25",
        _REQUEST + ";SimpleRateThrottle.allow_request (rest_framework/throttling.py:110)"
        ";RedisCache.get (django_redis/cache.py:90)"
        ";SocketBuffer._read_from_socket (redis/_parsers/socket.py:50) 15",
        _GTHREAD + ";TConn.wait_for_data (gunicorn/workers/gthread.py:129)"
        ";EpollSelector.select (selectors.py:451) 300",
        _GTHREAD + ";Parser.__next__ (gunicorn/http/parser.py:107) 4",
        'process 1:"gunicorn";Arbiter.run (gunicorn/arbiter.py:241) 100',
    ]
)


def test_collapsed_stacks_split_into_request_reading_and_idle_samples():
    summary = summarise(parse_collapsed(_COLLAPSED))

    assert (summary.total, summary.request, summary.reading, summary.idle) == (504, 100, 4, 400)


def test_request_samples_go_to_the_category_nearest_the_leaf():
    summary = summarise(parse_collapsed(_COLLAPSED))

    assert summary.categories == Counter(
        {
            "PostgreSQL (driver and waiting for the server)": 60,
            "JSON rendering": 25,
            "Redis round trips (redis-py, django-redis)": 15,  # not "throttles": the leaf wins
        }
    )
    assert summary.self_time["Connection.wait (psycopg/connection.py)"] == 60
    assert summary.inclusive["APIView.dispatch (rest_framework/views.py)"] == 100
    assert (
        summary.inclusive["SimpleRateThrottle.allow_request (rest_framework/throttling.py)"] == 15
    )


def test_the_summary_text_and_speedscope_file_carry_the_samples():
    stacks = parse_collapsed(_COLLAPSED)

    text = render_summary(summarise(stacks), title="row")
    document = speedscope(stacks, name="row")

    assert " 60.0%  PostgreSQL" in text
    assert "15.0%  SimpleRateThrottle.allow_request" in text
    assert "APIView.dispatch" not in text.split("inclusive")[1].split("self")[0]  # in 100%
    profile = document["profiles"][0]
    assert sum(profile["weights"]) == 504 and len(profile["samples"]) == 6
    frames = [(frame["name"], frame["file"]) for frame in document["shared"]["frames"]]
    assert len(frames) == len(set(frames))  # each distinct frame listed once


def test_the_gil_summary_lists_the_python_cpu_by_kind_and_function():
    text = render_gil_summary(summarise(parse_collapsed(_COLLAPSED)))

    assert "Python CPU" in text and "100 in requests of 504" in text
    assert " 25.0%  JSON rendering" in text
    assert " 60.0%  Connection.wait (psycopg/connection.py)" in text
