"""Realistic readings for the demo city's sensors: daily cycles, noise, rain, traffic, and occasional faults (a
threshold breach that holds for a while, a sensor falling silent), each sensor at its expected interval and
batched per device. `manage.py simulate_lifelines` sends them over HTTP, over MQTT or straight to the ingest.

Values are a pure function of (seed, sensor, simulated time) plus the faults in force, so a run with a seed is
repeatable; the clock may be compressed (`speed`) to play an hour in a minute.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lifelines.models import Device, Sensor

LOCAL = ZoneInfo("Asia/Shanghai")
TWO_PI = 2 * math.pi


def _unit(seed: int, *parts: object) -> float:
    """A stable number in [0, 1) for (seed, parts): per-sensor offsets that do not change between runs."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _hour(ts: datetime) -> float:
    local = ts.astimezone(LOCAL)
    return local.hour + local.minute / 60 + local.second / 3600


def _bump(hour: float, centre: float, width: float) -> float:
    """A bell of height 1 around `centre` o'clock (wrapping midnight)."""
    distance = min(abs(hour - centre), 24 - abs(hour - centre))
    return math.exp(-((distance / width) ** 2))


def outdoor_temperature(ts: datetime) -> float:
    """Qingdao in the heating season: about -3 °C before dawn, +5 °C in the early afternoon."""
    return 1.0 + 4.0 * math.sin(TWO_PI * (_hour(ts) - 8) / 24)


def demand(ts: datetime) -> float:
    """Water (and gas) demand, 0-1: a morning peak about 7:30 and an evening peak about 19:00, low at night."""
    hour = _hour(ts)
    return min(1.0, 0.15 + 0.85 * _bump(hour, 7.5, 1.5) + 0.75 * _bump(hour, 19.0, 2.0))


def traffic(ts: datetime) -> float:
    """Road traffic, 0-1: rush hours at 8:00 and 17:30, quiet from midnight to 5."""
    hour = _hour(ts)
    return min(1.0, 0.1 + 0.8 * _bump(hour, 8.0, 1.5) + 0.8 * _bump(hour, 17.5, 1.8) + 0.3 * _bump(hour, 13, 3))


def rain(seed: int, ts: datetime) -> float:
    """Rain intensity 0-1: on about one day in four a shower of a few hours, its start and strength seeded by day."""
    day = ts.astimezone(LOCAL).date().toordinal()
    if _unit(seed, "rain", day) > 0.25:
        return 0.0
    start = 4 + 14 * _unit(seed, "rain-start", day)
    length = 1.5 + 3 * _unit(seed, "rain-len", day)
    peak = 0.3 + 0.5 * _unit(seed, "rain-peak", day)
    hour = _hour(ts)
    if not start <= hour <= start + length:
        return 0.0
    return peak * math.sin(math.pi * (hour - start) / length)


@dataclass
class Fault:
    """A breach (the value held at `value`) or a silence (no readings) of one sensor over [start, end)."""

    sensor_code: str
    kind: str  # "breach" or "silence"
    start: datetime
    end: datetime
    value: float | None = None

    def covers(self, ts: datetime) -> bool:
        return self.start <= ts < self.end


# A breach for each sensor type: a value between its demo orange and red thresholds (lifelines.demo.DEMO_RULES).
BREACH_VALUES: dict[str, float] = {
    "heat_supply_temp": 108.0,
    "heat_return_temp": 72.0,
    "heat_supply_pressure": 1.25,
    "heat_return_pressure": 0.92,
    "gas_pressure": 0.47,
    "gas_lel": 28.0,
    "water_pressure": 0.12,
    "water_flow": 2600.0,
    "drainage_level": 1.5,
    "drainage_flow": 2400.0,
    "bridge_strain": 620.0,
    "bridge_displacement": 36.0,
    "bridge_tilt": 1.4,
    "waterlogging_depth": 0.32,
    "manhole_tilt": 14.0,
    "manhole_open": 1.0,
}


@dataclass
class SimSensor:
    code: str
    type_code: str
    interval_s: int
    low: float
    high: float
    phase: float  # this sensor's offset (0-1) within its interval
    bias: float  # this sensor's own level (0-1), e.g. a station running a little warmer
    suffix: str  # the code's last part (T1, P2...): inlet and outlet pressures differ


