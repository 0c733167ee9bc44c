"""Smoke tests of the benchmark harness: the load generator against a tiny local HTTP server.

Everything here is real: a `http.server` on loopback answers the load generator's requests
over real keep-alive connections. Nothing is mocked and nothing is timed: the tests check the
counting (requests, errors, statuses, connections, reconnects), the percentile maths and the
Markdown output, never how fast anything ran.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.loadgen import LoadResult, Request, percentile, run_load
from bench.report import Report, Row, append_to_section, render_markdown, text_table


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
