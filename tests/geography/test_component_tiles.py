"""/api/v1/map/components/{z}/{x}/{y}/: the components layer's tiles, checked against direct queries.

The expected answers are computed independently of geography.tiles: the tile and cell boxes come from PostGIS's
ST_TileEnvelope and the components from organisations.selectors.components_visible_to (the scope rule itself).
"""

from __future__ import annotations

import io
import random
from collections import defaultdict
from typing import Any

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from rest_framework.test import APIClient

from catalogue.models import MinorClass
from geography.models import Component, ComponentCluster, ComponentClusterTotal, ComponentStatus
from geography.tasks import rebuild_component_clusters
from geography.tiles import COARSEST_LEVEL, _combine_components, component_clusters_rebuild, merge_overlapping
from organisations.models import Role, User
from organisations.selectors import components_visible_to
from tests.factories import ComponentFactory, MajorClassFactory, MinorClassFactory, SmallCity, person, small_city

STATUSES = ["normal", "damaged", "lost", "removed"]
PER_STREET = 12


@pytest.fixture
def town(db: Any) -> SmallCity:
    """The small city (two districts of two streets) with PER_STREET more components in every street, of two
    major classes and every status, some owned by the department or its field unit; then the pyramid."""
    city = small_city()
    manhole = city.a.components[0].minor_class  # 0101
    tree = MinorClassFactory(major=MajorClassFactory(code="04", name="园林绿化"), code="02", name="行道树")
    rng = random.Random(20261127)
    for district in city.districts:
        for i, cell in enumerate(district.cells):
            west, south, east, north = district.streets[i].geom.extent
            for k in range(PER_STREET):
                owner = [None, None, city.department, city.field_unit][k % 4]
                ComponentFactory(
                    grid_cell=cell,
                    minor_class=tree if k % 3 == 0 else manhole,
                    status=STATUSES[k % 4],
                    owner_unit=owner,
                    location=Point(rng.uniform(west, east), rng.uniform(south, north), srid=4326),
                )
    component_clusters_rebuild()
    return city


@pytest.fixture(autouse=True)
def one_cluster_per_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clusters exactly per 32-px cell, as the direct queries count them (merging is tested on its own)."""
    monkeypatch.setattr("geography.tiles.MERGE_PX", 0)


def client_for(user: User) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_authenticate(user)
    return client


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The tile holding a point, through PostGIS's Web Mercator (EPSG:3857), not through geography.tiles."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH p AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 3857) AS g),
                 w AS (SELECT 20037508.342789244 AS r)
            SELECT floor((ST_X(p.g) + w.r) / (2 * w.r / 2 ^ %s))::int,
                   floor((w.r - ST_Y(p.g)) / (2 * w.r / 2 ^ %s))::int
            FROM p, w
            """,
            [lon, lat, z, z],
        )
        return cursor.fetchone()


def _in_tile(components: Any, z: int, x: int, y: int) -> Any:
    return components.extra(
        where=["ST_Intersects(geography_component.location, ST_Transform(ST_TileEnvelope(%s, %s, %s), 4326))"],
        params=[z, x, y],
    )


def expected_clusters(user: User, z: int, x: int, y: int, majors: tuple[str, ...] = ()) -> list[tuple]:
    """(count, lon, lat, by_major, by_status) per 32-px cell of the tile, from the scope rule and PostGIS."""
    visible = _in_tile(components_visible_to(user), z, x, y).select_related("minor_class__major")
    if majors:
        visible = visible.filter(minor_class__major__code__in=majors)
    cells: dict[tuple[int, int], list[Component]] = defaultdict(list)
    for component in visible:
        cells[_tile_of(component.location.x, component.location.y, z + 3)].append(component)
    codes = ["01", "04"]
    clusters = []
    for members in cells.values():
        n = len(members)
        clusters.append(
            (
                n,
                round(sum(c.location.x for c in members) / n, 6),
                round(sum(c.location.y for c in members) / n, 6),
                [sum(1 for c in members if c.minor_class.major.code == code) for code in codes],
                [sum(1 for c in members if c.status == status) for status in STATUSES],
            )
        )
    return sorted(clusters)


def got_clusters(body: dict[str, Any]) -> list[tuple]:
    assert body["cluster_fields"] == ["lon", "lat", "count", "by_major", "by_status"]
    assert body["majors"] == ["01", "04"] and body["statuses"] == STATUSES
    return sorted((n, lon, lat, by_major, by_status) for lon, lat, n, by_major, by_status in body["clusters"])


def assert_same_clusters(got: list[tuple], expected: list[tuple]) -> None:
    assert [(n, m, s) for n, _lon, _lat, m, s in got] == [(n, m, s) for n, _lon, _lat, m, s in expected]
    for (_n, lon, lat, *_), (_e, e_lon, e_lat, *_) in zip(got, expected, strict=True):
        assert lon == pytest.approx(e_lon, abs=2e-6) and lat == pytest.approx(e_lat, abs=2e-6)


