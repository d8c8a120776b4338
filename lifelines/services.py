"""Writes of the lifelines app: reading ingest (HTTP and MQTT feed the same function), device tokens, and the
readings table's monthly partitions (created ahead, dropped whole past the retention)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lifelines.alarms import alarms_apply
from lifelines.models import Device, Unit
from lifelines.rules import readings_evaluate

MAX_FUTURE = timedelta(minutes=5)  # device clocks drift; beyond this a timestamp is wrong, not early
# A numeric timestamp at least this large is in milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MILLISECONDS_FROM = 1e11
DEFAULT_RETENTION_DAYS = 400
PARTITION_MONTHS_AHEAD = 2
# Partitions are dropped a day after they fall out of the retention, so a batch accepted just before the
# boundary never meets a partition dropped under it.
_DROP_GRACE = timedelta(days=1)
_PARTITION_LOCK_TIMEOUT = "5s"


def reading_retention_days() -> int:
    """LIFELINES_READING_RETENTION_DAYS (settings, from the environment; default 400)."""
    value = getattr(settings, "LIFELINES_READING_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
    if not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(f"LIFELINES_READING_RETENTION_DAYS={value!r} must be a whole number of days >= 1.")
    return value


# --- ingest


class Reason:
    """Why an item of a batch was refused: stable codes for devices, with a message for people."""

    BAD_ITEM = "bad_item"
    UNKNOWN_SENSOR = "unknown_sensor"
    OTHER_DEVICE = "other_device"
    INACTIVE_SENSOR = "inactive_sensor"
    BAD_TS = "bad_ts"
    FUTURE_TS = "future_ts"
    TOO_OLD = "too_old"
    BAD_VALUE = "bad_value"
    OUT_OF_RANGE = "out_of_range"


REASON_MESSAGES = {
    Reason.BAD_ITEM: _("An item must be an object with sensor, ts and value."),
    Reason.UNKNOWN_SENSOR: _("No sensor has this code."),
    Reason.OTHER_DEVICE: _("This sensor is reported by another device."),
    Reason.INACTIVE_SENSOR: _("This sensor is switched off."),
    Reason.BAD_TS: _("ts must be an ISO 8601 time with a time zone, or Unix seconds or milliseconds."),
    Reason.FUTURE_TS: _("ts is more than 5 minutes in the future."),
    Reason.TOO_OLD: _("ts is older than the readings are kept."),
    Reason.BAD_VALUE: _("value must be a finite number."),
    Reason.OUT_OF_RANGE: _("value is outside the sensor type's valid range."),
}


@dataclass(frozen=True)
class Refusal:
    index: int
    sensor: Any
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "sensor": self.sensor,
            "reason": self.reason,
            "message": REASON_MESSAGES[self.reason],
        }


@dataclass
class IngestResult:
    """accepted: readings stored now; duplicates: valid readings already stored before (or twice in the batch);
    refused: the items not stored and why, by their index in the batch."""

    accepted: int = 0
    duplicates: int = 0
    refused: list[Refusal] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "refused": [refusal.as_dict() for refusal in self.refused],
        }


@dataclass(frozen=True)
class _SensorRule:
    id: int
    device_id: int | None
    is_active: bool
    low: float
    high: float
    boolean: bool


_SENSORS_SQL = """
SELECT s.code, s.id, s.device_id, s.is_active, t.valid_min, t.valid_max, t.unit
FROM lifelines_sensor s JOIN lifelines_sensortype t ON t.id = s.sensor_type_id
WHERE {where}
"""
# A device's own sensors are remembered for a few seconds per process, so a steady stream of batches costs no
# look-up at all: a sensor switched off or moved to another device is refused at most this long afterwards.
DEVICE_SENSORS_SECONDS = 5.0
_device_sensors: dict[int, tuple[float, dict[str, _SensorRule]]] = {}
_DEVICE_SENSORS_MAX = 20_000  # devices remembered at most (all of them are forgotten past this)


def device_sensors_cache_clear() -> None:
    _device_sensors.clear()


def _fetch_rules(where: str, param: object) -> dict[str, _SensorRule]:
    with connection.cursor() as cursor:
        cursor.execute(_SENSORS_SQL.format(where=where), [param])
        rows = cursor.fetchall()
    return {
        code: _SensorRule(
            id=sensor_id,
            device_id=device_id,
            is_active=is_active,
            low=-math.inf if low is None else low,
            high=math.inf if high is None else high,
            boolean=unit == Unit.BOOLEAN,
        )
        for code, sensor_id, device_id, is_active, low, high, unit in rows
    }


def _sensor_rules(device_id: int, codes: set[str]) -> dict[str, _SensorRule]:
    """The batch's sensors: the device's own from the process cache (one query when it has expired), and in one
    more query the codes that are not the device's (to tell another device's sensor from an unknown code)."""
    now = time.monotonic()
    cached = _device_sensors.get(device_id)
    if cached is None or now - cached[0] > DEVICE_SENSORS_SECONDS:
        if len(_device_sensors) >= _DEVICE_SENSORS_MAX:
            _device_sensors.clear()
        cached = (now, _fetch_rules("s.device_id = %s", device_id))
        _device_sensors[device_id] = cached
    own = cached[1]
    strangers = codes - own.keys()
    if not strangers:
        return own
    return {**own, **_fetch_rules("s.code = ANY(%s)", list(strangers))}


def _parse_ts(raw: Any) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string with an offset, or Unix seconds / milliseconds."""
    if isinstance(raw, str):
        if len(raw) > 40:
            return None
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None  # a device's local time without its zone is a guess; refused, not guessed
        return parsed.astimezone(UTC)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        seconds = float(raw)
        if not math.isfinite(seconds) or seconds < 0:
            return None
        if seconds >= _MILLISECONDS_FROM:
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _parse_value(raw: Any, boolean: bool) -> float | None:
    if isinstance(raw, bool):
        return float(raw) if boolean else None
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:
            return None
        return value if math.isfinite(value) else None
    return None


