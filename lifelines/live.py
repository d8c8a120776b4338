"""Alarm changes on the live feed: after the change commits, one "alarm" event per changed alarm (its state now) to
the groups of the facility's district, street, community and owner unit, and the city's (cases.events' groups,
through command.live's publisher).

Every change is an AlarmEvent row first; `published_at` says it reached Redis. Publishing claims the unpublished
rows of the changed alarms with FOR UPDATE SKIP LOCKED, appends to the streams, and marks them in the same
transaction: when Redis fails nothing is marked and the sweep (`lifelines.republish_alarms`, every minute) sends
them once Redis is back; two publishers never claim the same row, so a change goes out once. While Redis is
failing, ingest does not even try (for LIFELINES_LIVE_BACKOFF_S, 5 s) so that a dead Redis costs it nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from cases import events as case_events
from command import live
from lifelines.models import Alarm, AlarmLevel

logger = logging.getLogger(__name__)

KIND = "alarm"
SWEEP_BATCH = 500  # alarms per claim in the sweep

_backoff_lock = threading.Lock()
_failed_until = 0.0  # monotonic time before which on-commit publishing is left to the sweep


def backoff_seconds() -> float:
    return float(getattr(settings, "LIFELINES_LIVE_BACKOFF_S", 5.0))


def backoff_reset() -> None:
    """Forget a recent Redis failure (tests; the sweep's success does it too)."""
    global _failed_until
    with _backoff_lock:
        _failed_until = 0.0


def _note_failure() -> None:
    global _failed_until
    with _backoff_lock:
        _failed_until = time.monotonic() + backoff_seconds()


def alarm_groups(*, district_id: int | None, street_id: int | None, community_id: int | None, unit_id: int | None):
    """The live groups an alarm of a facility here, owned by this unit, goes to (the city's first)."""
    return case_events.case_groups(
        district_id=district_id, street_id=street_id, community_id=community_id, unit_ids=[unit_id] if unit_id else []
    )


_ALARMS_SQL = """
SELECT a.id, a.sensor_id, s.code, f.id, f.name, t.domain, a.level, a.state, a.kind, a.last_value, t.unit,
       a.raised_at, ST_X(f.location), ST_Y(f.location), f.district_id, f.street_id, f.community_id, f.owner_unit_id
FROM lifelines_alarm a
JOIN lifelines_sensor s ON s.id = a.sensor_id
JOIN lifelines_sensortype t ON t.id = s.sensor_type_id
JOIN lifelines_facility f ON f.id = s.facility_id
WHERE a.id = ANY(%s)
ORDER BY a.id
"""

_CLAIM_SQL = """
SELECT e.id, e.alarm_id, e.kind, e.at FROM lifelines_alarmevent e
WHERE e.published_at IS NULL AND e.alarm_id = ANY(%s)
ORDER BY e.id
FOR UPDATE SKIP LOCKED
"""

_SWEEP_CLAIM_SQL = """
SELECT e.id, e.alarm_id, e.kind, e.at FROM lifelines_alarmevent e
WHERE e.published_at IS NULL AND e.alarm_id IN (
    SELECT DISTINCT alarm_id FROM lifelines_alarmevent WHERE published_at IS NULL ORDER BY alarm_id LIMIT %s
)
ORDER BY e.id
FOR UPDATE SKIP LOCKED
"""


def _messages(claimed: list[tuple[int, int, str, Any]]) -> list[tuple[list[str], dict[str, Any]]]:
    """One message per alarm among the claimed events: the alarm as it stands now, with its latest change."""
    latest: dict[int, tuple[str, Any]] = {}
    for _event_id, alarm_id, kind, at in claimed:
        latest[alarm_id] = (kind, at)
    with connection.cursor() as cursor:
        cursor.execute(_ALARMS_SQL, [list(latest)])
        rows = cursor.fetchall()
    out = []
    for (
        alarm_id,
        sensor_id,
        sensor_code,
        facility_id,
        facility_name,
        domain,
        level,
        state,
        kind,
        value,
        unit,
        raised_at,
        lon,
        lat,
        district_id,
        street_id,
        community_id,
        unit_id,
    ) in rows:
        change, at = latest[alarm_id]
        message = {
            "kind": KIND,
            "id": alarm_id,
            "sensor": sensor_id,
            "sensor_code": sensor_code,
            "facility": facility_id,
            "facility_name": facility_name,
            "domain": domain,
            "alarm_kind": kind,
            "level": AlarmLevel(level).name.lower(),
            "state": state,
            "change": change,
            "value": value,
            "unit": unit,
            "lon": lon,
            "lat": lat,
            "at": timezone.localtime(at).isoformat(),
            "raised_at": timezone.localtime(raised_at).isoformat(),
        }
        groups = alarm_groups(district_id=district_id, street_id=street_id, community_id=community_id, unit_id=unit_id)
        out.append((groups, message))
    return out


def _publish_claimed(claimed: list[tuple[int, int, str, Any]]) -> bool:
    """Send the claimed events' alarms and mark the events; False (nothing marked) when Redis failed."""
    if not claimed:
        return True
    for groups, message in _messages(claimed):
        if live.publish(groups, message) is None:
            # The transaction rolls back the claim: these events (and those sent before in this call) go out
            # again with the sweep. A message repeated then is the alarm's state, which the page just redraws.
            raise _PublishFailed
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE lifelines_alarmevent SET published_at = %s WHERE id = ANY(%s)",
            [timezone.now(), [row[0] for row in claimed]],
        )
    return True


