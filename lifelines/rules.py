"""Threshold evaluation: the readings a batch actually stored, against each sensor's applicable rules, with the
per-(sensor, rule) state kept in the database (RuleState) so that any worker continues where another stopped.

Called by lifelines.services.readings_ingest inside the batch's transaction, after the readings are stored and
the sensors' rows are locked (so two batches of one sensor are evaluated one after the other). Per batch: one
query loads the rules and states of the batch's sensors, one statement writes the states back; lifelines.alarms
turns the outcome into alarm changes (queries only where an alarm changes).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from lifelines.models import AlarmKind, LifelineModeTightening, RuleCondition

# --- the operating mode's tightening (cached per process, like cases.modes)

TIGHTENING_CACHE_SECONDS = 5.0
_tightening_lock = threading.Lock()
_tightening: tuple[float, dict[str, int]] | None = None


def tightening_cache_clear() -> None:
    global _tightening
    with _tightening_lock:
        _tightening = None


def threshold_percent(mode: str | None = None) -> int:
    """The share (1-100) of their configured distance the thresholds keep in `mode` (default: the mode in force)."""
    global _tightening
    from cases.modes import current_mode  # the cases app's per-process mode cache

    cached = _tightening
    if cached is None or time.monotonic() > cached[0]:
        percents = dict(LifelineModeTightening.objects.values_list("mode", "threshold_percent"))
        cached = (time.monotonic() + TIGHTENING_CACHE_SECONDS, percents)
        with _tightening_lock:
            _tightening = cached
    return cached[1].get(mode or current_mode(), 100)


def tightened(*, upper: float | None, lower: float | None, rate: float | None, percent: int) -> tuple:
    """(upper, lower, rate) moved inwards: each bound by (100 - percent)% of its magnitude, the rate to percent%."""
    if percent >= 100:
        return upper, lower, rate
    shrink = (100 - percent) / 100
    return (
        None if upper is None else upper - shrink * abs(upper),
        None if lower is None else lower + shrink * abs(lower),
        None if rate is None else rate * percent / 100,
    )


# --- rules and states


@dataclass(frozen=True)
class Rule:
    id: int
    condition: str
    level: int
    upper: float | None
    lower: float | None
    rate: float | None
    min_readings: int
    min_duration_s: int
    hysteresis: float
    case_level: int | None
    case_minor_class_id: int | None


@dataclass
class State:
    breach_count: int = 0
    breach_since: datetime | None = None
    active: bool = False
    last_value: float | None = None
    last_ts: datetime | None = None
    touched: bool = False


# For each sensor, condition and level the most specific active rule: the sensor's, else its facility's, else the
# type's (the newest of equals). Its state, when there is one, comes along.
_RULES_SQL = """
SELECT DISTINCT ON (s.id, r.condition, r.level)
       s.id, r.id, r.condition, r.level, r.upper, r.lower, r.rate_per_min, r.min_readings, r.min_duration_s,
       r.hysteresis, r.case_level, r.case_minor_class_id,
       st.breach_count, st.breach_since, st.active, st.last_value, st.last_ts
FROM lifelines_sensor s
JOIN lifelines_thresholdrule r
  ON r.sensor_type_id = s.sensor_type_id AND r.is_active
 AND (r.facility_id IS NULL OR r.facility_id = s.facility_id)
 AND (r.sensor_id IS NULL OR r.sensor_id = s.id)
LEFT JOIN lifelines_rulestate st ON st.sensor_id = s.id AND st.rule_id = r.id
WHERE s.id = ANY(%s)
ORDER BY s.id, r.condition, r.level, (r.sensor_id IS NOT NULL) DESC, (r.facility_id IS NOT NULL) DESC, r.id DESC
"""

_STATES_SQL = """
INSERT INTO lifelines_rulestate (sensor_id, rule_id, breach_count, breach_since, active, last_value, last_ts)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::timestamptz[], %s::bool[], %s::float8[],
                     %s::timestamptz[])
ON CONFLICT (sensor_id, rule_id) DO UPDATE SET
    breach_count = EXCLUDED.breach_count, breach_since = EXCLUDED.breach_since, active = EXCLUDED.active,
    last_value = EXCLUDED.last_value, last_ts = EXCLUDED.last_ts
