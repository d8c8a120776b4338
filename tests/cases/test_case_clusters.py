"""/api/v1/map/cases/{z}/{x}/{y}/: the caller's open cases in a map tile, checked against direct queries.

The expected answers come from cases.selectors.cases_visible_to (the scope rule) and PostGIS's ST_TileEnvelope
and EPSG:3857, not from the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from rest_framework.test import APIClient

from cases import services
from cases.clock import clock_at
from cases.models import FINAL_STATUSES, Case, Source, Status
from cases.selectors import cases_visible_to
from cases.sweep import deadlines_sweep
from catalogue.models import Urgency
from organisations.models import Role, User
from tests.cases.factories import T0, CaseWorld, case_in, reported
from tests.factories import person

GROUPS = {
    "intake": {Status.VERIFYING, Status.REPORTED},
    "dispatch": {Status.REGISTERED, Status.RETURNED, Status.DISPATCHED},
    "handling": {Status.HANDLING, Status.REWORK, Status.EXTENSION_PENDING, Status.ON_HOLD},
    "check": {Status.HANDLED},
}
URGENCY_RANK = {Urgency.NORMAL: 0, Urgency.URGENT: 1, Urgency.EMERGENCY: 2}


@pytest.fixture
def cases(world: CaseWorld) -> list[Case]:
    """Cases in every open state group in a's first street (the inspector's), two urgent or emergency, one key,
    some overdue (the sweep three hours on), one in b, and a closed and a cancelled case among them."""
    made = []
    spots = [(0, 0), (60, 40), (120, -30), (400, 200), (900, 500), (1500, 900), (1200, 2500), (1600, 3500)]
    statuses = [
        Status.REPORTED,
        Status.VERIFYING,
        Status.REGISTERED,
        Status.DISPATCHED,
        Status.HANDLING,
        Status.HANDLED,
        Status.RETURNED,
        Status.ON_HOLD,
    ]
    for (east, north), status in zip(spots, statuses, strict=True):
        made.append(case_in(world, status, location=_offset(world.point, east, north)))
    made.append(reported(world, location=_offset(world.point, 70, 30), urgency=Urgency.URGENT))
    made.append(reported(world, location=_offset(world.point, 1250, 2550), urgency=Urgency.EMERGENCY))
    made.append(case_in(world, Status.CLOSED, location=_offset(world.point, 10, 10)))
    made.append(case_in(world, Status.CANCELLED, location=_offset(world.point, 20, 5)))
    made.append(reported(world, source=Source.HOTLINE, location=world.in_b))
    with clock_at(T0):
        services.case_flag_key(case=made[3], actor=world.leader, reason="领导关注")
    deadlines_sweep(at=T0 + dt.timedelta(hours=3))
    assert Case.objects.filter(is_overdue=True).exists() and Case.objects.filter(is_overdue=False).exists()
    return made


@pytest.fixture(autouse=True)
def one_cluster_per_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clusters exactly per 32-px cell, as the direct queries count them (merging: tests/geography)."""
    monkeypatch.setattr("geography.tiles.MERGE_PX", 0)


def _offset(point: Point, east_m: float, north_m: float) -> Point:
    return Point(point.x + east_m / 90_000, point.y + north_m / 111_000, srid=4326)


def client_for(user: User) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_authenticate(user)
    return client


def _cell(point: Point, level: int) -> tuple[int, int]:
    """The Web Mercator tile of `level` holding a point, through PostGIS's EPSG:3857."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH p AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 3857) AS g),
                 w AS (SELECT 20037508.342789244 AS r)
            SELECT floor((ST_X(p.g) + w.r) / (2 * w.r / 2 ^ %s))::int,
                   floor((w.r - ST_Y(p.g)) / (2 * w.r / 2 ^ %s))::int
            FROM p, w
            """,
            [point.x, point.y, level, level],
        )
        return cursor.fetchone()


def open_in_tile(user: User, z: int, x: int, y: int) -> Any:
    return (
        cases_visible_to(user)
        .exclude(status__in=FINAL_STATUSES)
        .extra(
            where=["ST_Intersects(cases_case.location, ST_Transform(ST_TileEnvelope(%s, %s, %s), 4326))"],
            params=[z, x, y],
        )
    )


def expected(user: User, z: int, x: int, y: int) -> tuple[list[tuple], list[list[Any]]]:
    """(clusters as (count, by_group, urgency, overdue, key, lon, lat), single cases as points), per 32-px cell."""
    cells: dict[tuple[int, int], list[Case]] = defaultdict(list)
    for case in open_in_tile(user, z, x, y):
        cells[_cell(case.location, z + 3)].append(case)
    clusters, singles = [], []
    for members in cells.values():
        n = len(members)
        lon = round(sum(c.location.x for c in members) / n, 6)
        lat = round(sum(c.location.y for c in members) / n, 6)
        urgency = max((c.urgency for c in members), key=URGENCY_RANK.__getitem__)
        if n == 1:
            c = members[0]
            singles.append([c.pk, c.number, lon, lat, c.status, c.urgency, c.is_overdue, c.is_key])
            continue
        by_group = [sum(1 for c in members if c.status in statuses) for statuses in GROUPS.values()]
        overdue = sum(1 for c in members if c.is_overdue)
        key = sum(1 for c in members if c.is_key)
        clusters.append((n, by_group, urgency, overdue, key, lon, lat))
    return sorted(clusters), sorted(singles)


