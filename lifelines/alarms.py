"""The alarm lifecycle: raised -> acknowledged -> resolved (by a person) or cleared (by the readings); severity
raised and lowered in place; offline alarms; escalation; the case an alarm opens, and the guard that keeps
that case open while its alarm is.

Rules chosen here (the issue leaves them open):
- One open alarm per (sensor, kind): kind is the rule condition (bounds or rate) or offline. The levels of a
  sensor's rules of one condition share it: the alarm stands at the highest level that holds, and `rule` is that
  level's rule. A partial unique index enforces it; raising is INSERT ... ON CONFLICT DO NOTHING on that index.
- Repeats: every further breaching reading while the alarm is open counts one; one `repeated` event per batch
  says how many (not one row per reading).
- A raise needs a breaching reading: after a person resolves an alarm whose level still holds, the next
  breaching reading raises a new one; a reading inside the hysteresis band does not.
- Offline: an active sensor that has reported before and has been silent for more than
  LIFELINES_OFFLINE_FACTOR (3) x its expected interval gets an offline alarm (LIFELINES_OFFLINE_LEVEL, yellow);
  its next stored reading clears it.
- Escalation: an alarm still `raised` (nobody acknowledged it) LIFELINES_ESCALATION_MINUTES[level] after it was
  raised (red 10, orange 30, yellow 60, blue 120 min) is escalated once: `escalated_at` is set and an
  `escalated` event written; its level is not changed (the level keeps saying what the sensor measures), and
  when it has no case yet and its rule names a case class, the case is opened now, whatever the level.
- Case: an open alarm at or above its rule's case level (else LIFELINES_CASE_LEVEL, orange) whose rules name a
  case class opens one case (source sensor_alarm, at the facility, alarm_ref "lifelines:<id>"); red is
  emergency urgency, orange urgent, the rest normal. The case waits in the register queue like every sensor
  report; the facility's owner unit is named in its description for the dispatcher.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lifelines.live import alarms_publish_on_commit  # live feed hook: AlarmEvents are published after commit
from lifelines.models import (
    OPEN_ALARM_STATES,
    Alarm,
    AlarmEvent,
    AlarmEventKind,
    AlarmKind,
    AlarmLevel,
    AlarmState,
    Sensor,
)
from lifelines.rules import Outcome, Rule, Step, sensor_rules_load

logger = logging.getLogger(__name__)

CASE_REF_PREFIX = "lifelines:"
DEFAULT_ESCALATION_MINUTES = {"blue": 120, "yellow": 60, "orange": 30, "red": 10}
NOTE_MAX_LENGTH = 2000


# --- settings (read at use, so tests may override them; a bad value fails loudly)


def _level(name: str, default: str) -> int:
    value = getattr(settings, name, default)
    try:
        return AlarmLevel[str(value).upper()].value
    except KeyError:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of blue, yellow, orange, red.") from None


def case_level_default() -> int:
    """LIFELINES_CASE_LEVEL: an alarm at or above it opens a case (default orange)."""
    return _level("LIFELINES_CASE_LEVEL", "orange")


def offline_level() -> int:
    return _level("LIFELINES_OFFLINE_LEVEL", "yellow")


def offline_factor() -> float:
    """LIFELINES_OFFLINE_FACTOR: silent for more than this many expected intervals is offline (default 3)."""
    value = getattr(settings, "LIFELINES_OFFLINE_FACTOR", 3)
    if not isinstance(value, int | float) or value <= 0:
        raise ImproperlyConfigured(f"LIFELINES_OFFLINE_FACTOR={value!r} must be a number above zero.")
    return float(value)


def escalation_minutes() -> dict[int, float]:
    """LIFELINES_ESCALATION_MINUTES: {level name: minutes unacknowledged before escalation}."""
    configured = {**DEFAULT_ESCALATION_MINUTES, **getattr(settings, "LIFELINES_ESCALATION_MINUTES", {})}
    minutes = {}
    for name, value in configured.items():
        if name.upper() not in AlarmLevel.names or not isinstance(value, int | float) or value <= 0:
            raise ImproperlyConfigured(f"LIFELINES_ESCALATION_MINUTES[{name!r}]={value!r} is not valid.")
        minutes[AlarmLevel[name.upper()].value] = float(value)
    return minutes


# --- applying an evaluation


def _event(alarm: Alarm, kind: str, at: datetime, **fields: Any) -> AlarmEvent:
    return AlarmEvent(alarm=alarm, kind=kind, at=at, **fields)


_RAISE_SQL = """
INSERT INTO lifelines_alarm (sensor_id, kind, rule_id, level, state, raised_at, first_value, peak_value, last_value,
                             last_at, repeats, resolution_note)
