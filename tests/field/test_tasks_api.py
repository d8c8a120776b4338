"""An inspector's tasks (verify and check, in their grid: offered to them first, then nearest, else by deadline) and
anyone's own reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from cases.models import Case, Source, Status
from field import services
from organisations.models import Role
from tests.cases.factories import T0, CaseWorld, case_in, case_world, png_upload, reported
from tests.factories import person
from tests.field.duty_world import api_for, on_duty, seen_at

TASKS = "/api/v1/field/tasks/"
MY_REPORTS = "/api/v1/field/my-reports/"
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def world(db: Any) -> CaseWorld:
    return case_world()


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def tasks_of(user: Any, **query: Any) -> list[dict[str, Any]]:
    response = api_for(user).get(TASKS, query)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def in_second_street(world: CaseWorld) -> Point:
    cell = world.city.a.cells[1]
    return Point(cell.geom.extent[0] + 0.0004, cell.geom.extent[1] + 0.0004, srid=4326)


@pytest.fixture
def tasks_world(world: CaseWorld) -> dict[str, Case]:
    """Four tasks in the first street's grid and what is not a task there, or not there."""
    now = timezone.now()
    far = reported(world, source=Source.CITIZEN, at=T0, location=world.near(800), description="远处的井盖")
    check = case_in(world, Status.HANDLED)  # at world.point, check due T0 + 2 h
    fresh = reported(world, source=Source.CITIZEN, at=now, location=world.near(100), description="新报的")
    mine = reported(world, source=Source.HOTLINE, at=T0, location=world.near(1500), reporter=world.clerk)
    on_duty(world.inspector, at=now - dt.timedelta(hours=1))
    seen_at(world.inspector, world.near(1500), at=now)
    assert services.verifications_assign(case_ids=[mine.pk])[0].inspector_id == world.inspector.pk
    case_in(world, Status.REGISTERED, location=world.near(20))  # not an inspector's task now
    next_street = reported(world, source=Source.CITIZEN, at=T0, location=in_second_street(world))
    return {"far": far, "check": check, "fresh": fresh, "mine": mine, "next_street": next_street}


def test_tasks_offered_to_me_come_first_then_the_nearest(world: CaseWorld, tasks_world: dict[str, Case]) -> None:
    t = tasks_world
    rows = tasks_of(world.inspector, lon=world.point.x, lat=world.point.y)

    assert [row["id"] for row in rows] == [t["mine"].pk, t["check"].pk, t["fresh"].pk, t["far"].pk]
    assert [row["assigned_to_me"] for row in rows] == [True, False, False, False]
    assert [row["task"] for row in rows] == ["verify", "check", "verify", "verify"]
    assert [round(row["distance_m"], -1) for row in rows] == [1500, 0, 100, 800]


def test_without_a_position_tasks_come_by_deadline(world: CaseWorld, tasks_world: dict[str, Case]) -> None:
    t = tasks_world
    rows = tasks_of(world.inspector)

    # Offered first; then verify due T0 + 1 h, check due T0 + 2 h, verify due in an hour from now.
    assert [row["id"] for row in rows] == [t["mine"].pk, t["far"].pk, t["check"].pk, t["fresh"].pk]
    assert [row["distance_m"] for row in rows] == [None] * 4
    assert [row["overdue"] for row in rows] == [True, True, True, False]


def test_a_task_row_shows_what_the_inspector_needs_on_site(world: CaseWorld) -> None:
    now = timezone.now()
    long_text = "井盖破损，" * 40
    case = reported(
        world,
        source=Source.CITIZEN,
        at=now,
        description=long_text,
        address="香港中路 1 号",
        photos=[png_upload("a.png"), png_upload("b.png", colour=(0, 0, 200))],
    )

    [row] = tasks_of(world.inspector)

    deadline = case.verify_due_at
    assert row == {
        "id": case.pk,
        "number": case.number,
        "task": "verify",
        "status": "verifying",
        "status_display": "Awaiting verification",
        "kind": "component",
        "minor_class": "0101",
        "class_name": world.manhole.name,
        "description": long_text[:120],
        "address": "香港中路 1 号",
        "lon": round(world.point.x, 7),
        "lat": round(world.point.y, 7),
        "distance_m": None,
        "deadline": row["deadline"],
        "overdue": False,
        "assigned_to_me": False,
        "photos": row["photos"],
    }
    assert dt.datetime.fromisoformat(row["deadline"]) == deadline
    [url] = row["photos"]
    first = case.photos.order_by("created_at", "id").first()
    assert url == f"http://testserver/media/{first.file.name}"


def test_other_streets_inspectors_and_other_roles_do_not_get_these_tasks(
    world: CaseWorld, tasks_world: dict[str, Case]
) -> None:
    assert [row["id"] for row in tasks_of(world.other_inspector)] == [tasks_world["next_street"].pk]
    assert tasks_of(world.dispatcher) == [], "staff without the inspector role have no tasks"
    assert api_for(person(Role.CITIZEN)).get(TASKS).status_code == 404


def test_tasks_come_in_pages(world: CaseWorld, tasks_world: dict[str, Case]) -> None:
    body = api_for(world.inspector).get(TASKS, {"limit": 2}).json()
    assert body["count"] == 4
    assert len(body["results"]) == 2 and body["next"]
    rest = api_for(world.inspector).get(body["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None


def test_a_position_needs_both_coordinates(world: CaseWorld) -> None:
    api = api_for(world.inspector)
    only_lon = api.get(TASKS, {"lon": world.point.x})
    assert only_lon.status_code == 400
    assert only_lon.json() == {"lat": ["Give both lon and lat, or neither."]}
    bad = api.get(TASKS, {"lon": "east", "lat": 36})
    assert bad.status_code == 400 and "lon" in bad.json()


def test_the_task_list_reads_a_fixed_number_of_queries(
    world: CaseWorld, tasks_world: dict[str, Case], django_assert_num_queries: Any
) -> None:
    api = api_for(world.inspector)
    api.get(TASKS)
    # Session, user, the scope (roles, subtree units), the inspector's roles, the count, the page.
    with django_assert_num_queries(7):
        assert len(api.get(TASKS, {"lon": world.point.x, "lat": world.point.y}).json()["results"]) == 4


def test_my_reports_are_mine_newest_first(world: CaseWorld) -> None:
    citizen, neighbour = person(Role.CITIZEN), person(Role.CITIZEN)
    older = reported(world, source=Source.CITIZEN, reporter=citizen, at=T0)
    newer = reported(world, source=Source.CITIZEN, reporter=citizen, at=T0 + MINUTE, location=world.near(60))
    reported(world, source=Source.CITIZEN, reporter=neighbour, at=T0 + 2 * MINUTE)

    response = api_for(citizen).get(MY_REPORTS, {"limit": 10})

    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["number"] for row in rows] == [newer.number, older.number]
    assert rows[0] | {"reported_at": None} == {
        "id": newer.pk,
        "number": newer.number,
        "status": "verifying",
        "status_display": "Awaiting verification",
        "kind": "component",
        "minor_class": "0101",
        "class_name": world.manhole.name,
        "description": "井盖破损",
        "address": "",
        "lon": round(world.near(60).x, 7),
        "lat": round(world.near(60).y, 7),
        "reported_at": None,
        "closed_at": None,
    }
    assert dt.datetime.fromisoformat(rows[0]["reported_at"]) == T0 + MINUTE
    assert api_for(world.inspector).get(MY_REPORTS).json()["results"] == [], "the inspector reported nothing"
