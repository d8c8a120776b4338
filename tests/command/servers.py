"""A real daphne process on this test run's database and Redis, for the live feed tests, e2e tests and benches.

Import `running_daphne` from here (tests/e2e and tests/bench do too); the process serves the whole ASGI
application, HTTP and WebSockets, exactly as the `ws` service in docker-compose does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "var" / "test-logs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(*, settings_module: str, debug: bool = True, conn_max_age: int | None = None) -> dict[str, str]:
    """The environment of a server process on this run's test database and Redis database, with this process's
    SECRET_KEY (session cookies made here are signed with it; a benchmark sets a production-length one)."""
    db = settings.DATABASES["default"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        DJANGO_DEBUG="true" if debug else "false",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DATABASE_URL=f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
    )
    if conn_max_age is not None:
        env["DJANGO_CONN_MAX_AGE"] = str(conn_max_age)
    return env


def wait_for_port(port: int, proc: subprocess.Popen, what: str, log: Path | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = log.read_text(errors="replace")[-3000:] if log else ""
                raise RuntimeError(f"{what} did not start: {out}") from None
            time.sleep(0.1)  # polling for the port to open, not timing behaviour


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def running_daphne(
    *, settings_module: str = "tests.command.live_settings", debug: bool = True, conn_max_age: int | None = None
) -> Iterator[int]:
    """daphne serving qingdao_ops.asgi on a free port of 127.0.0.1; yields the port. Its output goes to
    var/test-logs/daphne-<port>.log (a pipe nobody reads would stop the server once full)."""
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"daphne-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "--proxy-headers",
                "qingdao_ops.asgi:application",
            ],
            cwd=ROOT,
            env=server_env(settings_module=settings_module, debug=debug, conn_max_age=conn_max_age),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, proc, "daphne", log)
        yield port
    finally:
        stop(proc)