VALUES (%s, %s, %s, %s, 'raised', %s, %s, %s, %s, %s, 0, '')
ON CONFLICT (sensor_id, kind) WHERE state IN ('raised', 'acknowledged') DO NOTHING
RETURNING id
"""


def _raise(sensor_id: int, kind: str, step: Step, events: list[AlarmEvent]) -> Alarm:
    """A new open alarm (or, if another worker's is already open, that one, locked)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _RAISE_SQL,
            [sensor_id, kind, step.target_rule_id, step.target, step.ts, step.value, step.measure, step.value, step.ts],
        )
        row = cursor.fetchone()
    if row is None:
        return Alarm.objects.select_for_update().get(sensor_id=sensor_id, kind=kind, state__in=OPEN_ALARM_STATES)
    alarm = Alarm(
        id=row[0],
        sensor_id=sensor_id,
        kind=kind,
        rule_id=step.target_rule_id,
        level=step.target,
        state=AlarmState.RAISED,
        raised_at=step.ts,
        first_value=step.value,
        peak_value=step.measure,
        last_value=step.value,
        last_at=step.ts,
        repeats=0,
    )
    events.append(_event(alarm, AlarmEventKind.RAISED, step.ts, to_level=step.target, data={"value": step.value}))
    return alarm


def _more_extreme(alarm: Alarm, rule: Rule | None, measure: float) -> bool:
    if alarm.peak_value is None:
        return True
    if alarm.kind == AlarmKind.RATE:
        return measure > alarm.peak_value
    # A bounds alarm goes up when its first breach was not a low one (above the lower bound, or no lower bound).
    upwards = rule is None or rule.lower is None or (alarm.first_value is not None and alarm.first_value > rule.lower)
    return measure > alarm.peak_value if upwards else measure < alarm.peak_value


def _clear(alarm: Alarm, at: datetime, value: float | None, events: list[AlarmEvent]) -> None:
    alarm.state, alarm.cleared_at = AlarmState.CLEARED, at
    # Saved at once: a breach later in the same batch raises a new alarm, which the unique index would refuse.
    alarm.save(update_fields=["state", "cleared_at", "level", "rule", "repeats", "last_value", "last_at", "peak_value"])
    events.append(_event(alarm, AlarmEventKind.CLEARED, at, from_level=alarm.level, data={"value": value}))


_UPDATED_FIELDS = ["level", "rule", "repeats", "last_value", "last_at", "peak_value"]


