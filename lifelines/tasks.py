"""Celery tasks of the lifelines app: thin wrappers around services, idempotent, safe to run at any time."""

from __future__ import annotations

from celery import shared_task

from lifelines.services import reading_partitions_maintain


@shared_task(name="lifelines.maintain_partitions")
def maintain_partitions() -> dict[str, list[str]]:
    """The readings table's months: next months' partitions created ahead, those past the retention dropped
    (beat: CELERY_BEAT_SCHEDULE["lifelines-maintain-partitions"], hourly)."""
    report = reading_partitions_maintain()
    return {"created": report.created, "dropped": report.dropped, "busy": report.busy}