PERSONAS = {
    "city leader": lambda city: person(Role.LEADER, city.root),
    "district dispatcher": lambda city: person(Role.DISPATCHER, city.a.centre),
    "street inspector": lambda city: person(Role.INSPECTOR, city.a.workstations[1]),
    "department handler": lambda city: person(Role.HANDLER, city.department),
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_cluster_counts_at_every_zoom_match_a_direct_query_of_what_the_user_may_see(
    town: SmallCity, persona: str
) -> None:
    user = PERSONAS[persona](town)
    client = client_for(user)
    anchor = town.a.components[0].location
    for z in range(8, 17):
        x, y = _tile_of(anchor.x, anchor.y, z)
        body = client.get(f"/api/v1/map/components/{z}/{x}/{y}/").json()
        expected = expected_clusters(user, z, x, y)
        assert_same_clusters(got_clusters(body), expected)
        assert body["total"] == sum(n for n, *_ in expected) == _in_tile(components_visible_to(user), z, x, y).count()
        assert body["points"] == []


def test_a_district_user_counts_only_its_districts_components_and_nothing_of_the_next_district(
    town: SmallCity,
) -> None:
    user = person(Role.DISPATCHER, town.a.centre)
    anchor = town.a.components[0].location
    x, y = _tile_of(anchor.x, anchor.y, 11)
    everything = _in_tile(Component.objects.all(), 11, x, y)
    assert everything.filter(district=town.b.district).exists(), "the tile covers both districts"

    body = client_for(user).get(f"/api/v1/map/components/11/{x}/{y}/").json()

    assert body["total"] == everything.filter(district=town.a.district).count() < everything.count()


def test_a_department_sees_the_components_its_units_own_wherever_they_lie(town: SmallCity) -> None:
    user = person(Role.HANDLER, town.department)
    anchor = town.a.components[0].location
    x, y = _tile_of(anchor.x, anchor.y, 11)
    owned = _in_tile(Component.objects.filter(owner_unit__in=[town.department, town.field_unit]), 11, x, y)

    body = client_for(user).get(f"/api/v1/map/components/11/{x}/{y}/").json()

    assert body["total"] == owned.count() > 0
    assert {c.district_id for c in owned} == {town.a.district.pk, town.b.district.pk}


def test_a_tile_outside_the_users_area_is_empty_not_an_error(town: SmallCity) -> None:
    user = person(Role.DISPATCHER, town.b.centre)
    west_of_b = town.a.components[0].location  # a's far west: no component of b within a z16 tile of it
    x, y = _tile_of(west_of_b.x, west_of_b.y, 16)
    assert _in_tile(Component.objects.all(), 16, x, y).exists()

    response = client_for(user).get(f"/api/v1/map/components/16/{x}/{y}/")

    assert response.status_code == 200
    assert response.json()["total"] == 0 and response.json()["clusters"] == []


def test_people_without_a_staff_role_get_empty_tiles(town: SmallCity) -> None:
    anchor = town.a.components[0].location
    x, y = _tile_of(anchor.x, anchor.y, 10)

    body = client_for(person(Role.CITIZEN)).get(f"/api/v1/map/components/10/{x}/{y}/").json()

    assert body["total"] == 0 and body["clusters"] == [] and body["points"] == []


def test_anonymous_requests_are_refused(town: SmallCity) -> None:
    response = APIClient().get("/api/v1/map/components/10/853/401/")

    assert response.status_code == 401


def test_from_zoom_17_the_components_themselves_come_with_id_class_and_status(town: SmallCity) -> None:
    user = person(Role.DISPATCHER, town.a.centre)
    component = town.a.components[0]
    component.status = ComponentStatus.DAMAGED
    component.save(update_fields=["status"])
    x, y = _tile_of(component.location.x, component.location.y, 18)

    body = client_for(user).get(f"/api/v1/map/components/18/{x}/{y}/").json()

    assert body["clusters"] == []
    assert body["point_fields"] == ["id", "lon", "lat", "class", "status"]
    expected = _in_tile(components_visible_to(user), 18, x, y)
    assert sorted(p[0] for p in body["points"]) == sorted(expected.values_list("id", flat=True))
    mine = next(p for p in body["points"] if p[0] == component.pk)
    assert mine == [component.pk, round(component.location.x, 6), round(component.location.y, 6), "0101", "damaged"]
    assert body["total"] == len(body["points"])


def test_a_tile_with_more_components_than_the_cap_answers_clusters(
    town: SmallCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("geography.tiles.POINTS_CAP", 2)
    user = person(Role.LEADER, town.root)
    anchor = town.a.components[0].location
    ComponentFactory.create_batch(2, grid_cell=town.a.cells[0], location=Point(anchor.x + 1e-5, anchor.y, srid=4326))
    for z in (17, 18):
        x, y = _tile_of(anchor.x, anchor.y, z)
        assert _in_tile(Component.objects.all(), z, x, y).count() > 2

        body = client_for(user).get(f"/api/v1/map/components/{z}/{x}/{y}/").json()

        assert body["points"] == []
        assert_same_clusters(got_clusters(body), expected_clusters(user, z, x, y))


def test_the_major_class_filter_counts_only_those_classes(town: SmallCity) -> None:
    user = person(Role.DISPATCHER, town.a.centre)
    anchor = town.a.components[0].location
    tree = MinorClass.objects.get(major__code="04", code="02")
    ComponentFactory(grid_cell=town.a.cells[0], minor_class=tree, location=Point(anchor.x, anchor.y + 1e-5, srid=4326))
    component_clusters_rebuild()
    client = client_for(user)
    for z in (11, 16, 18):
        x, y = _tile_of(anchor.x, anchor.y, z)
        body = client.get(f"/api/v1/map/components/{z}/{x}/{y}/", {"major": "04"}).json()
        expected = _in_tile(components_visible_to(user), z, x, y).filter(minor_class__major__code="04")
        assert body["total"] == expected.count() > 0
        if body["clusters"]:
            assert_same_clusters(got_clusters(body), expected_clusters(user, z, x, y, majors=("04",)))
        else:
            assert {p[3] for p in body["points"]} == {"0402"}


@pytest.mark.parametrize(
    ("major", "message"),
    [
        ("09", "No component major class 09; the classes are 01, 04."),
        ("01,xx", "No component major class xx; the classes are 01, 04."),
    ],
)
def test_an_unknown_major_class_is_a_400_that_names_the_classes(town: SmallCity, major: str, message: str) -> None:
    response = client_for(person(Role.LEADER, town.root)).get("/api/v1/map/components/10/853/401/", {"major": major})

    assert response.status_code == 400
    assert response.json() == {"major": [message]}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("23/0/0", "Zoom level z must be between 0 and 22."),
        ("5/32/0", "At zoom level 5, tile x must be between 0 and 31."),
        ("5/0/32", "At zoom level 5, tile y must be between 0 and 31."),
        ("0/0/1", "At zoom level 0, tile y must be between 0 and 0."),
        ("-1/0/0", "Tile z must be a whole number, not “-1”."),
        ("10/853.5/401", "Tile x must be a whole number, not “853.5”."),
        ("10/853/abc", "Tile y must be a whole number, not “abc”."),
    ],
)
def test_a_tile_that_does_not_exist_is_a_400_with_the_reason(town: SmallCity, path: str, message: str) -> None:
    response = client_for(person(Role.LEADER, town.root)).get(f"/api/v1/map/components/{path}/")

    assert response.status_code == 400
    assert response.json() == {"detail": message}