def alarms_apply(outcome: Outcome, *, now: datetime | None = None, may_have_open: bool = True) -> list[Alarm]:
    """Turn a batch's evaluation into alarm changes: raise, repeat, level up and down, clear (and clear the
    offline alarms of the sensors that reported); open the cases due. Runs in the ingest's transaction, after
    the sensors' rows were locked. Returns the alarms that changed. `may_have_open=False` (the ingest saw no open
    alarm of the batch's sensors) skips the look-up when the batch evaluated no rule either."""
    now = now or timezone.now()
    sensor_ids = list(outcome.first_reading)
    if not sensor_ids or (not may_have_open and not outcome.timelines):
        return []
    open_alarms = {
        (alarm.sensor_id, alarm.kind): alarm
        for alarm in Alarm.objects.select_for_update()
        .filter(sensor_id__in=sensor_ids, state__in=OPEN_ALARM_STATES)
        .order_by("id")
    }
    if not open_alarms and not any(step.target for steps in outcome.timelines.values() for step in steps):
        return []
    events: list[AlarmEvent] = []
    changed: dict[int, Alarm] = {}
    repeats: dict[int, int] = {}

    for (sensor_id, kind), alarm in open_alarms.items():
        if kind == AlarmKind.OFFLINE:
            ts, value = outcome.first_reading[sensor_id]
            alarm.state, alarm.cleared_at = AlarmState.CLEARED, now
            alarm.save(update_fields=["state", "cleared_at"])
            events.append(
                _event(alarm, AlarmEventKind.CLEARED, now, from_level=alarm.level, data={"ts": ts.isoformat()})
            )
            changed[alarm.pk] = alarm

    for key in sorted(outcome.timelines):
        sensor_id, kind = key
        alarm = open_alarms.get(key)
        for step in outcome.timelines[key]:
            if step.target is None:
                if alarm is not None:
                    _clear(alarm, step.ts, step.value, events)
                    changed[alarm.pk] = alarm
                    alarm = None
                continue
            if alarm is None:
                if step.breached:
                    alarm = _raise(sensor_id, kind, step, events)
                    changed[alarm.pk] = alarm
                continue
            if step.target != alarm.level:
                kind_of_change = AlarmEventKind.LEVEL_UP if step.target > alarm.level else AlarmEventKind.LEVEL_DOWN
                events.append(
                    _event(
                        alarm,
                        kind_of_change,
                        step.ts,
                        from_level=alarm.level,
                        to_level=step.target,
                        data={"value": step.value},
                    )
                )
                alarm.level = step.target
            elif step.breached:
                alarm.repeats += 1
                repeats[alarm.pk] = repeats.get(alarm.pk, 0) + 1
            alarm.rule_id = step.target_rule_id
            if step.breached:
                alarm.last_value, alarm.last_at = step.value, step.ts
                if _more_extreme(alarm, outcome.rules.get(step.target_rule_id), step.measure):
                    alarm.peak_value = step.measure
            changed[alarm.pk] = alarm

    still_open = [alarm for alarm in changed.values() if alarm.is_open and alarm.kind != AlarmKind.OFFLINE]
    if still_open:
        Alarm.objects.bulk_update(still_open, _UPDATED_FIELDS)
    for alarm_id, count in repeats.items():
        alarm = changed[alarm_id]
        events.append(
            _event(
                alarm, AlarmEventKind.REPEATED, alarm.last_at or now, data={"count": count, "value": alarm.last_value}
            )
        )
    AlarmEvent.objects.bulk_create(events)
    for alarm in still_open:
        rules = outcome.sensor_rules.get((alarm.sensor_id, alarm.kind), [])
        alarm_case_open_if_due(alarm=alarm, rules=rules, now=now)
    alarms_publish_on_commit(changed)  # live feed hook
    return list(changed.values())


# --- the case


_URGENCY_BY_LEVEL = {AlarmLevel.RED: "emergency", AlarmLevel.ORANGE: "urgent"}


def _case_class_id(alarm: Alarm, rules: Sequence[Rule]) -> tuple[int | None, int]:
    """(the case class, the level from which a case opens) from the alarm's rule, else the sensor's other rules of
    the kind (highest level first)."""
    current = next((rule for rule in rules if rule.id == alarm.rule_id), None)
    ordered = ([current] if current else []) + [rule for rule in rules if rule is not current]
    class_id = next((rule.case_minor_class_id for rule in ordered if rule.case_minor_class_id), None)
    level = current.case_level if current and current.case_level else case_level_default()
    return class_id, level


