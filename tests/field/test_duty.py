"""Inspectors on duty: shifts with consent, positions (one or a queued batch) and their refusals, where the
inspectors are for the dispatchers who may see them, the marker's live events, and the beat tasks that end
forgotten shifts and purge old positions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.gis.geos import Point
from django.utils import timezone

from cases.clock import clock_at
from command import live
from field import services, tasks
from field.models import InspectorPosition, InspectorShift
from geography.coords import wgs84_to_gcj02
from organisations.models import Role
from tests.cases.factories import CaseWorld, case_world
from tests.factories import person
from tests.field.duty_world import api_for, on_duty, position_body, seen_at

SHIFT = "/api/v1/field/shift/"
POSITION = "/api/v1/field/position/"
INSPECTORS = "/api/v1/field/inspectors/"
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def world(db: Any) -> CaseWorld:
    return case_world()


def positions_of(user: Any) -> list[tuple[dt.datetime, float, float]]:
    return [
        (p.at, round(p.location.x, 6), round(p.location.y, 6))
        for p in InspectorPosition.objects.filter(user=user).order_by("at")
    ]


def latest_of(user: Any) -> tuple[dt.datetime | None, float | None]:
    shift = InspectorShift.objects.get(user=user, ended_at__isnull=True)
    return shift.position_at, (round(shift.position.x, 6) if shift.position else None)


# --- shifts


def test_an_inspector_goes_on_duty_sharing_the_position_and_off_again(world: CaseWorld) -> None:
    api = api_for(world.inspector)
    assert api.get(SHIFT).json()["on_duty"] is False

    started = api.post(SHIFT, {"on_duty": True, "share_position": True}, format="json")
    assert started.status_code == 200, started.content
    state = started.json()
    assert state["on_duty"] is True and state["share_position"] is True
    assert state["unit"] == world.city.a.workstations[0].pk
    assert api.get(SHIFT).json() == state

    again = api.post(SHIFT, {"on_duty": True}, format="json")
    assert again.json() == state, "starting again keeps the shift (and the consent, when not given)"
    assert InspectorShift.objects.filter(user=world.inspector).count() == 1

    ended = api.post(SHIFT, {"on_duty": False}, format="json")
    assert ended.status_code == 200
    assert ended.json()["on_duty"] is False
    assert InspectorShift.objects.get(user=world.inspector).ended_at is not None
    assert api.post(SHIFT, {"on_duty": False}, format="json").status_code == 200, "ending twice is no error"
    assert api.get(SHIFT).json()["on_duty"] is False


def test_withdrawing_consent_on_duty_forgets_the_latest_position(world: CaseWorld) -> None:
    now = timezone.now()
    on_duty(world.inspector, at=now)
    seen_at(world.inspector, world.point, at=now)
    api = api_for(world.inspector)

    state = api.post(SHIFT, {"on_duty": True, "share_position": False}, format="json").json()

    assert state["on_duty"] is True and state["share_position"] is False
    assert latest_of(world.inspector) == (None, None)
    refused = api.post(POSITION, position_body(world.point), format="json")
    assert refused.status_code == 409


def test_only_inspectors_go_on_duty(world: CaseWorld) -> None:
    citizen = person(Role.CITIZEN)
    for user in (world.dispatcher, world.clerk, citizen):
        response = api_for(user).post(SHIFT, {"on_duty": True, "share_position": True}, format="json")
        assert response.status_code == 403, (user, response.content)
        assert response.json()["detail"] == "Only inspectors go on duty."
    assert not InspectorShift.objects.exists()
    assert api_for(world.dispatcher).get(SHIFT).json()["on_duty"] is False, "any staff member may read their own"
    assert api_for(citizen).get(SHIFT).status_code == 404


def test_a_shift_without_on_duty_is_bad_input(world: CaseWorld) -> None:
    response = api_for(world.inspector).post(SHIFT, {"share_position": True}, format="json")
    assert response.status_code == 400
    assert "on_duty" in response.json()
    assert not InspectorShift.objects.exists()


# --- positions


def test_a_position_on_duty_with_consent_is_stored_and_becomes_the_latest(world: CaseWorld) -> None:
    on_duty(world.inspector, at=timezone.now())
    at = timezone.now() - dt.timedelta(seconds=20)

    response = api_for(world.inspector).post(POSITION, position_body(world.point, at), format="json")

    assert response.status_code == 204, response.content
    assert positions_of(world.inspector) == [(at, round(world.point.x, 6), round(world.point.y, 6))]
    assert latest_of(world.inspector) == (at, round(world.point.x, 6))


def test_a_position_in_chinese_map_coordinates_is_stored_in_wgs84(world: CaseWorld) -> None:
    on_duty(world.inspector, at=timezone.now())
    lon, lat = wgs84_to_gcj02(world.point.x, world.point.y)

    response = api_for(world.inspector).post(POSITION, {"lon": lon, "lat": lat, "srs": "gcj02"}, format="json")

    assert response.status_code == 204, response.content
    [(_at, x, y)] = positions_of(world.inspector)
    assert (x, y) == (round(world.point.x, 6), round(world.point.y, 6))


def test_a_position_is_refused_off_duty_and_without_consent(world: CaseWorld) -> None:
    api = api_for(world.inspector)
    off = api.post(POSITION, position_body(world.point), format="json")
    assert off.status_code == 409
    assert off.json()["detail"] == "You are not on duty: go on duty to share your position."

    on_duty(world.inspector, at=timezone.now(), share=False)
    without_consent = api.post(POSITION, position_body(world.point), format="json")
    assert without_consent.status_code == 409
    assert without_consent.json()["detail"] == "You are on duty without sharing your position: allow it first."

    services.shift_end(user=world.inspector)
    on_duty(world.inspector, at=timezone.now(), share=True)
    services.shift_end(user=world.inspector)
    assert api.post(POSITION, position_body(world.point), format="json").status_code == 409, "after the shift"
    assert not InspectorPosition.objects.exists()
    assert api_for(person(Role.CITIZEN)).post(POSITION, position_body(world.point), format="json").status_code == 404


def test_a_position_outside_the_city_is_refused(world: CaseWorld) -> None:
    on_duty(world.inspector, at=timezone.now())

    response = api_for(world.inspector).post(POSITION, position_body(world.outside_city), format="json")

    assert response.status_code == 400
    assert response.json() == {"location": ["This position lies outside the city."]}
    assert not InspectorPosition.objects.exists()
    assert latest_of(world.inspector) == (None, None)


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (dt.timedelta(minutes=6), "This time lies more than 5 minutes in the future: check the phone's clock."),
        (-dt.timedelta(hours=24, minutes=1), "This position is older than 24 hours."),
    ],
)
def test_a_position_with_an_implausible_time_is_refused(world: CaseWorld, offset: dt.timedelta, message: str) -> None:
    on_duty(world.inspector, at=timezone.now())

    response = api_for(world.inspector).post(
        POSITION, position_body(world.point, timezone.now() + offset), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"at": [message]}
    assert not InspectorPosition.objects.exists()


def test_a_phone_clock_slightly_ahead_is_tolerated(world: CaseWorld) -> None:
    on_duty(world.inspector, at=timezone.now())
    ahead = timezone.now() + dt.timedelta(minutes=4)
    response = api_for(world.inspector).post(POSITION, position_body(world.point, ahead), format="json")
    assert response.status_code == 204


def test_bad_coordinates_name_their_field(world: CaseWorld) -> None:
    on_duty(world.inspector, at=timezone.now())
    response = api_for(world.inspector).post(POSITION, {"lon": 200, "lat": "north"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"lon", "lat"}
    assert not InspectorPosition.objects.exists()


def test_a_batch_queued_offline_tolerates_duplicates_and_any_order(world: CaseWorld) -> None:
    now = timezone.now()
    on_duty(world.inspector, at=now - dt.timedelta(hours=1))
    t = [now - dt.timedelta(minutes=m) for m in (30, 20, 10)]
    points = [world.near(0), world.near(100), world.near(200)]
    api = api_for(world.inspector)
    batch = [position_body(points[2], t[2]), position_body(points[0], t[0]), position_body(points[1], t[1])]

    first = api.post(POSITION, {"positions": [*batch, batch[0]]}, format="json")
    assert first.status_code == 204, first.content
    # The phone did not hear the answer and sends the same batch again, then an older point it found.
    older = position_body(world.near(300), now - dt.timedelta(minutes=40))
    again = api.post(POSITION, {"positions": [*batch, older]}, format="json")
    assert again.status_code == 204, again.content

    stored = positions_of(world.inspector)
    assert [at for at, _x, _y in stored] == [now - dt.timedelta(minutes=40), *t]
    assert latest_of(world.inspector) == (t[2], round(points[2].x, 6)), "the latest is the newest, not the last sent"


def test_a_batch_with_one_bad_point_stores_nothing_and_names_it(world: CaseWorld) -> None:
    now = timezone.now()
    on_duty(world.inspector, at=now)
    good = position_body(world.point, now - MINUTE)

    response = api_for(world.inspector).post(
        POSITION,
        {
            "positions": [
                good,
                position_body(world.outside_city, now),
                position_body(world.point, now + dt.timedelta(hours=1)),
            ]
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "positions": [
            {},
            {"location": ["This position lies outside the city."]},
            {"at": ["This time lies more than 5 minutes in the future: check the phone's clock."]},
        ]
    }
    assert not InspectorPosition.objects.exists()


def test_an_empty_batch_is_bad_input(world: CaseWorld) -> None:
    on_duty(world.inspector, at=timezone.now())
    response = api_for(world.inspector).post(POSITION, {"positions": []}, format="json")
    assert response.status_code == 400
    assert "positions" in response.json()


# --- where the inspectors are


def test_dispatchers_see_the_inspectors_on_duty_in_their_area_only(world: CaseWorld) -> None:
    now = timezone.now()
    on_duty(world.inspector, at=now - dt.timedelta(hours=1))
    seen_at(world.inspector, world.point, at=now - MINUTE)
    on_duty(world.other_inspector, at=now - dt.timedelta(hours=1))
    seen_at(world.other_inspector, world.near(3000), at=now - 4 * MINUTE)  # stale: over 3 minutes old
    b_inspector = person(Role.INSPECTOR, world.city.b.workstations[0])
    on_duty(b_inspector, at=now)
    silent = person(Role.INSPECTOR, world.city.a.workstations[0], full_name="王不共享")
    on_duty(silent, at=now, share=False)
    person(Role.INSPECTOR, world.city.a.workstations[0])  # off duty: not listed

    response = api_for(world.dispatcher).get(INSPECTORS)

    assert response.status_code == 200, response.content
    rows = {row["user"]: row for row in response.json()["results"]}
    assert set(rows) == {world.inspector.pk, world.other_inspector.pk, silent.pk}
    mine = rows[world.inspector.pk]
    assert mine["name"] == world.inspector.full_name
    assert mine["unit"] == world.city.a.workstations[0].pk
    assert (mine["lon"], mine["lat"]) == (round(world.point.x, 7), round(world.point.y, 7))
    assert mine["accuracy_m"] == 8.0 and mine["stale"] is False
    assert rows[world.other_inspector.pk]["stale"] is True
    assert rows[silent.pk] | {"started_at": None} == {
        "user": silent.pk,
        "name": "王不共享",
        "unit": world.city.a.workstations[0].pk,
        "unit_name": world.city.a.workstations[0].name,
        "started_at": None,
        "share_position": False,
        "lon": None,
        "lat": None,
        "accuracy_m": None,
        "at": None,
        "stale": True,
    }

    outsider = api_for(world.outsider_dispatcher).get(INSPECTORS).json()["results"]
    assert [row["user"] for row in outsider] == [b_inspector.pk], "another district's dispatcher sees only theirs"
    street = api_for(world.other_inspector).get(INSPECTORS).json()["results"]
    assert [row["user"] for row in street] == [world.other_inspector.pk], "a street sees its own workstation"
    city = api_for(person(Role.DISPATCHER, world.city.root)).get(INSPECTORS).json()["results"]
    assert len(city) == 4
    assert api_for(person(Role.CITIZEN)).get(INSPECTORS).status_code == 404
    assert api_for(person(Role.DEVICE, world.city.root)).get(INSPECTORS).status_code == 404


def test_an_ended_shift_leaves_the_dispatchers_list(world: CaseWorld) -> None:
    on_duty(world.inspector, at=timezone.now())
    services.shift_end(user=world.inspector)
    assert api_for(world.dispatcher).get(INSPECTORS).json()["results"] == []


# --- the marker on the command centre's map


@pytest.fixture
def streams() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def stream_after(streams: redis.Redis, group: str, since: str) -> list[dict[str, Any]]:
    return [
        live.decode(entry_id, fields) for entry_id, fields in streams.xrange(live.stream_key(group), min=f"({since}")
    ]


def head(streams: redis.Redis, group: str) -> str:
    newest = streams.xrevrange(live.stream_key(group), count=1)
    return newest[0][0] if newest else "0-0"


def test_positions_reach_the_live_feed_of_the_inspectors_area_at_most_every_30_seconds(
    world: CaseWorld, streams: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    a = world.city.a
    groups = [
        "cases.city",
        f"cases.district.{a.district.pk}",
        f"cases.street.{a.streets[0].pk}",
        f"cases.unit.{a.workstations[0].pk}",
    ]
    since = {group: head(streams, group) for group in [*groups, f"cases.district.{world.city.b.district.pk}"]}
    t0 = timezone.now()
    on_duty(world.inspector, at=t0)

    for seconds, point in ((0, world.near(0)), (10, world.near(50)), (20, world.near(60)), (31, world.near(100))):
        with django_capture_on_commit_callbacks(execute=True):
            seen_at(world.inspector, point, at=t0 + dt.timedelta(seconds=seconds))

    for group in groups:
        events = stream_after(streams, group, since[group])
        assert [(e["kind"], e["user"], e["lon"]) for e in events] == [
            ("inspector", world.inspector.pk, round(world.near(0).x, 7)),
            ("inspector", world.inspector.pk, round(world.near(100).x, 7)),
        ], group
        assert events[0]["name"] == world.inspector.full_name
        assert events[0]["lat"] == round(world.point.y, 7)
        assert events[0]["on_duty"] is True
        assert events[0]["at"].startswith(t0.astimezone(dt.UTC).isoformat()[:19])
    other_district = f"cases.district.{world.city.b.district.pk}"
    assert stream_after(streams, other_district, since[other_district]) == [], "nothing reaches another district"

    with django_capture_on_commit_callbacks(execute=True):
        services.shift_end(user=world.inspector)
    off = stream_after(streams, groups[2], since[groups[2]])[-1]
    assert (off["kind"], off["user"], off["on_duty"], off["lon"]) == ("inspector", world.inspector.pk, False, None)


def test_nothing_is_published_when_the_write_is_refused(
    world: CaseWorld, streams: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    group = f"cases.street.{world.city.a.streets[0].pk}"
    since = head(streams, group)
    on_duty(world.inspector, at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(services.PositionsRefused):
        services.positions_record(user=world.inspector, fixes=[services.Fix(100.0, 20.0)])
    assert stream_after(streams, group, since) == []


# --- beat tasks


def test_shifts_left_open_for_more_than_14_hours_are_ended(world: CaseWorld) -> None:
    now = timezone.now()
    forgotten = on_duty(world.inspector, at=now - dt.timedelta(hours=14, minutes=1))
    working = on_duty(world.other_inspector, at=now - dt.timedelta(hours=13))

    with clock_at(now):
        assert tasks.close_stale_shifts() == 1

    forgotten.refresh_from_db()
    working.refresh_from_db()
    assert forgotten.ended_at == now and forgotten.auto_closed is True
    assert working.ended_at is None
    assert api_for(world.inspector).get(SHIFT).json()["on_duty"] is False
    with clock_at(now):
        assert tasks.close_stale_shifts() == 0
    assert "field.close_stale_shifts" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}


def test_positions_older_than_30_days_are_purged(world: CaseWorld) -> None:
    now = timezone.now()
    on_duty(world.inspector, at=now - dt.timedelta(days=31, hours=1))
    seen_at(world.inspector, world.near(0), at=now - dt.timedelta(days=31))
    seen_at(world.inspector, world.near(10), at=now - dt.timedelta(days=29))
    seen_at(world.inspector, world.near(20), at=now - MINUTE)

    with clock_at(now):
        assert tasks.purge_positions() == 1

    assert [at for at, _x, _y in positions_of(world.inspector)] == [
        now - dt.timedelta(days=29),
        now - MINUTE,
    ]
    assert "field.purge_positions" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}


def test_the_inspectors_list_reads_a_fixed_number_of_queries(world: CaseWorld, django_assert_num_queries: Any) -> None:
    now = timezone.now()
    for _ in range(5):
        user = person(Role.INSPECTOR, world.city.a.workstations[0])
        on_duty(user, at=now)
        seen_at(user, Point(world.point.x, world.point.y, srid=4326), at=now)
    api = api_for(world.dispatcher)
    api.get(INSPECTORS)  # the session and the user
    with django_assert_num_queries(5):  # session, user, the scope (roles, subtree units), the shifts
        assert len(api.get(INSPECTORS).json()["results"]) == 5
