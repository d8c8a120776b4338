"""Nearest inspector first: a report awaiting verification is offered to the nearest inspector on duty, sharing a
fresh position, whose unit covers the case's place; never to another street's; nobody when nobody fits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from cases import services as case_services
from cases.clock import clock_at
from cases.models import Source, Status
from field import services, tasks
from field.models import VerificationAssignment
from organisations.models import Role, User
from qingdao_ops.celery import app as celery_app
from tests.cases.factories import CaseWorld, case_world, reported
from tests.factories import person
from tests.field.duty_world import on_duty, seen_at

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def world(db: Any) -> CaseWorld:
    return case_world()


def street_inspector(world: CaseWorld, name: str) -> User:
    """Another inspector of the first street's workstation (the street world.point lies in)."""
    return person(Role.INSPECTOR, world.city.a.workstations[0], full_name=name)


def offered(case: Any) -> tuple[int, float] | None:
    found = VerificationAssignment.objects.filter(case=case).first()
    return (found.inspector_id, found.distance_m) if found else None


def test_the_nearest_inspector_on_duty_in_the_grid_is_offered_the_case(world: CaseWorld) -> None:
    now = timezone.now()
    near, far = street_inspector(world, "近"), world.inspector
    for user, metres in ((near, 200), (far, 500)):
        on_duty(user, at=now - dt.timedelta(hours=2))
        seen_at(user, world.near(metres), at=now - MINUTE)
    case = reported(world, source=Source.CITIZEN, at=now)

    [assigned] = services.verifications_assign(case_ids=[case.pk], now=now)

    assert (assigned.case_id, assigned.inspector_id) == (case.pk, near.pk)
    inspector, distance = offered(case)
    assert inspector == near.pk
    assert distance == pytest.approx(200, abs=2)


def test_off_duty_stale_and_other_street_inspectors_are_passed_over(world: CaseWorld) -> None:
    now = timezone.now()
    went_home = street_inspector(world, "已下班")
    on_duty(went_home, at=now - dt.timedelta(hours=3))
    seen_at(went_home, world.near(5), at=now - 2 * MINUTE)
    services.shift_end(user=went_home)
    lost_signal = street_inspector(world, "没信号")
    on_duty(lost_signal, at=now - dt.timedelta(hours=3))
    seen_at(lost_signal, world.near(10), at=now - 11 * MINUTE)
    private = street_inspector(world, "不共享")
    on_duty(private, at=now - dt.timedelta(hours=3), share=False)
    on_duty(world.other_inspector, at=now - dt.timedelta(hours=3))  # the next street's, standing on the spot
    seen_at(world.other_inspector, world.near(0), at=now - MINUTE)
    on_duty(world.inspector, at=now - dt.timedelta(hours=3))
    seen_at(world.inspector, world.near(900), at=now - 9 * MINUTE)
    case = reported(world, source=Source.HOTLINE, at=now, reporter=world.clerk)

    services.verifications_assign(case_ids=[case.pk], now=now)

    assert offered(case)[0] == world.inspector.pk


def test_nobody_is_offered_a_case_when_only_another_streets_inspector_is_on_duty(world: CaseWorld) -> None:
    now = timezone.now()
    on_duty(world.other_inspector, at=now - dt.timedelta(hours=1))
    seen_at(world.other_inspector, world.near(0), at=now - MINUTE)
    case = reported(world, source=Source.CITIZEN, at=now)

    assert services.verifications_assign(case_ids=[case.pk], now=now) == []
    assert offered(case) is None


def test_an_offer_is_made_once_and_only_while_the_case_awaits_verification(world: CaseWorld) -> None:
    now = timezone.now()
    on_duty(world.inspector, at=now - dt.timedelta(hours=1))
    seen_at(world.inspector, world.near(300), at=now - MINUTE)
    case = reported(world, source=Source.CITIZEN, at=now)
    verified = reported(world, source=Source.CITIZEN, at=now, location=world.near(50))
    case_services.case_verify(case=verified, actor=world.inspector)
    services.verifications_assign(case_ids=[case.pk], now=now)

    closer = street_inspector(world, "后来的")
    on_duty(closer, at=now)
    seen_at(closer, world.near(1), at=now)
    assert services.verifications_assign(case_ids=[case.pk, verified.pk], now=now) == []

    assert offered(case)[0] == world.inspector.pk, "the first offer stands"
    assert offered(verified) is None


def test_intake_offers_a_citizen_report_after_commit_but_not_an_inspectors_own(
    world: CaseWorld, django_capture_on_commit_callbacks: Any
) -> None:
    now = timezone.now()
    on_duty(world.inspector, at=now - dt.timedelta(hours=1))
    seen_at(world.inspector, world.near(100), at=now - MINUTE)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        citizens = reported(world, source=Source.CITIZEN, at=now)
    assert offered(citizens) is None, "nothing before the commit"
    for callback in callbacks:
        callback()  # tasks run eagerly in the test settings
    with django_capture_on_commit_callbacks(execute=True):
        own = reported(world, source=Source.INSPECTOR, at=now, location=world.near(40))

    assert citizens.status == Status.VERIFYING and offered(citizens)[0] == world.inspector.pk
    assert own.status == Status.REPORTED and offered(own) is None


def test_the_sweep_offers_a_case_once_someone_comes_on_duty(world: CaseWorld) -> None:
    now = timezone.now()
    case = reported(world, source=Source.VIDEO_AI, at=now - 5 * MINUTE)
    old = reported(world, source=Source.CITIZEN, at=now - dt.timedelta(hours=25), location=world.near(30))
    assert services.verifications_assign(case_ids=[case.pk], now=now - 5 * MINUTE) == []

    on_duty(world.inspector, at=now - MINUTE)
    seen_at(world.inspector, world.near(250), at=now)
    with clock_at(now):
        assert tasks.assign_pending_verifications() == 1

    assert offered(case)[0] == world.inspector.pk
    assert offered(old) is None, "a report older than a day is left to the queues"


@pytest.fixture
def tasks_on_the_worker() -> Iterator[None]:
    # The test settings run tasks eagerly; here .delay() goes to the broker (restored by hand: Celery's settings
    # object refuses monkeypatch's undo).
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = before


@pytest.mark.worker
def test_a_worker_offers_a_new_citizen_report_to_the_nearest_inspector(
    transactional_db: Any, celery_worker_process: Any, tasks_on_the_worker: None
) -> None:
    # transactional_db: the worker's own connection must see these rows, so they are committed.
    world = case_world()
    now = timezone.now()
    near = street_inspector(world, "近")
    for user, metres in ((near, 150), (world.inspector, 700)):
        on_duty(user, at=now - dt.timedelta(hours=1))
        seen_at(user, world.near(metres), at=now)

    case = case_services.case_report(
        source=Source.CITIZEN,
        minor_class=world.manhole,
        location=world.point,
        description="井盖缺失",
        reporter=None,
    )
    # The worker takes one task at a time, in order: once this one is done, the one intake queued is too.
    tasks.close_stale_shifts.delay().get(timeout=30)

    assert offered(case)[0] == near.pk