def got(body: dict[str, Any]) -> tuple[list[tuple], list[list[Any]]]:
    assert body["groups"] == list(GROUPS)
    assert body["cluster_fields"] == ["lon", "lat", "count", "by_group", "urgency", "overdue", "key"]
    assert body["point_fields"] == ["id", "number", "lon", "lat", "status", "urgency", "is_overdue", "is_key"]
    clusters = sorted((n, g, u, o, k, lon, lat) for lon, lat, n, g, u, o, k in body["clusters"])
    return clusters, sorted(body["points"])


PERSONAS = {
    "city leader": lambda w: person(Role.LEADER, w.city.root),
    "district dispatcher": lambda w: w.dispatcher,
    "other district's dispatcher": lambda w: w.outsider_dispatcher,
    "handling unit": lambda w: w.handler,  # sees the cases its unit leads, in either district
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_clusters_at_every_zoom_match_a_direct_query_of_the_users_open_cases(
    world: CaseWorld, cases: list[Case], persona: str
) -> None:
    user = PERSONAS[persona](world)
    client = client_for(user)
    seen = 0
    # Zoom 10 and below: a city-wide caller's clusters come from the counts kept ahead (cases.map_counts).
    for z in range(7, 16):
        for point in (world.point, world.in_b):
            x, y = _cell(point, z)
            body = client.get(f"/api/v1/map/cases/{z}/{x}/{y}/").json()
            clusters, singles = expected(user, z, x, y)
            assert got(body) == (clusters, singles), (z, x, y)
            assert body["total"] == open_in_tile(user, z, x, y).count()
            seen += body["total"]
    assert seen > 0, "each persona sees some of the cases"


def test_single_cases_come_with_their_number_state_urgency_and_flags(world: CaseWorld, cases: list[Case]) -> None:
    key_case = cases[3]
    key_case.refresh_from_db()
    x, y = _cell(key_case.location, 16)

    body = client_for(world.dispatcher).get(f"/api/v1/map/cases/16/{x}/{y}/").json()

    assert body["clusters"] == []
    point = next(p for p in body["points"] if p[0] == key_case.pk)
    assert point == [
        key_case.pk,
        key_case.number,
        round(key_case.location.x, 6),
        round(key_case.location.y, 6),
        "dispatched",
        "normal",
        key_case.is_overdue,
        True,
    ]
    assert sorted(p[0] for p in body["points"]) == sorted(
        open_in_tile(world.dispatcher, 16, x, y).values_list("id", flat=True)
    )


def test_closed_and_cancelled_cases_are_not_on_the_map(world: CaseWorld, cases: list[Case]) -> None:
    leader = person(Role.LEADER, world.city.root)
    client = client_for(leader)
    final = [c for c in cases if c.status in FINAL_STATUSES]
    assert {c.status for c in final} == {Status.CLOSED, Status.CANCELLED}
    for z in (12, 18):
        x, y = _cell(world.point, z)
        body = client.get(f"/api/v1/map/cases/{z}/{x}/{y}/").json()
        ids = {p[0] for p in body["points"]}
        assert ids.isdisjoint(c.pk for c in final)
        assert body["total"] == open_in_tile(leader, z, x, y).count()


def test_a_tile_outside_the_users_area_is_empty_not_an_error(world: CaseWorld, cases: list[Case]) -> None:
    x, y = _cell(world.in_b, 16)
    assert open_in_tile(person(Role.LEADER, world.city.root), 16, x, y).exists()

    response = client_for(world.dispatcher).get(f"/api/v1/map/cases/16/{x}/{y}/")

    assert response.status_code == 200
    assert response.json()["total"] == 0 and response.json()["points"] == [] and response.json()["clusters"] == []


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ({"group": "intake"}, lambda c: c.status in GROUPS["intake"]),
        ({"group": "dispatch,check"}, lambda c: c.status in GROUPS["dispatch"] | GROUPS["check"]),
        ({"urgency": "urgent,emergency"}, lambda c: c.urgency != Urgency.NORMAL),
        (
            {"group": "intake", "urgency": "emergency"},
            lambda c: c.status in GROUPS["intake"] and c.urgency == "emergency",
        ),
        ({"group": "", "urgency": "urgent"}, lambda c: c.urgency == Urgency.URGENT),  # empty: no filter
    ],
)
@pytest.mark.parametrize("z", [11, 9])  # counted live; added up from cases.map_counts
def test_filters_by_state_group_and_urgency(
    world: CaseWorld, cases: list[Case], query: dict, keep: Any, z: int
) -> None:
    leader = person(Role.LEADER, world.city.root)
    x, y = _cell(world.point, z)
    everything = list(open_in_tile(leader, z, x, y))

    body = client_for(leader).get(f"/api/v1/map/cases/{z}/{x}/{y}/", query).json()

    assert body["total"] == sum(1 for c in everything if keep(c)) > 0
    assert body["total"] < len(everything)


