"""The lifelines pages: a facility with its latest values, open alarms and charts, and the scenario pages
(heating, gas, waterlogging, bridges) that summarise their facilities' state. Staff only; scoped (404 outside)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from geography.selectors import district_outlines
from lifelines import selectors, selectors_alarms, selectors_pages
from lifelines.live import open_alarm_message
from lifelines.models import AlarmLevel, Domain
from organisations.selectors import scope_for

# The words the pages' scripts show, translated here so that no translation can break their JSON.
PAGE_TEXT = {
    "loading": _("Loading…"),
    "failed": _("Could not load the readings."),
    "noData": _("No readings in this range."),
    "average": _("Average"),
    "range": _("Min–max"),
    "value": _("Value"),
    "upper": _("upper"),
    "lower": _("lower"),
    "blue": AlarmLevel.BLUE.label,
    "yellow": AlarmLevel.YELLOW.label,
    "orange": AlarmLevel.ORANGE.label,
    "red": AlarmLevel.RED.label,
    "offline": _("Offline"),
    "normal": _("Normal"),
}
SCENARIO_TITLES = {
    "heating": _("Heating"),
    "gas": _("Gas stations and underground spaces"),
    "waterlogging": _("Waterlogging points"),
    "bridges": _("Bridges"),
}


def _staff_or_404(request: HttpRequest) -> None:
    if scope_for(request.user).is_empty:
        raise Http404("No lifelines pages for this account.")


def _text() -> dict[str, str]:
    return {key: str(value) for key, value in PAGE_TEXT.items()}


@login_required
@require_GET
def facility_page(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_or_404(request)
    facility = selectors.get_facility_for_user_or_404(request.user, pk)
    sensors = list(facility.sensors.all())
    thresholds = selectors_pages.sensor_thresholds([sensor.pk for sensor in sensors])
    alarms = selectors_pages.facility_open_alarms(facility)
    worst = {}
    for alarm in alarms:
        worst.setdefault(alarm.sensor_id, alarm)
    config = {
        "sensors": [
            {
                "id": sensor.pk,
                "code": sensor.code,
                "name": sensor.name or sensor.sensor_type.name,
                "unit": sensor.sensor_type.unit,
                "thresholds": thresholds.get(sensor.pk, []),
            }
            for sensor in sensors
        ],
        "readingsUrl": "/api/v1/lifelines/sensors/{id}/readings/",
    }
    rows = [(sensor, worst.get(sensor.pk)) for sensor in sensors]
    context = {"facility": facility, "rows": rows, "alarms": alarms, "config": config, "text": _text()}
    return render(request, "lifelines/facility.html", context)


@login_required
@require_GET
def scenario_page(request: HttpRequest, scenario: str) -> HttpResponse:
    _staff_or_404(request)
    domain = selectors_pages.SCENARIOS.get(scenario)
    if domain is None:
        raise Http404("No such scenario.")
    summary = selectors_pages.scenario_summary(request.user, domain)
    config = {
        "points": summary.points,
        "tileUrl": settings.MAP_TILE_URL,
        "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
        "center": settings.LEAFLET_CONFIG["DEFAULT_CENTER"],
        "zoom": settings.LEAFLET_CONFIG["DEFAULT_ZOOM"],
        "outlines": district_outlines(),
    }
    context = {
        "scenario": scenario,
        "title": SCENARIO_TITLES[scenario],
        "domain_name": Domain(domain).label,
        "summary": summary,
        "levels": [(name, AlarmLevel[name.upper()].label, count) for name, count in summary.by_level.items()],
        "scenarios": [(slug, SCENARIO_TITLES[slug]) for slug in selectors_pages.SCENARIOS],
        "config": config,
        "text": _text(),
    }
    return render(request, "lifelines/scenario.html", context)


OPEN_ALARMS_MAX = 500


@login_required
@require_GET
def open_alarms(request: HttpRequest) -> JsonResponse:
    """The command centre's alarm queue and layer as they stand: the open alarms in the user's scope, most severe
    first, in the live event's shape (with the facility's coordinates), for the first draw and after a resync."""
    _staff_or_404(request)
    alarms = selectors_pages.open_alarms_for_queue(selectors_alarms.alarms_visible_to(request.user), OPEN_ALARMS_MAX)
    return JsonResponse({"alarms": [open_alarm_message(alarm) for alarm in alarms]})
