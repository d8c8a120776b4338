"""In a real browser, one case from report to closure: each role signs in and uses the case pages."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator

import pytest
from django.utils import translation
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from cases.models import Case, RoutingRule, Status
from catalogue.models import MinorClass
from organisations.models import Role, UnitType
from organisations.services import membership_grant, unit_create, user_create
from tests.cases.factories import with_limits
from tests.e2e.conftest import PASSWORD, City, sign_in

pytestmark = pytest.mark.e2e


def zh(label: object) -> str:
    """A label as the Chinese pages show it."""
    with translation.override("zh-hans"):
        return str(label)


def png_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def people(city: City) -> dict[str, str]:
    """An inspector and an intake clerk of 市南区, and a handler of the unit the routing table picks."""
    shinan = city.districts[0]
    grassroots = unit_create(
        name="市南区城管监督员队伍",
        code="QD-202-JD",
        unit_type=UnitType.GRASSROOTS,
        parent=city.district_centre,
        district=shinan,
    )
    field_unit = unit_create(name="市政设施维护队", code="QD-CG-SZ", unit_type=UnitType.FIELD_UNIT, parent=city.centre)
    for username, name, role, unit in [
        ("jiandu", "孙海燕", Role.INSPECTOR, grassroots),
        ("shouli", "周文静", Role.INTAKE_CLERK, city.district_centre),
        ("chuzhi", "刘强", Role.HANDLER, field_unit),
    ]:
        membership_grant(user=user_create(username=username, full_name=name, password=PASSWORD), role=role, unit=unit)
    manhole = with_limits(MinorClass.objects.get(major__code="01", code="01"))
    RoutingRule.objects.create(minor_class=manhole, lead_unit=field_unit)
    return {"inspector": "jiandu", "clerk": "shouli", "dispatcher": "shinan", "handler": "chuzhi"}


@pytest.fixture
def signed_in(browser: Browser, live_server) -> Iterator[Callable[[str], Page]]:
    """A fresh Chinese desktop browser signed in as `username`."""
    contexts = []

    def open_as(username: str) -> Page:
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "request",
            lambda request: (
                foreign.append(request.url) if not request.url.startswith((live_server.url, "data:", "blob:")) else None
            ),
        )
        sign_in(page, live_server.url, username)
        return page

    foreign: list[str] = []
    yield open_as
    for context in contexts:
        context.close()
    assert foreign == []


def test_a_case_goes_from_report_to_closure_through_the_pages(
    city: City, people: dict[str, str], signed_in: Callable[[str], Page], live_server, shot
) -> None:
    base = live_server.url
    inner = city.districts[0].geom.point_on_surface

    # The inspector reports a broken manhole cover with a photo, placing it on the map.
    page = signed_in(people["inspector"])
    page.click(".topnav a[href='/cases/']")
    expect(page).to_have_url(f"{base}/cases/")
    page.click("a[href='/cases/new/']")
    expect(page.locator("#report-map")).to_have_attribute("data-ready", "true")
    page.select_option("#id_minor_class", label="0101 上水井盖")
    page.fill("#id_description", "香港中路井盖破损，有行人绊倒的危险")
    page.fill("#id_address", "香港中路 8 号门前")
    page.set_input_files(
        "#id_photos", files=[{"name": "before.png", "mimeType": "image/png", "buffer": png_bytes((190, 60, 40))}]
    )
    x, y = page.evaluate(
        "([lat, lon]) => { const p = document.getElementById('report-map').leafletMap"
        ".latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        [inner.y, inner.x],
    )
    page.click("#report-map", position={"x": x, "y": y})
    expect(page.locator("#id_lon")).not_to_have_value("")
    shot(page, "cases-report")
    page.click("#report-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/cases/370202-\d{8}-\d+/$"))
    number = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.locator("#case-status")).to_have_text(zh(Status.REPORTED.label))
    expect(page.locator("#case-photos img")).to_have_count(1)
    expect(page.locator("#no-actions")).to_be_visible()

    # The intake clerk registers it.
    page = signed_in(people["clerk"])
    page.goto(f"{base}/cases/{number}/")
    shot(page, "cases-detail-reported")
    page.click("#action-register button[type=submit]")
    expect(page.locator("#case-status")).to_have_text(zh(Status.REGISTERED.label))

    # The district dispatcher finds it in the list and dispatches it by the routing table.
    page = signed_in(people["dispatcher"])
    page.goto(f"{base}/cases/")
    page.select_option("#id_status", Status.REGISTERED.value)
    page.click("#case-filters button[type=submit]")
    expect(page.locator("#cases tbody tr")).to_have_count(1)
    shot(page, "cases-list")
    page.click(f"text={number}")
    page.click("#action-dispatch button[type=submit]")
    expect(page.locator("#case-status")).to_have_text(zh(Status.DISPATCHED.label))
    expect(page.locator("#case-lead-unit")).to_contain_text("市政设施维护队")

    # The handler accepts it, then reports the work done with an after-photo.
    page = signed_in(people["handler"])
    page.goto(f"{base}/cases/{number}/")
    page.click("#action-accept button[type=submit]")
    expect(page.locator("#case-status")).to_have_text(zh(Status.HANDLING.label))
    page.fill("#action-feedback textarea", "已更换新井盖")
    page.set_input_files(
        "#action-feedback input[name=feedback-after_photos]",
        files=[{"name": "after.png", "mimeType": "image/png", "buffer": png_bytes((60, 160, 90))}],
    )
    shot(page, "cases-detail-handling")
    page.click("#action-feedback button[type=submit]")
    expect(page.locator("#case-status")).to_have_text(zh(Status.HANDLED.label))

    # The inspector checks on site: passed, the case closes.
    page = signed_in(people["inspector"])
    page.goto(f"{base}/cases/{number}/")
    page.check("#action-check input[value=yes]")
    page.click("#action-check button[type=submit]")
    expect(page.locator("#case-status")).to_have_text(zh(Status.CLOSED.label))
    expect(page.locator("#case-photos img")).to_have_count(2)
    expect(page.locator("#timeline li")).to_have_count(6)
    shot(page, "cases-detail-closed")

    case = Case.objects.get(number=number)
    assert case.status == Status.CLOSED
    assert list(case.events.order_by("seq").values_list("action", flat=True)) == [
        "report",
        "register",
        "dispatch",
        "accept",
        "feedback",
        "check",
    ]
