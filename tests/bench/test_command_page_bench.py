"""The command centre with 100,000 open cases: how long until /command/ is usable in headless Chromium (map drawn
with its case clusters, queue counts and the first queue listed), on the production shape (gunicorn, DEBUG off,
collected static files). Baseline in the same run: the workbench start page, which draws a map of the city too.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from cases.models import Case
from organisations.models import OrgUnit, Role, UnitType
from tests.bench.servers import collect_static, gunicorn
from tests.bench.test_case_queue_bench import OPEN_CASES, _fill
from tests.factories import person

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread

LOADS = 12
WARM_UP = 2
TARGET_MS = 1500.0
# The page is usable when all of these hold: the map drawn with its case layer, the queues counted and listed.
READY = """() => {
  const q = (s) => document.querySelector(s);
  return Boolean(q('#command-map[data-ready]') && q('#command-map[data-cases-drawn]')
    && q('#queue-tabs[data-loaded]') && q('#queue-list[data-loaded]'));
}"""
HOME_READY = "() => Boolean(document.querySelector('#home-map[data-ready]'))"


@pytest.fixture
def full_city(transactional_db: None, bench_city: str) -> Iterator[None]:
    template = Case.objects.order_by("id").first()
    _fill(template, OPEN_CASES)
    collect_static()
    yield


def _session_cookie(user: object) -> dict:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return {"name": settings.SESSION_COOKIE_NAME, "value": session.session_key, "domain": "127.0.0.1", "path": "/"}


def _load_ms(page: object, url: str, ready: str) -> float:
    page.goto(url, wait_until="commit")
    page.wait_for_function(ready, timeout=30_000, polling="raf")
    # Navigation start to now, as the browser measured it.
    return page.evaluate("() => performance.now()")


@pytest.mark.django_db(transaction=True)
def test_command_centre_usable_with_100k_open_cases(full_city: None, chromium_path: str) -> None:
    from playwright.sync_api import sync_playwright

    centre = OrgUnit.objects.filter(unit_type=UnitType.CITY_CENTRE).first()
    dispatcher = person(Role.DISPATCHER, centre, username="bench-dispatcher")
    open_cases = Case.objects.exclude(closed_at__isnull=False).count()
    with gunicorn() as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        context.add_cookies([_session_cookie(dispatcher)])
        page = context.new_page()
        base = f"http://127.0.0.1:{port}"
        command, home = [], []
        for i in range(WARM_UP + LOADS):
            # A fresh page each time, as a dispatcher opening the screen (the browser's cache stays warm, as it
            # would for someone who opens it every shift).
            c = _load_ms(page, f"{base}/command/", READY)
            h = _load_ms(page, f"{base}/", HOME_READY)
            if i >= WARM_UP:
                command.append(c)
                home.append(h)
        browser.close()

    p95 = statistics.quantiles(command, n=20)[-1]
    met = p95 < TARGET_MS
    print(
        f"\n/command/ usable (map + case clusters + queue counts + first queue) with {open_cases:,} cases"
        f" ({OPEN_CASES:,} open), gunicorn, headless Chromium, {LOADS} loads:"
        f" median {statistics.median(command):.0f} ms, p95 {p95:.0f} ms"
        f" | baseline (the start page with its city map): median {statistics.median(home):.0f} ms"
        f" | {statistics.median(command) / statistics.median(home):.1f}x the baseline"
        f" | target < {TARGET_MS:.0f} ms: {'met' if met else 'NOT met'}"
    )
