"""The demo city's lifelines: sensor types, about 600 facilities (heat sources and heat-exchange stations, gas
stations and underground spaces, water and drainage pipes and pumping stations, bridges, waterlogging points,
manhole covers), about 2,000 sensors, one reporting device (gateway) per facility, and type-wide threshold rules
with Qingdao values (DEMO_RULES), opening cases of the catalogue's classes where one fits.

Facilities stand at seeded points of the unit grid (or of communities where there is no grid), so two runs on
the same city place them alike; every row has a fixed code and is inserted with ON CONFLICT DO NOTHING, so a
second run adds nothing. Devices get no token here: whoever drives them (the simulator) issues tokens through
lifelines.services.device_token_issue. Owner units are the demo organisation's utility companies and
departments (organisations.demo), preferring the owner's field unit in the facility's district.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import connection, transaction

from catalogue.models import ClassKind, MinorClass
from geography.demo import StageResult
from lifelines.models import (
    AlarmLevel,
    Device,
    Domain,
    Facility,
    FacilityKind,
    Metric,
    RuleCondition,
    Sensor,
    SensorType,
    ThresholdRule,
    Unit,
)
from organisations.demo import CITY_CENTRE_CODE, department_codes_by_key
from organisations.models import OrgUnit


@dataclass(frozen=True)
class TypeSpec:
    code: str
    name: str
    domain: str
    metric: str
    unit: str
    valid_min: float
    valid_max: float
    interval_s: int


SENSOR_TYPES: tuple[TypeSpec, ...] = (
    TypeSpec("heat_supply_temp", "供热供水温度", Domain.HEATING, Metric.SUPPLY_TEMPERATURE, Unit.CELSIUS, 0, 150, 300),
    TypeSpec("heat_return_temp", "供热回水温度", Domain.HEATING, Metric.RETURN_TEMPERATURE, Unit.CELSIUS, 0, 150, 300),
    TypeSpec("heat_supply_pressure", "供热供水压力", Domain.HEATING, Metric.PRESSURE, Unit.MPA, 0, 2.5, 300),
    TypeSpec("heat_return_pressure", "供热回水压力", Domain.HEATING, Metric.PRESSURE, Unit.MPA, 0, 2.5, 300),
    TypeSpec("gas_pressure", "燃气压力", Domain.GAS, Metric.PRESSURE, Unit.MPA, 0, 4.0, 60),
    TypeSpec("gas_lel", "可燃气体浓度", Domain.GAS, Metric.CONCENTRATION_LEL, Unit.PERCENT_LEL, 0, 100, 30),
    TypeSpec("water_pressure", "供水管网压力", Domain.WATER_SUPPLY, Metric.PRESSURE, Unit.MPA, 0, 1.6, 60),
    TypeSpec("water_flow", "供水流量", Domain.WATER_SUPPLY, Metric.FLOW, Unit.CUBIC_METRES_PER_HOUR, 0, 20000, 60),
    TypeSpec("drainage_level", "排水管道液位", Domain.DRAINAGE, Metric.LEVEL, Unit.METRE, 0, 10, 60),
    TypeSpec("drainage_flow", "排水流量", Domain.DRAINAGE, Metric.FLOW, Unit.CUBIC_METRES_PER_HOUR, 0, 20000, 60),
    TypeSpec("bridge_strain", "桥梁应变", Domain.BRIDGE, Metric.STRAIN, Unit.MICROSTRAIN, -3000, 3000, 60),
    TypeSpec("bridge_displacement", "桥梁位移", Domain.BRIDGE, Metric.DISPLACEMENT, Unit.MILLIMETRE, -500, 500, 60),
    TypeSpec("bridge_tilt", "桥梁倾角", Domain.BRIDGE, Metric.TILT, Unit.DEGREE, -30, 30, 60),
    TypeSpec("waterlogging_depth", "积水深度", Domain.WATERLOGGING, Metric.WATER_LEVEL, Unit.METRE, 0, 5, 60),
    TypeSpec("manhole_tilt", "井盖倾角", Domain.MANHOLE_COVER, Metric.TILT, Unit.DEGREE, 0, 90, 300),
    TypeSpec("manhole_open", "井盖开启状态", Domain.MANHOLE_COVER, Metric.COVER_OPEN, Unit.BOOLEAN, 0, 1, 300),
)


@dataclass(frozen=True)
class FacilityPlan:
    """`count` facilities of one kind; `name` is formatted with the street's short name and a serial;
    `sensors` are (type code, code suffix, sensor name); owners are organisations.demo department keys,
    taken in turn, the first existing one of each group (a tuple) winning."""

    prefix: str
    domain: str
    kind: str
    count: int
    name: str
    sensors: tuple[tuple[str, str, str], ...]
    owners: tuple[tuple[str, ...], ...]


_HEAT = (
    ("heat_supply_temp", "T1", "供水温度"),
    ("heat_return_temp", "T2", "回水温度"),
    ("heat_supply_pressure", "P1", "供水压力"),
    ("heat_return_pressure", "P2", "回水压力"),
)

PLANS: tuple[FacilityPlan, ...] = (
    FacilityPlan("HS", Domain.HEATING, FacilityKind.HEAT_SOURCE, 8, "{street}热源厂", _HEAT, (("heat", "housing"),)),
    FacilityPlan(
        "HX",
        Domain.HEATING,
        FacilityKind.HEAT_EXCHANGE_STATION,
        130,
        "{street}{n}号换热站",
        _HEAT,
        (("heat", "housing"),),
    ),
    FacilityPlan(
        "GS",
        Domain.GAS,
        FacilityKind.GAS_STATION,
        37,
        "{street}燃气调压站",
        (
            ("gas_pressure", "P1", "进站压力"),
            ("gas_pressure", "P2", "出站压力"),
            ("gas_lel", "L1", "调压间可燃气体浓度"),
            ("gas_lel", "L2", "计量间可燃气体浓度"),
            ("gas_lel", "L3", "阀门井可燃气体浓度"),
        ),
        (("gas_huarun", "urban_management"), ("gas_taineng", "urban_management")),
    ),
    FacilityPlan(
        "GU",
        Domain.GAS,
        FacilityKind.UNDERGROUND_SPACE,
        25,
        "{street}{n}号地下空间",
        (("gas_lel", "L1", "可燃气体浓度1#"), ("gas_lel", "L2", "可燃气体浓度2#")),
        (("gas_huarun", "urban_management"), ("gas_taineng", "urban_management")),
    ),
    FacilityPlan(
        "WP",
        Domain.WATER_SUPPLY,
        FacilityKind.PIPELINE_SEGMENT,
        40,
        "{street}供水管段{n}",
        (("water_pressure", "P1", "管网压力"), ("water_flow", "F1", "瞬时流量")),
        (("water_group", "water_affairs"), ("bay_water", "water_affairs")),
    ),
    FacilityPlan(
        "WS",
        Domain.WATER_SUPPLY,
        FacilityKind.PUMPING_STATION,
        10,
        "{street}加压泵站",
        (("water_pressure", "P1", "进水压力"), ("water_pressure", "P2", "出水压力"), ("water_flow", "F1", "出水流量")),
        (("water_group", "water_affairs"),),
    ),
    FacilityPlan(
        "DP",
        Domain.DRAINAGE,
        FacilityKind.PIPELINE_SEGMENT,
        40,
        "{street}排水管段{n}",
        (("drainage_level", "L1", "管道液位"), ("drainage_flow", "F1", "管道流量")),
        (("drainage", "water_affairs"),),
    ),
    FacilityPlan(
        "DS",
        Domain.DRAINAGE,
        FacilityKind.PUMPING_STATION,
        8,
        "{street}雨水泵站",
        (
            ("drainage_level", "L1", "前池液位"),
            ("drainage_flow", "F1", "1#泵流量"),
            ("drainage_flow", "F2", "2#泵流量"),
        ),
        (("drainage", "water_affairs"),),
    ),
    FacilityPlan(
        "BR",
        Domain.BRIDGE,
        FacilityKind.BRIDGE,
        40,
        "{street}{n}号桥",
        (
            *(("bridge_strain", f"S{i}", f"主梁应变{i}#") for i in range(1, 7)),
            *(("bridge_displacement", f"D{i}", f"支座位移{i}#") for i in range(1, 5)),
            ("bridge_tilt", "I1", "桥墩倾角1#"),
            ("bridge_tilt", "I2", "桥墩倾角2#"),
        ),
        (("municipal_works", "transport", "urban_management"),),
    ),
    FacilityPlan(
        "WL",
        Domain.WATERLOGGING,
        FacilityKind.WATERLOGGING_POINT,
        60,
        "{street}{n}号积水点",
        (("waterlogging_depth", "W1", "积水深度"),),
        (("water_affairs", "urban_management"),),
    ),
    FacilityPlan(
        "MH",
        Domain.MANHOLE_COVER,
        FacilityKind.MANHOLE,
        220,
        "{street}井盖{n:03d}",
        (("manhole_tilt", "I1", "井盖倾角"), ("manhole_open", "O1", "井盖开启")),
        (
            ("water_group", "urban_management"),
            ("drainage", "urban_management"),
            ("gas_huarun", "urban_management"),
            ("telecom", "urban_management"),
            ("power", "urban_management"),
        ),
    ),
)

CODE_PREFIX = "QD-"


@dataclass(frozen=True)
class RuleSpec:
    """A type-wide demo threshold: (level, upper, lower) bounds, or a rate per minute; the case class as
    (catalogue kind, major code, minor code), or None where no catalogue class fits."""

    type_code: str
    level: int
    upper: float | None = None
    lower: float | None = None
    rate_per_min: float | None = None
    min_readings: int = 1
    hysteresis: float = 0.0
    case_class: tuple[str, str, str] | None = None
    case_level: int | None = None


_B, _Y, _O, _R = AlarmLevel.BLUE, AlarmLevel.YELLOW, AlarmLevel.ORANGE, AlarmLevel.RED
_HEAT_PIPE = (ClassKind.EVENT, "04", "05")  # 热力管道破裂
_WATER_MAIN = (ClassKind.EVENT, "04", "02")  # 自来水管破裂
_GAS_PIPE = (ClassKind.EVENT, "04", "03")  # 燃气管道破裂
_SEWER = (ClassKind.EVENT, "04", "04")  # 下水道堵塞或破损
_WATERLOGGED = (ClassKind.EVENT, "04", "06")  # 道路积水
_MANHOLE = (ClassKind.COMPONENT, "01", "03")  # 雨水井盖 (most monitored covers are on storm drains)

# Values for Qingdao's networks: heating secondary networks run about 70-95 °C out and 40-60 °C back at 0.6-0.8 MPa
# (return 0.3-0.4); medium-pressure gas enters regulator stations at about 0.3 MPa; city water is kept above
# 0.28 MPa at the tap side; combustible gas alarms at 20 %LEL (low) and 50 %LEL (high) as GB/T 50493 has it;
# the catalogue files waterlogging from 15 cm of water on the road.
DEMO_RULES: tuple[RuleSpec, ...] = (
    RuleSpec("heat_supply_temp", _Y, upper=100, lower=55, min_readings=2, hysteresis=2),
    RuleSpec("heat_supply_temp", _O, upper=105, lower=50, min_readings=2, hysteresis=2, case_class=_HEAT_PIPE),
    RuleSpec("heat_supply_temp", _R, upper=115, min_readings=2, hysteresis=2, case_class=_HEAT_PIPE),
    RuleSpec("heat_return_temp", _Y, upper=65, lower=30, min_readings=2, hysteresis=2),
    RuleSpec("heat_return_temp", _O, upper=70, lower=25, min_readings=2, hysteresis=2, case_class=_HEAT_PIPE),
    RuleSpec("heat_supply_pressure", _Y, upper=1.0, lower=0.4, hysteresis=0.03),
    RuleSpec("heat_supply_pressure", _O, upper=1.2, lower=0.3, hysteresis=0.03, case_class=_HEAT_PIPE),
    RuleSpec("heat_supply_pressure", _R, upper=1.4, lower=0.2, hysteresis=0.03, case_class=_HEAT_PIPE),
    RuleSpec("heat_supply_pressure", _O, rate_per_min=0.1, hysteresis=0.02, case_class=_HEAT_PIPE),
    RuleSpec("heat_return_pressure", _Y, upper=0.8, lower=0.15, hysteresis=0.02),
    RuleSpec("heat_return_pressure", _O, upper=1.0, lower=0.1, hysteresis=0.02, case_class=_HEAT_PIPE),
    RuleSpec("gas_pressure", _Y, upper=0.42, lower=0.1, hysteresis=0.01),
    RuleSpec("gas_pressure", _O, upper=0.45, lower=0.05, hysteresis=0.01, case_class=_GAS_PIPE),
    RuleSpec("gas_pressure", _R, upper=0.5, hysteresis=0.01, case_class=_GAS_PIPE),
    RuleSpec("gas_lel", _Y, upper=10, hysteresis=2),
    RuleSpec("gas_lel", _O, upper=20, hysteresis=2, case_class=_GAS_PIPE),
    RuleSpec("gas_lel", _R, upper=50, hysteresis=2, case_class=_GAS_PIPE),
    RuleSpec("water_pressure", _Y, upper=0.7, lower=0.2, min_readings=2, hysteresis=0.02),
    RuleSpec("water_pressure", _O, upper=0.8, lower=0.15, min_readings=2, hysteresis=0.02, case_class=_WATER_MAIN),
    RuleSpec("water_pressure", _R, lower=0.1, min_readings=2, hysteresis=0.02, case_class=_WATER_MAIN),
    RuleSpec("water_pressure", _O, rate_per_min=0.08, hysteresis=0.02, case_class=_WATER_MAIN),
    RuleSpec("drainage_level", _Y, upper=0.8, min_readings=2, hysteresis=0.05),
    RuleSpec("drainage_level", _O, upper=1.2, min_readings=2, hysteresis=0.05, case_class=_SEWER),
    RuleSpec("drainage_level", _R, upper=1.8, min_readings=2, hysteresis=0.05, case_class=_SEWER),
    RuleSpec("bridge_strain", _Y, upper=300, lower=-300, min_readings=3, hysteresis=20),
    RuleSpec("bridge_strain", _O, upper=500, lower=-500, min_readings=3, hysteresis=20),
    RuleSpec("bridge_strain", _R, upper=800, lower=-800, min_readings=3, hysteresis=20),
    RuleSpec("bridge_displacement", _Y, upper=20, lower=-20, min_readings=2, hysteresis=1),
    RuleSpec("bridge_displacement", _O, upper=30, lower=-30, min_readings=2, hysteresis=1),
    RuleSpec("bridge_displacement", _R, upper=50, lower=-50, min_readings=2, hysteresis=1),
    RuleSpec("bridge_tilt", _Y, upper=0.5, lower=-0.5, min_readings=2, hysteresis=0.05),
    RuleSpec("bridge_tilt", _O, upper=1.0, lower=-1.0, min_readings=2, hysteresis=0.05),
    RuleSpec("bridge_tilt", _R, upper=2.0, lower=-2.0, min_readings=2, hysteresis=0.05),
    RuleSpec("waterlogging_depth", _B, upper=0.05, hysteresis=0.01),
    RuleSpec("waterlogging_depth", _Y, upper=0.15, hysteresis=0.02, case_class=_WATERLOGGED, case_level=_Y),
    RuleSpec("waterlogging_depth", _O, upper=0.27, hysteresis=0.02, case_class=_WATERLOGGED, case_level=_Y),
    RuleSpec("waterlogging_depth", _R, upper=0.4, hysteresis=0.02, case_class=_WATERLOGGED, case_level=_Y),
    RuleSpec("manhole_tilt", _Y, upper=5, hysteresis=1),
    RuleSpec("manhole_tilt", _O, upper=10, hysteresis=1, case_class=_MANHOLE),
    RuleSpec("manhole_tilt", _R, upper=20, hysteresis=1, case_class=_MANHOLE),
    RuleSpec("manhole_open", _O, upper=0.5, case_class=_MANHOLE),
)
# No rule for flows: what is normal depends on the pipe, so their thresholds are set per facility by the operator.
# Bridges open no case by themselves (no catalogue class fits a structural alarm): the bridge unit follows them.


def demo_rules_build() -> int:
    """The type-wide demo thresholds, for each demo sensor type that has no type-wide rule yet (an operator's
    edits are never overwritten); returns how many rules were created."""
    types = dict(SensorType.objects.filter(code__in={r.type_code for r in DEMO_RULES}).values_list("code", "id"))
    ruled = set(
        ThresholdRule.objects.filter(facility=None, sensor=None, sensor_type_id__in=types.values()).values_list(
            "sensor_type_id", flat=True
        )
    )
    classes = {
        (kind, major, minor): pk
        for pk, kind, major, minor in MinorClass.objects.values_list("id", "major__kind", "major__code", "code")
    }
    rules = [
        ThresholdRule(
            name=f"{spec.type_code} · {AlarmLevel(spec.level).name.lower()}"
            + (" · rate" if spec.rate_per_min is not None else ""),
            sensor_type_id=types[spec.type_code],
            condition=RuleCondition.RATE if spec.rate_per_min is not None else RuleCondition.BOUNDS,
            level=spec.level,
            upper=spec.upper,
            lower=spec.lower,
            rate_per_min=spec.rate_per_min,
            min_readings=spec.min_readings,
            hysteresis=spec.hysteresis,
            case_minor_class_id=classes.get(spec.case_class) if spec.case_class else None,
            case_level=spec.case_level,
        )
        for spec in DEMO_RULES
        if spec.type_code in types and types[spec.type_code] not in ruled
    ]
    ThresholdRule.objects.bulk_create(rules)
    return len(rules)


# Seeded points: the grid cells (the built-up core) in an order fixed by their codes, else the communities; one
# random point inside each, seeded by the code too.
_PLACES_SQL = """
SELECT p.community_id, p.street_id, p.district_id, s.name, ST_X(p.pt), ST_Y(p.pt)
FROM (
    SELECT c.community_id, c.street_id, c.district_id, c.rank,
           ST_GeometryN(ST_GeneratePoints(c.geom, 1, ('x' || left(md5(c.code), 7))::bit(28)::int + 1), 1) AS pt
    FROM (
        SELECT {community} AS community_id, street_id, district_id, geom, code, md5(code || %(salt)s) AS rank
        FROM {table}
        ORDER BY rank
        LIMIT %(n)s
    ) c
) p JOIN geography_street s ON s.id = p.street_id
ORDER BY p.rank
"""


def _places(salt: str, n: int) -> list[tuple]:
    for table, community in (("geography_gridcell", "community_id"), ("geography_community", "id")):
        with connection.cursor() as cursor:
            cursor.execute(_PLACES_SQL.format(table=table, community=community), {"salt": salt, "n": n})
            rows = cursor.fetchall()
        if rows:
            return rows
    return []


def _short(street_name: str) -> str:
    for suffix in ("街道办事处", "街道", "镇"):
        if street_name.endswith(suffix):
            return street_name.removesuffix(suffix)
    return street_name


class _Owners:
    """Owner units by department key: the department's field unit in the district if it has one, else itself
    (organisations.demo codes a department's field units <department code>F<nn>)."""

    def __init__(self) -> None:
        codes = department_codes_by_key()
        key_of = {code: key for key, code in codes.items()}
        self.unit: dict[str, int] = {}
        self.field_unit: dict[tuple[str, int], int] = {}
        units = (
            OrgUnit.objects.filter(code__startswith=CITY_CENTRE_CODE + "D")
            .order_by("code")
            .values_list("id", "code", "district_id")
        )
        for unit_id, code, district_id in units:
            department_code, _f, _serial = code.partition("F")
            key = key_of.get(department_code)
            if key is None:
                continue
            if code == department_code:
                self.unit[key] = unit_id
            elif district_id is not None:
                self.field_unit.setdefault((key, district_id), unit_id)

    def pick(self, group: tuple[str, ...], district_id: int | None) -> int | None:
        for key in group:
            if key in self.unit:
                return self.field_unit.get((key, district_id), self.unit[key]) if district_id else self.unit[key]
        return None


@transaction.atomic
def lifelines_build(*, scale: float = 1.0) -> StageResult:
    """Sensor types, facilities, devices and sensors of the demo city (idempotent: what exists is kept).

    `scale` multiplies every kind's count (at least one of each); 1.0 gives about 600 facilities and 2,000
    sensors.
    """
    before = (Facility.objects.count(), Sensor.objects.count(), Device.objects.count())
    SensorType.objects.bulk_create(
        [
            SensorType(
                code=t.code,
                name=t.name,
                domain=t.domain,
                metric=t.metric,
                unit=t.unit,
                valid_min=t.valid_min,
                valid_max=t.valid_max,
                expected_interval_s=t.interval_s,
            )
            for t in SENSOR_TYPES
        ],
        ignore_conflicts=True,
    )
    types = {
        code: (pk, interval)
        for code, pk, interval in SensorType.objects.values_list("code", "id", "expected_interval_s")
    }
    owners = _Owners()
    facilities: list[Facility] = []
    sensor_specs: dict[str, tuple[tuple[str, str, str], ...]] = {}
    for plan in PLANS:
        count = max(1, math.ceil(plan.count * scale))
        places = _places(plan.prefix, count)
        for n, (community_id, street_id, district_id, street_name, lon, lat) in enumerate(places, start=1):
            code = f"{CODE_PREFIX}{plan.prefix}-{n:04d}"
            owner_group = plan.owners[(n - 1) % len(plan.owners)]
            facilities.append(
                Facility(
                    code=code,
                    name=plan.name.format(street=_short(street_name), n=n),
                    domain=plan.domain,
                    kind=plan.kind,
                    location=f"SRID=4326;POINT({lon} {lat})",
                    owner_unit_id=owners.pick(owner_group, district_id),
                    district_id=district_id,
                    street_id=street_id,
                    community_id=community_id,
                    address=f"{street_name}",
                )
            )
            sensor_specs[code] = plan.sensors
    if not facilities:
        return StageResult("lifelines", skipped=True, detail="the city has no streets or communities yet")
    Facility.objects.bulk_create(facilities, ignore_conflicts=True, batch_size=1000)
    facility_ids = dict(Facility.objects.filter(code__in=sensor_specs).values_list("code", "id"))
    names = dict(Facility.objects.filter(code__in=sensor_specs).values_list("code", "name"))
    Device.objects.bulk_create(
        [
            Device(code=f"{code}-GW", name=f"{names[code]}采集网关", facility_id=facility_ids[code])
            for code in sensor_specs
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    device_ids = dict(Device.objects.filter(code__in=[f"{c}-GW" for c in sensor_specs]).values_list("code", "id"))
    Sensor.objects.bulk_create(
        [
            Sensor(
                code=f"{code}-{suffix}",
                name=name,
                facility_id=facility_ids[code],
                sensor_type_id=types[type_code][0],
                device_id=device_ids[f"{code}-GW"],
                expected_interval_s=types[type_code][1],
            )
            for code, specs in sensor_specs.items()
            for type_code, suffix, name in specs
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )
    rules = demo_rules_build()
    after = (Facility.objects.count(), Sensor.objects.count(), Device.objects.count())
    created = [a - b for a, b in zip(after, before, strict=True)] + [rules]
    detail = f"{after[0]:,} facilities, {after[1]:,} sensors, {after[2]:,} devices, {rules} threshold rules"
    if not any(created):
        return StageResult("lifelines", skipped=True, detail=f"{detail} already there")
    return StageResult("lifelines", created=sum(created), detail=detail)