"""


def sensor_rules_load(sensor_ids: list[int]) -> dict[int, list[tuple[Rule, State]]]:
    """The rules that apply to each sensor (most specific per condition and level), with their states."""
    with connection.cursor() as cursor:
        cursor.execute(_RULES_SQL, [sensor_ids])
        rows = cursor.fetchall()
    loaded: dict[int, list[tuple[Rule, State]]] = defaultdict(list)
    for row in rows:
        rule = Rule(*row[1:12])
        count, since, active, last_value, last_ts = row[12:]
        state = State(count or 0, since, bool(active), last_value, last_ts)
        loaded[row[0]].append((rule, state))
    return loaded


def _save(states: Iterable[tuple[int, Rule, State]]) -> None:
    columns: list[list] = [[], [], [], [], [], [], []]
    for sensor_id, rule, state in states:
        for column, value in zip(
            columns,
            (sensor_id, rule.id, state.breach_count, state.breach_since, state.active, state.last_value, state.last_ts),
            strict=True,
        ):
            column.append(value)
    if not columns[0]:
        return
    with connection.cursor() as cursor:
        cursor.execute(_STATES_SQL, columns)


# --- evaluation


@dataclass(frozen=True)
class Step:
    """One evaluated reading of a sensor against the rules of one condition: the level the alarm should stand at
    after it (None: no level holds), whether the reading itself breached a level, and how far (for the peak)."""

    ts: datetime
    value: float
    target: int | None
    target_rule_id: int | None
    breached: bool
    measure: float  # the value for bounds, the rate per minute for a rate


@dataclass
class Outcome:
    """What a batch's evaluation found: per (sensor, alarm kind) the evaluated readings in time order, the rules
    (for the case level and class), and the sensors that reported at all (which clears an offline alarm)."""

    timelines: dict[tuple[int, str], list[Step]] = field(default_factory=dict)
    rules: dict[int, Rule] = field(default_factory=dict)
    sensor_rules: dict[tuple[int, str], list[Rule]] = field(default_factory=dict)
    first_reading: dict[int, tuple[datetime, float]] = field(default_factory=dict)


def _judge(rule: Rule, state: State, ts: datetime, value: float, percent: int) -> tuple[bool, bool, float]:
    """(breaches, back inside by the hysteresis, measure) for one reading."""
    upper, lower, rate = tightened(upper=rule.upper, lower=rule.lower, rate=rule.rate, percent=percent)
    if rule.condition == RuleCondition.RATE:
        if state.last_ts is None or state.last_value is None or ts <= state.last_ts:
            return False, False, 0.0
        per_minute = abs(value - state.last_value) / ((ts - state.last_ts).total_seconds() / 60)
        return per_minute > rate, per_minute <= rate - rule.hysteresis, per_minute
    breaches = (upper is not None and value > upper) or (lower is not None and value < lower)
    inside = (upper is None or value <= upper - rule.hysteresis) and (lower is None or value >= lower + rule.hysteresis)
    return breaches, inside, value


def _advance(rule: Rule, state: State, ts: datetime, value: float, percent: int) -> tuple[bool, float]:
    """Move the state past one reading; returns (the reading breached, measure)."""
    breaches, inside, measure = _judge(rule, state, ts, value, percent)
    if breaches:
        if state.breach_count == 0:
            state.breach_since = ts
        state.breach_count += 1
        held_s = (ts - state.breach_since).total_seconds() if state.breach_since else 0
        if not state.active and state.breach_count >= rule.min_readings and held_s >= rule.min_duration_s:
            state.active = True
    else:
        state.breach_count, state.breach_since = 0, None
        if state.active and inside:
            state.active = False
    state.last_value, state.last_ts, state.touched = value, ts, True
    return breaches, measure


def readings_evaluate(rows: Iterable[tuple[int, datetime, float]], *, with_rules: bool = True) -> Outcome:
    """Evaluate stored readings (sensor_id, ts, value), each sensor's in time order, and save the rule states.

    A reading not newer than what a rule has already evaluated (a late one from a device's buffer) is stored
    history, not news: it moves no state and raises nothing. `with_rules=False` (the ingest found no rule for the
    batch's sensors) skips the rules query."""
    by_sensor: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
    for sensor_id, ts, value in rows:
        by_sensor[sensor_id].append((ts, value))
    outcome = Outcome()
    if not by_sensor:
        return outcome
    for sensor_id, readings in by_sensor.items():
        readings.sort()
        outcome.first_reading[sensor_id] = readings[0]
    loaded = sensor_rules_load(list(by_sensor)) if with_rules else {}
    if not loaded:
        return outcome
    percent = threshold_percent()
    touched: list[tuple[int, Rule, State]] = []
    for sensor_id, pairs in loaded.items():
        by_kind: dict[str, list[tuple[Rule, State]]] = defaultdict(list)
        for rule, state in pairs:
            by_kind[rule.condition].append((rule, state))
            outcome.rules[rule.id] = rule
        for condition, kind_pairs in by_kind.items():
            kind = AlarmKind.RATE if condition == RuleCondition.RATE else AlarmKind.BOUNDS
            outcome.sensor_rules[(sensor_id, kind)] = sorted((rule for rule, _ in kind_pairs), key=lambda r: -r.level)
            steps: list[Step] = []
            for ts, value in by_sensor[sensor_id]:
                breached, evaluated = False, False
                measure = 0.0 if condition == RuleCondition.RATE else value
                for rule, state in kind_pairs:
                    if state.last_ts is not None and ts <= state.last_ts:
                        continue
                    evaluated = True
                    hit, rule_measure = _advance(rule, state, ts, value, percent)
                    breached = breached or hit
                    if condition == RuleCondition.RATE:
                        measure = max(measure, rule_measure)
                if not evaluated:
                    continue
                holding = [rule for rule, state in kind_pairs if state.active]
                top = max(holding, key=lambda r: r.level) if holding else None
                steps.append(Step(ts, value, top.level if top else None, top.id if top else None, breached, measure))
            if steps:
                outcome.timelines[(sensor_id, kind)] = steps
        touched.extend((sensor_id, rule, state) for rule, state in pairs if state.touched)
    _save(touched)
    return outcome