def test_the_district_filter_keeps_one_district_and_refuses_districts_outside_the_area(
    world: CaseWorld, cases: list[Case]
) -> None:
    leader = person(Role.LEADER, world.city.root)
    x, y = _cell(world.point, 11)
    b = world.city.b.district
    in_tile = open_in_tile(leader, 11, x, y)
    assert in_tile.exclude(district=b).exists()
    x9, y9 = _cell(world.point, 9)

    only_b = client_for(leader).get(f"/api/v1/map/cases/11/{x}/{y}/", {"district": b.pk}).json()
    only_b_counted = client_for(leader).get(f"/api/v1/map/cases/9/{x9}/{y9}/", {"district": b.pk}).json()
    refused = client_for(world.dispatcher).get(f"/api/v1/map/cases/11/{x}/{y}/", {"district": b.pk})
    malformed = client_for(leader).get(f"/api/v1/map/cases/11/{x}/{y}/", {"district": "市北区"})

    assert only_b["total"] == in_tile.filter(district=b).count() == 1
    assert only_b_counted["total"] == open_in_tile(leader, 9, x9, y9).filter(district=b).count() == 1
    assert refused.status_code == 404 and refused.json() == {"detail": "No such district in your area."}
    assert malformed.status_code == 400 and "district" in malformed.json()


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"group": "overdue"}, "group", "No state group overdue; choose from intake, dispatch, handling, check."),
        ({"urgency": "urgent,high"}, "urgency", "No urgency high; choose from normal, urgent, emergency."),
    ],
)
def test_an_unknown_filter_value_is_a_400_that_lists_the_choices(
    world: CaseWorld, query: dict, field: str, message: str
) -> None:
    response = client_for(world.dispatcher).get("/api/v1/map/cases/11/1708/804/", query)

    assert response.status_code == 400
    assert response.json() == {field: [message]}


@pytest.mark.parametrize("path", ["23/0/0", "11/2048/804", "11/1708/-1", "x/1/1"])
def test_a_tile_that_does_not_exist_is_a_400(world: CaseWorld, path: str) -> None:
    response = client_for(world.dispatcher).get(f"/api/v1/map/cases/{path}/")

    assert response.status_code == 400
    assert response.json()["detail"]


def test_anonymous_requests_are_refused(world: CaseWorld) -> None:
    assert APIClient().get("/api/v1/map/cases/11/1708/804/").status_code == 401


def test_the_browser_revalidates_every_time_and_gets_a_304_until_a_case_changes(
    world: CaseWorld, cases: list[Case]
) -> None:
    client = client_for(world.dispatcher)
    x, y = _cell(world.point, 13)
    url = f"/api/v1/map/cases/13/{x}/{y}/"
    first = client.get(url)

    unchanged = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    reported(world, location=_offset(world.point, 30, 30))
    changed = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])

    assert first["Cache-Control"] == "private, no-cache"
    assert unchanged.status_code == 304
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]
    assert changed.json()["total"] == first.json()["total"] + 1


def test_a_tile_costs_a_fixed_number_of_queries(
    world: CaseWorld, cases: list[Case], django_assert_max_num_queries: Any
) -> None:
    client = client_for(world.dispatcher)
    for z in (11, 15, 17):
        x, y = _cell(world.point, z)
        # The scope (memberships, units), the tile's query (planned without JIT: SET LOCAL, in a savepoint here
        # inside the test's transaction), the numbers of single cases.
        with django_assert_max_num_queries(2 + 4 + 1):
            assert client.get(f"/api/v1/map/cases/{z}/{x}/{y}/").status_code == 200


def test_overlapping_clusters_merge_keeping_their_counts_urgency_and_flags(
    world: CaseWorld, cases: list[Case], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(person(Role.LEADER, world.city.root))
    for z in range(10, 16):
        x, y = _cell(world.point, z)
        url = f"/api/v1/map/cases/{z}/{x}/{y}/"
        per_cell = client.get(url).json()
        monkeypatch.setattr("geography.tiles.MERGE_PX", 24)
        merged = client.get(url).json()
        monkeypatch.setattr("geography.tiles.MERGE_PX", 0)

        assert merged["total"] == per_cell["total"]
        assert merged["points"] == per_cell["points"], "single cases stay single"
        for index in (2, 5, 6):  # count, overdue, key
            assert sum(c[index] for c in merged["clusters"]) == sum(c[index] for c in per_cell["clusters"])
        assert {c[4] for c in merged["clusters"]} <= {c[4] for c in per_cell["clusters"]}
        highest = max((c[4] for c in per_cell["clusters"]), key=list(URGENCY_RANK).index, default=None)
        assert highest is None or highest in {c[4] for c in merged["clusters"]}
