"""The event log holds up: the database refuses to change it, the hash chain finds tampering, and the case's
state can be recomputed from the log alone."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from cases import services
from cases.clock import clock_at
from cases.log import case_state_from_log, chain_problems
from cases.models import Case, CaseEvent, Status
from tests.cases.factories import T0, CaseWorld, case_in, png_upload, reported


def _tamper(sql: str, params: list) -> None:
    """Change the log as a superuser would: with the append-only triggers switched off for the statement."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE waits for no deferred checks
        cursor.execute("ALTER TABLE cases_caseevent DISABLE TRIGGER USER")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("ALTER TABLE cases_caseevent ENABLE TRIGGER USER")


def _verify(*args: str) -> tuple[str, str | None]:
    out = StringIO()
    try:
        call_command("verify_case_log", *args, stdout=out)
    except CommandError as error:
        return out.getvalue(), str(error)
    return out.getvalue(), None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE cases_caseevent SET reason = 'rewritten' WHERE case_id = %s",
        "DELETE FROM cases_caseevent WHERE case_id = %s",
    ],
)
def test_the_database_refuses_to_update_or_delete_an_event(world: CaseWorld, statement: str) -> None:
    case = case_in(world, Status.REGISTERED)
    before = list(CaseEvent.objects.filter(case=case).values_list("seq", "reason", "hash"))

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [case.pk])

    assert list(CaseEvent.objects.filter(case=case).values_list("seq", "reason", "hash")) == before


def test_the_database_refuses_to_truncate_the_log(world: CaseWorld) -> None:
    case = case_in(world, Status.REPORTED)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        # Test connections allow TRUNCATE for the flush between transactional tests; a real session does not.
        cursor.execute("SET LOCAL cases.allow_log_truncate = 'off'")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own inserts leave deferred checks pending
        cursor.execute("TRUNCATE cases_caseevent CASCADE")

    assert CaseEvent.objects.filter(case=case).count() == 1


def test_the_orm_cannot_delete_a_case_that_has_events(world: CaseWorld) -> None:
    case = case_in(world, Status.REPORTED)

    with pytest.raises(Exception, match="protected|append-only"), transaction.atomic():
        case.delete()

    assert Case.objects.filter(pk=case.pk).exists()


def test_verify_case_log_passes_an_untouched_log(world: CaseWorld) -> None:
    case_in(world, Status.CLOSED)
    case_in(world, Status.RETURNED)

    out, error = _verify()

    assert error is None
    assert "checked 2 cases, 10 events: 0 with problems" in out


def test_verify_case_log_finds_an_edited_reason(world: CaseWorld) -> None:
    case = case_in(world, Status.CLOSED)
    other = case_in(world, Status.HANDLING)
    _tamper("UPDATE cases_caseevent SET reason = '无' WHERE case_id = %s AND action = 'check'", [case.pk])

    out, error = _verify()

    assert error == "checked 2 cases, 10 events: 1 with problems"
    assert f"{case.number}: tampered: event 6 (check): content does not match its hash" in out
    assert other.number not in out


def test_verify_case_log_finds_a_deleted_event_and_a_rewritten_chain(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLING)
    _tamper("DELETE FROM cases_caseevent WHERE case_id = %s AND seq = 2", [case.pk])

    out, error = _verify("--case", case.number)

    assert error is not None
    assert "event 2 is missing" in out
    assert "event 3: its previous hash does not match event 2" in out


def test_verify_case_log_reports_a_row_that_disagrees_with_its_log(world: CaseWorld) -> None:
    case = case_in(world, Status.HANDLING)
    Case.objects.filter(pk=case.pk).update(status=Status.CLOSED, rework_count=3)

    out, error = _verify("--case", case.number)

    assert error is not None
    assert "mismatch: status: log says 'handling', row says 'closed'" in out
    assert "mismatch: rework_count: log says 0, row says 3" in out


def test_verify_case_log_names_an_unknown_case(world: CaseWorld) -> None:
    _out, error = _verify("--case", "000000-00000000-000000")
    assert error == "no case numbered 000000-00000000-000000"


def test_the_state_recomputed_from_the_log_equals_the_row_through_a_busy_life(world: CaseWorld) -> None:
    case = reported(world)
    hour = dt.timedelta(hours=1)
    steps = [
        lambda: services.case_register(case=case, actor=world.clerk),
        lambda: services.case_dispatch(case=case, actor=world.dispatcher),
        lambda: services.case_return(case=case, actor=world.handler, reason="不是我们的"),
        lambda: services.case_dispatch(case=case, actor=world.dispatcher),
        lambda: services.case_accept(case=case, actor=world.handler),
        lambda: services.case_request_extension(
            case=case, actor=world.handler, amount=5, unit="calendar_hours", reason="材料"
        ),
        lambda: services.case_decide_extension(case=case, actor=world.dispatcher, approved=True),
        lambda: services.case_hold(case=case, actor=world.leader, reason="待审批"),
        lambda: services.case_resume(case=case, actor=world.leader),
        lambda: services.case_flag_key(case=case, actor=world.leader),
        lambda: services.case_feedback(case=case, actor=world.handler, description="修好", after_photos=[png_upload()]),
        lambda: services.case_check(case=case, actor=world.inspector, passed=False, reason="没修好"),
        lambda: services.case_accept(case=case, actor=world.handler),
        lambda: services.case_feedback(case=case, actor=world.handler, description="再修", after_photos=[png_upload()]),
        lambda: services.case_check(case=case, actor=world.inspector, passed=True),
        lambda: services.case_reopen(case=case, actor=world.leader, reason="又坏了"),
    ]
    for i, step in enumerate(steps, start=1):
        with clock_at(T0 + i * 3 * hour):
            step()
        case.refresh_from_db()
        assert case_state_from_log(case).mismatches(case) == [], f"after step {i}"

    state = case_state_from_log(case)
    assert (state.status, state.return_count, state.rework_count, state.is_key) == (Status.REGISTERED, 1, 1, True)
    assert state.on_time["dispatch"] is False  # re-dispatched 6 hours after the return, limit 1 hour
    assert chain_problems(case, case.events.order_by("seq")) == []