@dataclass
class SimDevice:
    device_id: int
    code: str
    sensors: list[SimSensor]
    token: str = ""


def _value(seed: int, sensor: SimSensor, ts: datetime, rng: random.Random) -> float:
    """The sensor's value at `ts`: its type's daily cycle, its own bias, and noise."""
    kind, b = sensor.type_code, sensor.bias
    noise = rng.gauss
    if kind == "heat_supply_temp":
        value = 83 + 6 * (b - 0.5) - 2.2 * (outdoor_temperature(ts) - 1) + noise(0, 0.4)
    elif kind == "heat_return_temp":
        value = 0.6 * (83 + 6 * (b - 0.5) - 2.2 * (outdoor_temperature(ts) - 1)) + 1 + noise(0, 0.3)
    elif kind == "heat_supply_pressure":
        value = 0.72 + 0.1 * (b - 0.5) + noise(0, 0.01)
    elif kind == "heat_return_pressure":
        value = 0.35 + 0.06 * (b - 0.5) + noise(0, 0.008)
    elif kind == "gas_pressure":
        base = 0.32 if sensor.suffix == "P1" else 0.2
        value = base + 0.02 * (b - 0.5) - 0.015 * demand(ts) + noise(0, 0.003)
    elif kind == "gas_lel":
        # Near zero; a whiff now and then (a valve being serviced, a car passing a vent), well under 10 %LEL.
        value = abs(noise(0, 0.15)) + (rng.uniform(1, 6) if rng.random() < 0.002 else 0.0)
    elif kind == "water_pressure":
        base = 0.42 if sensor.suffix != "P1" else 0.3
        value = base + 0.04 * (b - 0.5) - 0.07 * demand(ts) + noise(0, 0.005)
    elif kind == "water_flow":
        value = (300 + 1200 * b) * (0.3 + demand(ts)) * (1 + noise(0, 0.03))
    elif kind == "drainage_level":
        value = 0.15 + 0.1 * b + 0.08 * demand(ts) + 0.9 * rain(seed, ts) + noise(0, 0.01)
    elif kind == "drainage_flow":
        value = (150 + 400 * b) * (0.3 + 0.5 * demand(ts) + 3 * rain(seed, ts)) * (1 + noise(0, 0.04))
    elif kind == "bridge_strain":
        sign = 1 if b > 0.3 else -1  # most gauges on the girders' bottom flange (tension), some in compression
        value = sign * (40 + 180 * traffic(ts) * rng.random()) + 15 * math.sin(TWO_PI * (_hour(ts) - 9) / 24)
        value += noise(0, 5)
    elif kind == "bridge_displacement":
        # Expansion bearings follow the deck's temperature through the day.
        value = 4 * (b - 0.5) + 3 * math.sin(TWO_PI * (_hour(ts) - 9) / 24) + noise(0, 0.2)
    elif kind == "bridge_tilt":
        value = 0.05 * (b - 0.5) + noise(0, 0.005)
    elif kind == "waterlogging_depth":
        # Dry most of the time; in a shower the low spots (high bias) gather a few centimetres.
        value = max(0.0, rain(seed, ts) * (0.02 + 0.12 * b) + noise(0, 0.002))
    elif kind == "manhole_tilt":
        value = abs(noise(0, 0.15))
    elif kind == "manhole_open":
        value = 0.0
    else:
        value = sensor.low + (sensor.high - sensor.low) * 0.5 * (1 + 0.1 * noise(0, 1))
    if kind == "manhole_open":
        return value
    return round(min(sensor.high, max(sensor.low, value)), 3)


