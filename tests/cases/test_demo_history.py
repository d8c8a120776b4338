"""The demo history (seed_demo's case stage) goes through the real services: every status, a log that verifies,
routed dispatches; a second run adds nothing, a larger target or an interrupted build is continued, chunk by chunk;
simulate_cases files reports at a rate. (Inside the test transaction the chunks are built in this process; the
worker processes have their own test, tests/cases/test_demo_history_workers.py.)"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
from collections import Counter
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from cases import demo, services
from cases.models import OPEN_STATUSES, STAGE_OF_STATUS, Case, CaseEvent, RoutingRule, Source, Status
from geography.models import GridCell
from organisations.models import User

pytestmark = pytest.mark.django_db

HISTORY = 200
SMALL_CITY = ["--core-scale", "0.1", "--components", "2000", "--cases", str(HISTORY)]


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture(scope="module", autouse=True)
def history(django_db_setup, django_db_blocker) -> Iterator[str]:
    """A small demo city with its history, built once for the module and rolled back afterwards."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield run("seed_demo", *SMALL_CITY)
        transaction.set_rollback(True)


def test_the_history_has_the_asked_number_of_cases_in_every_status(history: str) -> None:
    statuses = Counter(Case.objects.values_list("status", flat=True))

    assert sum(statuses.values()) == HISTORY
    assert set(statuses) == set(Status.values)
    assert statuses[Status.CLOSED] > HISTORY / 2  # most of a month's cases are done
    assert re.search(rf"case history\s+created {HISTORY}\b", history)


def test_every_case_log_verifies() -> None:
    output = run("verify_case_log")

    assert f"checked {HISTORY} cases" in output
    assert ": 0 with problems" in output
    assert CaseEvent.objects.count() > 4 * HISTORY


def test_the_history_spans_the_past_month_with_realistic_sources_and_places() -> None:
    now = timezone.now()
    sources = Counter(Case.objects.values_list("source", flat=True))

    assert not Case.objects.filter(reported_at__gt=now).exists()
    assert not Case.objects.filter(reported_at__lt=now - dt.timedelta(days=31)).exists()
    assert sources.most_common(1)[0][0] == Source.INSPECTOR
    assert sources[Source.CITIZEN] + sources[Source.HOTLINE] > HISTORY / 5
    assert not Case.objects.filter(grid_cell__isnull=True).exists()
    assert Case.objects.values("minor_class").distinct().count() > 30
    assert not CaseEvent.objects.filter(created_at__gt=now).exists()


def test_it_has_difficult_reworked_self_handled_and_overdue_open_cases() -> None:
    now = timezone.now()

    assert Case.objects.filter(return_count__gte=2, is_difficult=True).exists()
    assert Case.objects.filter(rework_count__gte=1).exists()
    assert Case.objects.filter(self_handled=True, status=Status.CLOSED).exists()
    overdue = [
        case
        for case in Case.objects.filter(status__in=OPEN_STATUSES)
        if (stage := STAGE_OF_STATUS.get(case.status)) and (due := getattr(case, f"{stage}_due_at")) and due < now
    ]
    assert overdue
    late_steps = Case.objects.filter(handle_on_time=False).count()
    assert 0 < late_steps < Case.objects.filter(handle_on_time=True).count()


def test_dispatches_are_routed_by_the_demo_routing_rules_to_units_with_handlers() -> None:
    dispatches = CaseEvent.objects.filter(action="dispatch")
    routed = [e for e in dispatches if e.data.get("rule") and not e.data.get("overridden")]

    assert RoutingRule.objects.count() == 16 * 10  # each major class in each district
    assert len(routed) > 0.8 * dispatches.count()
    handlers = User.objects.filter(memberships__role="handler", memberships__unit__led_cases__isnull=False)
    assert handlers.distinct().count() > 5


def test_a_second_seed_creates_no_cases_and_says_the_history_was_skipped() -> None:
    before = (Case.objects.count(), CaseEvent.objects.count(), User.objects.count(), RoutingRule.objects.count())

    output = run("seed_demo", *SMALL_CITY)

    assert (
        Case.objects.count(),
        CaseEvent.objects.count(),
        User.objects.count(),
        RoutingRule.objects.count(),
    ) == before
    assert re.search(r"case history\s+skipped \(the city has 200 cases already\)", output)


def test_a_larger_target_adds_only_the_missing_cases_and_their_logs_verify() -> None:
    before = set(Case.objects.values_list("pk", flat=True))

    output = run("seed_demo", *SMALL_CITY[:-1], str(HISTORY + 30))

    new = Case.objects.exclude(pk__in=before)
    assert new.count() == 30
    assert re.search(r"case history\s+created 30\b", output)
    assert ": 0 with problems" in run("verify_case_log")


def test_an_interrupted_build_leaves_no_half_chunk_and_the_next_run_completes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cases, events = Case.objects.count(), CaseEvent.objects.count()
    real_dispatch, calls = services.case_dispatch, []

    def failing_dispatch(**kwargs: object) -> CaseEvent:
        calls.append(1)
        if len(calls) == 8:
            raise KeyboardInterrupt  # Ctrl-C in the middle of a chunk
        return real_dispatch(**kwargs)

    monkeypatch.setattr(services, "case_dispatch", failing_dispatch)
    with pytest.raises(KeyboardInterrupt):
        demo.case_history_build(count=cases + 40)

    assert (Case.objects.count(), CaseEvent.objects.count()) == (cases, events)
    monkeypatch.setattr(services, "case_dispatch", real_dispatch)
    result = demo.case_history_build(count=cases + 40)
    assert (result.created, Case.objects.count()) == (40, cases + 40)
    assert ": 0 with problems" in run("verify_case_log")


def test_a_chunk_is_planned_the_same_from_the_seed_whatever_its_size() -> None:
    cells = list(GridCell.objects.order_by("id").values_list("id", flat=True))
    shared = demo._Shared(
        cast=None,  # type: ignore[arg-type]  # planning reads the cells only
        catalogue=None,  # type: ignore[arg-type]
        cells=cells,
        weights=demo.busy_cell_weights(cells, random.Random(demo.SEED)),
        now=timezone.now(),
        days=demo.HISTORY_DAYS,
        seed=demo.SEED,
    )

    def plan(index: int, size: int) -> list[tuple[str, float, float]]:
        return [(slot.plan, slot.spot.x, slot.spot.y) for slot in demo._chunk_plan(shared, index, size=size).slots]

    full = plan(3, demo.CHUNK_CASES)
    assert plan(3, demo.CHUNK_CASES) == full
    assert set(plan(3, 40)) < set(full)
    assert plan(4, demo.CHUNK_CASES) != full
    assert demo._chunk_plan(shared, 3, size=40).mark == demo._chunk_plan(shared, 3, size=demo.CHUNK_CASES).mark


def test_simulate_cases_files_the_asked_number_of_reports_through_intake() -> None:
    before = set(Case.objects.values_list("pk", flat=True))

    output = run("simulate_cases", "--count", "3", "--rate", "1000", "--seed", "7")

    new = Case.objects.exclude(pk__in=before)
    assert new.count() == 3
    assert "filed 3 reports" in output
    for case in new:
        assert case.number in output
        assert list(case.events.values_list("action", flat=True)) == ["report"]
        assert case.status in (Status.VERIFYING, Status.REPORTED)


def test_simulate_cases_refuses_a_rate_that_is_not_positive() -> None:
    count = Case.objects.count()

    with pytest.raises(CommandError, match="rate"):
        run("simulate_cases", "--count", "3", "--rate", "0")

    assert Case.objects.count() == count
