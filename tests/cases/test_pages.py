"""The case pages: the list (filters, scope, count), the detail (404 out of scope, only the allowed action
forms), the report form, and each action form posting through the service, refused for a role that may not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from cases import services
from cases.models import Case, CasePhoto, Source, Status
from tests.cases.factories import CaseWorld, case_in, png_upload, reported
from workcalendar.units import TimeUnit


def client_for(user: Any) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def numbers_listed(response: Any) -> set[str]:
    return {case.number for case in response.context["page"].object_list}


# --- the list


def test_the_list_shows_the_cases_in_scope_with_a_count(world: CaseWorld) -> None:
    mine = reported(world)
    theirs = reported(world, location=world.in_b, reporter=None, source=Source.HOTLINE, reporter_name="张三")

    response = client_for(world.dispatcher).get(reverse("cases:list"))

    assert response.status_code == 200
    assert numbers_listed(response) == {mine.number}
    assert response.context["count"] == 1
    assert theirs.number not in response.content.decode()


def test_a_district_dispatcher_does_not_see_another_districts_case(world: CaseWorld) -> None:
    case = reported(world)

    response = client_for(world.outsider_dispatcher).get(reverse("cases:list"))

    assert numbers_listed(response) == set()
    assert case.number not in response.content.decode()


def test_the_list_filters_by_status_source_flag_and_number(world: CaseWorld) -> None:
    registered = case_in(world, Status.REGISTERED)
    fresh = reported(world, location=world.near(200), description="另一处")
    citizen = reported(world, source=Source.CITIZEN, location=world.near(400), reporter=world.leader)
    Case.objects.filter(pk=fresh.pk).update(is_overdue=True)
    client = client_for(world.dispatcher)

    def listed(**query: str) -> set[str]:
        return numbers_listed(client.get(reverse("cases:list"), query))

    assert listed() == {registered.number, fresh.number, citizen.number}
    assert listed(status=Status.REGISTERED) == {registered.number}
    assert listed(source=Source.CITIZEN) == {citizen.number}
    assert listed(flag="overdue") == {fresh.number}
    assert listed(q=fresh.number[-6:]) == {fresh.number}
    assert listed(kind="event") == set()
    assert listed(district=str(world.city.a.district.pk)) == {registered.number, fresh.number, citizen.number}


def test_the_list_highlights_an_overdue_case(world: CaseWorld) -> None:
    case = reported(world)
    Case.objects.filter(pk=case.pk).update(is_overdue=True)

    html = client_for(world.clerk).get(reverse("cases:list")).content.decode()

    assert f'<tr data-number="{case.number}" class="late">' in html


def test_the_list_needs_a_signed_in_user(client: Client) -> None:
    response = client.get(reverse("cases:list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- the detail


def test_a_case_out_of_scope_is_a_404(world: CaseWorld) -> None:
    case = reported(world)

    assert client_for(world.outsider_dispatcher).get(reverse("cases:detail", args=[case.number])).status_code == 404
    photo_url = reverse("cases:photo", args=[case.number, 1])
    assert client_for(world.outsider_dispatcher).get(photo_url).status_code == 404


def test_the_detail_shows_the_timeline_deadlines_and_only_the_forms_the_user_may_use(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLED)

    as_inspector = client_for(world.inspector).get(reverse("cases:detail", args=[case.number]))
    as_handler = client_for(world.handler).get(reverse("cases:detail", args=[case.number]))

    assert [f["action"] for f in as_inspector.context["action_forms"]] == ["check"]
    assert [f["action"] for f in as_handler.context["action_forms"]] == []
    html = as_inspector.content.decode()
    assert [e.action for e in as_inspector.context["events"]] == [
        "report",
        "register",
        "dispatch",
        "accept",
        "feedback",
    ]
    assert 'id="action-check"' in html and 'id="action-accept"' not in html
    assert 'id="deadlines"' in html
    photo = CasePhoto.objects.get(case=case)
    assert reverse("cases:photo", args=[case.number, photo.pk]) in html


def test_a_case_photo_is_served_to_someone_who_may_see_the_case(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLED)
    photo = CasePhoto.objects.get(case=case)

    response = client_for(world.inspector).get(reverse("cases:photo", args=[case.number, photo.pk]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:8] == photo.file.open("rb").read(8)


# --- reporting


def test_an_inspector_reports_a_case_through_the_form(world: CaseWorld) -> None:
    client = client_for(world.inspector)
    form = client.get(reverse("cases:new"))
    assert [value for value, _ in form.context["form"].fields["source"].choices] == [Source.INSPECTOR]

    response = client.post(
        reverse("cases:new"),
        {
            "source": Source.INSPECTOR,
            "minor_class": world.manhole.pk,
            "urgency": "normal",
            "lon": world.point.x,
            "lat": world.point.y,
            "description": "井盖缺失",
            "photos": [png_upload()],
        },
    )

    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:detail", args=[case.number])
    assert (case.status, case.reporter, case.description) == (Status.REPORTED, world.inspector, "井盖缺失")
    assert case.photos.count() == 1


def test_a_report_outside_the_city_is_refused_on_the_form_and_nothing_is_saved(world: CaseWorld) -> None:
    response = client_for(world.inspector).post(
        reverse("cases:new"),
        {
            "source": Source.INSPECTOR,
            "minor_class": world.manhole.pk,
            "urgency": "normal",
            "lon": 100.0,
            "lat": 20.0,
            "description": "井盖缺失",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not Case.objects.exists()


def test_someone_with_no_reporting_role_may_not_open_the_report_form(world: CaseWorld) -> None:
    assert client_for(world.handler).get(reverse("cases:new")).status_code == 403


# --- the action forms


@dataclass(frozen=True)
class Spec:
    status: str
    allowed: str
    wrong_role: str  # sees the case but may not do this
    data: dict[str, Any]
    after: str
    extra: Callable[[CaseWorld, Case], dict[str, Any]] = lambda world, case: {}


SPECS: dict[str, Spec] = {
    "verify": Spec(Status.VERIFYING, "inspector", "clerk", {"confirmed": "yes"}, Status.REPORTED),
    "register": Spec(Status.REPORTED, "clerk", "dispatcher", {}, Status.REGISTERED),
    "reject": Spec(Status.REPORTED, "clerk", "inspector", {"reason": "不属实"}, Status.NOT_REGISTERED),
    "merge": Spec(
        Status.REPORTED,
        "clerk",
        "dispatcher",
        {},
        Status.MERGED,
        lambda w, c: {"master": reported(w, description="另一份").number},
    ),
    "dispatch": Spec(Status.REGISTERED, "dispatcher", "clerk", {}, Status.DISPATCHED),
    "accept": Spec(Status.DISPATCHED, "handler", "dispatcher", {}, Status.HANDLING),
    "return": Spec(Status.DISPATCHED, "handler", "dispatcher", {"reason": "非本单位职责"}, Status.RETURNED),
    "request_extension": Spec(
        Status.HANDLING,
        "handler",
        "dispatcher",
        {"amount": 4, "unit": TimeUnit.CALENDAR_HOURS, "reason": "等配件"},
        Status.EXTENSION_PENDING,
    ),
    "decide_extension": Spec(Status.EXTENSION_PENDING, "dispatcher", "handler", {"approved": "yes"}, Status.HANDLING),
    "hold": Spec(Status.HANDLING, "dispatcher", "handler", {"reason": "待审批"}, Status.ON_HOLD),
    "resume": Spec(Status.ON_HOLD, "dispatcher", "handler", {}, Status.HANDLING),
    "feedback": Spec(
        Status.HANDLING,
        "handler",
        "dispatcher",
        {"description": "已修复"},
        Status.HANDLED,
        lambda w, c: {"after_photos": png_upload()},
    ),
    "check": Spec(Status.HANDLED, "inspector", "clerk", {"passed": "yes"}, Status.CLOSED),
    "cancel": Spec(Status.REPORTED, "clerk", "dispatcher", {"reason": "重复录入"}, Status.CANCELLED),
    "reopen": Spec(Status.CLOSED, "leader", "dispatcher", {"reason": "市民再次反映"}, Status.REGISTERED),
    "flag_key": Spec(Status.HANDLING, "leader", "handler", {"key": "yes"}, Status.HANDLING),
    "supervise": Spec(Status.HANDLING, "leader", "handler", {"text": "请尽快处置"}, Status.HANDLING),
    "urge": Spec(Status.HANDLING, "dispatcher", "handler", {"text": "请加快"}, Status.HANDLING),
    "reply": Spec(
        Status.HANDLING,
        "handler",
        "dispatcher",
        {"text": "已安排"},
        Status.HANDLING,
        lambda w, c: {"supervision": services.case_supervise(case=c, actor=w.leader, text="请尽快").pk},
    ),
}


def post_action(world: CaseWorld, who: str, case: Case, action: str, data: dict[str, Any]) -> Any:
    url = reverse("cases:action", args=[case.number, action])
    return client_for(getattr(world, who)).post(url, {f"{action}-{k}": v for k, v in data.items()})


@pytest.mark.parametrize("action", list(SPECS))
def test_each_action_form_moves_the_case_for_the_allowed_role(world: CaseWorld, action: str) -> None:
    spec = SPECS[action]
    case = case_in(world, spec.status)
    data = {**spec.data, **spec.extra(world, case)}
    detail = client_for(getattr(world, spec.allowed)).get(reverse("cases:detail", args=[case.number]))
    assert action in [f["action"] for f in detail.context["action_forms"]]

    response = post_action(world, spec.allowed, case, action, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == reverse("cases:detail", args=[case.number])
    case.refresh_from_db()
    assert case.status == spec.after
    assert case.events.order_by("-seq").first().action == action


@pytest.mark.parametrize("action", list(SPECS))
def test_each_action_form_is_refused_for_a_role_that_may_not_and_changes_nothing(
    world: CaseWorld, action: str, unchanged: Callable[[Case], Callable[[], None]]
) -> None:
    spec = SPECS[action]
    case = case_in(world, spec.status)
    data = {**spec.data, **spec.extra(world, case)}
    check = unchanged(case)
    detail = client_for(getattr(world, spec.wrong_role)).get(reverse("cases:detail", args=[case.number]))
    assert action not in [f["action"] for f in detail.context["action_forms"]]

    response = post_action(world, spec.wrong_role, case, action, data)

    assert response.status_code == 403
    assert "Nothing was changed." in response.content.decode()
    check()


def test_an_action_out_of_scope_is_a_404_and_changes_nothing(
    world: CaseWorld, unchanged: Callable[[Case], Callable[[], None]]
) -> None:
    case = reported(world)
    check = unchanged(case)

    response = post_action(world, "outsider_clerk", case, "register", {})

    assert response.status_code == 404
    check()


def test_a_missing_reason_shows_on_the_form_and_changes_nothing(
    world: CaseWorld, unchanged: Callable[[Case], Callable[[], None]]
) -> None:
    case = reported(world)
    check = unchanged(case)

    response = post_action(world, "clerk", case, "reject", {"reason": ""})

    assert response.status_code == 400
    bound = next(f["form"] for f in response.context["action_forms"] if f["action"] == "reject")
    assert bound.errors["reason"]
    check()


def test_a_refusal_by_the_service_shows_its_message_on_the_form(
    world: CaseWorld, unchanged: Callable[[Case], Callable[[], None]]
) -> None:
    case = case_in(world, Status.HANDLED)
    check = unchanged(case)

    response = post_action(world, "inspector", case, "check", {"passed": "no", "reason": ""})

    assert response.status_code == 400
    bound = next(f["form"] for f in response.context["action_forms"] if f["action"] == "check")
    assert bound.errors["reason"] == ["Say what is still wrong."]
    check()


def test_an_action_that_no_longer_applies_is_explained_and_changes_nothing(
    world: CaseWorld, unchanged: Callable[[Case], Callable[[], None]]
) -> None:
    case = case_in(world, Status.REGISTERED)
    check = unchanged(case)

    response = post_action(world, "clerk", case, "register", {})

    assert response.status_code == 302
    assert response["Location"] == reverse("cases:detail", args=[case.number])
    check()
