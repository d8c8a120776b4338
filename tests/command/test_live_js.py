"""static/js/live.js in headless Chromium against a real daphne: live events, a dropped socket and a page reload
lose nothing and repeat nothing, and a logged-out tab stops retrying."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

# Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, Page  # noqa: E402

from cases.events import district_group  # noqa: E402
from tests.cases.factories import CaseWorld, reported  # noqa: E402
from tests.command.conftest import session_cookie  # noqa: E402

OPEN_FEED = """async () => {
  const { openLiveFeed } = await import("/static/js/live.js");
  window.got = []; window.states = []; window.resyncs = []; window.hellos = [];
  window.feed = openLiveFeed({
    onHello: (hello) => window.hellos.push(hello),
    onEvents: (group, events) => { for (const e of events) window.got.push([group, e.seq, e.case]); },
    onResync: (group) => window.resyncs.push(group),
    onStatus: (state, detail) => window.states.push([state, detail.reason || ""]),
  });
}"""


@pytest.fixture
def page(browser: Browser, daphne_port: int) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def _open(page: Page, port: int, user: Any) -> None:
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie(user), "url": f"http://127.0.0.1:{port}"}]
    )
    page.goto(f"http://127.0.0.1:{port}/healthz")
    page.evaluate(OPEN_FEED)
    page.wait_for_function("window.feed.state === 'live'")


def _has_case(page: Page, case_id: int) -> None:
    page.wait_for_function(f"window.got.some((e) => e[2] === {case_id})")


def _got(page: Page, group: str) -> list[tuple[str, int]]:
    return [(seq, case) for g, seq, case in page.evaluate("window.got") if g == group]


def test_live_js_reconnects_after_a_drop_and_resumes_after_a_reload_without_loss_or_repeats(
    world: CaseWorld, daphne_port: int, page: Page
) -> None:
    group = district_group(world.city.a.district.pk)
    _open(page, daphne_port, world.dispatcher)
    first = reported(world)
    _has_case(page, first.pk)

    page.evaluate("window.feed.drop()")
    second = reported(world, location=world.near(100))  # while the socket is down, or just back: either way once
    page.wait_for_function("window.feed.state === 'live' && window.hellos.length === 2")
    _has_case(page, second.pk)
    assert ["reconnecting", ""] in page.evaluate("window.states")

    page.reload()  # the feed is gone with the page; its positions stay in sessionStorage
    third = reported(world, location=world.near(200))
    page.evaluate(OPEN_FEED)
    page.wait_for_function("window.feed.state === 'live'")
    _has_case(page, third.pk)
    assert page.evaluate("window.hellos[0].resumed") is True
    fourth = reported(world, location=world.near(300))
    _has_case(page, fourth.pk)

    after_reload = _got(page, group)
    assert [case for _seq, case in after_reload] == [third.pk, fourth.pk], "the missed one, then the new one"
    assert page.evaluate("window.resyncs") == []


def test_live_js_stops_retrying_when_the_session_has_ended(world: CaseWorld, daphne_port: int, page: Page) -> None:
    _open(page, daphne_port, world.dispatcher)
    page.context.clear_cookies()  # logged out
    page.evaluate("window.feed.drop()")
    page.wait_for_function("window.states.some(([s, reason]) => s === 'offline' && reason === 'denied')")
    assert page.evaluate("window.feed.state") == "offline"
