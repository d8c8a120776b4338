"""The field inspector's app (/m/) on a phone (390x844, location granted) against a real daphne on localhost (a
secure context, so the service worker runs): a report made with no connection waits on the phone through a reload
and reaches the dispatcher exactly once when the connection returns; self-handle, verify and check on the phone; a
server error after the case was made is retried without making a second one."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client
from django.utils import timezone
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from rest_framework.test import APIClient

from cases.models import Case, ClientSubmission, Source, Status
from field.models import InspectorShift
from tests.cases.factories import CaseWorld, advance, case_world, reported
from tests.command.servers import running_daphne
from tests.e2e.conftest import PASSWORD

pytestmark = pytest.mark.e2e
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PHONE = {"width": 390, "height": 844}
SENT_WITHIN_MS = 20_000  # a retry waits out a short backoff; generous for a loaded CI machine


@pytest.fixture
def world(transactional_db: None) -> CaseWorld:
    world = case_world()
    # Hashed as the server process hashes (the test settings' fast hasher is unknown to it).
    world.inspector.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    world.inspector.full_name = "刘建军"
    world.inspector.save(update_fields=["password", "full_name"])
    return world


@pytest.fixture
def daphne(world: CaseWorld) -> Iterator[str]:
    """A server of its own for each test: the server process remembers catalogue lookups for half a minute, and
    each test's database numbers its classes afresh. localhost, not 127.0.0.1: browsers run service workers only
    in a secure context, and localhost is one."""
    with running_daphne() as port:
        yield f"http://localhost:{port}"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A phone-sized camera photo (4000x3000 JPEG): the app sends it at most 1600 px wide."""
    path = tmp_path / "IMG_20261126_101500.jpg"
    image = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    image.save(path, format="JPEG", quality=80)
    return path


def _session_cookie(user: Any, base: str) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": base,
    }


