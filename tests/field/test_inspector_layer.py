"""The command centre's "inspectors on duty" layer in a real browser against a real daphne: switched on, it shows
the inspectors on duty in the dispatcher's area; a new position moves the marker live, going off duty removes it."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation

# Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from command.views import PAGE_TEXT  # noqa: E402
from field import services  # noqa: E402
from organisations.models import Role  # noqa: E402
from tests.cases.factories import CaseWorld, case_world  # noqa: E402
from tests.command.servers import running_daphne  # noqa: E402
from tests.factories import person  # noqa: E402
from tests.field.duty_world import on_duty, seen_at  # noqa: E402

pytestmark = pytest.mark.e2e

# The markers are drawn on the map's canvas: read them from Leaflet (name in the tooltip -> position).
MARKERS_JS = """() => {
  const found = {};
  document.getElementById("command-map").leafletMap.eachLayer((layer) => {
    if (layer instanceof L.CircleMarker && layer.getTooltip()) {
      const name = layer.getTooltip().getContent().split(" · ")[0];
      found[name] = [layer.getLatLng().lng, layer.getLatLng().lat];
    }
  });
  return found;
}"""


@pytest.fixture(scope="module")
def daphne(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    with running_daphne() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def world(transactional_db: None) -> CaseWorld:
    return case_world()


def command_centre(browser: Browser, base: str, user: Any) -> Page:
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15_000)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base,
            }
        ]
    )
    page = context.new_page()
    page.goto(f"{base}/command/")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live")
    return page


def markers(page: Page) -> dict[str, list[float]]:
    return page.evaluate(MARKERS_JS)


def test_the_inspectors_layer_shows_who_is_on_duty_and_follows_them_live(
    world: CaseWorld, browser: Browser, daphne: str
) -> None:
    now = timezone.now()
    on_duty(world.inspector, at=now - dt.timedelta(hours=1))
    seen_at(world.inspector, world.near(0), at=now - dt.timedelta(seconds=40))
    b_inspector = person(Role.INSPECTOR, world.city.b.workstations[0], full_name="北区监督员")
    on_duty(b_inspector, at=now)
    seen_at(b_inspector, world.in_b, at=now)

    page = command_centre(browser, daphne, world.dispatcher)
    with translation.override("zh-hans"):
        label = str(PAGE_TEXT["inspectors"])
    page.locator(".leaflet-control-layers-overlays label", has_text=label).locator("input").check()

    expect(page.locator("#command-map")).to_have_attribute("data-inspectors-drawn", "1")
    assert markers(page) == {world.inspector.full_name: [round(world.near(0).x, 7), round(world.near(0).y, 7)]}

    moved = world.near(400)
    seen_at(world.inspector, moved, at=timezone.now())  # committed: published to the district's feed
    page.wait_for_function(
        f"() => ({MARKERS_JS})()[{world.inspector.full_name!r}][0] === {round(moved.x, 7)}", timeout=10_000
    )

    services.shift_end(user=world.inspector)
    page.wait_for_function(f"() => !({MARKERS_JS})()[{world.inspector.full_name!r}]", timeout=10_000)
    assert markers(page) == {}, "the other district's inspector never appeared"
