"""locate(): the grid cell, community, street and district of a point, consistent and in one query."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.gis.geos import Point

from geography.models import Community, District, GridCell, Street
from geography.selectors import NOWHERE, locate
from tests.factories import CommunityFactory, DistrictFactory, GridCellFactory, StreetFactory, box, square

pytestmark = pytest.mark.django_db


@dataclass
class Town:
    district: District
    street: Street
    gridded: Community  # the west half of the street, with a 2 x 2 block of cells in its south-west corner
    ungridded: Community  # the east half, no cells (outside the built-up core)
    cells: list[GridCell]


@pytest.fixture
def town() -> Town:
    # A 0.02° district on land near 市南区 with one street; the sea is anywhere outside it.
    district = DistrictFactory(code="370202", name="市南区", geom=square(120.30, 36.05, 0.02))
    street = StreetFactory(district=district, code="370202001", geom=district.geom)
    gridded = CommunityFactory(street=street, code="370202001001", geom=box(120.30, 36.05, 120.31, 36.07))
    ungridded = CommunityFactory(street=street, code="370202001002", geom=box(120.31, 36.05, 120.32, 36.07))
    cells = [
        GridCellFactory(
            community=gridded,
            code=f"{gridded.code}{serial:02d}",
            geom=square(120.30 + col * 0.001, 36.05 + row * 0.001, 0.001),
        )
        for serial, (row, col) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)], start=1)
    ]
    return Town(district, street, gridded, ungridded, cells)


def test_a_point_in_a_cell_names_that_cell_and_the_community_street_and_district_it_nests_in(town: Town) -> None:
    cell = town.cells[3]  # the north-east cell of the block

    where = locate(Point(120.3015, 36.0515, srid=4326))

    assert where.grid_cell_id == cell.pk
    assert where.grid_cell_code == cell.code == "37020200100104"
    assert (where.community_id, where.street_id, where.district_id) == (
        cell.community_id,
        cell.street_id,
        cell.district_id,
    )
    assert (where.community_id, where.street_id, where.district_id) == (
        town.gridded.pk,
        town.street.pk,
        town.district.pk,
    )
    assert where.in_city


def test_each_cell_of_the_block_is_told_apart(town: Town) -> None:
    found = [
        locate(Point(cell.geom.point_on_surface.x, cell.geom.point_on_surface.y, srid=4326)).grid_cell_id
        for cell in town.cells
    ]

    assert found == [cell.pk for cell in town.cells]


def test_a_point_outside_the_grid_but_in_the_district_names_community_street_district_and_no_cell(town: Town) -> None:
    where = locate(Point(120.315, 36.06, srid=4326))

    assert where.grid_cell_id is None
    assert where.grid_cell_code is None
    assert (where.community_id, where.street_id, where.district_id) == (
        town.ungridded.pk,
        town.street.pk,
        town.district.pk,
    )
    assert where.in_city


def test_a_point_in_the_sea_outside_the_city_is_nowhere(town: Town) -> None:
    where = locate(Point(120.45, 35.95, srid=4326))  # Yellow Sea, south-east of the town

    assert where == NOWHERE
    assert not where.in_city


def test_a_point_in_a_metric_srid_is_transformed_before_it_is_located(town: Town) -> None:
    utm = Point(120.3015, 36.0515, srid=4326).transform(32651, clone=True)

    assert locate(utm).grid_cell_id == town.cells[3].pk


def test_locate_runs_exactly_one_query(town: Town, django_assert_num_queries) -> None:
    with django_assert_num_queries(1):
        in_cell = locate(Point(120.3005, 36.0505, srid=4326))
    with django_assert_num_queries(1):
        outside_grid = locate(Point(120.315, 36.06, srid=4326))
    with django_assert_num_queries(1):
        at_sea = locate(Point(120.45, 35.95, srid=4326))

    assert in_cell.grid_cell_id == town.cells[0].pk
    assert outside_grid.community_id == town.ungridded.pk
    assert at_sea == NOWHERE