# Parameters go as PostgreSQL array literals: the elements (digits, ISO times, repr() of finite floats) need no
# quoting, and one string per column is far cheaper to pass than psycopg2 adapting every element.
_INGEST_SQL = """
WITH stored AS (
    INSERT INTO lifelines_reading (sensor_id, ts, value, received_at)
    SELECT i.sensor_id, i.ts, i.value, %(received_at)s
    FROM unnest(%(ids)s::bigint[], %(ts)s::timestamptz[], %(values)s::float8[]) AS i(sensor_id, ts, value)
    ORDER BY i.sensor_id, i.ts
    ON CONFLICT (sensor_id, ts) DO NOTHING
    RETURNING sensor_id, ts, value
), newest AS (
    SELECT DISTINCT ON (sensor_id) sensor_id, ts, value FROM stored ORDER BY sensor_id, ts DESC
), locked AS (
    SELECT s.id FROM lifelines_sensor s WHERE s.id IN (SELECT sensor_id FROM newest) ORDER BY s.id FOR NO KEY UPDATE
), moved AS (
    UPDATE lifelines_sensor s SET
        last_value = CASE WHEN s.last_at IS NULL OR n.ts > s.last_at THEN n.value ELSE s.last_value END,
        last_at = GREATEST(s.last_at, n.ts),
        last_received_at = %(received_at)s
    FROM newest n JOIN locked l ON l.id = n.sensor_id
    WHERE s.id = n.sensor_id
    RETURNING s.id
)
SELECT sensor_id, ts, value,
       (SELECT EXISTS (SELECT 1 FROM lifelines_alarm a
                       WHERE a.sensor_id IN (SELECT sensor_id FROM newest) AND a.state IN ('raised', 'acknowledged'))),
       (SELECT EXISTS (SELECT 1 FROM lifelines_sensor s JOIN lifelines_thresholdrule r
                       ON r.sensor_type_id = s.sensor_type_id AND r.is_active
                       WHERE s.id IN (SELECT sensor_id FROM newest)))
FROM stored
"""
# (slice 2) The stored rows come back: only readings inserted now are evaluated against the thresholds, so a resent
# batch (all duplicates) triggers nothing. `moved` runs whether or not it is read (a data-modifying CTE always does).
# The two flags (computed once, repeated on each row) let a batch whose sensors have no rule and no open alarm skip
# the evaluation's queries. They read the statement's snapshot: an offline alarm the sweep raised while this batch
# waited for a sensor's lock may be missed, and is then cleared by the sensor's next batch.
# Rows are inserted and sensor rows locked in key order, so two batches touching the same sensors (a gateway
# resending while its first try is still running) wait for each other instead of deadlocking.


