"""Celery tasks of the cases app: thin wrappers around services, idempotent, safe to run at any time."""

from __future__ import annotations

from celery import shared_task

from cases.idempotency import client_submissions_purge
from cases.map_counts import compact_open_case_cells
from cases.sweep import deadlines_sweep, overdue_urge_all


@shared_task(name="cases.sweep_deadlines", ignore_result=False)
def sweep_deadlines() -> dict[str, int]:
    """The every-minute deadline sweep (beat: CELERY_BEAT_SCHEDULE["cases-sweep-deadlines"])."""
    result = deadlines_sweep()
    return {"overdue": result.overdue, "cleared": result.cleared, "warned": result.warned}


@shared_task(name="cases.urge_overdue")
def urge_overdue(alert_ids: list[int]) -> int:
    """The platform's urging for newly overdue handling deadlines (once per alert); returns how many were sent."""
    return overdue_urge_all(alert_ids)


@shared_task(name="cases.compact_open_case_cells")
def compact_map_counts() -> int:
    """Fold the map's appended open-case count changes (beat: every 10 s); how many were folded."""
    return compact_open_case_cells()


@shared_task(name="cases.purge_client_submissions")
def purge_client_submissions() -> int:
    """Forget idempotency keys older than 30 days (beat: daily); how many were deleted."""
    return client_submissions_purge()
