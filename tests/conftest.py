"""Fixtures shared by the whole suite: a real Celery worker and a real browser."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
IN_CI = bool(os.environ.get("CI"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--benchmarks", action="store_true", help="run the benchmarks under tests/bench (make bench)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Benchmarks run only with --benchmarks (make bench); make test leaves them out."""
    run_bench = config.getoption("--benchmarks")
    keep, drop = [], []
    for item in items:
        is_bench = "/tests/bench/" in item.path.as_posix()
        if is_bench:
            item.add_marker(pytest.mark.bench)
        (keep if is_bench == run_bench else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _fresh_working_calendar() -> None:
    """The working calendar is cached per process; each test's database may hold other days."""
    from workcalendar.timeline import calendar_cache_clear

    calendar_cache_clear()


@pytest.fixture(autouse=True)
def _fresh_class_lookups() -> None:
    """Intake's class lookups are remembered per process; each test's database holds its own catalogue."""
    from catalogue.selectors import minor_class_cache_clear

    minor_class_cache_clear()


@pytest.fixture(autouse=True)
def _fresh_operating_mode() -> None:
    """The operating mode is cached per process; each test's database starts with none set (normal mode)."""
    from cases.modes import mode_cache_clear

    mode_cache_clear(known_empty=True)


def missing(reason: str) -> None:
    """A missing service or browser: a failure in CI, a skip on a developer's machine."""
    if IN_CI:
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process on this test run's Redis database and test database."""
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    env["DATABASE_URL"] = f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env["REDIS_URL"] = settings.REDIS_URL
    env["DJANGO_SETTINGS_MODULE"] = "qingdao_ops.settings"
    env["DJANGO_DEBUG"] = "true"
    env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "qingdao_ops",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    from qingdao_ops.celery import app

    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the Celery worker did not start")
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        missing("Debian's chromium is not installed (make test installs it)")
    return path


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """Debian's chromium through Playwright's sync API, for one test module. Module-scoped on purpose: the sync
    API keeps an event loop running in this thread while it is open, and code that must not run inside a loop
    (async_to_sync, another Playwright) may follow in the next module."""
    # Django refuses ORM calls from a thread with a running loop unless told that this is deliberate (the test
    # code stays synchronous).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