def readings_ingest(*, device: Device, items: Sequence[Any], received_at: datetime | None = None) -> IngestResult:
    """Store a device's batch of readings ({sensor, ts, value} each); refuse the bad items, say which and why.

    Idempotent: a reading is unique by sensor and timestamp, so a resent batch stores nothing twice (its items
    count as duplicates). Late and out-of-order readings are stored; a sensor's latest value moves only to a
    newer timestamp, in the same statement that stores the readings: one INSERT ... SELECT FROM unnest(...) per
    batch, whatever its size. The device's sensors come from a few seconds' cache (one more query when it has
    expired, or when the batch names sensors that are not the device's; one more, rarely, to create a month's
    partition first). The readings stored now are then evaluated against the thresholds in the same transaction
    (lifelines.rules, lifelines.alarms: two queries more per batch, and writes only where a state or alarm changes).
    """
    now = received_at or timezone.now()
    latest_allowed = now + MAX_FUTURE
    oldest_allowed = now - timedelta(days=reading_retention_days())
    result = IngestResult()
    refused = result.refused
    rules = _sensor_rules(
        device.pk, {item["sensor"] for item in items if type(item) is dict and type(item.get("sensor")) is str}
    )
    ids: list[str] = []
    stamps: list[datetime] = []
    values: list[str] = []
    device_id = device.pk
    for index, item in enumerate(items):
        if type(item) is not dict:
            refused.append(Refusal(index, None, Reason.BAD_ITEM))
            continue
        code = item.get("sensor")
        rule = rules.get(code) if isinstance(code, str) else None
        if rule is None:
            reason = Reason.UNKNOWN_SENSOR if isinstance(code, str) else Reason.BAD_ITEM
            refused.append(Refusal(index, code if isinstance(code, str | int) else None, reason))
            continue
        if rule.device_id != device_id:
            refused.append(Refusal(index, code, Reason.OTHER_DEVICE))
            continue
        if not rule.is_active:
            refused.append(Refusal(index, code, Reason.INACTIVE_SENSOR))
            continue
        ts = _parse_ts(item.get("ts"))
        if ts is None:
            refused.append(Refusal(index, code, Reason.BAD_TS))
            continue
        if ts > latest_allowed:
            refused.append(Refusal(index, code, Reason.FUTURE_TS))
            continue
        if ts < oldest_allowed:
            refused.append(Refusal(index, code, Reason.TOO_OLD))
            continue
        value = _parse_value(item.get("value"), rule.boolean)
        if value is None:
            refused.append(Refusal(index, code, Reason.BAD_VALUE))
            continue
        if not rule.low <= value <= rule.high or (rule.boolean and value not in (0.0, 1.0)):
            refused.append(Refusal(index, code, Reason.OUT_OF_RANGE))
            continue
        ids.append(str(rule.id))
        stamps.append(ts)
        values.append(repr(value))
    if not ids:
        return result
    # --- slice 2: storing and evaluating are one transaction. The sensors' rows stay locked (the statement's
    # FOR NO KEY UPDATE) until the thresholds are evaluated, so two batches of one sensor are evaluated in turn;
    # a worker killed in between leaves neither the readings nor their alarms, and the device's resend does both.
    _partitions_cover(min(stamps), max(stamps))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _INGEST_SQL,
                {
                    "received_at": now,
                    "ids": "{" + ",".join(ids) + "}",
                    "ts": "{" + ",".join(ts.isoformat() for ts in stamps) + "}",
                    "values": "{" + ",".join(values) + "}",
                },
            )
            rows = cursor.fetchall()
        if rows:
            any_open, any_rule = rows[0][3], rows[0][4]
            outcome = readings_evaluate([row[:3] for row in rows], with_rules=any_rule)
            alarms_apply(outcome, now=now, may_have_open=any_open)
    result.accepted = len(rows)
    result.duplicates = len(ids) - len(rows)
    return result


