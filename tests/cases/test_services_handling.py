"""Routing and dispatch, returns and disputes, rework, self-handling, and the clock pausing on hold and extension."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cases import services
from cases.clock import clock_at
from cases.models import Case, CaseSupportingUnit, RoutingRule, Source, Status
from cases.selectors import cases_visible_to, routing_rule_for
from catalogue.models import TimeLimit
from organisations.models import Role, UnitType
from tests.cases.factories import T0, CaseWorld, advance, case_in, png_upload, reported
from tests.factories import OrgUnitFactory, person

HOUR = dt.timedelta(hours=1)


def _unit(world: CaseWorld, code: str) -> Any:
    return OrgUnitFactory(name=f"单位{code}", code=code, unit_type=UnitType.COMPANY, parent=world.city.department)


# --- routing


def test_routing_picks_the_most_specific_rule(world: CaseWorld) -> None:
    a = world.city.a
    major_wide = RoutingRule.objects.create(major_class=world.manhole.major, lead_unit=_unit(world, "U1"), priority=9)
    district = RoutingRule.objects.create(minor_class=world.manhole, district=a.district, lead_unit=_unit(world, "U2"))
    street = RoutingRule.objects.create(minor_class=world.manhole, street=a.streets[0], lead_unit=_unit(world, "U3"))
    RoutingRule.objects.create(minor_class=world.manhole, street=a.streets[1], lead_unit=_unit(world, "U4"))

    def rule_at(street_index: int) -> RoutingRule | None:
        return routing_rule_for(
            minor_class=world.manhole, district_id=a.district.pk, street_id=a.streets[street_index].pk
        )

    assert rule_at(0) == street
    street.is_active = False
    street.save(update_fields=["is_active"])
    assert rule_at(0) == district
    district.delete()
    assert rule_at(0) == world.rule  # the minor class city-wide beats the major class, whatever its priority
    world.rule.delete()
    assert rule_at(0) == major_wide


def test_intake_records_the_routing_suggestion_the_dispatch_would_follow(world: CaseWorld) -> None:
    a = world.city.a
    street_rule = RoutingRule.objects.create(
        minor_class=world.manhole, street=a.streets[0], lead_unit=_unit(world, "U9")
    )
    assert world.point.within(a.streets[0].geom)  # the report lies in that street

    case = reported(world)

    case.refresh_from_db()
    assert case.routing_rule == street_rule  # the street's rule beats the city-wide one
    assert case.events.get().data["route"] == {"rule": street_rule.pk, "lead_unit": street_rule.lead_unit_id}
    expected = routing_rule_for(minor_class=world.manhole, district_id=case.district_id, street_id=case.street_id)
    assert case.routing_rule == expected

    street_rule.is_active = False  # the rules change before dispatch: dispatch looks again
    street_rule.save(update_fields=["is_active"])
    services.case_dispatch(case=advance(world, case, Status.REGISTERED), actor=world.dispatcher)
    case.refresh_from_db()
    assert (case.routing_rule, case.lead_unit) == (world.rule, world.handler_unit)


def test_a_report_no_rule_covers_has_no_suggestion(world: CaseWorld) -> None:
    world.rule.delete()
    case = reported(world)
    case.refresh_from_db()
    assert case.routing_rule is None
    assert "route" not in case.events.get().data


def test_priority_breaks_ties_between_equally_specific_rules(world: CaseWorld) -> None:
    high = RoutingRule.objects.create(minor_class=world.manhole, lead_unit=_unit(world, "U5"), priority=5)
    assert routing_rule_for(minor_class=world.manhole, district_id=None, street_id=None) == high


def test_dispatch_follows_the_routing_table_with_its_supporting_units(world: CaseWorld) -> None:
    helper = _unit(world, "U6")
    world.rule.supporting_units.add(helper)
    case = case_in(world, Status.REGISTERED)

    event = services.case_dispatch(case=case, actor=world.dispatcher)

    case.refresh_from_db()
    assert (case.lead_unit, case.routing_rule) == (world.handler_unit, world.rule)
    assert list(case.supporting_units.all()) == [helper]
    assert event.data["rule"] == world.rule.pk
    assert (event.data["overridden"], event.data["supporting_units"]) == (False, [helper.pk])


def test_the_dispatcher_may_override_the_routing(world: CaseWorld) -> None:
    other, helper = _unit(world, "U7"), _unit(world, "U8")
    case = case_in(world, Status.REGISTERED)

    event = services.case_dispatch(case=case, actor=world.dispatcher, lead_unit=other, supporting_units=[helper])

    case.refresh_from_db()
    assert case.lead_unit == other
    assert list(CaseSupportingUnit.objects.filter(case=case).values_list("unit", flat=True)) == [helper.pk]
    assert event.data["overridden"] is True and event.data["rule"] == world.rule.pk


def test_without_a_rule_the_dispatcher_must_choose(world: CaseWorld, unchanged: Any) -> None:
    world.rule.delete()
    case = case_in(world, Status.REGISTERED)
    check = unchanged(case)
    with pytest.raises(ValidationError) as refused:
        services.case_dispatch(case=case, actor=world.dispatcher)
    assert "lead_unit" in refused.value.message_dict
    check()


def test_a_supporting_unit_sees_the_case(world: CaseWorld) -> None:
    helper = _unit(world, "U9")
    helper_handler = person(Role.HANDLER, helper)
    case = case_in(world, Status.REGISTERED)
    services.case_dispatch(case=case, actor=world.dispatcher, supporting_units=[helper])
    assert list(cases_visible_to(helper_handler)) == [case]


# --- returns and rework


def test_a_second_return_marks_the_case_disputed(world: CaseWorld) -> None:
    case = case_in(world, Status.RETURNED)
    assert (case.return_count, case.is_difficult) == (1, False)
    assert case.handle_due_at is None and case.dispatch_due_at is not None

    services.case_dispatch(case=case, actor=world.dispatcher)
    event = services.case_return(case=case, actor=world.handler, reason="仍非我单位职责")

    case.refresh_from_db()
    assert (case.status, case.return_count, case.is_difficult) == (Status.RETURNED, 2, True)
    assert event.data["disputed"] is True


def test_a_failed_check_is_rework_counted_and_back_to_the_unit_with_a_fresh_limit(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLED)
    with clock_at(T0 + 5 * HOUR):
        services.case_check(case=case, actor=world.inspector, passed=False, reason="井盖仍松动")
    case.refresh_from_db()
    assert (case.status, case.rework_count, case.is_difficult) == (Status.REWORK, 1, False)
    assert case.handle_due_at == T0 + 5 * HOUR + 24 * HOUR

    services.case_accept(case=case, actor=world.handler)
    services.case_feedback(case=case, actor=world.handler, description="重新安装", after_photos=[png_upload()])
    services.case_check(case=case, actor=world.inspector, passed=False, reason="还是松")
    case.refresh_from_db()
    assert (case.rework_count, case.is_difficult) == (2, True)


# --- self-handling


def test_an_inspector_self_handles_an_allowed_class_closed_at_once(world: CaseWorld) -> None:
    with clock_at(T0):
        case = services.case_self_handle(
            inspector=world.inspector,
            minor_class=world.litter,
            location=world.point,
            description="清理了小广告",
            before_photos=[png_upload(colour=(1, 1, 1))],
            after_photos=[png_upload(colour=(2, 2, 2))],
        )
    case.refresh_from_db()
    assert (case.status, case.self_handled, case.closed_at) == (Status.CLOSED, True, T0)
    assert [e.action for e in case.events.order_by("seq")] == ["report", "self_handle"]
    assert sorted(case.photos.values_list("phase", flat=True)) == ["after", "before"]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"minor_class": "manhole"}, ValidationError),  # the class does not allow it
        ({"before_photos": []}, ValidationError),
        ({"after_photos": []}, ValidationError),
        ({"inspector": "clerk"}, PermissionDenied),
        ({"inspector": "other_inspector"}, PermissionDenied),  # not their grid
    ],
)
def test_self_handling_is_refused_and_writes_nothing(world: CaseWorld, fields: dict[str, Any], error: type) -> None:
    call: dict[str, Any] = {
        "inspector": world.inspector,
        "minor_class": world.litter,
        "location": world.point,
        "description": "清理",
        "before_photos": [png_upload()],
        "after_photos": [png_upload()],
    }
    for name, value in fields.items():
        call[name] = getattr(world, value) if isinstance(value, str) else value
    with pytest.raises(error):
        services.case_self_handle(**call)
    assert not Case.objects.exists()


# --- the clock


def _handling_case(world: CaseWorld) -> Case:
    case = reported(world)
    with clock_at(T0):
        services.case_register(case=case, actor=world.clerk)
        services.case_dispatch(case=case, actor=world.dispatcher)
        services.case_accept(case=case, actor=world.handler)
    case.refresh_from_db()
    assert case.handle_due_at == T0 + 24 * HOUR
    return case


def test_hold_pauses_the_clock_and_the_deadline_moves_by_the_time_held(world: CaseWorld) -> None:
    case = _handling_case(world)
    with clock_at(T0 + 2 * HOUR):
        services.case_hold(case=case, actor=world.dispatcher, reason="等待道路开挖许可")
    assert case.paused_since == T0 + 2 * HOUR
    with clock_at(T0 + 7 * HOUR):
        services.case_resume(case=case, actor=world.dispatcher)

    case.refresh_from_db()
    assert case.handle_due_at == T0 + 29 * HOUR
    assert case.paused_since is None and len(case.pauses) == 1
    assert case.events.order_by("-seq").first().data["due"] == {"handle": "2026-11-27T07:00:00.000000+00:00"}


def test_a_pending_extension_pauses_the_clock_and_an_approval_adds_the_extension(world: CaseWorld) -> None:
    case = _handling_case(world)
    with clock_at(T0 + 3 * HOUR):
        services.case_request_extension(
            case=case, actor=world.handler, amount=8, unit="calendar_hours", reason="需要更换管道"
        )
    with clock_at(T0 + 4 * HOUR):
        services.case_decide_extension(case=case, actor=world.dispatcher, approved=True)

    case.refresh_from_db()
    # 24 h limit + 1 h pending (not counted) + 8 h extension
    assert case.handle_due_at == T0 + 33 * HOUR
    assert case.extensions == [{"amount": 8, "unit": "calendar_hours"}]


def test_a_refused_extension_only_gives_back_the_time_it_was_pending(world: CaseWorld, unchanged: Any) -> None:
    case = _handling_case(world)
    with clock_at(T0 + 3 * HOUR):
        services.case_request_extension(case=case, actor=world.handler, amount=8, unit="calendar_hours", reason="x")
    check = unchanged(case)
    with pytest.raises(ValidationError):
        services.case_decide_extension(case=case, actor=world.dispatcher, approved=False, reason="")
    check()
    with clock_at(T0 + 5 * HOUR):
        services.case_decide_extension(case=case, actor=world.dispatcher, approved=False, reason="理由不充分")

    case.refresh_from_db()
    assert (case.status, case.handle_due_at, case.extensions) == (Status.HANDLING, T0 + 26 * HOUR, [])


def test_an_extension_request_needs_a_positive_amount_in_a_known_unit(world: CaseWorld, unchanged: Any) -> None:
    case = _handling_case(world)
    check = unchanged(case)
    for amount, unit in ((0, "calendar_hours"), (3, "fortnights")):
        with pytest.raises(ValidationError):
            services.case_request_extension(case=case, actor=world.handler, amount=amount, unit=unit, reason="x")
    check()


def test_working_day_limits_skip_the_weekend(world: CaseWorld) -> None:
    TimeLimit.objects.filter(minor_class=world.manhole, stage="register", urgency="normal").update(
        amount=2, unit="working_days"
    )
    friday_afternoon = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)  # 16:00 in Qingdao
    case = reported(world, at=friday_afternoon)
    # Two working days from Friday 16:00 end on Tuesday 16:00 (no holiday in this week).
    assert case.register_due_at == dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def test_flag_key_and_unflag(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLING, source=Source.INSPECTOR)
    services.case_flag_key(case=case, actor=world.leader)
    assert Case.objects.get(pk=case.pk).is_key
    services.case_flag_key(case=case, actor=world.leader, key=False)
    assert not Case.objects.get(pk=case.pk).is_key


def test_supervision_is_addressed_to_the_lead_unit_and_replied_once(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLING)
    record = services.case_supervise(case=case, actor=world.leader, text="限期三日")
    assert (record.to_unit, record.from_unit, record.kind) == (world.handler_unit, world.city.a.centre, "supervise")

    services.supervision_reply(supervision=record, actor=world.handler, text="已安排")
    record.refresh_from_db()
    assert (record.reply, record.replied_by) == ("已安排", world.handler)
    with pytest.raises(ValidationError):
        services.supervision_reply(supervision=record, actor=world.handler, text="再答一次")
    assert [e.action for e in case.events.order_by("seq")][-2:] == ["supervise", "reply"]
