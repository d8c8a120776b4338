"""Reads for the lifelines pages: a facility's open alarms and the thresholds its charts draw, and a scenario's
facilities by state (scoped as the API is: outside the user's scope a facility does not exist)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from lifelines.models import OPEN_ALARM_STATES, Alarm, AlarmKind, AlarmLevel, Domain, Facility
from lifelines.rules import sensor_rules_load, threshold_percent, tightened
from lifelines.selectors import facilities_visible_to

# The scenario pages: URL slug -> the domain whose facilities it summarises.
SCENARIOS = {
    "heating": Domain.HEATING,
    "gas": Domain.GAS,
    "waterlogging": Domain.WATERLOGGING,
    "bridges": Domain.BRIDGE,
}
LEVEL_NAMES = {level.value: level.name.lower() for level in AlarmLevel}


def facility_open_alarms(facility: Facility) -> list[Alarm]:
    """The facility's open alarms, most severe first."""
    return list(
        Alarm.objects.filter(sensor__facility=facility, state__in=OPEN_ALARM_STATES)
        .select_related("sensor", "sensor__sensor_type")
        .order_by("-level", "-raised_at")
    )


def open_alarms_for_queue(alarms: QuerySet[Alarm], limit: int) -> list[Alarm]:
    """Open alarms (of an already scoped queryset), most severe first, then the unacknowledged, then the newest;
    with the facility's location (the scoped queryset defers it)."""
    return list(
        alarms.filter(state__in=OPEN_ALARM_STATES)
        .select_related(None)
        .select_related("sensor", "sensor__facility", "sensor__sensor_type")
        .order_by("-level", "state", "-raised_at")[:limit]
    )


def sensor_thresholds(sensor_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per sensor the bound lines its active rules draw (most specific rule per level, tightened by the operating
    mode in force, as the evaluation applies them): [{level, bound: "upper"|"lower", value}]."""
    if not sensor_ids:
        return {}
    percent = threshold_percent()
    lines: dict[int, list[dict[str, Any]]] = {sensor_id: [] for sensor_id in sensor_ids}
    for sensor_id, rules in sensor_rules_load(sensor_ids).items():
        for rule, _state in rules:
            upper, lower, _rate = tightened(upper=rule.upper, lower=rule.lower, rate=rule.rate, percent=percent)
            for bound, value in (("upper", upper), ("lower", lower)):
                if value is not None:
                    lines[sensor_id].append({"level": LEVEL_NAMES[rule.level], "bound": bound, "value": value})
    return lines


def _with_state(facilities: QuerySet[Facility]) -> QuerySet[Facility]:
    open_q = Q(sensors__alarms__state__in=OPEN_ALARM_STATES)
    return facilities.annotate(
        worst_level=Max("sensors__alarms__level", filter=open_q & ~Q(sensors__alarms__kind=AlarmKind.OFFLINE)),
        offline_count=Count("sensors__alarms", filter=open_q & Q(sensors__alarms__kind=AlarmKind.OFFLINE)),
        open_count=Count("sensors__alarms", filter=open_q),
        last_raised=Max("sensors__alarms__raised_at", filter=open_q),
    )


@dataclass
class Scenario:
    total: int = 0
    normal: int = 0
    offline: int = 0
    by_level: dict[str, int] = field(default_factory=lambda: dict.fromkeys(reversed(LEVEL_NAMES.values()), 0))
    worst: list[Facility] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)


def facility_state(worst_level: int | None, offline_count: int) -> str:
    """A facility's state at a glance: its worst open alarm's level, else offline, else normal."""
    if worst_level:
        return LEVEL_NAMES[worst_level]
    return "offline" if offline_count else "normal"


def state_label(state: str) -> str:
    if state in ("normal", "offline"):
        return str(_("Normal") if state == "normal" else _("Offline"))
    return str(AlarmLevel[state.upper()].label)


def scenario_summary(user: Any, domain: str, *, worst: int = 12) -> Scenario:
    """The domain's facilities the user may see, counted by state, the worst ones first, and map points."""
    rows = (
        _with_state(facilities_visible_to(user).filter(domain=domain))
        .select_related("district")
        .only("id", "code", "name", "kind", "location", "district__name")
        .order_by("code")
    )
    summary = Scenario()
    ranked = []
    for facility in rows:
        facility.state = facility_state(facility.worst_level, facility.offline_count)
        facility.state_label = state_label(facility.state)
        summary.total += 1
        if facility.state == "normal":
            summary.normal += 1
        elif facility.state == "offline":
            summary.offline += 1
        else:
            summary.by_level[facility.state] += 1
        if facility.state != "normal":
            ranked.append(facility)
        summary.points.append(
            {
                "id": facility.pk,
                "name": facility.name,
                "state": facility.state,
                "lon": facility.location.x,
                "lat": facility.location.y,
            }
        )
    ranked.sort(key=lambda f: (-(f.worst_level or 0), -f.offline_count, -f.open_count, f.code))
    summary.worst = ranked[:worst]
    return summary