@dataclass
class Simulation:
    """The demo devices and their sensors, a clock, and the faults; `advance` yields each device's batch."""

    devices: list[SimDevice]
    seed: int = 0
    fault_rate_per_hour: float = 0.0  # chance per device and simulated hour that a fault starts
    faults: list[Fault] = field(default_factory=list)
    _next: dict[str, datetime] = field(default_factory=dict)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def sensor_count(self) -> int:
        return sum(len(device.sensors) for device in self.devices)

    def start(self, at: datetime) -> None:
        """Each sensor's first reading falls at its own phase within its interval after `at`."""
        for device in self.devices:
            for sensor in device.sensors:
                self._next[sensor.code] = at + timedelta(seconds=sensor.phase * sensor.interval_s)

    def fault_inject(
        self, *, sensor_code: str, kind: str, start: datetime, minutes: float, value: float | None = None
    ) -> Fault:
        sensor = next(s for d in self.devices for s in d.sensors if s.code == sensor_code)
        if kind == "breach" and value is None:
            value = BREACH_VALUES.get(sensor.type_code, sensor.high)
        fault = Fault(sensor_code, kind, start, start + timedelta(minutes=minutes), value)
        self.faults.append(fault)
        return fault

    def _random_faults(self, since: datetime, until: datetime) -> None:
        if self.fault_rate_per_hour <= 0:
            return
        hours = (until - since).total_seconds() / 3600
        for device in self.devices:
            if self._rng.random() < self.fault_rate_per_hour * hours:
                sensor = self._rng.choice(device.sensors)
                kind = "breach" if self._rng.random() < 0.6 else "silence"
                minutes = self._rng.uniform(10, 40) if kind == "breach" else self._rng.uniform(15, 45)
                self.fault_inject(sensor_code=sensor.code, kind=kind, start=until, minutes=minutes)

    def advance(self, since: datetime, until: datetime) -> Iterable[tuple[SimDevice, list[dict[str, Any]]]]:
        """The readings due in (since, until], one batch per device that has any."""
        self._random_faults(since, until)
        active = [f for f in self.faults if f.end > since]
        self.faults = active
        by_sensor: dict[str, list[Fault]] = {}
        for fault in active:
            by_sensor.setdefault(fault.sensor_code, []).append(fault)
        for device in self.devices:
            items: list[dict[str, Any]] = []
            for sensor in device.sensors:
                due = self._next.get(sensor.code)
                if due is None:
                    continue
                while due <= until:
                    faults = [f for f in by_sensor.get(sensor.code, ()) if f.covers(due)]
                    value = _value(self.seed, sensor, due, self._rng)
                    if any(f.kind == "silence" for f in faults):
                        due += timedelta(seconds=sensor.interval_s)
                        continue
                    breach = next((f for f in faults if f.kind == "breach"), None)
                    if breach is not None and breach.value is not None:
                        value = round(
                            min(sensor.high, max(sensor.low, breach.value * (1 + self._rng.gauss(0, 0.01)))), 3
                        )
                        if sensor.type_code == "manhole_open":
                            value = breach.value
                    items.append({"sensor": sensor.code, "ts": due.isoformat(timespec="seconds"), "value": value})
                    due += timedelta(seconds=sensor.interval_s)
                self._next[sensor.code] = due
            if items:
                yield device, items


def simulation_load(*, seed: int = 0, devices: int = 0, code_prefix: str = "QD-") -> Simulation:
    """The demo devices (those whose code starts with `code_prefix`) and their active sensors, in code order;
    `devices` > 0 takes only the first so many."""
    queryset = Device.objects.filter(code__startswith=code_prefix).order_by("code")
    if devices:
        queryset = queryset[:devices]
    chosen = list(queryset.values_list("id", "code"))
    sensors: dict[int, list[SimSensor]] = {device_id: [] for device_id, _code in chosen}
    rows = (
        Sensor.objects.filter(device_id__in=sensors, is_active=True)
        .order_by("code")
        .values_list(
            "device_id",
            "code",
            "sensor_type__code",
            "expected_interval_s",
            "sensor_type__expected_interval_s",
            "sensor_type__valid_min",
            "sensor_type__valid_max",
        )
    )
    for device_id, code, type_code, interval, type_interval, low, high in rows:
        sensors[device_id].append(
            SimSensor(
                code=code,
                type_code=type_code,
                interval_s=interval or type_interval,
                low=-math.inf if low is None else low,
                high=math.inf if high is None else high,
                phase=_unit(seed, "phase", code),
                bias=_unit(seed, "bias", code),
                suffix=code.rsplit("-", 1)[-1],
            )
        )
    return Simulation(
        devices=[SimDevice(device_id, code, sensors[device_id]) for device_id, code in chosen if sensors[device_id]],
        seed=seed,
    )


def tokens_issue(simulation: Simulation, issue: Callable[[int], str]) -> None:
    """A fresh token for every device the simulation drives (kept in memory only, never stored in clear)."""
    for device in simulation.devices:
        device.token = issue(device.device_id)
