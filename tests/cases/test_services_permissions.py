"""Every workflow action: done by the role allowed, refused (changing nothing) for a role that is not, and a 404
for a unit that cannot see the case; and refused from a status it does not apply to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from cases import services
from cases.models import OPEN_STATUSES, STAGE_OF_STATUS, Case, CaseEvent, Status, Supervision
from cases.workflow import TRANSITIONS
from tests.cases.factories import CaseWorld, case_in, png_upload, reported
from workcalendar.units import TimeUnit

Call = Callable[[CaseWorld, Case, Any, dict[str, Any]], Any]


@dataclass(frozen=True)
class Spec:
    status: str  # the case is brought to this status first
    allowed: str  # CaseWorld attribute of a person who may
    wrong_role: str  # sees the case, but holds no role for the action
    outsider: str  # cannot see the case
    call: Call
    after: str | None  # the status it ends in
    prepare: Callable[[CaseWorld, Case], dict[str, Any]] = lambda world, case: {}


def _master(world: CaseWorld, case: Case) -> dict[str, Any]:
    return {"master": reported(world, description="另一位市民也报了")}


def _supervision(world: CaseWorld, case: Case) -> dict[str, Any]:
    return {"supervision": services.case_supervise(case=case, actor=world.leader, text="请尽快处置")}


SPECS: dict[str, Spec] = {
    "verify": Spec(
        Status.VERIFYING,
        "inspector",
        "clerk",
        "other_inspector",
        lambda w, c, a, x: services.case_verify(case=c, actor=a),
        Status.REPORTED,
    ),
    "register": Spec(
        Status.REPORTED,
        "clerk",
        "dispatcher",
        "outsider_clerk",
        lambda w, c, a, x: services.case_register(case=c, actor=a),
        Status.REGISTERED,
    ),
    "reject": Spec(
        Status.REPORTED,
        "clerk",
        "inspector",
        "outsider_clerk",
        lambda w, c, a, x: services.case_reject(case=c, actor=a, reason="不属于城管范围"),
        Status.NOT_REGISTERED,
    ),
    "merge": Spec(
        Status.REPORTED,
        "clerk",
        "dispatcher",
        "outsider_clerk",
        lambda w, c, a, x: services.case_merge(case=c, master=x["master"], actor=a),
        Status.MERGED,
        prepare=_master,
    ),
    "dispatch": Spec(
        Status.REGISTERED,
        "dispatcher",
        "clerk",
        "outsider_dispatcher",
        lambda w, c, a, x: services.case_dispatch(case=c, actor=a),
        Status.DISPATCHED,
    ),
    "accept": Spec(
        Status.DISPATCHED,
        "handler",
        "dispatcher",
        "outsider_handler",
        lambda w, c, a, x: services.case_accept(case=c, actor=a),
        Status.HANDLING,
    ),
    "return": Spec(
        Status.DISPATCHED,
        "handler",
        "dispatcher",
        "outsider_handler",
        lambda w, c, a, x: services.case_return(case=c, actor=a, reason="非本单位职责"),
        Status.RETURNED,
    ),
    "request_extension": Spec(
        Status.HANDLING,
        "handler",
        "dispatcher",
        "outsider_handler",
        lambda w, c, a, x: services.case_request_extension(
            case=c, actor=a, amount=4, unit=TimeUnit.CALENDAR_HOURS, reason="等配件"
        ),
        Status.EXTENSION_PENDING,
    ),
    "decide_extension": Spec(
        Status.EXTENSION_PENDING,
        "dispatcher",
        "handler",
        "outsider_dispatcher",
        lambda w, c, a, x: services.case_decide_extension(case=c, actor=a, approved=True),
        Status.HANDLING,
    ),
    "hold": Spec(
        Status.HANDLING,
        "dispatcher",
        "handler",
        "outsider_dispatcher",
        lambda w, c, a, x: services.case_hold(case=c, actor=a, reason="待审批"),
        Status.ON_HOLD,
    ),
    "resume": Spec(
        Status.ON_HOLD,
        "dispatcher",
        "inspector",
        "outsider_dispatcher",
        lambda w, c, a, x: services.case_resume(case=c, actor=a),
        Status.HANDLING,
    ),
    "feedback": Spec(
        Status.HANDLING,
        "handler",
        "inspector",
        "outsider_handler",
        lambda w, c, a, x: services.case_feedback(case=c, actor=a, description="已修复", after_photos=[png_upload()]),
        Status.HANDLED,
    ),
    "check": Spec(
        Status.HANDLED,
        "inspector",
        "handler",
        "other_inspector",
        lambda w, c, a, x: services.case_check(case=c, actor=a, passed=True),
        Status.CLOSED,
    ),
    "cancel": Spec(
        Status.REGISTERED,
        "clerk",
        "dispatcher",
        "outsider_clerk",
        lambda w, c, a, x: services.case_cancel(case=c, actor=a, reason="重复录入"),
        Status.CANCELLED,
    ),
    "reopen": Spec(
        Status.CLOSED,
        "leader",
        "dispatcher",
        "outsider_leader",
        lambda w, c, a, x: services.case_reopen(case=c, actor=a, reason="市民反映问题仍在"),
        Status.REGISTERED,
    ),
    "flag_key": Spec(
        Status.HANDLING,
        "leader",
        "dispatcher",
        "outsider_leader",
        lambda w, c, a, x: services.case_flag_key(case=c, actor=a),
        Status.HANDLING,
    ),
    "supervise": Spec(
        Status.HANDLING,
        "leader",
        "dispatcher",
        "outsider_leader",
        lambda w, c, a, x: services.case_supervise(case=c, actor=a, text="限期办结"),
        Status.HANDLING,
    ),
    "urge": Spec(
        Status.HANDLING,
        "dispatcher",
        "handler",
        "outsider_dispatcher",
        lambda w, c, a, x: services.case_urge(case=c, actor=a, text="请加快"),
        Status.HANDLING,
    ),
    "reply": Spec(
        Status.HANDLING,
        "handler",
        "dispatcher",
        "outsider_handler",
        lambda w, c, a, x: services.supervision_reply(supervision=x["supervision"], actor=a, text="明天完成"),
        Status.HANDLING,
        prepare=_supervision,
    ),
}


def test_every_action_of_the_table_is_covered() -> None:
    # self_handle has its own tests (it creates the case); merge_in is the master's side of merge.
    assert set(TRANSITIONS) - {"self_handle", "merge_in"} == set(SPECS)


@pytest.mark.parametrize("action", SPECS)
def test_the_allowed_role_does_it_and_the_log_records_it(world: CaseWorld, action: str) -> None:
    spec = SPECS[action]
    case = case_in(world, spec.status)
    extra = spec.prepare(world, case)
    actor = getattr(world, spec.allowed)
    events_before = case.events.count()

    spec.call(world, case, actor, extra)

    case.refresh_from_db()
    assert case.status == spec.after
    last = case.events.order_by("-seq").first()
    assert case.events.count() == events_before + 1
    assert (last.action, last.actor, last.from_status, last.to_status) == (action, actor, spec.status, spec.after)


@pytest.mark.parametrize("action", SPECS)
def test_a_role_that_may_not_is_refused_and_nothing_changes(
    world: CaseWorld, action: str, unchanged: Callable[[Case], Callable[[], None]]
) -> None:
    spec = SPECS[action]
    case = case_in(world, spec.status)
    extra = spec.prepare(world, case)
    check = unchanged(case)
    supervisions = list(Supervision.objects.values_list("reply", flat=True))

    with pytest.raises(PermissionDenied):
        spec.call(world, case, getattr(world, spec.wrong_role), extra)

    check()
    assert list(Supervision.objects.values_list("reply", flat=True)) == supervisions


@pytest.mark.parametrize("action", SPECS)
def test_a_unit_that_cannot_see_the_case_gets_a_404_and_nothing_changes(
    world: CaseWorld, action: str, unchanged: Callable[[Case], Callable[[], None]]
) -> None:
    spec = SPECS[action]
    case = case_in(world, spec.status)
    extra = spec.prepare(world, case)
    check = unchanged(case)

    with pytest.raises(Http404):
        spec.call(world, case, getattr(world, spec.outsider), extra)

    check()


@pytest.mark.parametrize(
    ("action", "wrong_status"),
    [
        ("register", Status.VERIFYING),
        ("dispatch", Status.REPORTED),
        ("accept", Status.RETURNED),
        ("feedback", Status.DISPATCHED),
        ("check", Status.HANDLING),
        ("reopen", Status.HANDLING),
        ("cancel", Status.CLOSED),
        ("resume", Status.HANDLING),
        ("decide_extension", Status.HANDLING),
    ],
)
def test_an_action_is_refused_from_a_status_it_does_not_apply_to(
    world: CaseWorld, action: str, wrong_status: str, unchanged: Callable[[Case], Callable[[], None]]
) -> None:
    spec = SPECS[action]
    case = case_in(world, wrong_status)
    check = unchanged(case)

    with pytest.raises(ValidationError) as refused:
        spec.call(world, case, getattr(world, spec.allowed), {})

    assert refused.value.code == "invalid_status"
    check()


@pytest.mark.parametrize(
    ("action", "call"),
    [
        ("reject", lambda w, c: services.case_reject(case=c, actor=w.clerk, reason="  ")),
        ("return", lambda w, c: services.case_return(case=c, actor=w.handler, reason="")),
        ("cancel", lambda w, c: services.case_cancel(case=c, actor=w.clerk, reason="")),
        ("reopen", lambda w, c: services.case_reopen(case=c, actor=w.leader, reason="")),
        ("check", lambda w, c: services.case_check(case=c, actor=w.inspector, passed=False, reason="")),
        ("feedback", lambda w, c: services.case_feedback(case=c, actor=w.handler, description="好了", after_photos=[])),
    ],
)
def test_a_reason_or_the_after_photos_are_required(
    world: CaseWorld, action: str, call: Callable[[CaseWorld, Case], Any], unchanged: Any
) -> None:
    case = case_in(world, SPECS[action].status)
    check = unchanged(case)

    with pytest.raises(ValidationError):
        call(world, case)

    check()


def test_a_refused_call_leaves_no_event_anywhere(world: CaseWorld) -> None:
    case = case_in(world, Status.REGISTERED)
    events = CaseEvent.objects.count()

    with pytest.raises(PermissionDenied):
        services.case_dispatch(case=case, actor=world.inspector)

    assert CaseEvent.objects.count() == events


def test_every_open_status_has_a_timed_stage() -> None:
    assert set(STAGE_OF_STATUS) == set(OPEN_STATUSES)
