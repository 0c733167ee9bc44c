"""A bounded HTTP load generator: threads, one keep-alive connection each, loopback only.

Every run is bounded twice: by a fixed number of measured requests and by a time cap, whichever
comes first. Each thread owns one `http.client` connection and one request source (an iterator
of `Request`s), so stateful sources (heartbeats with advancing sequence numbers) need no locking.
Warm-up requests are sent first on every connection and are not measured; then all threads
start measuring together.

A response whose status is not in `ok_statuses`, and any request that raises, is an error. A
keep-alive connection the server closed while idle is reopened and the request sent once more
(what browsers and HTTP client libraries do); that is counted as a reconnect, not an error.

This module does not import Django: the smoke test runs it against a plain `http.server`.
"""

from __future__ import annotations

import http.client
import ipaddress
import math
import resource
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

LOOPBACK_NAMES = frozenset({"localhost"})
# Failures that mean "the server closed this idle keep-alive connection", seen on a reused
# connection before any byte of the answer arrived.
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)
_ERROR_SAMPLES = 5


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


# Called once per connection with the connection's index; yields that connection's requests.
RequestSource = Callable[[int], Iterator[Request]]


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None when there are none).

    The smallest value such that at least `pct` percent of the values are at or below it:
    for 20 values p50 is the 10th and p99 the 20th.
    """
    if not 0 < pct <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {pct}")
    if not sorted_values:
        return None
    rank = math.ceil(pct / 100 * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


@dataclass
class LoadResult:
    """What one bounded run measured. Latencies (seconds, sorted) are of answered requests."""

    planned: int
    concurrency: int
    elapsed: float
    latencies: list[float]
    statuses: Counter
    ok_statuses: frozenset[int]
    transport_errors: int  # requests that got no answer (refused, reset, timed out)
    warmup_errors: int
    reconnects: int
    capped: bool
    error_samples: list[str]
    client_cpu_seconds: float | None = None  # this process's CPU time while measuring
    warmup_requests: int = 0  # sent before measuring, not counted above

    @property
    def client_cpu_share(self) -> float | None:
        """The load generator's CPU use while measuring, as a share of one core."""
        if self.client_cpu_seconds is None or self.elapsed <= 0:
            return None
        return self.client_cpu_seconds / self.elapsed

    @property
    def completed(self) -> int:
        """Measured requests sent, answered or not."""
        return len(self.latencies) + self.transport_errors

    @property
    def errors(self) -> int:
        wrong_status = sum(
            count for status, count in self.statuses.items() if status not in self.ok_statuses
        )
        return wrong_status + self.transport_errors + self.warmup_errors

    @property
    def requests_per_second(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def p50(self) -> float | None:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float | None:
        return percentile(self.latencies, 99)

    @property
    def ok(self) -> bool:
        """The run counts only when every planned request was answered as expected."""
        return self.errors == 0 and not self.capped and self.completed == self.planned


def check_loopback(host: str) -> None:
    """Refuse anything but a loopback address: this generator never leaves the machine."""
    if host in LOOPBACK_NAMES:
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"load generator targets loopback only, got host {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"load generator targets loopback only, got {host!r}")


class _Worker(threading.Thread):
    def __init__(self, index: int, run: _Run, requests: Iterator[Request]):
        super().__init__(name=f"loadgen-{index}", daemon=True)
        self.index = index
        self.run_state = run
        self.requests = requests
        self.connection: http.client.HTTPConnection | None = None
        self.used = False  # whether the current connection has carried a request
        self.latencies: list[float] = []
        self.statuses: Counter = Counter()
        self.transport_errors = 0
        self.reconnects = 0
        self.samples: list[str] = []
        self.failure: BaseException | None = None

    # --- one request --------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        state = self.run_state
        connection = http.client.HTTPConnection(state.host, state.port, timeout=state.timeout)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection = connection
        self.used = False
        return connection

    def _close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None

    def _send(self, request: Request) -> tuple[int, bytes]:
        connection = self.connection or self._connect()
        headers = {"Host": self.run_state.host_header, **request.headers}
        if request.body is not None:
            headers.setdefault("Content-Type", "application/json")
        connection.request(request.method, request.path, body=request.body, headers=headers)
        response = connection.getresponse()
        body = response.read()
        self.used = True
        if response.will_close:
            self._close()
        return response.status, body

    def exchange(self, request: Request) -> tuple[int | None, bytes | str]:
        """Send one request; (status, body) or (None, error text)."""
        try:
            try:
                return self._send(request)
            except _STALE_CONNECTION_ERRORS:
                if not self.used:
                    raise
                # The server dropped an idle keep-alive connection: reopen and send again.
                self._close()
                self.reconnects += 1
                return self._send(request)
        except (OSError, http.client.HTTPException) as exc:
            self._close()
            return None, f"{type(exc).__name__}: {exc}"

    # --- the thread ---------------------------------------------------------------------

    def run(self) -> None:
        state = self.run_state
        try:
            for _ in range(state.warmup_per_connection):
                status, body = self.exchange(next(self.requests))
                if status not in state.ok_statuses:
                    self._record_sample("warm-up", status, body)
                    with state.lock:
                        state.warmup_failures += 1
        except BaseException as exc:  # reported by the caller, never swallowed
            self.failure = exc
        finally:
            state.start_barrier.wait()
        if self.failure is not None:
            return
        try:
            self._measure()
        except BaseException as exc:
            self.failure = exc
        finally:
            self._close()

    def _measure(self) -> None:
        state = self.run_state
        while state.take_ticket():
            request = next(self.requests)
            started = time.perf_counter()
            status, body = self.exchange(request)
            elapsed = time.perf_counter() - started
            if status is None:
                self.transport_errors += 1
                self._record_sample("request", status, body)
                continue
            self.latencies.append(elapsed)
            self.statuses[status] += 1
            if status not in state.ok_statuses:
                self._record_sample("request", status, body)

    def _record_sample(self, phase: str, status: int | None, body: bytes | str) -> None:
        if len(self.samples) >= _ERROR_SAMPLES:
            return
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        self.samples.append(
            f"{phase}: {status if status is not None else 'no answer'} {text[:300]}"
        )


def _cpu_seconds() -> float:
    """CPU time used so far by this process (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Run:
    """State shared by the threads of one run: the ticket counter and the deadline."""

    def __init__(self, *, host, port, total, concurrency, time_cap, warmup, ok_statuses, timeout):
        self.host = host
        self.port = port
        self.host_header = f"{host}:{port}"
        self.total = total
        self.time_cap = time_cap
        self.ok_statuses = ok_statuses
        self.timeout = timeout
        self.warmup_per_connection = math.ceil(warmup / concurrency) if warmup else 0
        self.warmup_failures = 0
        self.issued = 0
        self.capped = False
        self.deadline = math.inf
        self.started = 0.0
        self.cpu_at_start = 0.0
        self.lock = threading.Lock()
        # The clock starts when every connection has finished its warm-up, before any thread
        # is released to measure.
        self.start_barrier = threading.Barrier(concurrency + 1, action=self._start_clock)

    def _start_clock(self) -> None:
        self.started = time.perf_counter()
        self.cpu_at_start = _cpu_seconds()
        self.deadline = self.started + self.time_cap

    def take_ticket(self) -> bool:
        with self.lock:
            if self.issued >= self.total:
                return False
            if time.perf_counter() >= self.deadline:
                self.capped = True
                return False
            self.issued += 1
            return True


def run_load(
    *,
    host: str,
    port: int,
    source: RequestSource,
    total: int,
    concurrency: int,
    time_cap: float,
    warmup: int = 0,
    ok_statuses: frozenset[int] = frozenset({200}),
    timeout: float = 30.0,
) -> LoadResult:
    """Send `total` measured requests over `concurrency` keep-alive connections.

    Stops early when `time_cap` seconds of measuring have passed (the result is then `capped`).
    Warm-up requests (`warmup` in all, spread over the connections) are sent first and not
    measured; a warm-up answer outside `ok_statuses` counts as an error of the run.
    """
    check_loopback(host)
    if total < 1 or concurrency < 1:
        raise ValueError("total and concurrency must be at least 1")
    concurrency = min(concurrency, total)
    run = _Run(
        host=host,
        port=port,
        total=total,
        concurrency=concurrency,
        time_cap=time_cap,
        warmup=warmup,
        ok_statuses=ok_statuses,
        timeout=timeout,
    )
    workers = [_Worker(index, run, source(index)) for index in range(concurrency)]
    for worker in workers:
        worker.start()
    run.start_barrier.wait()  # every connection has finished its warm-up
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - run.started
    cpu = _cpu_seconds() - run.cpu_at_start

    failures = [worker.failure for worker in workers if worker.failure is not None]
    if failures:
        raise RuntimeError(f"load generator thread failed: {failures[0]!r}") from failures[0]

    latencies = sorted(latency for worker in workers for latency in worker.latencies)
    statuses: Counter = Counter()
    for worker in workers:
        statuses.update(worker.statuses)
    samples = [sample for worker in workers for sample in worker.samples][:_ERROR_SAMPLES]
    return LoadResult(
        planned=total,
        concurrency=concurrency,
        elapsed=elapsed,
        latencies=latencies,
        statuses=statuses,
        ok_statuses=ok_statuses,
        transport_errors=sum(worker.transport_errors for worker in workers),
        warmup_errors=run.warmup_failures,
        reconnects=sum(worker.reconnects for worker in workers),
        capped=run.capped,
        error_samples=samples,
        client_cpu_seconds=cpu,
        warmup_requests=run.warmup_per_connection * concurrency,
    )
