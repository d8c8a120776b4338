"""The deadline sweep: overdue flags once, paused clocks left alone, one warning at 80%, hints after
commit, and the platform's urging of a late unit."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from cases import services
from cases.alerts import AlertKind, CaseDeadlineWarning
from cases.clock import clock_at
from cases.models import Case, CaseEvent, Status, Supervision, SupervisionKind
from cases.sweep import SweepResult, deadlines_sweep
from catalogue.models import Stage, TimeLimit, Urgency
from organisations.demo import CITY_CENTRE_CODE, platform_account_create
from organisations.models import OrgUnit, Role, User
from qingdao_ops.celery import app as celery_app
from tests.cases.factories import T0, CaseWorld, case_in, png_upload
from tests.factories import person
from workcalendar.units import TimeUnit

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
NOTHING = SweepResult(overdue=0, cleared=0, warned=0)


def _alerts(case: Case, kind: str) -> list[tuple[str, dt.datetime]]:
    return list(CaseDeadlineWarning.objects.filter(case=case, kind=kind).values_list("stage", "due_at"))


def _events(case: Case) -> int:
    return CaseEvent.objects.filter(case=case).count()


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    # Celery's settings object refuses monkeypatch's undo (delattr), so restore by hand.
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def test_a_case_past_its_handling_deadline_becomes_overdue_once(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLING)
    events = _events(case)
    due = case.handle_due_at
    assert due == T0 + 24 * HOUR

    assert deadlines_sweep(at=due - MINUTE) == SweepResult(overdue=0, cleared=0, warned=1)
    assert not Case.objects.get(pk=case.pk).is_overdue
    assert deadlines_sweep(at=due + MINUTE) == SweepResult(overdue=1, cleared=0, warned=0)
    assert Case.objects.get(pk=case.pk).is_overdue
    assert _alerts(case, AlertKind.OVERDUE) == [("handle", due)]

    assert deadlines_sweep(at=due + 2 * MINUTE) == NOTHING  # the second run changes nothing
    assert _alerts(case, AlertKind.OVERDUE) == [("handle", due)]
    assert _events(case) == events, "the sweep writes no event rows"


def test_a_case_on_its_first_stages_goes_overdue_on_that_stages_deadline(world: CaseWorld) -> None:
    verifying = case_in(world, Status.VERIFYING)
    registered = case_in(world, Status.REGISTERED)
    assert (verifying.verify_due_at, registered.dispatch_due_at) == (T0 + HOUR, T0 + HOUR)

    assert deadlines_sweep(at=T0 + HOUR + MINUTE).overdue == 2

    assert _alerts(verifying, AlertKind.OVERDUE) == [("verify", T0 + HOUR)]
    assert _alerts(registered, AlertKind.OVERDUE) == [("dispatch", T0 + HOUR)]


@pytest.mark.parametrize("status", [Status.ON_HOLD, Status.EXTENSION_PENDING])
def test_a_paused_case_is_neither_marked_nor_warned(world: CaseWorld, status: str, unchanged: Any) -> None:
    case = case_in(world, status)
    check = unchanged(case)

    assert deadlines_sweep(at=T0 + 30 * 24 * HOUR) == NOTHING

    check()
    assert not CaseDeadlineWarning.objects.filter(case=case).exists()


def test_closed_and_cancelled_cases_are_not_swept(world: CaseWorld) -> None:
    case_in(world, Status.CLOSED)
    case_in(world, Status.CANCELLED)

    assert deadlines_sweep(at=T0 + 30 * 24 * HOUR) == NOTHING
    assert not CaseDeadlineWarning.objects.exists()


def test_a_case_at_80_percent_of_its_limit_gets_exactly_one_warning(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLING)
    due = case.handle_due_at  # 24 h limit: 80% is reached 4.8 h before the deadline

    assert deadlines_sweep(at=due - 5 * HOUR) == NOTHING
    assert deadlines_sweep(at=due - 4 * HOUR) == SweepResult(overdue=0, cleared=0, warned=1)
    assert deadlines_sweep(at=due - 3 * HOUR) == NOTHING
    assert deadlines_sweep(at=due - 1 * HOUR) == NOTHING

    assert _alerts(case, AlertKind.WARN) == [("handle", due)]
    assert not Case.objects.get(pk=case.pk).is_overdue


def test_in_a_tightened_mode_the_warning_comes_at_80_percent_of_the_granted_limit(world: CaseWorld) -> None:
    from cases.alerts import Mode, operating_mode_set

    with clock_at(T0 - HOUR):
        operating_mode_set(mode=Mode.EMERGENCY, actor=world.leader, note="台风")  # 50% of every new limit
    case = case_in(world, Status.HANDLING)
    due = case.handle_due_at  # 24 h limit, 12 h granted: 80% is reached 2.4 h before the deadline

    assert deadlines_sweep(at=due - 4 * HOUR) == NOTHING  # 80% of the full 24 h would warn here
    assert deadlines_sweep(at=due - 2.5 * HOUR) == NOTHING
    assert deadlines_sweep(at=due - 2.3 * HOUR) == SweepResult(overdue=0, cleared=0, warned=1)
    assert _alerts(case, AlertKind.WARN) == [("handle", due)]


def test_the_warning_counts_working_time_for_working_hour_limits(world: CaseWorld) -> None:
    # 10 working hours from Thursday 10:00 (Beijing; working 08:30-12:00 and 13:30-17:30) run out on
    # Friday at 14:00. 20% of the limit (2 working hours) is left from Friday 10:30; by the wall clock
    # 80% of the 28 hours would have been Friday 08:24.
    case = case_in(world, Status.HANDLING)
    limits = {**case.time_limits, "handle": {"amount": 10, "unit": "working_hours"}}
    Case.objects.filter(pk=case.pk).update(
        time_limits=limits, handle_due_at=dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)
    )

    assert deadlines_sweep(at=dt.datetime(2026, 11, 27, 2, 29, tzinfo=dt.UTC)) == NOTHING  # Friday 10:29
    assert deadlines_sweep(at=dt.datetime(2026, 11, 27, 2, 31, tzinfo=dt.UTC)).warned == 1  # Friday 10:31


@pytest.mark.parametrize(("status", "stage"), [(Status.VERIFYING, Stage.VERIFY), (Status.HANDLING, Stage.HANDLE)])
def test_a_30_minute_emergency_limit_is_warned_at_24_minutes_and_overdue_at_31(
    world: CaseWorld, status: str, stage: str
) -> None:
    # The class's emergency limit for the stage is 30 calendar minutes; the case copies it at intake.
    TimeLimit.objects.filter(minor_class=world.manhole, urgency=Urgency.EMERGENCY, stage=stage).update(
        amount=30, unit=TimeUnit.CALENDAR_MINUTES
    )
    case = case_in(world, status, urgency=Urgency.EMERGENCY)
    assert case.time_limits[stage] == {"amount": 30, "unit": "calendar_minutes"}
    assert getattr(case, f"{stage}_due_at") == T0 + 30 * MINUTE

    assert deadlines_sweep(at=T0 + 23 * MINUTE) == NOTHING
    assert deadlines_sweep(at=T0 + 24 * MINUTE) == SweepResult(overdue=0, cleared=0, warned=1)
    assert deadlines_sweep(at=T0 + 30 * MINUTE) == NOTHING  # due, not yet past
    assert not Case.objects.get(pk=case.pk).is_overdue
    assert deadlines_sweep(at=T0 + 31 * MINUTE) == SweepResult(overdue=1, cleared=0, warned=0)

    assert Case.objects.get(pk=case.pk).is_overdue
    assert _alerts(case, AlertKind.WARN) == [(stage, T0 + 30 * MINUTE)]
    assert _alerts(case, AlertKind.OVERDUE) == [(stage, T0 + 30 * MINUTE)]


def test_the_flag_clears_when_the_case_moves_on_to_a_stage_not_yet_due(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLING)
    late = case.handle_due_at + HOUR
    deadlines_sweep(at=late)
    with clock_at(late):
        services.case_feedback(case=case, actor=world.handler, description="已更换井盖", after_photos=[png_upload()])
    case.refresh_from_db()
    assert case.status == Status.HANDLED and case.check_due_at > late

    assert deadlines_sweep(at=late + MINUTE) == SweepResult(overdue=0, cleared=1, warned=0)
    assert not Case.objects.get(pk=case.pk).is_overdue
    assert deadlines_sweep(at=late + 2 * MINUTE) == NOTHING


def test_newly_overdue_cases_are_published_after_commit_only(
    world: CaseWorld, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    sent: list[tuple[list[str], dict]] = []
    monkeypatch.setattr("cases.events._send", lambda groups, payload: sent.append((groups, payload)))
    case = case_in(world, Status.HANDLING)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deadlines_sweep(at=case.handle_due_at + MINUTE)
    assert not sent, "nothing is sent before the commit"
    for callback in callbacks:
        callback()

    published = [(groups, payload) for groups, payload in sent if payload.get("action") == "overdue"]
    assert published == [
        (
            [
                "cases.city",
                f"cases.district.{case.district_id}",
                f"cases.street.{case.street_id}",
                f"cases.community.{case.community_id}",
                f"cases.unit.{world.handler_unit.pk}",
            ],
            {
                "kind": "case",
                "case": case.pk,
                "action": "overdue",
                "is_overdue": True,
                "district": case.district_id,
                "street": case.street_id,
                "community": case.community_id,
                "lead_unit": world.handler_unit.pk,
                "at": case.handle_due_at + MINUTE,
            },
        )
    ]


def test_the_platform_urges_the_lead_unit_once_when_handling_goes_overdue(
    world: CaseWorld, django_capture_on_commit_callbacks: Any, eager_tasks: None
) -> None:
    platform = person(Role.DISPATCHER, world.city.root, username="platform")
    case = case_in(world, Status.HANDLING)
    due = case.handle_due_at

    with clock_at(due + MINUTE), django_capture_on_commit_callbacks(execute=True):
        deadlines_sweep()
    with clock_at(due + 2 * MINUTE), django_capture_on_commit_callbacks(execute=True):
        deadlines_sweep()

    urges = Supervision.objects.filter(case=case, kind=SupervisionKind.URGE)
    assert [(u.by, u.to_unit, u.from_unit) for u in urges] == [(platform, world.handler_unit, world.city.root)]
    assert "Overdue" in urges[0].text
    assert CaseEvent.objects.filter(case=case, action="urge").count() == 1


def test_without_a_platform_account_overdue_cases_are_flagged_but_not_urged(
    world: CaseWorld, django_capture_on_commit_callbacks: Any, eager_tasks: None
) -> None:
    case = case_in(world, Status.HANDLING)

    with clock_at(case.handle_due_at + MINUTE), django_capture_on_commit_callbacks(execute=True):
        assert deadlines_sweep().overdue == 1

    assert Case.objects.get(pk=case.pk).is_overdue
    assert not Supervision.objects.filter(case=case).exists()


def test_the_demo_platform_account_is_the_actor_of_the_automatic_urge(
    world: CaseWorld, django_capture_on_commit_callbacks: Any, eager_tasks: None
) -> None:
    # The demo's setup (seed_demo's logins stage) creates the account in the city centre it knows by code.
    OrgUnit.objects.filter(pk=world.city.root.pk).update(code=CITY_CENTRE_CODE)
    assert platform_account_create() is True
    assert platform_account_create() is False, "a second run creates nothing"
    platform = User.objects.get(username="platform")
    assert list(platform.memberships.values_list("role", "unit")) == [(Role.DISPATCHER, world.city.root.pk)]
    assert not platform.has_usable_password(), "nobody signs in as the platform"
    case = case_in(world, Status.HANDLING)

    with clock_at(case.handle_due_at + MINUTE), django_capture_on_commit_callbacks(execute=True):
        deadlines_sweep()

    urge = CaseEvent.objects.get(case=case, action="urge")
    assert (urge.actor, urge.actor_role) == (platform, Role.DISPATCHER)
    assert Supervision.objects.get(case=case, kind=SupervisionKind.URGE).by == platform


def test_without_a_platform_account_the_sweep_warns_which_account_is_missing(
    world: CaseWorld, django_capture_on_commit_callbacks: Any, eager_tasks: None, caplog: Any
) -> None:
    case = case_in(world, Status.HANDLING)
    other = case_in(world, Status.HANDLING)
    events = _events(case)

    with (
        caplog.at_level(logging.WARNING, logger="cases.sweep"),
        clock_at(case.handle_due_at + MINUTE),
        django_capture_on_commit_callbacks(execute=True),
    ):
        deadlines_sweep()

    # One line for the sweep's whole batch, naming the cases and the missing account.
    warnings = [r.getMessage() for r in caplog.records if r.name == "cases.sweep" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"2 overdue case(s) not urged (case {case.pk}, {other.pk})" in warnings[0] and "'platform'" in warnings[0]
    assert _events(case) == events and not Supervision.objects.filter(case=case).exists()


def test_the_sweep_task_runs_the_sweep_and_reports_its_counts(world: CaseWorld, eager_tasks: None) -> None:
    from cases.tasks import sweep_deadlines

    case = case_in(world, Status.HANDLING)
    with clock_at(case.handle_due_at + MINUTE):
        assert sweep_deadlines.delay().get(timeout=10) == {"overdue": 1, "cleared": 0, "warned": 0}
        assert sweep_deadlines.delay().get(timeout=10) == {"overdue": 0, "cleared": 0, "warned": 0}
