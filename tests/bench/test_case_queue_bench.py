"""The dispatcher's queue: the first page of open cases in one district, with 100,000 open cases in the city,
through the scoped selector and through the API list; baseline: a `SELECT 1` round trip (make bench)."""

from __future__ import annotations

import statistics

import pytest
from django.db import connection
from rest_framework.test import APIClient

from cases.models import OPEN_STATUSES, Case, Status
from cases.selectors import cases_visible_to
from organisations.models import OrgUnit, Role, UnitType
from tests.bench.timing import p95 as _p95
from tests.bench.timing import time_ms as _time_ms
from tests.factories import person

OPEN_CASES = 100_000
RUNS = 200
WARM_UP = 20
PAGE = 50
TARGET_P95_MS = 50.0
OPEN = sorted(OPEN_STATUSES)
# Columns the generated rows set themselves; every other column is copied from a real case (the template).
GENERATED = {
    "number": "'Q-' || g",
    "status": "(%(open)s)[1 + g %% %(n_open)s]",
    "location": "c.p",
    "district_id": "c.district_id",
    "street_id": "c.street_id",
    "community_id": "c.community_id",
    "grid_cell_id": "c.id",
    "reported_at": "now() - make_interval(secs => g * 25)",  # a month of reports
    "updated_at": "now()",
    "closed_at": "NULL",
    "duplicate_of_id": "NULL",
    "duplicate_candidate_id": "NULL",
    "is_overdue": "g %% 7 = 0",
}


def _fill(template: Case, n: int) -> None:
    """n open cases in one INSERT ... SELECT over generate_series, each in a grid cell picked by a hash of g,
    so every district gets its share of the city's cells."""
    columns, values = [], []
    for field in Case._meta.concrete_fields:
        if field.primary_key or field.generated:
            continue
        columns.append(connection.ops.quote_name(field.column))
        values.append(GENERATED.get(field.column, f"t.{connection.ops.quote_name(field.column)}"))
    sql = f"""
        WITH cells AS (
            SELECT id, community_id, street_id, district_id, ST_PointOnSurface(geom) AS p,
                   row_number() OVER (ORDER BY md5(code)) - 1 AS rn
            FROM geography_gridcell
        ), counted AS (SELECT count(*) AS n FROM cells)
        INSERT INTO cases_case ({", ".join(columns)})
        SELECT {", ".join(values)}
        FROM generate_series(1, %(rows)s) g
        CROSS JOIN counted
        JOIN cells c ON c.rn = (g * 7919) %% counted.n
        CROSS JOIN (SELECT * FROM cases_case WHERE id = %(template)s) t
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"rows": n, "template": template.pk, "open": OPEN, "n_open": len(OPEN)})
        cursor.execute("ANALYZE cases_case")


@pytest.mark.django_db
def test_the_first_page_of_a_district_queue_among_100000_open_cases(bench_city: str) -> None:
    template = Case.objects.order_by("id").first()
    assert template is not None, "the benchmark city has a case history to copy from"
    _fill(template, OPEN_CASES)
    open_total = Case.objects.filter(status__in=OPEN).count()
    assert open_total >= OPEN_CASES
    district_id = (
        Case.objects.filter(status__in=OPEN).values_list("district_id", flat=True).order_by("district_id").first()
    )
    centre = OrgUnit.objects.filter(
        district_id=district_id, street__isnull=True, unit_type=UnitType.DISTRICT_CENTRE
    ).first()
    dispatcher = person(Role.DISPATCHER, centre, username="bench-dispatcher")
    in_district = Case.objects.filter(status__in=OPEN, district_id=district_id).count()

    def page() -> list[Case]:
        # What the queue lists: the dispatcher's scope, open statuses, the district, newest first.
        queryset = cases_visible_to(dispatcher).filter(status__in=OPEN, district_id=district_id)
        return list(queryset.select_related("minor_class__major", "lead_unit").order_by("-reported_at", "-id")[:PAGE])

    client = APIClient()
    client.force_authenticate(dispatcher)
    query = {"status": OPEN, "district": district_id, "limit": PAGE}

    def api() -> None:
        response = client.get("/api/v1/cases/", query)
        assert response.status_code == 200

    def select_1() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    first = page()
    assert len(first) == PAGE and all(c.district_id == district_id and c.status in OPEN for c in first)
    assert [c.reported_at for c in first] == sorted((c.reported_at for c in first), reverse=True)
    assert client.get("/api/v1/cases/", query).json()["count"] == in_district
    for fn in (page, api, select_1):
        _time_ms(fn, WARM_UP)
    selector_ms, api_ms, base_ms = _time_ms(page, RUNS), _time_ms(api, RUNS), _time_ms(select_1, RUNS)

    with connection.cursor() as cursor:
        sql, params = (
            cases_visible_to(dispatcher)
            .filter(status__in=OPEN, district_id=district_id)
            .order_by("-reported_at", "-id")[:PAGE]
            .query.sql_with_params()
        )
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    p95 = _p95(selector_ms)
    print(
        f"\ndispatcher queue, first page of {PAGE} open cases of district {district_id} ({in_district:,} open there,"
        f" {open_total:,} open in the city), {RUNS} runs: selector p50 {statistics.median(selector_ms):.2f} ms,"
        f" p95 {p95:.2f} ms | API GET /api/v1/cases/ (filters, count, serializer) p50"
        f" {statistics.median(api_ms):.2f} ms, p95 {_p95(api_ms):.2f} ms | baseline SELECT 1 p50"
        f" {statistics.median(base_ms):.2f} ms, p95 {_p95(base_ms):.2f} ms"
        f" | target p95 < {TARGET_P95_MS:.0f} ms (selector): {'met' if p95 < TARGET_P95_MS else 'NOT met'}"
        f"\nplan:\n{plan}"
    )
    assert Status.CLOSED not in OPEN