@pytest.fixture
def phone(browser: Browser, daphne: str, world: CaseWorld) -> Iterator[Callable[..., Page]]:
    """`phone(user=None, signed_in=True)`: a phone's browser at the inspector's grid, on /m/, with the app's
    service worker in control of the page."""
    contexts: list[BrowserContext] = []

    def open_phone(user: Any = None, *, signed_in: bool = True) -> Page:
        point = world.point
        context = browser.new_context(
            viewport=PHONE,
            locale="zh-CN",
            is_mobile=True,
            has_touch=True,
            geolocation={"latitude": point.y, "longitude": point.x, "accuracy": 8},
            permissions=["geolocation"],
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        if signed_in:
            context.add_cookies([_session_cookie(user or world.inspector, daphne)])
        page = context.new_page()
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
        if signed_in:
            page.goto(f"{daphne}/m/")
            controlled(page)
        return page

    yield open_phone
    for context in contexts:
        context.close()


def controlled(page: Page) -> None:
    """Wait until the app's service worker controls the page (it precaches the app first)."""
    page.wait_for_function(
        "() => navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=30_000
    )


def outbox_items(page: Page) -> Any:
    return page.locator("#outbox-list .outbox-item")


def sent(page: Page, daphne: str, number: str) -> None:
    """Wait until the outbox shows the submission about case `number` as sent (and nothing left waiting)."""
    page.goto(f"{daphne}/m/#/outbox")
    expect(page.locator(f'#sent-list .sent-item[data-number="{number}"]')).to_be_visible(timeout=SENT_WITHIN_MS)
    expect(page.locator("#outbox-list .empty")).to_be_visible()


def choose_class(page: Page, search: str, name: str) -> None:
    page.fill("#class-search", search)
    page.locator("#class-results .pick", has_text=name).first.click()
    expect(page.locator("#class-chosen")).to_contain_text(name)


def cases_seen_by(user: Any, description: str) -> list[dict[str, Any]]:
    """The cases with this description in `user`'s case list through the API (what the dispatcher's screen reads)."""
    client = APIClient()
    client.force_login(user)
    rows = client.get("/api/v1/cases/", {"limit": 100}).json()["results"]
    return [row for row in rows if row["description"] == description]


def test_a_report_made_offline_waits_on_the_phone_and_reaches_the_dispatcher_once(
    world: CaseWorld, phone: Callable[..., Page], daphne: str, photo: Path, shot: Callable[[Page, str], Any]
) -> None:
    # Signed in once, through the form, coming from /m/.
    page = phone(signed_in=False)
    page.goto(f"{daphne}/m/")
    expect(page).to_have_url(f"{daphne}/accounts/login/?next=/m/")
    page.fill("input[name=username]", world.inspector.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login-form button[type=submit]")
    page.wait_for_url(f"{daphne}/m/")
    controlled(page)
    # Opened once online: the class list is on the phone now.
    page.goto(f"{daphne}/m/#/report")
    expect(page.locator("#report-where")).to_contain_text(world.city.a.cells[0].code)

    page.context.set_offline(True)
    page.reload()  # the app itself comes from the phone
    expect(page.locator("#strip-offline")).to_be_visible()
    choose_class(page, "井盖", world.manhole.name)
    expect(page.locator("#report-where")).to_contain_text(f"{world.point.x:.5f}")
    page.set_input_files("#photos-photos", str(photo))
    expect(page.locator("fieldset.photos[data-name=photos]")).to_have_attribute("data-count", "1")
    description = "井盖破损，下雨天有积水（离线上报）"
    page.fill("#report-description", description)
    page.locator("label", has_text="紧急").click()
    page.locator("#view").evaluate("(view) => { view.scrollTop = 0; }")
    shot(page, "mobile-report")
    page.locator("#report-form button[type=submit]").click()

    # Waiting on the phone, shown with a badge and in the outbox, through a reload.
    expect(page).to_have_url(f"{daphne}/m/#/outbox")
    expect(outbox_items(page)).to_have_count(1)
    expect(outbox_items(page).first).to_have_attribute("data-state", "waiting")
    expect(page.locator("#outbox-badge")).to_have_text("1")
    page.reload()
    expect(outbox_items(page)).to_have_count(1)
    expect(outbox_items(page).first).to_contain_text(world.manhole.name)
    shot(page, "mobile-outbox")
    assert Case.objects.filter(description=description).count() == 0

    # Back online: sent, and the outbox is empty.
    page.context.set_offline(False)
    expect(page.locator("#outbox-list .empty")).to_be_visible(timeout=SENT_WITHIN_MS)
    expect(page.locator("#outbox-badge")).to_be_hidden()
    case = Case.objects.get(description=description)
    expect(page.locator("#sent-list .sent-item").first).to_contain_text(case.number)

    assert [row["number"] for row in cases_seen_by(world.dispatcher, description)] == [case.number]
    assert (case.source, case.reporter, case.urgency, case.grid_cell) == (
        Source.INSPECTOR,
        world.inspector,
        "urgent",
        world.city.a.cells[0],
    )
    stored = case.photos.get()
    assert max(stored.width, stored.height) == 1600  # downscaled on the phone
    assert page.errors == []  # type: ignore[attr-defined]


def overflows_sideways(page: Page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")


def test_a_form_being_typed_survives_a_reload(
    world: CaseWorld, phone: Callable[..., Page], daphne: str, photo: Path, shot: Callable[[Page, str], Any]
) -> None:
    page = phone()
    page.set_viewport_size({"width": 360, "height": 740})  # a small phone: nothing may run off the side
    assert not overflows_sideways(page)
    page.goto(f"{daphne}/m/#/report")
    choose_class(page, "井盖", world.manhole.name)
    page.set_input_files("#photos-photos", str(photo))
    expect(page.locator("fieldset.photos[data-name=photos]")).to_have_attribute("data-count", "1")
    saved_before = page.get_attribute("#report-form", "data-draft-saved")
    page.fill("#report-description", "写到一半的描述")
    page.wait_for_function(
        "(before) => { const at = document.querySelector('#report-form').dataset.draftSaved; "
        "return at && at !== before; }",
        arg=saved_before,
    )
    expect(page.locator("#draft-note")).to_be_visible()

    page.reload()

    expect(page.locator("#report-description")).to_have_value("写到一半的描述")
    expect(page.locator("#class-chosen")).to_contain_text(world.manhole.name)
    expect(page.locator("fieldset.photos[data-name=photos]")).to_have_attribute("data-count", "1")
    assert not overflows_sideways(page)
    shot(page, "mobile-360-report")


def test_an_inspector_self_handles_a_minor_problem(
    world: CaseWorld, phone: Callable[..., Page], daphne: str, photo: Path
) -> None:
    page = phone()
    page.goto(f"{daphne}/m/#/self-handle")
    # Only classes inspectors may self-handle are offered.
    page.fill("#class-search", "井盖")
    expect(page.locator("#class-results li")).to_have_count(1)
    expect(page.locator("#class-results .pick")).to_have_count(0)
    choose_class(page, "事件", world.litter.name)
    page.set_input_files("#photos-before_photos", str(photo))
    page.set_input_files("#photos-after_photos", str(photo))
    expect(page.locator("fieldset.photos[data-name=after_photos]")).to_have_attribute("data-count", "1")
    page.fill("#report-description", "路边垃圾已清理")
    page.locator("#report-form button[type=submit]").click()

    expect(page.locator("#outbox-list .empty")).to_be_visible(timeout=SENT_WITHIN_MS)
    case = Case.objects.get(description="路边垃圾已清理")
    assert (case.status, case.self_handled, case.reporter) == (Status.CLOSED, True, world.inspector)
    assert case.photos.count() == 2


def test_an_inspector_verifies_a_report_and_checks_a_handled_case_from_the_task_list(
    world: CaseWorld, phone: Callable[..., Page], daphne: str, photo: Path, shot: Callable[[Page, str], Any]
) -> None:
    now = timezone.now()
    citizen_report = reported(
        world,
        at=now,
        source=Source.CITIZEN,
        reporter=None,
        reporter_name="张女士",
        location=world.near(40),
        description="小区门口井盖松动",
        address="香港中路18号",
    )
    handled = advance(
        world,
        reported(world, at=now, location=world.near(120), description="井盖已更换，请核查"),
        Status.HANDLED,
        at=now,
    )
    page = phone()

    tasks = page.locator("#task-list .task")
    expect(tasks).to_have_count(2)
    expect(tasks.nth(0)).to_have_attribute("data-number", citizen_report.number)  # the nearest first
    expect(tasks.nth(0)).to_contain_text("40")
    expect(tasks.nth(1)).to_have_attribute("data-task", "check")
    shot(page, "mobile-tasks")

    # Verify: true, with a photo.
    tasks.nth(0).click()
    expect(page).to_have_url(f"{daphne}/m/#/task/{citizen_report.pk}")
    page.locator("label.choice-yes").click()
    page.set_input_files("#photos-photos", str(photo))
    expect(page.locator("fieldset.photos")).to_have_attribute("data-count", "1")
    page.locator("#task-form button[type=submit]").click()
    expect(page).to_have_url(f"{daphne}/m/#/tasks")
    sent(page, daphne, citizen_report.number)
    citizen_report.refresh_from_db()
    assert citizen_report.verified_true is True
    assert citizen_report.status != Status.VERIFYING

    # Check: not fixed, which needs a note.
    page.goto(f"{daphne}/m/#/tasks")
    expect(tasks).to_have_count(1)
    tasks.first.click()
    page.locator("label.choice-no").click()
    page.set_input_files("#photos-photos", str(photo))
    page.locator("#task-form button[type=submit]").click()
    expect(page.locator("#task-form .field-error:not([hidden])")).to_have_count(1)  # a failed check says why
    expect(page.locator("#outbox-badge")).to_be_hidden()
    page.fill("#task-note", "井盖仍然松动")
    page.locator("#task-form button[type=submit]").click()
    expect(page).to_have_url(f"{daphne}/m/#/tasks")
    sent(page, daphne, handled.number)
    handled.refresh_from_db()
    assert handled.status == Status.REWORK
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_retry_after_a_server_error_makes_no_second_case(
    world: CaseWorld, phone: Callable[..., Page], daphne: str, photo: Path
) -> None:
    page = phone()
    answers: list[tuple[int, str | None]] = []

    def first_fails(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        response = route.fetch()  # the server makes the case...
        if not answers:
            answers.append((response.status, None))
            route.fulfill(
                status=500, content_type="text/html", body="<h1>Server Error (500)</h1>"
            )  # ...the phone hears 500
        else:
            answers.append((response.status, response.headers.get("idempotent-replayed")))
            route.fulfill(response=response)

    page.route("**/api/v1/cases/", first_fails)
    page.goto(f"{daphne}/m/#/report")
    choose_class(page, "井盖", world.manhole.name)
    page.set_input_files("#photos-photos", str(photo))
    expect(page.locator("fieldset.photos[data-name=photos]")).to_have_attribute("data-count", "1")
    page.fill("#report-description", "服务器出错后重试")
    page.locator("#report-form button[type=submit]").click()

    expect(page.locator("#outbox-list .empty")).to_be_visible(timeout=SENT_WITHIN_MS)
    assert answers[0][0] == 201  # the first attempt did make the case
    assert answers[1] == (201, "true")  # the retry was answered from the first, not made again
    assert Case.objects.filter(description="服务器出错后重试").count() == 1
    assert ClientSubmission.objects.filter(user=world.inspector).count() == 1


def test_my_reports_and_the_map_of_my_grid(
    world: CaseWorld, phone: Callable[..., Page], daphne: str, shot: Callable[[Page, str], Any]
) -> None:
    now = timezone.now()
    mine = [
        reported(world, at=now, description="井盖缺失"),
        reported(world, at=now, location=world.near(60), description="井盖破损"),
    ]
    reported(world, at=now, source=Source.CITIZEN, reporter=None, location=world.near(90), description="市民上报")
    page = phone()

    page.goto(f"{daphne}/m/#/reports")
    rows = page.locator("#report-list a.row")
    expect(rows).to_have_count(2)  # mine only, newest first
    expect(rows.first).to_have_attribute("data-number", mine[1].number)
    rows.first.click()
    expect(page.locator("#case-view .card").first).to_have_attribute("data-number", mine[1].number)

    page.goto(f"{daphne}/m/#/map")
    expect(page.locator("#grid-map")).to_have_attribute("data-cases-drawn", "true")
    shot(page, "mobile-map")
    assert page.errors == []  # type: ignore[attr-defined]


def test_on_duty_with_consent_the_phone_shares_its_position(
    world: CaseWorld, phone: Callable[..., Page], shot: Callable[[Page, str], Any]
) -> None:
    page = phone()
    switch = page.locator("#duty-switch")
    expect(switch).to_have_attribute("aria-checked", "false")

    switch.click()
    expect(page.locator("#consent")).to_be_visible()  # what is shared, and why, before anything is
    shot(page, "mobile-consent")
    assert InspectorShift.objects.filter(user=world.inspector).count() == 0
    page.locator("#consent-agree").click()

    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("#strip-duty")).to_have_attribute("data-sent-at", re.compile(r"^\d+$"))
    shot(page, "mobile-on-duty")
    shift = InspectorShift.objects.get(user=world.inspector, ended_at__isnull=True)
    assert shift.shares_position
    assert shift.position.distance(world.point) < 1e-6

    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(page.locator("#strip-duty")).to_be_hidden()
    shift.refresh_from_db()
    assert shift.ended_at is not None


def test_open_cases_nearby_are_shown_before_reporting_and_one_can_be_opened_instead(
    world: CaseWorld, phone: Callable[..., Page], daphne: str, shot: Callable[[Page, str], Any]
) -> None:
    existing = reported(world, at=timezone.now(), description="井盖破损（已有人上报）")
    page = phone()
    page.goto(f"{daphne}/m/#/report")

    choose_class(page, "井盖", world.manhole.name)

    found = page.locator("#duplicates a.dupe")
    expect(found).to_have_count(1)
    expect(found.first).to_have_attribute("data-number", existing.number)
    expect(page.locator("#report-where")).to_contain_text(world.city.a.cells[0].code)
    shot(page, "mobile-report-duplicates")
    found.first.click()
    expect(page).to_have_url(f"{daphne}/m/#/case/{existing.pk}")
    expect(page.locator("#case-view .card").first).to_have_attribute("data-number", existing.number)
    assert Case.objects.count() == 1


def fill_report(page: Page, world: CaseWorld, photo: Path, description: str) -> None:
    choose_class(page, "井盖", world.manhole.name)
    expect(page.locator("#report-where")).to_contain_text(f"{world.point.x:.5f}")
    page.set_input_files("#photos-photos", str(photo))
    expect(page.locator("fieldset.photos[data-name=photos]")).to_have_attribute("data-count", "1")
    page.fill("#report-description", description)


def test_a_refused_submission_stays_with_the_servers_message_and_is_corrected_and_sent(
    world: CaseWorld, phone: Callable[..., Page], daphne: str, photo: Path, shot: Callable[[Page, str], Any]
) -> None:
    page = phone()
    keys: list[str | None] = []

    def refuse_the_first(route: Route) -> None:
        if route.request.method == "POST":
            keys.append(route.request.headers.get("idempotency-key"))
            if len(keys) == 1:
                body = json.dumps({"description": ["请写明问题的具体位置。"]}, ensure_ascii=False)
                route.fulfill(status=400, content_type="application/json", body=body)
                return
        route.continue_()

    page.route("**/api/v1/cases/", refuse_the_first)
    page.goto(f"{daphne}/m/#/report")
    fill_report(page, world, photo, "井盖坏了")
    page.locator("#report-form button[type=submit]").click()

    item = outbox_items(page).first
    expect(item).to_have_attribute("data-state", "refused")
    expect(item.locator(".refusal")).to_contain_text("请写明问题的具体位置")
    expect(page.locator("#outbox-badge")).to_have_text("1")
    shot(page, "mobile-outbox-refused")
    assert Case.objects.count() == 0

    item.locator(".outbox-actions a").click()  # edit: the form comes back with what was entered, photo included
    expect(page.locator("#report-description")).to_have_value("井盖坏了")
    expect(page.locator("fieldset.photos[data-name=photos]")).to_have_attribute("data-count", "1")
    page.fill("#report-description", "香港中路18号门口井盖破损")
    page.locator("#report-form button[type=submit]").click()

    expect(page.locator("#outbox-list .empty")).to_be_visible(timeout=SENT_WITHIN_MS)
    assert list(Case.objects.values_list("description", flat=True)) == ["香港中路18号门口井盖破损"]
    assert keys[0] != keys[1]  # a corrected submission is a new one


def test_an_expired_sign_in_keeps_the_submission_until_the_inspector_signs_in_again(
    world: CaseWorld, phone: Callable[..., Page], daphne: str, photo: Path
) -> None:
    page = phone()
    page.goto(f"{daphne}/m/#/report")
    fill_report(page, world, photo, "会话过期时上报")
    page.context.clear_cookies()  # the session is gone (expired, or signed out elsewhere)
    page.locator("#report-form button[type=submit]").click()

    expect(page.locator("#strip-auth")).to_be_visible()
    expect(outbox_items(page)).to_have_count(1)
    expect(outbox_items(page).first).to_have_attribute("data-state", "waiting")
    assert Case.objects.count() == 0

    page.locator("#strip-auth-link").click()
    page.fill("input[name=username]", world.inspector.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login-form button[type=submit]")
    page.wait_for_url(f"{daphne}/m/")
    page.goto(f"{daphne}/m/#/outbox")
    expect(page.locator("#outbox-list .empty")).to_be_visible(timeout=SENT_WITHIN_MS)
    expect(page.locator("#strip-auth")).to_be_hidden()
    assert Case.objects.filter(description="会话过期时上报").count() == 1