def alarm_case_open_if_due(*, alarm: Alarm, rules: Sequence[Rule], now: datetime, whatever_level: bool = False) -> bool:
    """Open the alarm's case if it is due (see the module docstring); True when one was opened. A case intake
    refuses (the facility outside the city, the class withdrawn) is logged and left: the alarm stands."""
    if alarm.case_id is not None or not alarm.is_open or alarm.kind == AlarmKind.OFFLINE:
        return False
    class_id, level = _case_class_id(alarm, rules)
    if class_id is None or (alarm.level < level and not whatever_level):
        return False
    from cases.models import Source
    from cases.services import case_report
    from catalogue.models import MinorClass

    sensor = Sensor.objects.select_related("facility", "facility__owner_unit", "sensor_type").get(pk=alarm.sensor_id)
    facility = sensor.facility
    description = _("%(level)s alarm at %(facility)s: sensor %(sensor)s (%(type)s) read %(value)s %(unit)s.") % {
        "level": AlarmLevel(alarm.level).label,
        "facility": facility.name,
        "sensor": sensor.code,
        "type": sensor.sensor_type.name,
        "value": alarm.last_value,
        "unit": sensor.sensor_type.unit,
    }
    if facility.owner_unit is not None:
        description += " " + _("Responsible unit: %(unit)s.") % {"unit": facility.owner_unit.name}
    try:
        with transaction.atomic():
            case = case_report(
                source=Source.SENSOR_ALARM,
                minor_class=MinorClass.objects.select_related("major").get(pk=class_id),
                location=facility.location,
                description=str(description),
                reporter=None,
                urgency=_URGENCY_BY_LEVEL.get(alarm.level, "normal"),
                address=facility.address or facility.name,
                alarm_ref=alarm.case_ref,
            )
    except ValidationError as error:
        logger.warning("alarm %s: no case opened: %s", alarm.pk, error)
        return False
    alarm.case = case
    alarm.save(update_fields=["case"])
    AlarmEvent.objects.create(
        alarm=alarm, kind=AlarmEventKind.CASE_OPENED, at=now, data={"case": case.pk, "number": case.number}
    )
    return True


def alarm_blocks_case_close(alarm_ref: str) -> bool:
    """Whether the case with this alarm_ref must stay open: its lifelines alarm is still raised or acknowledged.
    Called by cases.services.core.transition before a case closes (only for refs starting "lifelines:")."""
    raw = alarm_ref.removeprefix(CASE_REF_PREFIX)
    if not raw.isdigit():
        return False
    return Alarm.objects.filter(pk=int(raw), state__in=OPEN_ALARM_STATES).exists()


# --- people: acknowledge, resolve


def _locked(alarm: Alarm) -> Alarm:
    return Alarm.objects.select_for_update().get(pk=alarm.pk)


@transaction.atomic
def alarm_acknowledge(*, alarm: Alarm, actor: Any, note: str = "") -> Alarm:
    """Someone has seen the alarm and is on it (by whom, when): it stops escalating; it still clears by itself."""
    locked = _locked(alarm)
    if locked.state != AlarmState.RAISED:
        raise ValidationError(
            _("Only a raised alarm can be acknowledged; this one is “%(state)s”."),
            code="not_raised",
            params={"state": AlarmState(locked.state).label},
        )
    note = _clean_note(note, required=False)
    now = timezone.now()
    locked.state, locked.acknowledged_by, locked.acknowledged_at = AlarmState.ACKNOWLEDGED, actor, now
    locked.save(update_fields=["state", "acknowledged_by", "acknowledged_at"])
    AlarmEvent.objects.create(alarm=locked, kind=AlarmEventKind.ACKNOWLEDGED, at=now, actor=actor, data={"note": note})
    alarms_publish_on_commit([locked.pk])  # live feed hook
    return locked


@transaction.atomic
def alarm_resolve(*, alarm: Alarm, actor: Any, note: str) -> Alarm:
    """A person closes the alarm (resolved, with what was done). If the level still holds, the next breaching
    reading raises a new alarm."""
    note = _clean_note(note, required=True)
    locked = _locked(alarm)
    if not locked.is_open:
        raise ValidationError(
            _("This alarm is already “%(state)s”."), code="not_open", params={"state": AlarmState(locked.state).label}
        )
    now = timezone.now()
    locked.state, locked.resolved_by, locked.resolved_at, locked.resolution_note = (
        AlarmState.RESOLVED,
        actor,
        now,
        note,
    )
    locked.save(update_fields=["state", "resolved_by", "resolved_at", "resolution_note"])
    AlarmEvent.objects.create(alarm=locked, kind=AlarmEventKind.RESOLVED, at=now, actor=actor, data={"note": note})
    alarms_publish_on_commit([locked.pk])  # live feed hook
    return locked


