"""Start EduFlow under gunicorn on a free loopback port, wait until it is ready, always stop it.

The server runs with `eduflow/gunicorn.conf.py`, the production configuration; the launcher
only chooses the address and passes the environment it is given (workers and threads through
GUNICORN_WORKERS / GUNICORN_THREADS). Its output goes to a log file, whose tail is shown when
start-up fails. Stopping sends SIGTERM to the gunicorn master (graceful), then SIGKILL to the
process group the launcher created for it if it has not exited in time.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .loadgen import check_loopback

BASE_DIR = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = BASE_DIR / "eduflow" / "gunicorn.conf.py"


class ServerError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children.extend(int(part) for part in task.read_text().split())
        except OSError:
            continue
    return children


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class GunicornServer:
    """One gunicorn master with its workers, started for a benchmark run.

    Use as a context manager: the server is stopped when the block ends, whatever happens.
    """

    def __init__(
        self,
        *,
        env: dict[str, str],
        log_path: Path,
        host: str = "127.0.0.1",
        ready_timeout: float = 90.0,
    ):
        check_loopback(host)
        self.host = host
        self.port = 0
        self.env = env
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen | None = None
        self._log = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> GunicornServer:
        self.port = free_port(self.host)
        env = {**self.env, "GUNICORN_BIND": f"{self.host}:{self.port}"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG)]
        # A fixed argument list (no shell); its own session, so stopping it reaches its workers.
        self.process = subprocess.Popen(  # noqa: S603
            command,
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last_problem = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"gunicorn exited with status {self.process.returncode} during start-up.\n"
                    + self.log_tail()
                )
            connection = http.client.HTTPConnection(self.host, self.port, timeout=5)
            try:
                connection.request("GET", "/health/ready/", headers={"Host": self.host})
                response = connection.getresponse()
                body = response.read()
                if response.status == 200:
                    return
                last_problem = f"{response.status} {body[:200]!r}"
            except OSError as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            finally:
                connection.close()
            time.sleep(0.25)
        raise ServerError(
            f"gunicorn was not ready within {self.ready_timeout:.0f} s ({last_problem}).\n"
            + self.log_tail()
        )

    def stop(self, grace: float = 30.0) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                # The group is the session started above: only this server's processes.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> GunicornServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- what the output reports --------------------------------------------------------

    def worker_pids(self) -> list[int]:
        return _children(self.process.pid) if self.process is not None else []

    def worker_rss_kib(self) -> list[int]:
        """Resident memory of each worker process, in KiB."""
        return [rss for rss in map(_rss_kib, self.worker_pids()) if rss is not None]

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "server log (last lines):\n" + "\n".join(text.splitlines()[-lines:])