# --- partitions of the readings table


_PARTITION_PREFIX = "lifelines_reading_p"
_PARTITION_CACHE_SECONDS = 300.0
# Months (year, month) whose partition this process has seen exist, and when it last looked.
_known_months: set[tuple[int, int]] = set()
_known_since = 0.0


def partition_cache_clear() -> None:
    global _known_since
    _known_months.clear()
    _known_since = 0.0


def _months(first: datetime, last: datetime) -> list[tuple[int, int]]:
    first, last = first.astimezone(UTC), last.astimezone(UTC)
    year, month, months = first.year, first.month, []
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _partitions_cover(first: datetime, last: datetime) -> None:
    """Make sure the months from `first` to `last` have partitions: normally a set look-up in this process;
    on a miss (a new month, a device uploading an old buffer) the idempotent SQL function creates them."""
    if time.monotonic() - _known_since > _PARTITION_CACHE_SECONDS:
        partition_cache_clear()
    needed = _months(first, last)
    if all(month in _known_months for month in needed):
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT lifelines_reading_partitions_ensure(%s, %s)", [first, last])
    # Remembered once committed: a caller's transaction rolled back takes the new partitions with it.
    transaction.on_commit(lambda: _remember(needed))


def _remember(months: list[tuple[int, int]]) -> None:
    global _known_since
    if not _known_months:
        _known_since = time.monotonic()
    _known_months.update(months)


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC


def reading_partitions() -> list[Partition]:
    """The readings table's monthly partitions, oldest first (named lifelines_reading_pYYYYMM)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'lifelines_reading'::regclass"
        )
        names = sorted(row[0] for row in cursor.fetchall())
    partitions = []
    for name in names:
        suffix = name.removeprefix(_PARTITION_PREFIX)
        if len(suffix) != 6 or not suffix.isdigit():
            continue  # not one of ours (someone attached it by hand): left alone
        year, month = int(suffix[:4]), int(suffix[4:])
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + 1, 1, 1, tzinfo=UTC) if month == 12 else datetime(year, month + 1, 1, tzinfo=UTC)
        partitions.append(Partition(name, start, end))
    return partitions


@dataclass
class PartitionReport:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # to drop, but the table was in use: next run


def reading_partitions_maintain(
    *, now: datetime | None = None, retention_days: int | None = None, months_ahead: int = PARTITION_MONTHS_AHEAD
) -> PartitionReport:
    """Create this month's and the next `months_ahead` months' partitions; drop, whole, every partition whose
    readings are all older than the retention (plus a day's grace). Idempotent; beat runs it hourly.

    A drop waits at most a few seconds for the table's lock (a long chart query holds it) and is otherwise
    left for the next run: waiting longer would queue every ingest behind it.
    """
    now = now or timezone.now()
    retention = timedelta(days=reading_retention_days() if retention_days is None else retention_days)
    report = PartitionReport()
    before = {p.name for p in reading_partitions()}
    horizon = now.astimezone(UTC)
    for _month in range(months_ahead):
        horizon = (horizon.replace(day=1) + timedelta(days=32)).replace(day=1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT lifelines_reading_partitions_ensure(%s, %s)", [now, horizon])
    report.created = sorted({p.name for p in reading_partitions()} - before)
    cutoff = now - retention - _DROP_GRACE
    for partition in reading_partitions():
        if partition.end > cutoff:
            continue
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{_PARTITION_LOCK_TIMEOUT}'")
                cursor.execute(f'DROP TABLE "{partition.name}"')
        except OperationalError:
            report.busy.append(partition.name)
            continue
        report.dropped.append(partition.name)
    partition_cache_clear()
    return report


# --- devices


@transaction.atomic
def device_token_issue(*, device: Device) -> str:
    """A new token for the device (the old one stops working at once); the clear token is returned once."""
    return device.issue_token()


@transaction.atomic
def device_revoke(*, device: Device) -> Device:
    """The device's token stops working; a new token (device_token_issue) lets it report again."""
    device.revoke()
    return device
