"""Who sees which case, and the "case changed" messages sent to the watching groups after commit."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from django.conf import settings
from django.http import Http404

from cases import services
from cases.models import Status
from cases.selectors import case_get_for_user_or_404, cases_reported_by, cases_visible_to
from command import live
from organisations.models import Role
from tests.cases.factories import CaseWorld, case_in, reported
from tests.factories import UserFactory, person


def test_a_case_is_seen_in_its_area_and_by_its_units_only(world: CaseWorld) -> None:
    case = case_in(world, Status.REGISTERED)
    city_dispatcher = person(Role.DISPATCHER, world.city.root)

    for user in (world.clerk, world.dispatcher, world.inspector, world.leader, city_dispatcher):
        assert list(cases_visible_to(user)) == [case], user
    for user in (world.handler, world.outsider_dispatcher, world.other_inspector, world.outsider_handler):
        assert list(cases_visible_to(user)) == [], user

    services.case_dispatch(case=case, actor=world.dispatcher)
    assert list(cases_visible_to(world.handler)) == [case]
    # A unit above the handling unit sees what its unit sees.
    assert list(cases_visible_to(person(Role.HANDLER, world.city.department))) == [case]


def test_a_case_outside_scope_is_a_404(world: CaseWorld) -> None:
    case = case_in(world, Status.REPORTED)
    assert case_get_for_user_or_404(world.clerk, case.pk) == case
    with pytest.raises(Http404):
        case_get_for_user_or_404(world.outsider_clerk, case.pk)


def test_citizens_see_no_internal_cases_but_their_own_reports(world: CaseWorld) -> None:
    citizen = person(Role.CITIZEN, None)
    mine = reported(world, source="citizen", reporter=citizen)
    reported(world)
    assert list(cases_visible_to(citizen)) == []
    assert list(cases_reported_by(citizen)) == [mine]
    assert list(cases_reported_by(UserFactory())) == []


def test_a_transition_is_published_to_the_unit_and_area_groups_after_commit(
    world: CaseWorld, django_capture_on_commit_callbacks: Any
) -> None:
    case = case_in(world, Status.REGISTERED)
    unit_stream = live.stream_key(f"cases.unit.{world.handler_unit.pk}")
    streams = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    before = streams.xlen(unit_stream)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.case_dispatch(case=case, actor=world.dispatcher)
    assert callbacks, "nothing is sent before the commit"
    assert streams.xlen(unit_stream) == before
    for callback in callbacks:
        callback()

    [(entry_id, fields)] = streams.xrevrange(unit_stream, count=1)
    message = live.decode(entry_id, fields)
    assert {k: message[k] for k in ("kind", "case", "number", "action", "status", "lead_unit")} == {
        "kind": "case",
        "case": case.pk,
        "number": case.number,
        "action": "dispatch",
        "status": "dispatched",
        "lead_unit": world.handler_unit.pk,
    }
    for group in ("cases.city", f"cases.district.{case.district_id}", f"cases.street.{case.street_id}"):
        assert live.decode(*streams.xrevrange(live.stream_key(group), count=1)[0])["case"] == case.pk


def test_an_unreachable_redis_is_logged_not_raised(
    world: CaseWorld, django_capture_on_commit_callbacks: Any, settings: Any, caplog: Any
) -> None:
    settings.LIVE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    case = case_in(world, Status.REPORTED)

    with caplog.at_level(logging.WARNING, logger="command.live"), django_capture_on_commit_callbacks(execute=True):
        services.case_register(case=case, actor=world.clerk)

    assert "could not publish live update" in caplog.text
    case.refresh_from_db()
    assert case.status == Status.REGISTERED


def test_nothing_is_published_while_publishing_is_suppressed_and_it_resumes_after(
    world: CaseWorld, django_capture_on_commit_callbacks: Any
) -> None:
    from cases.events import publishing_suppressed

    first = case_in(world, Status.REPORTED)
    second = case_in(world, Status.REPORTED)

    with django_capture_on_commit_callbacks(execute=False) as suppressed, publishing_suppressed():
        services.case_register(case=first, actor=world.clerk)
    with django_capture_on_commit_callbacks(execute=False) as published:
        services.case_register(case=second, actor=world.clerk)

    first.refresh_from_db()
    assert first.status == Status.REGISTERED
    assert suppressed == []
    assert len(published) == 1
