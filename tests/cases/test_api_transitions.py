"""Workflow actions through the API: each for a role that may and one that may not (403, nothing changed),
out of scope (404), the wrong status (409), bad input (400), and one whole life of a case."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from cases.models import Case, Source, Status
from organisations.models import Role
from tests.cases.factories import CaseWorld, case_in, png_upload
from tests.factories import person

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def client_for(user: Any) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def post(user: Any, case: Case, action: str, body: dict[str, Any] | None = None) -> Any:
    has_files = any(isinstance(v, list) and v and hasattr(v[0], "read") for v in (body or {}).values())
    return client_for(user).post(f"{CASES}{case.pk}/{action}/", body or {}, format="multipart" if has_files else "json")


# action, starting status, a role that may (CaseWorld attribute), one in scope that may not, body, status after
ACTIONS: list[tuple[str, str, str, str, Callable[[], dict[str, Any]], str]] = [
    ("verify", Status.VERIFYING, "inspector", "clerk", lambda: {"photos": [png_upload()]}, Status.REPORTED),
    ("register", Status.REPORTED, "clerk", "dispatcher", dict, Status.REGISTERED),
    ("reject", Status.REPORTED, "clerk", "dispatcher", lambda: {"reason": "不属实"}, Status.NOT_REGISTERED),
    ("dispatch", Status.REGISTERED, "dispatcher", "clerk", dict, Status.DISPATCHED),
    ("accept", Status.DISPATCHED, "handler", "dispatcher", dict, Status.HANDLING),
    ("return", Status.DISPATCHED, "handler", "dispatcher", lambda: {"reason": "非本单位"}, Status.RETURNED),
    (
        "request-extension",
        Status.HANDLING,
        "handler",
        "dispatcher",
        lambda: {"amount": 8, "unit": "calendar_hours", "reason": "采购配件"},
        Status.EXTENSION_PENDING,
    ),
    ("decide-extension", Status.EXTENSION_PENDING, "dispatcher", "handler", lambda: {"approved": True}, "handling"),
    ("hold", Status.HANDLING, "dispatcher", "handler", lambda: {"reason": "等待许可"}, Status.ON_HOLD),
    ("resume", Status.ON_HOLD, "leader", "handler", dict, Status.HANDLING),
    (
        "feedback",
        Status.HANDLING,
        "handler",
        "dispatcher",
        lambda: {"description": "已更换", "after_photos": [png_upload()]},
        Status.HANDLED,
    ),
    ("check", Status.HANDLED, "inspector", "clerk", lambda: {"passed": False, "reason": "未修好"}, Status.REWORK),
    ("close", Status.HANDLED, "inspector", "clerk", dict, Status.CLOSED),
    ("cancel", Status.REPORTED, "clerk", "dispatcher", lambda: {"reason": "重复录入"}, Status.CANCELLED),
    ("reopen", Status.CLOSED, "leader", "clerk", lambda: {"reason": "群众反映未解决"}, Status.REGISTERED),
    ("flag-key", Status.REGISTERED, "leader", "clerk", dict, Status.REGISTERED),
    ("supervise", Status.DISPATCHED, "leader", "clerk", lambda: {"text": "请尽快处理"}, Status.DISPATCHED),
    ("urge", Status.DISPATCHED, "dispatcher", "inspector", lambda: {"text": "请尽快处理"}, Status.DISPATCHED),
]
IDS = [a[0] for a in ACTIONS]


@pytest.mark.parametrize(("action", "start", "allowed", "refused", "body", "after"), ACTIONS, ids=IDS)
def test_a_role_that_may_do_the_action_moves_the_case(
    world: CaseWorld, action: str, start: str, allowed: str, refused: str, body: Any, after: str
) -> None:
    case = case_in(world, start)

    response = post(getattr(world, allowed), case, action, body())

    assert response.status_code == 200, response.json()
    case.refresh_from_db()
    assert case.status == after and response.json()["status"] == after
    assert response.json()["events"][-1]["action"] == action.replace("-", "_").replace("close", "check")


@pytest.mark.parametrize(("action", "start", "allowed", "refused", "body", "after"), ACTIONS, ids=IDS)
def test_a_role_that_may_not_is_refused_with_403_and_nothing_changes(
    world: CaseWorld, unchanged: Any, action: str, start: str, allowed: str, refused: str, body: Any, after: str
) -> None:
    case = case_in(world, start)
    check = unchanged(case)

    response = post(getattr(world, refused), case, action, body())

    assert response.status_code == 403, response.json()
    check()


@pytest.mark.parametrize("action", ["register", "reject", "cancel"])
def test_a_case_outside_the_callers_scope_is_a_404_and_nothing_changes(
    world: CaseWorld, unchanged: Any, action: str
) -> None:
    case = case_in(world, Status.REPORTED)
    check = unchanged(case)

    response = post(world.outsider_clerk, case, action, {"reason": "x"})

    assert response.status_code == 404
    check()


def test_an_action_the_status_does_not_allow_is_a_409_and_nothing_changes(world: CaseWorld, unchanged: Any) -> None:
    case = case_in(world, Status.REGISTERED)
    check = unchanged(case)

    response = post(world.clerk, case, "register")

    assert response.status_code == 409
    assert "cannot be given the action" in response.json()["detail"]
    check()


@pytest.mark.parametrize(
    ("action", "start", "actor", "body", "field"),
    [
        ("reject", Status.REPORTED, "clerk", {}, "reason"),
        ("feedback", Status.HANDLING, "handler", {"description": "已更换"}, "after_photos"),
        ("check", Status.HANDLED, "inspector", {"passed": False}, "reason"),
        ("register", Status.REPORTED, "clerk", {"minor_class": "9999"}, "minor_class"),
        ("merge", Status.REPORTED, "clerk", {"master": 0}, "master"),
        ("dispatch", Status.REGISTERED, "dispatcher", {"lead_unit": 0}, "lead_unit"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_changes(
    world: CaseWorld, unchanged: Any, action: str, start: str, actor: str, body: dict[str, Any], field: str
) -> None:
    case = case_in(world, start)
    check = unchanged(case)

    response = post(getattr(world, actor), case, action, body)

    assert response.status_code == 400
    assert field in response.json()
    check()


def test_a_hostile_after_photo_is_a_field_error_and_nothing_is_stored(
    world: CaseWorld, unchanged: Any, media_root: Any
) -> None:
    case = case_in(world, Status.HANDLING)
    check = unchanged(case)
    files_before = sorted(p for p in media_root.rglob("*") if p.is_file())
    hostile = SimpleUploadedFile("after.png", b"\x89PNG\r\n\x1a\nnot really", content_type="image/png")

    response = post(
        world.handler,
        case,
        "feedback",
        {"description": "已更换", "before_photos": [png_upload()], "after_photos": [hostile]},
    )

    assert response.status_code == 400
    assert list(response.json()) == ["after_photos"]
    check()
    assert sorted(p for p in media_root.rglob("*") if p.is_file()) == files_before


def test_the_clerk_merges_a_duplicate_into_a_case_in_scope(world: CaseWorld) -> None:
    master = case_in(world, Status.REGISTERED)
    duplicate = case_in(world, Status.REPORTED)

    response = post(world.clerk, duplicate, "merge", {"master": master.pk, "reason": "同一井盖"})

    assert response.status_code == 200, response.json()
    duplicate.refresh_from_db()
    assert duplicate.status == Status.MERGED and duplicate.duplicate_of == master


def test_one_whole_life_of_a_case_through_the_api(world: CaseWorld) -> None:
    citizen = person(Role.CITIZEN, username="shimin")
    reported = client_for(citizen).post(
        CASES,
        {
            "source": Source.CITIZEN,
            "kind": "component",
            "minor_class": world.manhole.full_code,
            "lon": world.point.x,
            "lat": world.point.y,
            "description": "井盖丢失",
            "photos": [png_upload()],
        },
        format="multipart",
    )
    assert reported.status_code == 201, reported.json()
    case = Case.objects.get(pk=reported.json()["id"])

    steps = [
        (world.inspector, "verify", {"confirmed": True}, Status.REPORTED),
        (world.clerk, "register", {}, Status.REGISTERED),
        (world.dispatcher, "dispatch", {}, Status.DISPATCHED),
        (world.handler, "accept", {}, Status.HANDLING),
        (world.handler, "feedback", {"description": "已补装井盖", "after_photos": [png_upload()]}, Status.HANDLED),
        (world.inspector, "close", {"photos": [png_upload()]}, Status.CLOSED),
    ]
    for actor, action, body, status in steps:
        response = post(actor, case, action, body)
        assert response.status_code == 200, (action, response.json())
        assert response.json()["status"] == status

    detail = client_for(world.leader).get(f"{CASES}{case.pk}/").json()
    assert [e["action"] for e in detail["events"]] == [
        "report",
        "verify",
        "register",
        "dispatch",
        "accept",
        "feedback",
        "check",
    ]
    assert [p["phase"] for p in detail["photos"]] == ["evidence", "after", "check"]
    assert detail["lead_unit"] == world.handler_unit.pk and detail["closed_at"]
