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


@shared_task(name="lifelines.sweep_offline")
def sweep_offline() -> int:
    """Offline alarms for active sensors silent past LIFELINES_OFFLINE_FACTOR intervals (beat: every minute)."""
    from lifelines.alarms import alarms_sweep_offline

    return alarms_sweep_offline()


@shared_task(name="lifelines.escalate_alarms")
def escalate_alarms() -> int:
    """Alarms nobody acknowledged in their level's time escalated, once (beat: every minute)."""
    from lifelines.alarms import alarms_escalate

    return alarms_escalate()


@shared_task(name="lifelines.republish_alarms")
def republish_alarms() -> int:
    """Alarm changes the live feed missed (Redis was away) published now, each once (beat: every minute)."""
    from lifelines.live import alarms_republish

    return alarms_republish()
