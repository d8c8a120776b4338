"""Threshold evaluation at ingest: levels, the most specific rule, duration, rate, hysteresis, severity in place,
time order, resends, the operating mode's tightening, and two workers on one sensor."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from cases.alerts import Mode, operating_mode_set
from cases.modes import mode_cache_clear
from lifelines.alarms import alarm_resolve
from lifelines.models import (
    Alarm,
    AlarmEvent,
    AlarmKind,
    AlarmLevel,
    AlarmState,
    LifelineModeTightening,
    RuleCondition,
    Sensor,
    ThresholdRule,
)
from lifelines.rules import tightening_cache_clear
from lifelines.services import readings_ingest
from tests.lifelines.conftest import Station

pytestmark = pytest.mark.django_db

YELLOW, ORANGE, RED = AlarmLevel.YELLOW, AlarmLevel.ORANGE, AlarmLevel.RED
BASE = (timezone.now() - timedelta(hours=3)).replace(second=0, microsecond=0).astimezone(UTC)


def t(minute: float) -> datetime:
    return BASE + timedelta(minutes=minute)


def send(station: Station, readings: list[tuple[float, float]], sensor: str = "HX1-T1") -> Any:
    """Ingest (minute, value) readings of one sensor, in the order given."""
    items = [{"sensor": sensor, "ts": t(minute).isoformat(), "value": value} for minute, value in readings]
    result = readings_ingest(device=station.device, items=items)
    assert not result.refused
    return result


def rule(station: Station, level: int, **fields: Any) -> ThresholdRule:
    return ThresholdRule.objects.create(sensor_type=station.supply.sensor_type, level=level, **fields)


def alarms(sensor: Sensor) -> list[Alarm]:
    return list(Alarm.objects.filter(sensor=sensor).order_by("id"))


def events(alarm: Alarm) -> list[tuple[str, int | None, int | None]]:
    return list(alarm.events.order_by("id").values_list("kind", "from_level", "to_level"))


def test_upper_levels_raise_and_lower_the_one_alarm_in_place_then_it_clears(station: Station) -> None:
    rule(station, YELLOW, upper=80)
    rule(station, RED, upper=90)

    send(station, [(0, 70), (1, 85)])
    [alarm] = alarms(station.supply)
    assert (alarm.kind, alarm.level, alarm.state, alarm.raised_at) == (
        AlarmKind.BOUNDS,
        YELLOW,
        AlarmState.RAISED,
        t(1),
    )

    send(station, [(2, 95)])
    send(station, [(3, 86)])
    send(station, [(4, 60)])

    [alarm] = alarms(station.supply)
    assert (alarm.level, alarm.state, alarm.cleared_at, alarm.peak_value) == (YELLOW, AlarmState.CLEARED, t(4), 95)
    assert events(alarm) == [
        ("raised", None, YELLOW),
        ("level_up", YELLOW, RED),
        ("level_down", RED, YELLOW),
        ("cleared", YELLOW, None),
    ]


def test_a_lower_bound_raises_its_own_alarm_after_the_upper_one_cleared(station: Station) -> None:
    rule(station, YELLOW, upper=80, lower=40)

    send(station, [(0, 85), (1, 60), (2, 35), (3, 30)])

    first, second = alarms(station.supply)
    assert (first.state, first.first_value) == (AlarmState.CLEARED, 85)
    assert (second.state, second.first_value, second.peak_value, second.repeats) == (AlarmState.RAISED, 35, 30, 1)


def test_the_most_specific_rule_for_a_level_wins(station: Station) -> None:
    rule(station, YELLOW, upper=80)  # the type's
    rule(station, YELLOW, upper=70, facility=station.facility)  # the facility's: beats the type's
    rule(station, YELLOW, upper=90, sensor=station.supply)  # the sensor's: beats both, for this sensor only

    send(station, [(0, 85)])  # above 70 and 80, below the sensor's 90
    other = readings_ingest(
        device=station.other_device, items=[{"sensor": "OTHER-T1", "ts": t(0).isoformat(), "value": 75}]
    )

    assert other.accepted == 1
    assert alarms(station.supply) == []
    [alarm] = alarms(station.other_sensor)  # 75: above the facility's 70, below the type's 80
    assert alarm.level == YELLOW


def test_duration_by_readings_needs_consecutive_breaches(station: Station) -> None:
    rule(station, ORANGE, upper=80, min_readings=3)

    send(station, [(0, 85), (1, 86), (2, 70), (3, 85), (4, 86)])
    assert alarms(station.supply) == []

    send(station, [(5, 87)])
    [alarm] = alarms(station.supply)
    assert (alarm.level, alarm.raised_at, alarm.first_value) == (ORANGE, t(5), 87)


def test_duration_by_seconds_needs_the_breach_to_hold(station: Station) -> None:
    rule(station, ORANGE, upper=80, min_duration_s=300)

    send(station, [(0, 85), (2, 85), (4, 85)])
    assert alarms(station.supply) == []

    send(station, [(5, 85)])
    [alarm] = alarms(station.supply)
    assert alarm.raised_at == t(5)


def test_rate_of_change_per_minute(station: Station) -> None:
    rule(station, ORANGE, condition=RuleCondition.RATE, rate_per_min=2.0)

    send(station, [(0, 60), (2, 62)])  # 1 per minute
    assert alarms(station.supply) == []

    send(station, [(4, 72)])  # 5 per minute
    [alarm] = alarms(station.supply)
    assert (alarm.kind, alarm.level, alarm.peak_value) == (AlarmKind.RATE, ORANGE, 5.0)

    send(station, [(6, 73)])  # 0.5 per minute: back under the limit
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED


def test_hysteresis_holds_the_alarm_until_the_value_is_well_inside(station: Station) -> None:
    rule(station, YELLOW, upper=80, hysteresis=5)

    send(station, [(0, 85), (1, 78), (2, 76)])
    [alarm] = alarms(station.supply)
    assert alarm.state == AlarmState.RAISED  # inside the bound, not by the margin

    send(station, [(3, 75)])
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED


def test_repeated_breaches_are_counted_on_the_one_open_alarm(station: Station) -> None:
    rule(station, YELLOW, upper=80)

    send(station, [(0, 85), (1, 88)])
    send(station, [(2, 84)])

    [alarm] = alarms(station.supply)
    assert (alarm.repeats, alarm.peak_value, alarm.last_value, alarm.last_at) == (2, 88, 84, t(2))
    assert [kind for kind, _f, _t in events(alarm)] == ["raised", "repeated", "repeated"]
    assert alarm.events.filter(kind="repeated").order_by("id").first().data["count"] == 1


def test_an_acknowledged_alarm_clears_by_itself_too(station: Station) -> None:
    rule(station, YELLOW, upper=80)
    send(station, [(0, 85)])
    [alarm] = alarms(station.supply)
    Alarm.objects.filter(pk=alarm.pk).update(state=AlarmState.ACKNOWLEDGED)

    send(station, [(1, 70)])

    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED


def test_out_of_order_readings_are_evaluated_in_time_order(station: Station) -> None:
    rule(station, ORANGE, upper=80, min_readings=2)

    # In time order: 85, 60, 85: never two breaches in a row (in arrival order there would be).
    send(station, [(3, 85), (1, 85), (2, 60)])
    assert alarms(station.supply) == []

    # A late reading older than what was evaluated is stored, and changes nothing.
    result = send(station, [(0, 99)])
    assert result.accepted == 1
    assert alarms(station.supply) == []

    send(station, [(4, 86)])
    [alarm] = alarms(station.supply)
    assert alarm.raised_at == t(4)


def test_a_resent_batch_triggers_nothing_again(station: Station) -> None:
    rule(station, YELLOW, upper=80)
    batch = [(0, 85), (1, 86)]
    send(station, batch)
    [alarm] = alarms(station.supply)
    alarm_resolve(alarm=alarm, actor=None, note="现场已处理")
    before = AlarmEvent.objects.count()

    again = send(station, batch)

    assert (again.accepted, again.duplicates) == (0, 2)
    assert len(alarms(station.supply)) == 1
    assert AlarmEvent.objects.count() == before


def test_the_operating_mode_tightens_the_thresholds(station: Station) -> None:
    rule(station, ORANGE, upper=90)
    LifelineModeTightening.objects.create(mode=Mode.EMERGENCY, threshold_percent=90)
    tightening_cache_clear()
    mode_cache_clear()

    send(station, [(0, 85)])  # normal: the bound is 90
    assert alarms(station.supply) == []

    operating_mode_set(mode=Mode.EMERGENCY, actor=None, note="台风")
    mode_cache_clear()
    send(station, [(1, 85)])  # emergency: 90 at 90% is 81
    try:
        [alarm] = alarms(station.supply)
        assert alarm.level == ORANGE
    finally:
        mode_cache_clear()


@pytest.mark.django_db(transaction=True)
def test_two_workers_ingesting_breaches_of_one_sensor_at_once_leave_one_open_alarm(station: Station) -> None:
    rule(station, YELLOW, upper=80)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def ingest(minutes: list[int]) -> None:
        try:
            barrier.wait(timeout=10)
            items = [{"sensor": "HX1-T1", "ts": t(m).isoformat(), "value": 85 + m} for m in minutes]
            readings_ingest(device=station.device, items=items)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=ingest, args=(minutes,)) for minutes in ([0, 2, 4], [1, 3, 5])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    [alarm] = alarms(station.supply)
    assert alarm.state == AlarmState.RAISED
    assert alarm.events.filter(kind="raised").count() == 1
