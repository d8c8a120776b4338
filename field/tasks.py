"""Celery tasks of the field app: thin wrappers around field.services, idempotent, safe to run at any time."""

from __future__ import annotations

from celery import shared_task

from field import services


@shared_task(name="field.assign_verification")
def assign_verification(case_id: int) -> int | None:
    """Offer a case awaiting verification to the nearest inspector on duty in its grid (queued by intake after
    commit); the inspector's id, or None when nobody fits (or it was offered already)."""
    assigned = services.verifications_assign(case_ids=[case_id])
    return assigned[0].inspector_id if assigned else None


@shared_task(name="field.assign_pending_verifications")
def assign_pending_verifications() -> int:
    """Beat: offer the recent cases awaiting verification that nobody was offered yet; how many were offered."""
    return len(services.verifications_assign_pending())


@shared_task(name="field.close_stale_shifts")
def close_stale_shifts() -> int:
    """Beat: end the shifts left open for more than 14 hours; how many were ended."""
    return services.shifts_close_stale()


@shared_task(name="field.purge_positions")
def purge_positions() -> int:
    """Beat: delete the positions older than the retention period (30 days); how many were deleted."""
    return services.positions_purge()