def _clean_note(note: Any, *, required: bool) -> str:
    note = (note or "").strip() if isinstance(note, str | type(None)) else None
    if note is None:
        raise ValidationError({"note": _("The note must be text.")}, code="invalid")
    if required and not note:
        raise ValidationError({"note": _("Say how the alarm was resolved.")}, code="required")
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"note": _("Keep the note under %(limit)d characters.") % {"limit": NOTE_MAX_LENGTH}}, code="too_long"
        )
    return note


# --- sweeps (Celery beat, every minute)


_OFFLINE_SQL = """
INSERT INTO lifelines_alarm (sensor_id, kind, level, state, raised_at, last_at, repeats, resolution_note)
SELECT s.id, 'offline', %(level)s, 'raised', %(now)s, s.last_received_at, 0, ''
FROM lifelines_sensor s JOIN lifelines_sensortype t ON t.id = s.sensor_type_id
WHERE s.is_active AND s.last_received_at IS NOT NULL
  AND s.last_received_at < %(now)s - make_interval(secs => %(factor)s * coalesce(s.expected_interval_s,
                                                                                  t.expected_interval_s))
ORDER BY s.id
ON CONFLICT (sensor_id, kind) WHERE state IN ('raised', 'acknowledged') DO NOTHING
RETURNING id, last_at
"""


@transaction.atomic
def alarms_sweep_offline(*, now: datetime | None = None) -> int:
    """Raise an offline alarm for every active sensor silent for more than K x its expected interval (one
    statement; a sensor already offline keeps its alarm). Returns how many were raised."""
    now = now or timezone.now()
    level = offline_level()
    with connection.cursor() as cursor:
        cursor.execute(_OFFLINE_SQL, {"level": level, "now": now, "factor": offline_factor()})
        rows = cursor.fetchall()
    AlarmEvent.objects.bulk_create(
        AlarmEvent(
            alarm_id=alarm_id,
            kind=AlarmEventKind.RAISED,
            at=now,
            to_level=level,
            data={"offline": True, "last_received_at": last_at.isoformat()},
        )
        for alarm_id, last_at in rows
    )
    alarms_publish_on_commit(row[0] for row in rows)  # live feed hook
    return len(rows)


_ESCALATE_SQL = """
UPDATE lifelines_alarm a SET escalated_at = %(now)s
FROM unnest(%(levels)s::int[], %(seconds)s::float8[]) AS d(level, seconds)
WHERE a.level = d.level AND a.state = 'raised' AND a.escalated_at IS NULL
  AND a.raised_at <= %(now)s - make_interval(secs => d.seconds)
RETURNING a.id, a.level
"""


@transaction.atomic
def alarms_escalate(*, now: datetime | None = None) -> int:
    """Escalate, once, every alarm nobody acknowledged in its level's time (see the module docstring)."""
    now = now or timezone.now()
    minutes = escalation_minutes()
    with connection.cursor() as cursor:
        cursor.execute(
            _ESCALATE_SQL,
            {"now": now, "levels": list(minutes), "seconds": [value * 60 for value in minutes.values()]},
        )
        rows = cursor.fetchall()
    if not rows:
        return 0
    AlarmEvent.objects.bulk_create(
        AlarmEvent(alarm_id=alarm_id, kind=AlarmEventKind.ESCALATED, at=now, from_level=level, to_level=level)
        for alarm_id, level in rows
    )
    alarms_publish_on_commit(row[0] for row in rows)  # live feed hook
    alarms = list(Alarm.objects.filter(pk__in=[row[0] for row in rows], case__isnull=True).order_by("id"))
    loaded = sensor_rules_load(sorted({alarm.sensor_id for alarm in alarms})) if alarms else {}
    for alarm in alarms:
        rules = [rule for rule, _state in loaded.get(alarm.sensor_id, []) if rule.condition == alarm.kind]
        rules.sort(key=lambda rule: -rule.level)
        alarm_case_open_if_due(alarm=alarm, rules=rules, now=now, whatever_level=True)
    return len(rows)