class _PublishFailed(Exception):
    pass


def alarms_publish(alarm_ids: Iterable[int]) -> int:
    """Publish the unpublished changes of these alarms now (own transaction); how many alarms went out."""
    ids = sorted(set(alarm_ids))
    if not ids:
        return 0
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_CLAIM_SQL, [ids])
                claimed = cursor.fetchall()
            _publish_claimed(claimed)
    except _PublishFailed:
        _note_failure()
        return 0
    return len({row[1] for row in claimed})


def alarms_publish_on_commit(alarm_ids: Iterable[int]) -> None:
    """Called by lifelines.alarms wherever it writes AlarmEvents: publish them once the transaction commits.

    Skipped (left to the sweep) while the live feed is suppressed (bulk back-filling) or Redis failed lately."""
    ids = sorted({alarm_id for alarm_id in alarm_ids if alarm_id is not None})
    if not ids:
        return
    if getattr(case_events._local, "suppressed", False):
        return

    def send() -> None:
        if time.monotonic() < _failed_until:
            return
        try:
            alarms_publish(ids)
        except Exception:  # noqa: BLE001 (the alarm is committed; a lost hint must not fail the ingest)
            logger.warning("could not publish alarm changes %s", ids[:10], exc_info=True)

    transaction.on_commit(send)


def alarms_republish(*, batch: int = SWEEP_BATCH) -> int:
    """The sweep: publish every alarm change not published yet (Redis was away), in batches; how many alarms
    went out. Stops at the first Redis failure (the next run tries again)."""
    sent = 0
    while True:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(_SWEEP_CLAIM_SQL, [batch])
                    claimed = cursor.fetchall()
                _publish_claimed(claimed)
        except _PublishFailed:
            _note_failure()
            return sent
        if not claimed:
            backoff_reset()
            return sent
        sent += len({row[1] for row in claimed})


def open_alarm_message(alarm: Alarm) -> dict[str, Any]:
    """An open alarm as the command centre's queue first draws it (the same shape as the live event)."""
    facility = alarm.sensor.facility
    return {
        "kind": KIND,
        "id": alarm.pk,
        "sensor": alarm.sensor_id,
        "sensor_code": alarm.sensor.code,
        "facility": facility.pk,
        "facility_name": facility.name,
        "domain": alarm.sensor.sensor_type.domain,
        "alarm_kind": alarm.kind,
        "level": AlarmLevel(alarm.level).name.lower(),
        "state": alarm.state,
        "value": alarm.last_value,
        "unit": alarm.sensor.sensor_type.unit,
        "lon": facility.location.x,
        "lat": facility.location.y,
        "change": "open",
        "at": timezone.localtime(alarm.raised_at).isoformat(),
        "raised_at": timezone.localtime(alarm.raised_at).isoformat(),
    }
