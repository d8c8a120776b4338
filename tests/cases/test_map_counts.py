"""The open cases counted ahead for the map at city scale (cases.map_counts), kept by triggers on cases_case: after
any write they add up to what a count of the cases themselves gives, before and after compaction, and a rolled
back write leaves them alone. The expected counts come from the cases and PostGIS's EPSG:3857 (tests'
`_cell`), not from the code under test."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pytest
from django.db import transaction

from cases import map_counts
from cases.models import FINAL_STATUSES, Case, OpenCaseCell, OpenCaseCellDelta, Status
from cases.sweep import deadlines_sweep
from cases.tasks import compact_map_counts
from catalogue.models import Urgency
from organisations.models import Role
from tests.cases import test_case_clusters as clusters
from tests.cases.factories import T0, CaseWorld, reported
from tests.cases.test_case_clusters import _cell, _offset, client_for, expected, got
from tests.factories import person

# The same fixture: cases in every open state group, some overdue and key, one in b, a closed and a cancelled one.
cases = clusters.cases

WHOLE_WORLD = (0, (1 << map_counts.LEVEL) - 1, 0, (1 << map_counts.LEVEL) - 1)


def from_cases() -> dict[tuple[Any, ...], tuple[int, float, float]]:
    """Open located cases per (zoom-13 cell, district, status, urgency, overdue, key): count and coordinate sums."""
    found: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0.0, 0.0])
    for case in Case.objects.exclude(status__in=FINAL_STATUSES).exclude(location__isnull=True):
        cx, cy = _cell(case.location, map_counts.LEVEL)
        key = (cx, cy, case.district_id or 0, case.status, case.urgency, case.is_overdue, case.is_key)
        found[key][0] += 1
        found[key][1] += case.location.x
        found[key][2] += case.location.y
    return {key: (n, round(lon, 6), round(lat, 6)) for key, (n, lon, lat) in found.items()}


def from_counts() -> dict[tuple[Any, ...], tuple[int, float, float]]:
    """The same, as the map reads it (counted cells plus changes not yet folded), per district."""
    per_district: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0.0, 0.0])
    for model in (OpenCaseCell, OpenCaseCellDelta):
        for row in model.objects.values_list(*map_counts.KEY, "n", "sum_lon", "sum_lat"):
            totals = per_district[row[:7]]
            totals[0] += row[7]
            totals[1] += row[8]
            totals[2] += row[9]
    counted = {key: (n, round(lon, 6), round(lat, 6)) for key, (n, lon, lat) in per_district.items() if n}
    # And the reader's own sums (districts added together) agree with them.
    read = map_counts.counted_cells(level=map_counts.LEVEL, cell_range=WHOLE_WORLD)
    assert sum(row[6] for row in read) == sum(n for n, _lon, _lat in counted.values())
    return counted


def test_counts_follow_every_kind_of_write_and_survive_compaction(world: CaseWorld, cases: list[Case]) -> None:
    assert from_counts() == from_cases() != {}
    assert OpenCaseCellDelta.objects.exists(), "the cases' writes appended changes"

    folded = compact_map_counts()

    assert folded > 0 and not OpenCaseCellDelta.objects.exists()
    assert from_counts() == from_cases()
    assert not OpenCaseCell.objects.filter(n=0).exists()

    # Moved across the city, closed, flagged, swept overdue in bulk, a new report, one case deleted.
    moved, closed = cases[0], cases[2]
    Case.objects.filter(pk=moved.pk).update(location=world.in_b, district=world.city.b.district)
    Case.objects.filter(pk=closed.pk).update(status=Status.CLOSED)
    Case.objects.filter(pk=cases[4].pk).update(is_key=True, urgency=Urgency.EMERGENCY)
    deadlines_sweep(at=T0 + dt.timedelta(days=30))
    reported(world, location=_offset(world.point, 300, 300))
    copy = Case.objects.get(pk=cases[5].pk)
    copy.pk, copy.number = None, "TEST-COPY-1"
    copy.save()
    assert from_counts() == from_cases()
    copy.delete()

    assert from_counts() == from_cases()
    compact_map_counts()
    assert from_counts() == from_cases()
    assert not OpenCaseCell.objects.filter(n=0).exists()


def test_a_rolled_back_write_leaves_the_counts_alone(world: CaseWorld, cases: list[Case]) -> None:
    before = from_counts()

    with pytest.raises(RuntimeError), transaction.atomic():
        Case.objects.filter(status=Status.REPORTED).update(status=Status.CLOSED)
        raise RuntimeError("refused")

    assert from_counts() == before == from_cases()


def test_a_rebuild_gives_the_same_counts_as_the_triggers(world: CaseWorld, cases: list[Case]) -> None:
    kept = from_counts()

    written = map_counts.rebuild_open_case_cells()

    assert written == OpenCaseCell.objects.count() > 0
    assert not OpenCaseCellDelta.objects.exists()
    assert from_counts() == kept


@pytest.mark.parametrize("folded", [False, True])
def test_city_scale_tiles_added_up_from_the_counts_match_a_direct_query(
    world: CaseWorld, cases: list[Case], folded: bool
) -> None:
    """A city-wide caller's tiles of zoom <= 10 are read from the counts, with or without the changes folded;
    every single case still comes with its id and number (looked up by its cell)."""
    leader = person(Role.LEADER, world.city.root)
    in_b = Case.objects.exclude(status__in=FINAL_STATUSES).get(district=world.city.b.district)
    if folded:
        compact_map_counts()
    client = client_for(leader)
    for z in range(5, map_counts.MAX_ZOOM + 1):
        for point in (world.point, world.in_b):
            x, y = _cell(point, z)
            body = client.get(f"/api/v1/map/cases/{z}/{x}/{y}/").json()
            assert got(body) == expected(leader, z, x, y), (z, x, y)
        # Alone in its cell once the district filter keeps only b: sent as itself.
        x, y = _cell(world.in_b, z)
        only_b = client.get(f"/api/v1/map/cases/{z}/{x}/{y}/", {"district": world.city.b.district.pk}).json()
        assert only_b["clusters"] == [] and [p[:2] for p in only_b["points"]] == [[in_b.pk, in_b.number]]


def test_the_counts_are_read_in_a_fixed_number_of_queries(
    world: CaseWorld, cases: list[Case], django_assert_max_num_queries: Any
) -> None:
    client = client_for(person(Role.LEADER, world.city.root))
    x, y = _cell(world.point, 9)
    # The scope (memberships), the counts, the single cases' ids, their numbers.
    with django_assert_max_num_queries(4):
        assert client.get(f"/api/v1/map/cases/9/{x}/{y}/").status_code == 200