def test_tiles_are_compact_private_and_revalidated_by_etag(town: SmallCity) -> None:
    client = client_for(person(Role.LEADER, town.root))
    anchor = town.a.components[0].location
    x, y = _tile_of(anchor.x, anchor.y, 12)
    url = f"/api/v1/map/components/12/{x}/{y}/"

    first = client.get(url)
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])

    assert first.status_code == 200 and first["Content-Type"] == "application/json"
    assert b": " not in first.content and b", " not in first.content, "no whitespace between tokens"
    assert first["Cache-Control"] == "private, max-age=60"
    assert "Cookie" in first["Vary"] and "Authorization" in first["Vary"]
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"]


def test_a_tile_costs_a_fixed_number_of_queries(town: SmallCity, django_assert_max_num_queries: Any) -> None:
    client = client_for(person(Role.DISPATCHER, town.a.centre))
    anchor = town.a.components[0].location
    for z in (10, 16, 18):
        x, y = _tile_of(anchor.x, anchor.y, z)
        # The scope (memberships, units), the component classes, the tile's query (planned without JIT: SET LOCAL,
        # in a savepoint here inside the test's transaction).
        with django_assert_max_num_queries(2 + 1 + 4):
            assert client.get(f"/api/v1/map/components/{z}/{x}/{y}/").status_code == 200


def _pyramid() -> tuple[list[tuple], list[tuple]]:
    """Every row of both tables (sums of coordinates to 1e-6: the order of a float sum may differ)."""
    fields = ["level", "x", "y", "major_class_id", "count", "damaged", "lost", "removed", "sum_lon", "sum_lat"]
    keys = ["district_id", "street_id", "community_id", "owner_unit_id"]

    def rows(model: Any, *extra: str) -> list[tuple]:
        ordered = model.objects.order_by(*fields[:4], *extra).values_list(*fields, *extra)
        return [(*row[:8], round(row[8], 6), round(row[9], 6), *row[10:]) for row in ordered]

    return rows(ComponentCluster, *keys), rows(ComponentClusterTotal)


