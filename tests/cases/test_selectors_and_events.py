"""Who sees which case, and the "case changed" messages sent to the watching groups after commit."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.http import Http404

from cases import services
from cases.models import Status
from cases.selectors import case_get_for_user_or_404, cases_reported_by, cases_visible_to
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
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"cases.unit.{world.handler_unit.pk}", channel)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.case_dispatch(case=case, actor=world.dispatcher)
    assert callbacks, "nothing is sent before the commit"
    for callback in callbacks:
        callback()

    message = async_to_sync(layer.receive)(channel)
    assert message == {
        "type": "case.changed",
        "case": case.pk,
        "number": case.number,
        "action": "dispatch",
        "status": "dispatched",
    }
    async_to_sync(layer.group_discard)(f"cases.unit.{world.handler_unit.pk}", channel)


def test_an_unreachable_channel_layer_is_logged_not_raised(
    world: CaseWorld, django_capture_on_commit_callbacks: Any, monkeypatch: Any, caplog: Any
) -> None:
    class Broken:
        async def group_send(self, group: str, message: dict) -> None:
            raise ConnectionError("redis is down")

    monkeypatch.setattr("cases.events.get_channel_layer", lambda: Broken())
    case = case_in(world, Status.REPORTED)

    with caplog.at_level(logging.WARNING, logger="cases.events"), django_capture_on_commit_callbacks(execute=True):
        services.case_register(case=case, actor=world.clerk)

    assert "could not publish case change" in caplog.text
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
