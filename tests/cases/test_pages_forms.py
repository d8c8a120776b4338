"""The page forms added for issue 3: registering with a corrected class and urgency, dispatching with supporting
units, the three lists as tabs of the case list, the supervision records addressed to a unit with their reply
form, and the inspector's self-handle form; each refused for a role that may not, with nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse

from cases import services
from cases.clock import clock_at
from cases.models import Case, CaseEvent, CasePhoto, Status, Supervision
from catalogue.models import Urgency
from tests.cases.factories import T0, CaseWorld, case_in, png_upload, reported, with_limits
from tests.factories import MinorClassFactory, OrgUnitFactory

Unchanged = Callable[[Case], Callable[[], None]]


def client_for(user: Any) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def post_action(world: CaseWorld, who: str, case: Case, action: str, data: dict[str, Any]) -> Any:
    url = reverse("cases:action", args=[case.number, action])
    return client_for(getattr(world, who)).post(url, {f"{action}-{k}": v for k, v in data.items()})


def action_form(response: Any, action: str) -> Any:
    return next(f["form"] for f in response.context["action_forms"] if f["action"] == action)


# --- register: reclassify and change the urgency


def test_the_clerk_registers_with_a_corrected_class_and_urgency(world: CaseWorld) -> None:
    cover = with_limits(MinorClassFactory(major=world.manhole.major, code="02", name="污水井盖"))
    case = reported(world)

    response = post_action(world, "clerk", case, "register", {"minor_class": cover.pk, "urgency": Urgency.URGENT})

    assert response.status_code == 302, response.content.decode()[:2000]
    case.refresh_from_db()
    assert case.status == Status.REGISTERED
    assert case.minor_class == cover and case.urgency == Urgency.URGENT
    assert case.events.order_by("-seq").first().data["minor_class"] == cover.full_code


def test_the_register_form_offers_only_classes_of_the_cases_kind(world: CaseWorld) -> None:
    case = reported(world)  # a component (部件) case; world.litter is an event (事件) class

    detail = client_for(world.clerk).get(reverse("cases:detail", args=[case.number]))

    offered = [pk for _group, options in action_form(detail, "register").fields["minor_class"].choices[1:]
               for pk, _label in options]  # fmt: skip
    assert world.manhole.pk in offered and world.litter.pk not in offered


def test_a_role_that_may_not_register_cannot_reclassify_and_nothing_changes(
    world: CaseWorld, unchanged: Unchanged
) -> None:
    cover = with_limits(MinorClassFactory(major=world.manhole.major, code="02", name="污水井盖"))
    case = reported(world)
    check = unchanged(case)

    response = post_action(world, "dispatcher", case, "register", {"minor_class": cover.pk, "urgency": "urgent"})

    assert response.status_code == 403
    check()


# --- dispatch with supporting units


def test_the_dispatcher_picks_supporting_units_besides_the_lead_unit(world: CaseWorld) -> None:
    helper = OrgUnitFactory(name="市政工程公司", code="QD-WORKS", parent=world.city.root)
    case = case_in(world, Status.REGISTERED)

    response = post_action(
        world, "dispatcher", case, "dispatch", {"lead_unit": world.handler_unit.pk, "supporting_units": [helper.pk]}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.lead_unit == world.handler_unit
    assert list(case.supporting_units.all()) == [helper]
    assert helper.name in client_for(world.dispatcher).get(reverse("cases:detail", args=[case.number])).content.decode()


def test_a_role_that_may_not_dispatch_with_supporting_units_changes_nothing(
    world: CaseWorld, unchanged: Unchanged
) -> None:
    helper = OrgUnitFactory(name="市政工程公司", code="QD-WORKS", parent=world.city.root)
    case = case_in(world, Status.REGISTERED)
    check = unchanged(case)

    response = post_action(world, "clerk", case, "dispatch", {"supporting_units": [helper.pk]})

    assert response.status_code == 403
    check()


# --- the three lists as tabs


def listed(user: Any, **query: str) -> set[str]:
    response = client_for(user).get(reverse("cases:list"), query)
    assert response.status_code == 200
    return {case.number for case in response.context["page"].object_list}


def test_the_list_has_a_tab_per_list_and_each_holds_open_cases_only(world: CaseWorld) -> None:
    flagged = case_in(world, Status.HANDLING)
    closed_flagged = case_in(world, Status.CLOSED)
    plain = case_in(world, Status.HANDLING)
    Case.objects.filter(pk__in=[flagged.pk, closed_flagged.pk]).update(is_key=True, is_overdue=True)

    html = client_for(world.leader).get(reverse("cases:list")).content.decode()
    for name in ("all", "overdue", "key", "difficult"):
        assert f'data-list="{name}"' in html

    assert listed(world.leader, flag="key") == {flagged.number}
    assert listed(world.leader, flag="overdue") == {flagged.number}
    assert listed(world.leader, flag="difficult") == set()
    assert listed(world.leader) == {flagged.number, closed_flagged.number, plain.number}
    assert listed(world.outsider_leader, flag="key") == set()


def test_the_active_tab_keeps_the_other_filters(world: CaseWorld) -> None:
    response = client_for(world.leader).get(reverse("cases:list"), {"flag": "key", "status": Status.HANDLING})

    tabs = {tab["value"]: tab for tab in response.context["tabs"]}
    assert tabs["key"]["active"] and not tabs[""]["active"]
    assert tabs["overdue"]["query"] == f"status={Status.HANDLING}&flag=overdue"


# --- supervision records addressed to a unit, and the reply form


def supervised(world: CaseWorld) -> tuple[Case, Supervision]:
    case = case_in(world, Status.HANDLING)
    with clock_at(T0):
        return case, services.case_supervise(case=case, actor=world.leader, text="请尽快处置")


def record_unchanged(record: Supervision) -> Callable[[], None]:
    before = model_to_dict(Supervision.objects.get(pk=record.pk))
    return lambda: model_to_dict(Supervision.objects.get(pk=record.pk)) == before


def reply(world: CaseWorld, who: str, record: Supervision, text: str = "已安排") -> Any:
    url = reverse("cases:supervision-reply", args=[record.pk])
    return client_for(getattr(world, who)).post(url, {f"reply-{record.pk}-text": text})


def test_a_handler_sees_what_was_sent_to_the_unit_and_replies_on_the_page(world: CaseWorld) -> None:
    case, record = supervised(world)

    page = client_for(world.handler).get(reverse("cases:supervisions"))
    assert page.status_code == 200
    shown = list(page.context["page"].object_list)
    assert [r.pk for r in shown] == [record.pk] and shown[0].form is not None

    response = reply(world, "handler", record)

    assert response.status_code == 302 and response["Location"] == reverse("cases:supervisions")
    record.refresh_from_db()
    assert record.reply == "已安排" and record.replied_by == world.handler
    assert case.events.order_by("-seq").first().action == "reply"
    waiting = client_for(world.handler).get(reverse("cases:supervisions"), {"waiting": "yes"})
    assert list(waiting.context["page"].object_list) == []


def test_the_supervision_page_shows_nothing_sent_to_other_units(world: CaseWorld) -> None:
    supervised(world)

    page = client_for(world.outsider_handler).get(reverse("cases:supervisions"))

    assert page.status_code == 200 and list(page.context["page"].object_list) == []


def test_a_role_that_may_not_reply_is_refused_with_403_and_nothing_changes(
    world: CaseWorld, unchanged: Unchanged
) -> None:
    case, record = supervised(world)
    check_case, same_record = unchanged(case), record_unchanged(record)

    response = reply(world, "dispatcher", record)

    assert response.status_code == 403
    assert "Nothing was changed." in response.content.decode()
    check_case()
    assert same_record()


def test_a_reply_out_of_scope_is_a_404_and_nothing_changes(world: CaseWorld, unchanged: Unchanged) -> None:
    case, record = supervised(world)
    check_case, same_record = unchanged(case), record_unchanged(record)

    response = reply(world, "outsider_handler", record)

    assert response.status_code == 404
    check_case()
    assert same_record()


def test_an_empty_reply_shows_on_the_form_and_nothing_changes(world: CaseWorld, unchanged: Unchanged) -> None:
    case, record = supervised(world)
    check_case, same_record = unchanged(case), record_unchanged(record)

    response = reply(world, "handler", record, "")

    assert response.status_code == 400
    shown = next(r for r in response.context["page"].object_list if r.pk == record.pk)
    assert shown.form.errors["text"]
    check_case()
    assert same_record()


# --- self-handle


def self_handle_data(world: CaseWorld, **fields: Any) -> dict[str, Any]:
    data = {
        "minor_class": world.litter.pk,
        "urgency": Urgency.NORMAL,
        "lon": world.point.x,
        "lat": world.point.y,
        "description": "清理散落垃圾",
        "before_photos": png_upload("before.png"),
        "after_photos": png_upload("after.png", (5, 150, 5)),
    }
    data.update(fields)
    return data


def nothing_written(root: Path) -> bool:
    files = [p for p in root.rglob("*") if p.is_file()]
    return not Case.objects.exists() and not CaseEvent.objects.exists() and not CasePhoto.objects.exists() and not files


def test_an_inspector_self_handles_through_the_form_and_the_case_is_closed(world: CaseWorld) -> None:
    assert client_for(world.inspector).get(reverse("cases:self-handle")).status_code == 200

    response = client_for(world.inspector).post(reverse("cases:self-handle"), self_handle_data(world))

    assert response.status_code == 302, response.content.decode()[:2000]
    case = Case.objects.get()
    assert response["Location"] == reverse("cases:detail", args=[case.number])
    assert case.status == Status.CLOSED and case.self_handled
    assert sorted(case.photos.values_list("phase", flat=True)) == ["after", "before"]


def test_the_self_handle_form_offers_only_classes_inspectors_may_self_handle(world: CaseWorld) -> None:
    form = client_for(world.inspector).get(reverse("cases:self-handle")).context["form"]

    offered = [pk for _group, options in form.fields["minor_class"].choices[1:] for pk, _label in options]
    assert offered == [world.litter.pk]


@pytest.mark.parametrize("who", ["clerk", "handler"])
def test_someone_who_is_not_an_inspector_may_not_self_handle(world: CaseWorld, media_root: Path, who: str) -> None:
    client = client_for(getattr(world, who))

    assert client.get(reverse("cases:self-handle")).status_code == 403
    assert client.post(reverse("cases:self-handle"), self_handle_data(world)).status_code == 403
    assert nothing_written(media_root)


def test_an_inspector_of_another_grid_is_refused_and_nothing_is_written(world: CaseWorld, media_root: Path) -> None:
    response = client_for(world.other_inspector).post(reverse("cases:self-handle"), self_handle_data(world))

    assert response.status_code == 403
    assert nothing_written(media_root)


def test_a_hostile_after_photo_shows_on_its_field_and_nothing_is_written(world: CaseWorld, media_root: Path) -> None:
    hostile = SimpleUploadedFile("evil.jpg", b"<?php system($_GET['c']); ?>", content_type="image/jpeg")

    response = client_for(world.inspector).post(
        reverse("cases:self-handle"), self_handle_data(world, after_photos=hostile)
    )

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["after_photos"]
    assert nothing_written(media_root)


def test_a_self_handle_without_after_photos_is_refused_on_the_form_and_nothing_is_written(
    world: CaseWorld, media_root: Path
) -> None:
    data = self_handle_data(world)
    del data["after_photos"]

    response = client_for(world.inspector).post(reverse("cases:self-handle"), data)

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["after_photos"]
    assert response.context["form"].errors["after_photos"][0] == "This field is required."
    assert nothing_written(media_root)