def test_rebuilding_the_pyramid_again_changes_nothing(town: SmallCity) -> None:
    before = _pyramid()

    result = component_clusters_rebuild()

    assert _pyramid() == before
    assert result.components == Component.objects.count()
    assert result.cells == ComponentCluster.objects.count() and result.totals == ComponentClusterTotal.objects.count()


def test_a_rebuild_over_a_box_brings_the_pyramid_up_to_date_there(town: SmallCity) -> None:
    moved = town.b.components[0]
    old = moved.location
    new = Point(old.x + 0.015, old.y + 0.02, srid=4326)
    moved.location = new
    moved.save(update_fields=["location"])
    added = ComponentFactory(grid_cell=town.a.cells[1], location=Point(120.3251, 36.0123, srid=4326))
    box = (
        min(old.x, new.x, 120.3251),
        min(old.y, new.y, 36.0123),
        max(old.x, new.x, 120.3251),
        max(old.y, new.y, 36.0123),
    )

    component_clusters_rebuild(bbox=box)
    regional = _pyramid()
    component_clusters_rebuild()

    assert regional == _pyramid()
    client = client_for(person(Role.LEADER, town.root))
    x, y = _tile_of(added.location.x, added.location.y, 14)
    body = client.get(f"/api/v1/map/components/14/{x}/{y}/").json()
    assert body["total"] == _in_tile(Component.objects.all(), 14, x, y).count()


def test_neighbouring_clusters_that_would_overlap_are_sent_as_one(
    town: SmallCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(person(Role.LEADER, town.root))
    anchor = town.a.components[0].location
    for z in range(8, 17):
        x, y = _tile_of(anchor.x, anchor.y, z)
        url = f"/api/v1/map/components/{z}/{x}/{y}/"
        monkeypatch.setattr("geography.tiles.MERGE_PX", 0)
        per_cell = client.get(url).json()
        monkeypatch.setattr("geography.tiles.MERGE_PX", 24)
        merged = client.get(url).json()

        assert merged["total"] == per_cell["total"] == sum(c[2] for c in merged["clusters"])
        assert [sum(c[3][i] for c in merged["clusters"]) for i in range(2)] == [
            sum(c[3][i] for c in per_cell["clusters"]) for i in range(2)
        ]
        assert 0 < len(merged["clusters"]) <= len(per_cell["clusters"])


def test_merging_weighs_positions_by_count_and_keeps_distant_clusters_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("geography.tiles.MERGE_PX", 24)
    z = 16  # 256 * 2^16 px around the world: 0.0001 degrees of longitude is about 4.8 px
    big = [120.3000, 36.0000, 30, [30, 0], [30, 0, 0, 0]]
    near = [120.3004, 36.0000, 10, [0, 10], [8, 2, 0, 0]]  # about 19 px east
    far = [120.3020, 36.0000, 5, [5, 0], [5, 0, 0, 0]]  # about 95 px east

    merged = merge_overlapping([near, far, big], z, _combine_components)

    assert merged == [
        [120.3001, 36.0, 40, [30, 10], [38, 2, 0, 0]],
        [120.302, 36.0, 5, [5, 0], [5, 0, 0, 0]],
    ]


def _counted() -> int:
    return sum(ComponentClusterTotal.objects.filter(level=COARSEST_LEVEL).values_list("count", flat=True))


def test_the_command_rebuilds_over_a_box_and_refuses_a_malformed_box(town: SmallCity) -> None:
    ComponentFactory(grid_cell=town.a.cells[1], location=Point(120.3251, 36.0123, srid=4326))
    out = io.StringIO()

    call_command("rebuild_component_clusters", "--bbox", "120.32,36.01,120.33,36.02", stdout=out)

    assert _counted() == Component.objects.count()
    assert f"for {Component.objects.count()} components" in out.getvalue()
    with pytest.raises(CommandError, match="four numbers"):
        call_command("rebuild_component_clusters", "--bbox", "120.32,36.01,120.33")
    with pytest.raises(CommandError, match="west <= east"):
        call_command("rebuild_component_clusters", "--bbox", "120.33,36.01,120.32,36.02")


def test_the_task_counts_everything_again(town: SmallCity) -> None:
    ComponentFactory(grid_cell=town.b.cells[1], location=Point(120.3651, 36.0123, srid=4326))

    result = rebuild_component_clusters.delay().get()

    assert result["components"] == _counted() == Component.objects.count()
