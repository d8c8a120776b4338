"""The sweep task on a real Celery worker: enqueued with .delay(), run by the worker on the test database."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from cases.alerts import AlertKind, CaseDeadlineWarning
from cases.models import Case, Status
from cases.tasks import sweep_deadlines
from tests.cases.factories import advance, case_world, reported


@pytest.mark.worker
def test_a_worker_running_the_enqueued_sweep_marks_the_late_case_overdue(
    transactional_db: Any, celery_worker_process: Any
) -> None:
    # transactional_db: the worker's own connection must see these rows, so they are committed.
    world = case_world()
    three_days_ago = timezone.now() - dt.timedelta(days=3)
    case = advance(world, reported(world, at=three_days_ago), Status.HANDLING, at=three_days_ago)
    assert case.handle_due_at < timezone.now() and not case.is_overdue

    counts = sweep_deadlines.delay().get(timeout=30)

    assert counts["overdue"] >= 1
    assert Case.objects.get(pk=case.pk).is_overdue
    assert CaseDeadlineWarning.objects.filter(case=case, kind=AlertKind.OVERDUE).count() == 1
