"""One case's whole life through the services, from a citizen's report to closure, with its log in order."""

from __future__ import annotations

import datetime as dt

from cases import services
from cases.clock import clock_at
from cases.log import case_state_from_log, chain_problems
from cases.models import CasePhoto, Source, Status
from tests.cases.factories import T0, CaseWorld, png_upload, reported

HOUR = dt.timedelta(hours=1)


def test_a_citizen_report_goes_from_verification_to_closure_with_every_step_on_record(world: CaseWorld) -> None:
    case = reported(world, source=Source.CITIZEN, reporter_phone="13800000000", photos=[png_upload()])
    assert case.status == Status.VERIFYING
    assert case.verify_due_at == T0 + HOUR

    with clock_at(T0 + 0.5 * HOUR):
        services.case_verify(case=case, actor=world.inspector, photos=[png_upload(colour=(0, 0, 200))])
    with clock_at(T0 + 1 * HOUR):
        services.case_register(case=case, actor=world.clerk)
    with clock_at(T0 + 3 * HOUR):  # the dispatch limit is 1 hour: late
        services.case_dispatch(case=case, actor=world.dispatcher)
    with clock_at(T0 + 4 * HOUR):
        services.case_accept(case=case, actor=world.handler)
    with clock_at(T0 + 10 * HOUR):
        services.case_feedback(case=case, actor=world.handler, description="已更换", after_photos=[png_upload()])
    with clock_at(T0 + 11 * HOUR):
        services.case_check(case=case, actor=world.inspector, passed=True)

    case.refresh_from_db()
    assert case.status == Status.CLOSED
    assert case.closed_at == T0 + 11 * HOUR
    assert case.lead_unit == world.handler_unit
    assert (case.verify_on_time, case.register_on_time, case.dispatch_on_time) == (True, True, False)
    assert (case.handle_on_time, case.check_on_time) == (True, True)
    assert case.handle_due_at == T0 + 3 * HOUR + 24 * HOUR

    events = list(case.events.order_by("seq"))
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("report", "", Status.VERIFYING),
        ("verify", Status.VERIFYING, Status.REPORTED),
        ("register", Status.REPORTED, Status.REGISTERED),
        ("dispatch", Status.REGISTERED, Status.DISPATCHED),
        ("accept", Status.DISPATCHED, Status.HANDLING),
        ("feedback", Status.HANDLING, Status.HANDLED),
        ("check", Status.HANDLED, Status.CLOSED),
    ]
    assert [e.actor for e in events] == [
        None,
        world.inspector,
        world.clerk,
        world.dispatcher,
        world.handler,
        world.handler,
        world.inspector,
    ]
    assert [e.actor_role for e in events][1:] == [
        "inspector",
        "intake_clerk",
        "dispatcher",
        "handler",
        "handler",
        "inspector",
    ]
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)
    assert chain_problems(case, events) == []
    assert case_state_from_log(case).mismatches(case) == []
    phases = list(CasePhoto.objects.filter(case=case).order_by("id").values_list("phase", "event__action"))
    assert phases == [("evidence", "report"), ("verify", "verify"), ("after", "feedback")]
