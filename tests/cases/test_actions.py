"""The one action table (cases.actions) behind both the API and the pages: the same input through either leaves
the case the same, every page form and API action goes through it, and both name the field of a refused photo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from cases.actions import ACTIONS
from cases.api import CaseViewSet
from cases.forms import ACTION_FORMS
from cases.models import Case, CaseSupportingUnit, Source, Status
from cases.workflow import TRANSITIONS
from tests.cases.factories import CaseWorld, case_in, png_upload, reported
from tests.factories import OrgUnitFactory

Unchanged = Callable[[Case], Callable[[], None]]

HOSTILE = b"\x89PNG\r\n\x1a\nnot really"


def page_post(user: Any, case: Case, action: str, data: dict[str, Any]) -> Any:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client.post(
        reverse("cases:action", args=[case.number, action]), {f"{action}-{k}": v for k, v in data.items()}
    )


def api_post(user: Any, case: Case, action: str, data: dict[str, Any]) -> Any:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    has_files = any(isinstance(v, list) and v and hasattr(v[0], "read") for v in data.values())
    url = f"/api/v1/cases/{case.pk}/{action.replace('_', '-')}/"
    return client.post(url, data, format="multipart" if has_files else "json")


def outcome(case: Case) -> dict[str, Any]:
    """What a user sees change: status, flags, units, counters and the last event."""
    fresh = Case.objects.get(pk=case.pk)
    last = fresh.events.order_by("-seq").first()
    return {
        "status": fresh.status,
        "is_key": fresh.is_key,
        "lead_unit": fresh.lead_unit_id,
        "supporting": sorted(CaseSupportingUnit.objects.filter(case=case).values_list("unit_id", flat=True)),
        "rework_count": fresh.rework_count,
        "minor_class": fresh.minor_class_id,
        "urgency": fresh.urgency,
        "last_action": last.action,
        "last_reason": last.reason,
        "supervisions": list(fresh.supervisions.values_list("kind", "to_unit_id", "text")),
    }


def test_every_workflow_action_has_one_entry_used_by_the_pages_and_the_api() -> None:
    assert {a.workflow_name for a in ACTIONS.values()} == set(TRANSITIONS) - {"merge_in", "self_handle"}
    assert set(ACTION_FORMS) == set(ACTIONS) - {"close"}
    api_actions = {a.url_path.replace("-", "_") for a in CaseViewSet.get_extra_actions() if a.detail}
    assert api_actions == set(ACTIONS) - {"reply"}  # a reply is posted to the supervision itself


# action, starting status, who, page input, the same input for the API
SAME_INPUT: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "decide_extension",
        Status.EXTENSION_PENDING,
        "dispatcher",
        {"approved": "no", "reason": "理由不足"},
        {"approved": False, "reason": "理由不足"},
    ),
    (
        "check",
        Status.HANDLED,
        "inspector",
        {"passed": "no", "reason": "井盖仍松动"},
        {"passed": False, "reason": "井盖仍松动"},
    ),
    (
        "flag_key",
        Status.HANDLING,
        "leader",
        {"key": "yes", "reason": "市领导关注"},
        {"key": True, "reason": "市领导关注"},
    ),
    ("urge", Status.HANDLING, "dispatcher", {"text": "请加快"}, {"text": "请加快"}),
    ("register", Status.REPORTED, "clerk", {"urgency": "urgent"}, {"urgency": "urgent"}),
]


@pytest.mark.parametrize(
    ("action", "status", "who", "page_input", "api_input"), SAME_INPUT, ids=[row[0] for row in SAME_INPUT]
)
def test_the_same_input_through_the_page_and_the_api_leaves_the_case_the_same(
    world: CaseWorld, action: str, status: str, who: str, page_input: dict[str, Any], api_input: dict[str, Any]
) -> None:
    by_page = case_in(world, status)
    by_api = case_in(world, status, location=world.near(40))
    user = getattr(world, who)

    assert page_post(user, by_page, action, page_input).status_code == 302
    assert api_post(user, by_api, action, api_input).status_code == 200

    assert outcome(by_page) == outcome(by_api)
    assert outcome(by_page)["last_action"] == action


def test_a_dispatch_with_supporting_units_is_the_same_through_the_page_and_the_api(world: CaseWorld) -> None:
    helper = OrgUnitFactory(name="市政工程公司", code="QD-WORKS", parent=world.city.root)
    by_page = case_in(world, Status.REGISTERED)
    by_api = case_in(world, Status.REGISTERED, location=world.near(40))

    page = page_post(
        world.dispatcher, by_page, "dispatch", {"lead_unit": world.handler_unit.pk, "supporting_units": [helper.pk]}
    )
    api = api_post(
        world.dispatcher, by_api, "dispatch", {"lead_unit": world.handler_unit.pk, "supporting_units": [helper.pk]}
    )

    assert (page.status_code, api.status_code) == (302, 200)
    assert outcome(by_page) == outcome(by_api)
    assert outcome(by_page)["supporting"] == [helper.pk]


def test_a_page_merge_into_a_case_the_clerk_may_not_see_is_refused_on_the_field(
    world: CaseWorld, unchanged: Unchanged
) -> None:
    case = case_in(world, Status.REPORTED)
    elsewhere = reported(world, location=world.in_b, reporter=None, source=Source.HOTLINE, reporter_name="张三")
    check = unchanged(case)

    response = page_post(world.clerk, case, "merge", {"master": elsewhere.number})

    assert response.status_code == 400
    form = next(f["form"] for f in response.context["action_forms"] if f["action"] == "merge")
    assert form.errors["master"] == ["No case you may see has this number."]
    check()


def test_a_hostile_after_photo_on_the_feedback_page_shows_on_its_field_as_in_the_api(
    world: CaseWorld, unchanged: Unchanged
) -> None:
    case = case_in(world, Status.HANDLING)
    check = unchanged(case)
    hostile = SimpleUploadedFile("after.png", HOSTILE, content_type="image/png")

    response = page_post(
        world.handler,
        case,
        "feedback",
        {"description": "已更换", "before_photos": [png_upload()], "after_photos": [hostile]},
    )

    assert response.status_code == 400
    form = next(f["form"] for f in response.context["action_forms"] if f["action"] == "feedback")
    assert form.errors["after_photos"] and "before_photos" not in form.errors
    check()
