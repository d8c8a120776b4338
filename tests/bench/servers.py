"""Servers the benchmarks run against, as docker-compose runs them: gunicorn for HTTP (DEBUG off, persistent
database connections, WhiteNoise serving the collected static files) on this run's test database and Redis."""

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

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# As docker-compose runs it: gunicorn's usual (2 x cores) + 1 workers, here sharing the cores with PostgreSQL,
# Redis and the load generator.
WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", 2 * (os.cpu_count() or 1) + 1))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env() -> dict[str, str]:
    """The environment of a production process on this run's test database and Redis."""
    db = settings.DATABASES["default"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.bench.server_settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-only-" + "x" * 50,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DATABASE_URL=f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
    )
    return env


def collect_static() -> None:
    """collectstatic as a production deploy runs it (hashed names, compressed copies) into STATIC_ROOT."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=production_env(),
        check=True,
    )


def _wait_for_port(proc: subprocess.Popen, port: int, name: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"{name} did not start: {proc.stdout.read().decode(errors='replace')}")
            time.sleep(0.1)  # polling for the port to open, not timing behaviour


@contextmanager
def gunicorn(workers: int = WORKERS) -> Iterator[int]:
    """gunicorn on a free port with qingdao_ops/gunicorn.conf.py; yields the port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "qingdao_ops" / "gunicorn.conf.py"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "/dev/null",
            "qingdao_ops.wsgi:application",
        ],
        cwd=ROOT,
        env=production_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _wait_for_port(proc, port, "gunicorn")
    try:
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
