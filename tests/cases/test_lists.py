"""The three lists (overdue, key, difficult) and the supervision records, scoped like every read of cases."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from cases import services
from cases.alerts import Mode, OperatingMode, operating_mode_current, operating_mode_set
from cases.clock import clock_at
from cases.lists import (
    case_list_for,
    cases_difficult_for,
    cases_key_for,
    cases_overdue_for,
    supervisions_addressed_to,
    supervisions_visible_to,
)
from cases.models import Source, Status, SupervisionKind
from cases.sweep import deadlines_sweep
from tests.cases.factories import T0, CaseWorld, case_in, reported

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def test_the_overdue_list_holds_the_districts_late_cases_and_not_other_districts(world: CaseWorld) -> None:
    late_a = case_in(world, Status.VERIFYING)
    late_b = reported(world, source=Source.HOTLINE, location=world.in_b)
    on_time = case_in(world, Status.HANDLING)  # handling is due in 24 h
    deadlines_sweep(at=T0 + 2 * HOUR)

    assert list(cases_overdue_for(world.dispatcher)) == [late_a]
    assert list(cases_overdue_for(world.outsider_dispatcher)) == [late_b]
    assert on_time not in cases_overdue_for(world.leader)
    assert list(case_list_for(world.dispatcher, "overdue")) == [late_a]


def test_the_key_list_holds_the_cases_a_leader_flagged(world: CaseWorld) -> None:
    flagged = case_in(world, Status.HANDLING)
    case_in(world, Status.HANDLING)
    with clock_at(T0):
        services.case_flag_key(case=flagged, actor=world.leader)

    assert list(cases_key_for(world.dispatcher)) == [flagged]
    assert list(cases_key_for(world.outsider_dispatcher)) == []


def test_major_event_mode_makes_every_open_case_key(world: CaseWorld) -> None:
    first = case_in(world, Status.HANDLING)
    second = case_in(world, Status.REGISTERED)
    case_in(world, Status.CLOSED)
    in_b = reported(world, source=Source.HOTLINE, location=world.in_b)
    assert list(cases_key_for(world.dispatcher)) == []

    operating_mode_set(mode=Mode.MAJOR_EVENT, actor=world.leader, note="上合峰会保障")

    assert operating_mode_current() == Mode.MAJOR_EVENT
    assert set(cases_key_for(world.dispatcher)) == {first, second}
    assert list(cases_key_for(world.outsider_dispatcher)) == [in_b]
    operating_mode_set(mode=Mode.NORMAL, actor=world.leader)
    assert list(cases_key_for(world.dispatcher)) == []


def test_an_unknown_operating_mode_is_refused_and_nothing_changes(world: CaseWorld) -> None:
    with pytest.raises(ValidationError):
        operating_mode_set(mode="party", actor=world.leader)
    assert not OperatingMode.objects.exists()
    assert operating_mode_current() == Mode.NORMAL


def test_the_difficult_list_holds_cases_returned_twice_reworked_twice_or_open_too_long(world: CaseWorld) -> None:
    returned_twice = case_in(world, Status.RETURNED)
    with clock_at(T0):
        services.case_dispatch(case=returned_twice, actor=world.dispatcher)
        services.case_return(case=returned_twice, actor=world.handler, reason="非本单位职责")
    returned_once = case_in(world, Status.RETURNED)
    old = case_in(world, Status.HANDLING, at=T0 - 31 * DAY)
    young = case_in(world, Status.HANDLING, at=T0 - 29 * DAY)
    closed_old = case_in(world, Status.CLOSED, at=T0 - 60 * DAY)

    difficult = set(cases_difficult_for(world.dispatcher, now=T0))

    assert difficult == {returned_twice, old}
    assert not {returned_once, young, closed_old} & difficult
    assert list(cases_difficult_for(world.outsider_dispatcher, now=T0)) == []


def test_supervision_records_are_listed_for_the_area_and_the_unit_addressed(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLING)
    with clock_at(T0):
        supervision = services.case_supervise(case=case, actor=world.leader, text="请于今日内处置完毕")
        urging = services.case_urge(case=case, actor=world.dispatcher, text="请尽快处置")

    assert list(supervisions_visible_to(world.leader)) == [urging, supervision]  # newest first
    assert list(supervisions_visible_to(world.leader, kind=SupervisionKind.URGE)) == [urging]
    assert set(supervisions_addressed_to(world.handler, unreplied=True)) == {supervision, urging}
    assert list(supervisions_visible_to(world.outsider_leader)) == []
    assert list(supervisions_addressed_to(world.outsider_handler)) == []

    with clock_at(T0 + HOUR):
        services.supervision_reply(supervision=urging, actor=world.handler, text="已安排人员")
    assert list(supervisions_addressed_to(world.handler, unreplied=True)) == [supervision]
    assert list(supervisions_visible_to(world.dispatcher, unreplied=False)) == [urging]
