"""Today's KPI strip (command.kpi.kpi_today) with 20,000 cases reported today, 100,000 open cases and 300,000 closed
ones behind them, for the city and for one district's dispatcher; baseline: a `SELECT 1` round trip (make bench)."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import OPEN_STATUSES, Case, Status
from command.kpi import kpi_today, today_bounds
from organisations.models import OrgUnit, Role, UnitType
from tests.bench.timing import p95 as _p95
from tests.bench.timing import time_ms as _time_ms
from tests.factories import person

TODAY_CASES = 20_000
OPEN_CASES = 100_000
CLOSED_CASES = 300_000
RUNS = 100
WARM_UP = 10
TARGET_P95_MS = 100.0
OPEN = sorted(OPEN_STATUSES)
# Every generated row takes its place from a grid cell picked by a hash of g, so every district gets its share.
PLACE = {
    "number": "%(prefix)s || g",
    "location": "c.p",
    "district_id": "c.district_id",
    "street_id": "c.street_id",
    "community_id": "c.community_id",
    "grid_cell_id": "c.id",
    "duplicate_of_id": "NULL",
    "duplicate_candidate_id": "NULL",
    "is_key": "false",
}
_NONE = dict.fromkeys(
    ["verified_at", "registered_at", "dispatched_at", "accepted_at", "handled_at", "checked_at", "closed_at"], "NULL"
)
_FLAGS = dict.fromkeys(
    ["verify_on_time", "register_on_time", "dispatch_on_time", "handle_on_time", "check_on_time"], "NULL"
)
# A closed case of the last 35 days: every stage done, one in five of them late.
CLOSED = {
    **_FLAGS,
    "status": "'closed'",
    "reported_at": "%(start)s - interval '1 day' - make_interval(secs => g * 10)",
    "registered_at": "%(start)s - interval '1 day' - make_interval(secs => g * 10) + interval '10 minutes'",
    "dispatched_at": "%(start)s - interval '1 day' - make_interval(secs => g * 10) + interval '20 minutes'",
    "accepted_at": "%(start)s - interval '1 day' - make_interval(secs => g * 10) + interval '30 minutes'",
    "handled_at": "%(start)s - interval '1 day' - make_interval(secs => g * 10) + interval '5 hours'",
    "checked_at": "%(start)s - interval '1 day' - make_interval(secs => g * 10) + interval '6 hours'",
    "closed_at": "%(start)s - interval '1 day' - make_interval(secs => g * 10) + interval '6 hours'",
    "updated_at": "%(start)s - interval '1 day' - make_interval(secs => g * 10) + interval '6 hours'",
    "register_on_time": "g %% 5 <> 0",
    "dispatch_on_time": "g %% 5 <> 1",
    "handle_on_time": "g %% 5 <> 2",
    "check_on_time": "g %% 5 <> 3",
    "is_overdue": "false",
}
# An open case reported before today and not touched since; one in seven overdue.
OPEN_BEFORE = {
    **_NONE,
    **_FLAGS,
    "status": "(%(open)s)[1 + g %% %(n_open)s]",
    "reported_at": "%(start)s - interval '1 day' - make_interval(secs => g * 25)",
    "updated_at": "%(start)s - interval '1 day' - make_interval(secs => g * 25) + interval '1 hour'",
    "is_overdue": "g %% 7 = 0",
}
# Today: reported every two seconds from midnight; three in four registered, half dispatched, a quarter handled and
# closed, each with a flag that is late one time in four.
TODAY = {
    **_NONE,
    **_FLAGS,
    "status": "CASE g %% 4 WHEN 0 THEN 'reported' WHEN 1 THEN 'registered' WHEN 2 THEN 'dispatched' ELSE 'closed' END",
    "reported_at": "%(start)s + make_interval(secs => g * 2)",
    "registered_at": "CASE WHEN g %% 4 > 0 THEN %(start)s + make_interval(secs => g * 2 + 300) END",
    "register_on_time": "CASE WHEN g %% 4 > 0 THEN g %% 16 <> 1 END",
    "dispatched_at": "CASE WHEN g %% 4 > 1 THEN %(start)s + make_interval(secs => g * 2 + 600) END",
    "dispatch_on_time": "CASE WHEN g %% 4 > 1 THEN g %% 16 <> 2 END",
    "handled_at": "CASE WHEN g %% 4 = 3 THEN %(start)s + make_interval(secs => g * 2 + 1200) END",
    "handle_on_time": "CASE WHEN g %% 4 = 3 THEN g %% 16 <> 3 END",
    "closed_at": "CASE WHEN g %% 4 = 3 THEN %(start)s + make_interval(secs => g * 2 + 1500) END",
    "updated_at": "%(start)s + make_interval(secs => g * 2 + 1500)",
    "is_overdue": "false",
}


def _fill(template: Case, n: int, generated: dict[str, str], *, prefix: str, start: dt.datetime) -> None:
    """n cases in one INSERT ... SELECT over generate_series; columns not generated are copied from `template`."""
    columns, values = [], []
    for field in Case._meta.concrete_fields:
        if field.primary_key or field.generated:
            continue
        columns.append(connection.ops.quote_name(field.column))
        expression = {**PLACE, **generated}.get(field.column)
        values.append(expression or f"t.{connection.ops.quote_name(field.column)}")
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
        JOIN cells c ON c.rn = (g::bigint * 7919) %% counted.n
        CROSS JOIN (SELECT * FROM cases_case WHERE id = %(template)s) t
    """
    params = {
        "rows": n,
        "template": template.pk,
        "prefix": prefix,
        "start": start,
        "open": OPEN,
        "n_open": len(OPEN),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.django_db
def test_todays_figures_with_20000_cases_today_and_100000_open(bench_city: str) -> None:
    template = Case.objects.order_by("id").first()
    assert template is not None, "the benchmark city has a case history to copy from"
    now = dt.datetime.now(dt.UTC)
    _day, start, _end = today_bounds(now)
    # The seeded demo history may have touched today too: count only what this benchmark adds on top of it.
    Case.objects.filter(updated_at__gte=start - dt.timedelta(days=40)).update(
        updated_at=start - dt.timedelta(days=40), is_overdue=False
    )
    _fill(template, CLOSED_CASES, CLOSED, prefix="K-C-", start=start)
    _fill(template, OPEN_CASES, OPEN_BEFORE, prefix="K-O-", start=start)
    _fill(template, TODAY_CASES, TODAY, prefix="K-T-", start=start)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")
    now = start + dt.timedelta(hours=12)  # every generated "today" case lies before noon

    city = person(Role.LEADER, OrgUnit.objects.filter(unit_type=UnitType.CITY_CENTRE).first(), username="bench-leader")
    district_id = Case.objects.filter(number__startswith="K-T-").values_list("district_id", flat=True).first()
    centre = OrgUnit.objects.filter(
        district_id=district_id, street__isnull=True, unit_type=UnitType.DISTRICT_CENTRE
    ).first()
    dispatcher = person(Role.DISPATCHER, centre, username="bench-kpi-dispatcher")

    figures = kpi_today(city, now=now)
    open_total = Case.objects.exclude(status__in=[Status.CLOSED]).count()
    assert figures.reported == TODAY_CASES
    assert figures.registered == TODAY_CASES * 3 // 4
    assert figures.closed == TODAY_CASES // 4
    assert figures.overdue_now >= OPEN_CASES // 7
    district = kpi_today(dispatcher, district_id=district_id, now=now)
    assert 0 < district.reported < TODAY_CASES

    def select_1() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def for_city() -> None:
        kpi_today(city, now=now)

    def for_district() -> None:
        kpi_today(dispatcher, district_id=district_id, now=now)

    for fn in (for_city, for_district, select_1):
        _time_ms(fn, WARM_UP)
    city_ms, district_ms, base_ms = _time_ms(for_city, RUNS), _time_ms(for_district, RUNS), _time_ms(select_1, RUNS)

    plans = []
    for user, in_district in ((city, None), (dispatcher, district_id)):
        with CaptureQueriesContext(connection) as captured:
            kpi_today(user, district_id=in_district, now=now)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + captured.captured_queries[-1]["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    plan = "\n-- one district:\n".join(plans)
    p95 = max(_p95(city_ms), _p95(district_ms))
    print(
        f"\nKPI strip, today's figures with {TODAY_CASES:,} cases reported today, {open_total:,} open and"
        f" {CLOSED_CASES:,} closed behind them ({figures.overdue_now:,} overdue now), {RUNS} runs:"
        f" city p50 {statistics.median(city_ms):.2f} ms, p95 {_p95(city_ms):.2f} ms |"
        f" one district's dispatcher ({district.reported:,} reported there) p50"
        f" {statistics.median(district_ms):.2f} ms, p95 {_p95(district_ms):.2f} ms | baseline SELECT 1 p50"
        f" {statistics.median(base_ms):.2f} ms, p95 {_p95(base_ms):.2f} ms | target p95 < {TARGET_P95_MS:.0f} ms:"
        f" {'met' if p95 < TARGET_P95_MS else 'NOT met'}"
        f"\nplan (the rows read):\n{plan}"
    )
