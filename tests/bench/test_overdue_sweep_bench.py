"""The every-minute deadline sweep over 1,000,000 cases (100,000 open) against an ORM loop baseline (make bench)."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest
from django.db import connection

from cases.alerts import AlertKind, CaseDeadlineWarning
from cases.models import PAUSED_STATUSES, STAGE_OF_STATUS, Case, Status
from cases.sweep import deadlines_sweep
from tests.cases.factories import T0, case_in, case_world

CASES = 1_000_000
OPEN_SHARE = 10  # one case in ten is open, as in a city with years of closed history
BASELINE_CASES = 10_000
RUNS = 3
TARGET_S = 5.0
# The open statuses the generated cases cycle through (paused ones included: the sweep must skip them).
OPEN = [
    Status.VERIFYING,
    Status.REPORTED,
    Status.REGISTERED,
    Status.RETURNED,
    Status.DISPATCHED,
    Status.HANDLING,
    Status.REWORK,
    Status.HANDLED,
    Status.ON_HOLD,
    Status.EXTENSION_PENDING,
]
DUE_COLUMNS = ["verify_due_at", "register_due_at", "dispatch_due_at", "handle_due_at", "check_due_at"]


def _fill(template: Case, n: int) -> None:
    """n copies of `template` in one INSERT ... SELECT, with their own places and deadlines spread over T0 ± 24 h."""
    columns, values, params = [], [], []
    for field in Case._meta.concrete_fields:
        if field.primary_key or field.generated:
            continue
        column = connection.ops.quote_name(field.column)
        columns.append(column)
        if field.name == "number":
            values.append(f"{column} || '-' || g")
        elif field.name == "status":
            whens = " ".join(f"WHEN {i} THEN %s" for i in range(len(OPEN)))
            values.append(
                f"CASE WHEN g %% {OPEN_SHARE} = 0 THEN CASE (g / {OPEN_SHARE}) %% {len(OPEN)} {whens} END ELSE %s END"
            )
            params += [*OPEN, Status.CLOSED]
        elif field.name == "location":
            # Distinct points over about 1 km², as real cases are (a million equal points would make
            # the GiST index, not the sweep, the thing measured).
            values.append(
                f"ST_SetSRID(ST_MakePoint(ST_X({column}) + (g %% 1009) * 0.00001,"
                f" ST_Y({column}) + ((g / 1009) %% 997) * 0.00001), 4326)"
            )
        elif field.column in DUE_COLUMNS:
            values.append("%s::timestamptz + ((g::bigint * 7919) %% 172800 - 86400) * interval '1 second'")
            params.append(T0)
        else:
            values.append(column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Case._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {Case._meta.db_table}, generate_series(1, %s) AS g WHERE id = %s",
            [*params, n, template.pk],
        )
        cursor.execute(f"ANALYZE {Case._meta.db_table}")


def _reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Case._meta.db_table} SET is_overdue = FALSE WHERE is_overdue")
        cursor.execute(f"DELETE FROM {CaseDeadlineWarning._meta.db_table}")


def _orm_loop(ids: list[int], now: dt.datetime) -> None:
    """The obvious way: each case loaded, compared and saved in turn (and no warnings at all)."""
    for case in Case.objects.filter(pk__in=ids).iterator(chunk_size=2_000):
        stage = STAGE_OF_STATUS[case.status]
        due = getattr(case, f"{stage}_due_at")
        if due is not None and due < now and not case.is_overdue:
            case.is_overdue = True
            case.save(update_fields=["is_overdue"])
            CaseDeadlineWarning.objects.get_or_create(
                case=case, stage=stage, kind=AlertKind.OVERDUE, due_at=due, defaults={"created_at": now}
            )


@pytest.mark.django_db
def test_the_every_minute_sweep_over_a_million_cases_takes_under_5_s() -> None:
    world = case_world()
    template = case_in(world, Status.HANDLING)
    _fill(template, CASES - 1)
    open_cases = Case.objects.exclude(status=Status.CLOSED).count()

    # Catch-up: the first sweep over a backlog (deadlines spread over ±24 h, so 40% of the open
    # cases are already late). Printed, not asserted: it rewrites tens of thousands of case rows once.
    started = time.perf_counter()
    backlog = deadlines_sweep(at=T0)
    catch_up = time.perf_counter() - started

    # Every minute after that: each run flags what fell due in the minute since the previous one.
    timings, results = [], []
    for minute in range(1, RUNS + 1):
        started = time.perf_counter()
        results.append(deadlines_sweep(at=T0 + minute * dt.timedelta(minutes=1)))
        timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    again = deadlines_sweep(at=T0 + RUNS * dt.timedelta(minutes=1))
    idle = time.perf_counter() - started

    _reset()
    watched = [s for s in OPEN if s not in PAUSED_STATUSES]
    ids = list(Case.objects.filter(status__in=watched).order_by("id").values_list("id", flat=True)[:BASELINE_CASES])
    started = time.perf_counter()
    _orm_loop(ids, T0)
    baseline = (time.perf_counter() - started) * open_cases / len(ids)

    assert backlog.overdue > 10_000 and backlog.warned > 1_000
    assert all(r.overdue > 0 for r in results), "every minute some cases fall due"
    assert (again.overdue, again.cleared, again.warned) == (0, 0, 0)
    median = statistics.median(timings)
    print(
        f"\noverdue sweep over {Case.objects.count():,} cases ({open_cases:,} open): every-minute run median"
        f" {median:.2f} s ({statistics.median(r.overdue for r in results):.0f} newly overdue per minute),"
        f" idle re-run {idle:.2f} s; catch-up run {catch_up:.2f} s ({backlog.overdue:,} newly overdue,"
        f" {backlog.warned:,} warned)"
        f" | baseline (ORM loop doing the catch-up, {len(ids):,} cases timed, extrapolated to the {open_cases:,}"
        f" open): {baseline:.1f} s, {baseline / catch_up:.0f}x the catch-up run"
    )
    assert median < TARGET_S
