"""The command centre in a real browser against a real daphne (HTTP and WebSockets): a report made through the API
appears live on a dispatcher's map and queue and not on another district's; the dispatcher registers and dispatches
it from the side panel; a dropped socket loses nothing."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, Page, expect
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cases.models import Case, Source, Status
from organisations.models import Role
from organisations.services import membership_grant
from tests.cases.factories import CaseWorld, case_world
from tests.command.servers import running_daphne

pytestmark = pytest.mark.e2e
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

LIVE_WITHIN_MS = 5_000  # generous for a loaded CI machine; the benchmark measures the real figure


@pytest.fixture(scope="module")
def daphne(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    with running_daphne() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def world(transactional_db: None) -> CaseWorld:
    world = case_world()
    # The shift leader of 市南区 both registers and dispatches (intake clerk and dispatcher).
    membership_grant(user=world.dispatcher, role=Role.INTAKE_CLERK, unit=world.city.a.centre)
    return world


def _cookie(user: Any, base: str) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": base,
    }


@pytest.fixture
def screen(browser: Browser, daphne: str) -> Iterator[Callable[[Any], Page]]:
    """`screen(user)`: /command/ open in a fresh browser context signed in as `user`, live."""
    contexts = []

    def open_screen(user: Any) -> Page:
        context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        context.set_default_timeout(15_000)
        context.add_cookies([_cookie(user, daphne)])
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{daphne}/command/")
        expect(page.locator("#live-badge")).to_have_attribute("data-state", "live")
        expect(page.locator("#queue-list")).to_have_attribute("data-loaded", "true")
        return page

    yield open_screen
    for context in contexts:
        context.close()


def report(world: CaseWorld, *, by: Any = None, **fields: Any) -> Case:
    """A report through the API, as the inspector's phone sends it (or `by` someone else)."""
    client = APIClient()
    reporter = by or world.inspector
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=reporter)[0].key}")
    point = fields.pop("point", world.point)
    body = {
        "source": Source.INSPECTOR,
        "kind": world.manhole.major.kind,
        "minor_class": world.manhole.full_code,
        "lon": point.x,
        "lat": point.y,
        "description": "井盖破损，有行人跌倒风险",
        **fields,
    }
    response = client.post("/api/v1/cases/", body, format="json")
    assert response.status_code == 201, response.json()
    return Case.objects.get(pk=response.json()["id"])


def seen(page: Page) -> list[str]:
    return page.evaluate("() => window.commandCentre.seen")


def test_a_report_appears_live_for_its_district_only_and_is_registered_and_dispatched_from_the_panel(
    world: CaseWorld, screen: Callable[[Any], Page], shot: Callable[[Page, str], Any]
) -> None:
    shinan = screen(world.dispatcher)
    other = screen(world.outsider_dispatcher)  # 市北区's dispatcher
    to_register = shinan.locator('#queue-tabs [data-queue="to_register"] .n')
    expect(to_register).to_have_text("0")

    case = report(world)

    # On the map (a pulse where it was reported) and in the queue, with the count, without a reload.
    row = shinan.locator(f'#queue-list .q-row[data-number="{case.number}"]')
    expect(row).to_be_visible(timeout=LIVE_WITHIN_MS)
    expect(shinan.locator(f'.case-pulse[data-number="{case.number}"]')).to_be_attached()
    expect(to_register).to_have_text("1")
    shot(shinan, "command-centre-live-report")

    # The other district's dispatcher: a report of its own arrives, the first one never did.
    theirs = report(
        world,
        by=world.outsider_clerk,  # a 12345 call taken by 市北区's intake clerk
        point=world.city.b.cells[0].geom.point_on_surface,
        source=Source.HOTLINE,
        reporter_name="李女士",
        reporter_phone="13900000000",
    )
    expect(other.locator('#queue-tabs [data-queue="to_verify"] .n')).to_have_text("1", timeout=LIVE_WITHIN_MS)
    assert seen(other) == [theirs.number]  # its own report, never the other district's
    expect(other.locator('#queue-tabs [data-queue="to_register"] .n')).to_have_text("0")
    expect(other.locator(f'.q-row[data-number="{case.number}"]')).to_have_count(0)

    # Register, then dispatch along the routing suggestion, from the side panel.
    row.click()
    panel = shinan.locator("#case-panel-body")
    expect(panel.locator(".cp")).to_have_attribute("data-number", case.number)
    expect(panel.locator("#cp-suggestion")).to_contain_text(world.handler_unit.name)
    panel.locator("#action-register button[type=submit]").click()
    expect(panel.locator(".cp")).to_have_attribute("data-status", Status.REGISTERED)
    shot(shinan, "command-centre-panel")
    panel.locator("#action-dispatch button[type=submit]").click()
    expect(panel.locator(".cp")).to_have_attribute("data-status", Status.DISPATCHED)
    expect(panel.locator("#cp-lead-unit")).to_contain_text(world.handler_unit.name)

    case.refresh_from_db()
    assert (case.status, case.lead_unit) == (Status.DISPATCHED, world.handler_unit)
    # The queue moved on too: nothing left to register or dispatch.
    expect(to_register).to_have_text("0")
    expect(shinan.locator('#queue-tabs [data-queue="to_dispatch"] .n')).to_have_text("0")


def test_a_dropped_socket_loses_nothing(world: CaseWorld, screen: Callable[[Any], Page]) -> None:
    page = screen(world.dispatcher)
    before = report(world)
    expect(page.locator(f'.q-row[data-number="{before.number}"]')).to_be_visible(timeout=LIVE_WITHIN_MS)

    # The network drops; reports keep coming while the screen is away.
    page.evaluate("() => window.commandCentre.feed.drop()")
    expect(page.locator("#live-badge")).not_to_have_attribute("data-state", "live")
    missed = [report(world, point=world.near(200 * i)) for i in range(1, 4)]

    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=LIVE_WITHIN_MS * 2)
    for case in missed:
        expect(page.locator(f'.q-row[data-number="{case.number}"]')).to_be_visible(timeout=LIVE_WITHIN_MS)
    # Each report exactly once: replayed after the reconnect, never twice (whichever groups carried it).
    got = seen(page)
    assert sorted(got) == sorted(case.number for case in [before, *missed]), got
