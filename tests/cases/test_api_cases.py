"""The case API's reads and intake: scope, filters, GeoJSON, detail, query counts, and reports from each kind
of caller (photos, a hostile file, GCJ-02 coordinates, a device with a token)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cases import services
from cases.models import Case, CasePhoto, Source, Status
from geography.coords import wgs84_to_gcj02
from organisations.models import Role
from tests.cases.factories import T0, CaseWorld, case_in, png_upload, reported
from tests.factories import person

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def client_for(user: Any) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def report_body(world: CaseWorld, **fields: Any) -> dict[str, Any]:
    body = {
        "source": Source.INSPECTOR,
        "kind": "component",
        "minor_class": world.manhole.full_code,
        "lon": world.point.x,
        "lat": world.point.y,
        "description": "井盖破损",
    }
    body.update(fields)
    return body


def ids(response: Any) -> set[int]:
    body = response.json()
    return {item["id"] for item in body.get("features", body.get("results", []))}


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# --- intake


def test_an_inspector_reports_with_a_photo_by_multipart(world: CaseWorld, media_root: Path) -> None:
    response = client_for(world.inspector).post(CASES, report_body(world, photos=[png_upload()]), format="multipart")

    assert response.status_code == 201, response.json()
    case = Case.objects.get(number=response.json()["number"])
    assert case.status == Status.REPORTED and case.reporter == world.inspector
    assert case.photos.get().phase == "evidence"
    assert len(stored_files(media_root)) == 1


def test_a_hostile_file_refuses_the_report_with_a_photo_field_error_and_writes_nothing(
    world: CaseWorld, media_root: Path
) -> None:
    hostile = SimpleUploadedFile("evil.jpg", b"<?php system($_GET['c']); ?>", content_type="image/jpeg")

    response = client_for(world.inspector).post(
        CASES, report_body(world, photos=[png_upload(), hostile]), format="multipart"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["photos"]
    assert Case.objects.count() == 0 and CasePhoto.objects.count() == 0
    assert stored_files(media_root) == []


def test_gcj02_coordinates_are_converted_to_wgs84_at_the_edge(world: CaseWorld) -> None:
    citizen = person(Role.CITIZEN, username="shimin")
    lon, lat = wgs84_to_gcj02(world.point.x, world.point.y)

    response = client_for(citizen).post(
        CASES, report_body(world, source=Source.CITIZEN, lon=lon, lat=lat, srs="gcj02"), format="json"
    )

    assert response.status_code == 201, response.json()
    case = Case.objects.get()
    assert case.status == Status.VERIFYING and case.reporter == citizen
    assert case.location.x == pytest.approx(world.point.x, abs=1e-7)
    assert case.location.y == pytest.approx(world.point.y, abs=1e-7)
    assert case.grid_cell == world.city.a.cells[0]


def test_a_device_with_a_token_reports_a_video_detection(world: CaseWorld) -> None:
    camera = person(Role.DEVICE, world.city.a.centre, username="cam-1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=camera).key}")

    response = client.post(
        CASES, report_body(world, source=Source.VIDEO_AI, camera_id="CAM-7", confidence=0.93), format="json"
    )

    assert response.status_code == 201, response.json()
    case = Case.objects.get()
    assert (case.source, case.camera_id, case.confidence) == (Source.VIDEO_AI, "CAM-7", 0.93)


def test_a_citizen_may_not_pose_as_a_camera(world: CaseWorld) -> None:
    citizen = person(Role.CITIZEN, username="shimin")

    response = client_for(citizen).post(
        CASES, report_body(world, source=Source.VIDEO_AI, camera_id="CAM-7", confidence=0.9), format="json"
    )

    assert response.status_code == 403
    assert Case.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"minor_class": "9999"}, "minor_class"),
        ({"kind": "event", "minor_class": "0199"}, "minor_class"),
        ({"lon": 100.0, "lat": 20.0}, "location"),
        ({"description": ""}, "description"),
        ({"source": Source.SENSOR_ALARM}, "alarm_ref"),
        ({"srs": "bd09"}, "srs"),
    ],
)
def test_bad_input_is_refused_with_the_field_named_and_nothing_written(
    world: CaseWorld, fields: dict[str, Any], field: str
) -> None:
    response = client_for(world.inspector).post(CASES, report_body(world, **fields), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Case.objects.count() == 0


def test_one_bad_report_leaves_nothing_behind_for_the_next_on_the_same_worker(world: CaseWorld) -> None:
    """The report endpoint validates with one serializer per thread: each answer is about its own body only."""
    client = client_for(world.inspector)
    bad_lon = client.post(CASES, report_body(world, lon="east"), format="json")
    not_an_object = client.post(CASES, [report_body(world)], format="json")
    good = client.post(CASES, report_body(world), format="json")
    bad_source = client.post(CASES, report_body(world, source="carrier pigeon"), format="json")

    assert (bad_lon.status_code, list(bad_lon.json())) == (400, ["lon"])
    assert not_an_object.status_code == 400 and "non_field_errors" in not_an_object.json()
    assert good.status_code == 201 and good.json()["number"]
    assert (bad_source.status_code, list(bad_source.json())) == (400, ["source"])
    assert Case.objects.count() == 1


def test_anonymous_callers_get_401(world: CaseWorld) -> None:
    assert APIClient().post(CASES, report_body(world), format="json").status_code == 401
    assert APIClient().get(CASES).status_code == 401


# --- reads


def test_the_list_shows_only_cases_in_the_callers_scope(world: CaseWorld) -> None:
    in_a = reported(world)
    in_b = reported(world, location=world.in_b, reporter=None, source=Source.CITIZEN)

    assert ids(client_for(world.clerk).get(CASES)) == {in_a.pk}
    assert ids(client_for(world.outsider_clerk).get(CASES)) == {in_b.pk}
    assert ids(client_for(person(Role.CITIZEN, username="shimin")).get(CASES)) == set()


def test_a_case_outside_scope_is_a_404(world: CaseWorld) -> None:
    case = reported(world)

    assert client_for(world.outsider_clerk).get(f"{CASES}{case.pk}/").status_code == 404


def test_the_list_filters_by_status_source_place_unit_flags_class_and_time(world: CaseWorld) -> None:
    old = reported(world, at=T0 - dt.timedelta(days=3))
    fresh = reported(world, source=Source.CITIZEN, reporter=None)
    dispatched = case_in(world, Status.DISPATCHED)
    services.case_flag_key(case=dispatched, actor=world.leader)
    client = client_for(world.dispatcher)

    def listed(**query: Any) -> set[int]:
        response = client.get(CASES, query)
        assert response.status_code == 200, response.json()
        return ids(response)

    assert listed(status="verifying") == {fresh.pk}
    assert listed(status=["verifying", "dispatched"]) == {fresh.pk, dispatched.pk}
    assert listed(source="citizen") == {fresh.pk}
    assert listed(is_key="true") == {dispatched.pk}
    assert listed(unit=world.handler_unit.pk) == {dispatched.pk}
    assert listed(district=world.city.a.district.pk) == {old.pk, fresh.pk, dispatched.pk}
    assert listed(district=world.city.b.district.pk) == set()
    assert listed(grid_cell=world.city.a.cells[0].pk, street=world.city.a.streets[0].pk) == {
        old.pk,
        fresh.pk,
        dispatched.pk,
    }
    assert listed(kind="component", minor_class=world.manhole.full_code) == {old.pk, fresh.pk, dispatched.pk}
    assert listed(kind="event") == set()
    assert listed(reported_before=(T0 - dt.timedelta(days=1)).isoformat()) == {old.pk}
    assert listed(is_overdue="true") == set()
    assert client.get(CASES, {"status": "nonsense"}).status_code == 400


def test_the_list_orders_by_newest_report_and_by_deadline(world: CaseWorld) -> None:
    first = reported(world, at=T0)
    second = reported(world, at=T0 + dt.timedelta(minutes=5))
    registered = case_in(world, Status.REGISTERED, at=T0 + dt.timedelta(minutes=10))
    client = client_for(world.clerk)

    newest_first = [row["id"] for row in client.get(CASES).json()["results"]]
    by_deadline = [row["id"] for row in client.get(CASES, {"ordering": "deadline"}).json()["results"]]

    assert newest_first == [registered.pk, second.pk, first.pk]
    # Registered: the dispatch deadline (1 h) falls before the others' register deadlines (2 h).
    assert by_deadline == [registered.pk, first.pk, second.pk]
    assert client.get(f"{CASES}{first.pk}/").json()["deadline"] is not None


def test_cases_with_the_same_deadline_come_in_id_order_so_pages_never_repeat_a_case(world: CaseWorld) -> None:
    same = [reported(world, at=T0, location=world.near(40 * i)) for i in range(5)]
    client = client_for(world.clerk)

    def page(ordering: str, offset: int) -> list[int]:
        query = {"ordering": ordering, "limit": 2, "offset": offset, "status": Status.REPORTED}
        return [row["id"] for row in client.get(CASES, query).json()["results"]]

    ids = sorted(case.pk for case in same)
    assert page("deadline", 0) + page("deadline", 2) + page("deadline", 4) == ids
    assert page("-deadline", 0) + page("-deadline", 2) + page("-deadline", 4) == ids[::-1]


def test_the_geojson_list_is_a_feature_collection_of_wgs84_points(world: CaseWorld) -> None:
    case = reported(world)

    body = client_for(world.clerk).get(f"{CASES}geojson/", {"status": "reported"}).json()

    assert body["type"] == "FeatureCollection" and body["count"] == 1
    feature = body["features"][0]
    assert feature["type"] == "Feature" and feature["id"] == case.pk
    assert feature["geometry"]["type"] == "Point"
    assert feature["geometry"]["coordinates"] == pytest.approx([world.point.x, world.point.y])
    assert feature["properties"]["number"] == case.number
    assert feature["properties"]["status"] == "reported"


def test_the_geojson_list_takes_a_bounding_box(world: CaseWorld) -> None:
    case = reported(world)
    x, y = world.point.x, world.point.y
    client = client_for(world.clerk)

    inside = client.get(f"{CASES}geojson/", {"in_bbox": f"{x - 0.001},{y - 0.001},{x + 0.001},{y + 0.001}"})
    outside = client.get(f"{CASES}geojson/", {"in_bbox": f"{x + 0.01},{y + 0.01},{x + 0.02},{y + 0.02}"})

    assert ids(inside) == {case.pk} and ids(outside) == set()


def test_the_list_costs_the_same_few_queries_for_one_case_or_many(
    world: CaseWorld, django_assert_max_num_queries: Any
) -> None:
    for _ in range(6):
        case_in(world, Status.DISPATCHED)
    client = client_for(world.dispatcher)
    client.get(CASES)  # warm the session

    with django_assert_max_num_queries(8):
        assert len(client.get(CASES).json()["results"]) == 6
    with django_assert_max_num_queries(8):
        assert len(client.get(f"{CASES}geojson/").json()["features"]) == 6


def test_the_detail_holds_the_timeline_and_photo_urls(world: CaseWorld, django_assert_max_num_queries: Any) -> None:
    case = case_in(world, Status.HANDLED, photos=[png_upload()])
    client = client_for(world.dispatcher)

    with django_assert_max_num_queries(12):
        body = client.get(f"{CASES}{case.pk}/").json()

    assert [e["action"] for e in body["events"]] == ["report", "register", "dispatch", "accept", "feedback"]
    assert body["events"][1]["actor_name"] and body["events"][1]["actor_role"] == "intake_clerk"
    assert [p["phase"] for p in body["photos"]] == ["evidence", "after"]
    assert all(p["url"].startswith("http://testserver/") for p in body["photos"])
    assert body["lead_unit"] == world.handler_unit.pk
    assert "check" in body["allowed_actions"]
