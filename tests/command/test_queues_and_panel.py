"""The command centre's queues (counts agree with the lists they open, scoped, by district) and its case side panel
(the case's actions run through the same services as the case page; refusals change nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from cases.alerts import Mode, operating_mode_set
from cases.models import Case, Source, Status
from organisations.models import Role
from tests.cases.factories import CaseWorld, case_in, case_world, reported
from tests.factories import person

pytestmark = pytest.mark.django_db

QUEUES = "/api/v1/command/queues/"


@pytest.fixture
def world(db: Any) -> CaseWorld:
    with translation.override("en"):
        return case_world()


def api_for(user: Any) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def page_for(user: Any) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def counts(user: Any, **query: Any) -> dict[str, int]:
    response = api_for(user).get(QUEUES, query)
    assert response.status_code == 200, response.content
    return {queue["name"]: queue["count"] for queue in response.json()["queues"]}


def listed(user: Any, api: str) -> set[int]:
    response = api_for(user).get(api + "&limit=1000")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_each_queue_counts_what_its_list_shows(world: CaseWorld) -> None:
    to_register = reported(world)
    to_verify = reported(world, source=Source.CITIZEN)
    to_dispatch = case_in(world, Status.REGISTERED)
    returned = case_in(world, Status.RETURNED)
    handling = case_in(world, Status.HANDLING)
    case_in(world, Status.CLOSED)
    Case.objects.filter(pk=handling.pk).update(is_overdue=True, is_key=True)

    response = api_for(world.dispatcher).get(QUEUES)
    queues = {queue["name"]: queue for queue in response.json()["queues"]}

    expected = {
        "to_register": {to_register.pk},
        "to_verify": {to_verify.pk},
        "to_dispatch": {to_dispatch.pk},
        "returned": {returned.pk},
        "overdue": {handling.pk},
        "key": {handling.pk},
        "difficult": set(),
    }
    for name, ids in expected.items():
        assert listed(world.dispatcher, queues[name]["api"]) == ids, name
        assert queues[name]["count"] == len(ids), name
    assert queues["to_register"]["label"] == "To register"


def test_major_event_mode_makes_every_open_case_key(world: CaseWorld) -> None:
    reported(world)
    case_in(world, Status.HANDLING)
    assert counts(world.dispatcher)["key"] == 0
    operating_mode_set(mode=Mode.MAJOR_EVENT, actor=world.leader, note="演练")
    assert counts(world.dispatcher)["key"] == 2


def test_queues_are_scoped_and_filter_by_district(world: CaseWorld) -> None:
    reported(world)
    reported(world)
    assert counts(world.dispatcher)["to_register"] == 2
    assert counts(world.outsider_dispatcher)["to_register"] == 0  # another district's dispatcher

    a, b = world.city.a.district, world.city.b.district
    city_dispatcher = person(Role.DISPATCHER, world.city.root)
    assert counts(city_dispatcher)["to_register"] == 2
    assert counts(city_dispatcher, district=a.pk)["to_register"] == 2
    assert counts(city_dispatcher, district=b.pk)["to_register"] == 0
    response = api_for(world.dispatcher).get(QUEUES, {"district": a.pk})
    assert all(f"district={a.pk}" in queue["api"] for queue in response.json()["queues"])


def test_a_bad_or_foreign_district_is_refused(world: CaseWorld) -> None:
    client = api_for(world.outsider_dispatcher)
    bad = client.get(QUEUES, {"district": "north"})
    assert bad.status_code == 400
    assert "district" in bad.json()
    foreign = client.get(QUEUES, {"district": world.city.a.district.pk})
    assert foreign.status_code == 404


def test_anonymous_callers_get_no_queues() -> None:
    assert APIClient().get(QUEUES).status_code in (401, 403)


def test_supervision_queue_counts_unreplied_records_addressed_to_the_units(world: CaseWorld) -> None:
    from cases import services

    case = case_in(world, Status.HANDLING)
    services.case_supervise(case=case, actor=world.leader, text="请尽快处置")
    assert counts(world.handler)["supervision"] == 1
    assert counts(world.outsider_handler)["supervision"] == 0


# --- the page and the side panel


def test_the_command_centre_page_is_for_staff_only(world: CaseWorld) -> None:
    response = page_for(world.dispatcher).get("/command/")
    assert response.status_code == 200
    assert b'id="command-map"' in response.content
    assert page_for(person(Role.CITIZEN)).get("/command/").status_code == 404
    assert Client().get("/command/").status_code == 302  # to the sign-in page


def test_the_panel_shows_the_case_with_the_routing_suggestion_and_the_callers_actions(world: CaseWorld) -> None:
    case = case_in(world, Status.REGISTERED)
    response = page_for(world.dispatcher).get(f"/command/cases/{case.number}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert case.number in html
    assert 'id="cp-suggestion"' in html and world.handler_unit.name in html
    assert 'id="action-dispatch"' in html
    assert f'action="/command/cases/{case.number}/dispatch/"' in html
    # The case page shows the same suggestion.
    assert 'id="case-suggestion"' in page_for(world.dispatcher).get(f"/cases/{case.number}/").content.decode()
    # A handler of the unit may not dispatch: no such form for them.
    assert 'id="action-dispatch"' not in page_for(world.handler).get(f"/command/cases/{case.number}/").content.decode()


def test_the_panel_is_404_outside_the_callers_scope(world: CaseWorld) -> None:
    case = reported(world)
    assert page_for(world.outsider_dispatcher).get(f"/command/cases/{case.number}/").status_code == 404
    response = page_for(world.outsider_dispatcher).post(f"/command/cases/{case.number}/register/", {})
    assert response.status_code == 404
    case.refresh_from_db()
    assert case.status == Status.REPORTED


def test_an_action_from_the_panel_runs_the_service_and_answers_with_the_panel(world: CaseWorld) -> None:
    case = case_in(world, Status.REGISTERED)
    response = page_for(world.dispatcher).post(f"/command/cases/{case.number}/dispatch/", {"dispatch-reason": ""})
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED
    assert case.lead_unit == world.handler_unit  # the routing suggestion was followed
    html = response.content.decode()
    assert 'data-status="dispatched"' in html
    assert "done" in html  # the success message shows in the panel


def test_a_refused_action_from_the_panel_changes_nothing_and_shows_the_error(world: CaseWorld) -> None:
    case = reported(world)
    # Not registering needs a reason.
    response = page_for(world.clerk).post(f"/command/cases/{case.number}/reject/", {"reject-reason": ""})
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()
    case.refresh_from_db()
    assert case.status == Status.REPORTED
    assert case.events.count() == 1
