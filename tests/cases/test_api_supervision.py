"""Supervision (督办) and urging (催办) in the API: the records on a case's detail, the list addressed to the
caller's units, and the unit's reply: allowed for its handler, 403 for a role that may not, 404 out of scope,
409 when already answered, and nothing changed by any refusal."""

from __future__ import annotations

from typing import Any

import pytest
from django.forms.models import model_to_dict
from rest_framework.test import APIClient

from cases import services
from cases.clock import clock_at
from cases.models import Case, Status, Supervision
from tests.cases.factories import T0, CaseWorld, case_in

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
SUPERVISIONS = "/api/v1/supervisions/"


def client_for(user: Any) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def supervised(world: CaseWorld, text: str = "请尽快处置") -> tuple[Case, Supervision]:
    case = case_in(world, Status.HANDLING)
    with clock_at(T0):
        record = services.case_supervise(case=case, actor=world.leader, text=text)
    return case, record


def record_unchanged(record: Supervision) -> Any:
    before = model_to_dict(Supervision.objects.get(pk=record.pk))

    def check() -> None:
        assert model_to_dict(Supervision.objects.get(pk=record.pk)) == before

    return check


def reply(user: Any, record: Supervision, text: str = "已安排人员处置") -> Any:
    return client_for(user).post(f"{SUPERVISIONS}{record.pk}/reply/", {"text": text}, format="json")


def test_the_case_detail_holds_its_supervision_and_urging_records(world: CaseWorld) -> None:
    case, supervision = supervised(world)
    with clock_at(T0):
        urging = services.case_urge(case=case, actor=world.dispatcher, text="请加快进度")

    body = client_for(world.dispatcher).get(f"{CASES}{case.pk}/").json()

    assert [(r["id"], r["kind"]) for r in body["supervisions"]] == [(urging.pk, "urge"), (supervision.pk, "supervise")]
    first = body["supervisions"][1]
    assert first["to_unit"] == world.handler_unit.pk and first["to_unit_name"] == world.handler_unit.name
    assert first["text"] == "请尽快处置" and first["case_number"] == case.number and first["replied_at"] is None


def test_the_list_holds_the_records_addressed_to_the_callers_units(world: CaseWorld) -> None:
    _case, record = supervised(world)
    _other, answered = supervised(world, "第二件")
    with clock_at(T0):
        services.supervision_reply(supervision=answered, actor=world.handler, text="已完成")

    mine = client_for(world.handler).get(SUPERVISIONS).json()["results"]
    waiting = client_for(world.handler).get(SUPERVISIONS, {"unreplied": "true"}).json()["results"]
    theirs = client_for(world.outsider_handler).get(SUPERVISIONS).json()["results"]

    assert {r["id"] for r in mine} == {record.pk, answered.pk}
    assert [r["id"] for r in waiting] == [record.pk]
    assert theirs == []


def test_a_handler_of_the_addressed_unit_replies_once(world: CaseWorld) -> None:
    case, record = supervised(world)

    response = reply(world.handler, record)

    assert response.status_code == 200, response.json()
    assert response.json()["reply"] == "已安排人员处置" and response.json()["replied_by"] == world.handler.pk
    record.refresh_from_db()
    assert record.replied_at is not None
    assert case.events.order_by("-seq").first().action == "reply"


def test_a_role_that_may_not_reply_is_refused_with_403_and_nothing_changes(world: CaseWorld, unchanged: Any) -> None:
    case, record = supervised(world)
    check_case, check_record = unchanged(case), record_unchanged(record)

    response = reply(world.dispatcher, record)  # sees the case, is not the addressed unit's handler

    assert response.status_code == 403
    check_case()
    check_record()


def test_a_record_outside_the_callers_scope_is_a_404_and_nothing_changes(world: CaseWorld, unchanged: Any) -> None:
    case, record = supervised(world)
    check_case, check_record = unchanged(case), record_unchanged(record)

    response = reply(world.outsider_handler, record)

    assert response.status_code == 404
    assert client_for(world.outsider_handler).get(f"{SUPERVISIONS}{record.pk}/").status_code == 404
    check_case()
    check_record()


def test_a_second_reply_is_a_409_and_the_first_one_stands(world: CaseWorld, unchanged: Any) -> None:
    case, record = supervised(world)
    assert reply(world.handler, record, "第一次答复").status_code == 200
    check_case, check_record = unchanged(case), record_unchanged(record)

    response = reply(world.handler, record, "第二次答复")

    assert response.status_code == 409
    check_case()
    check_record()


def test_an_empty_reply_is_a_400_naming_the_field_and_nothing_changes(world: CaseWorld, unchanged: Any) -> None:
    case, record = supervised(world)
    check_case, check_record = unchanged(case), record_unchanged(record)

    response = reply(world.handler, record, "")

    assert response.status_code == 400
    assert list(response.json()) == ["text"]
    check_case()
    check_record()
