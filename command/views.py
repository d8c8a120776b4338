"""The command centre page (一张图: one map beside the work queues) and its case side panel.

The panel is the case page's context drawn small: the same action forms post to the same services through
cases.views.case_action_run, and answer with the panel again (400 with the form's errors on refusal).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from cases.alerts import operating_mode_current
from cases.selectors import case_get_by_number_for_user_or_404
from cases.views import case_action_run, detail_render
from command.selectors import QUEUES
from geography.selectors import district_outlines
from organisations.selectors import districts_visible_to, scope_for

PANEL_TEMPLATE = "command/case_panel.html"
# The words the page's script shows, translated here so that no translation can break its JSON.
PAGE_TEXT = {
    "empty": _("Nothing in this queue."),
    "more": _("Show more"),
    "loading": _("Loading…"),
    "failed": _("Could not load. Retrying shortly."),
    "overdueBy": _("overdue"),
    "left": _("left"),
    "live": _("Live"),
    "reconnecting": _("Reconnecting…"),
    "offline": _("Offline: not updating"),
    "connecting": _("Connecting…"),
    "districts": _("Districts"),
    "streets": _("Streets"),
    "grid": _("Grid cells"),
    "cases": _("Cases"),
    "components": _("Components"),
    "inspectors": _("Inspectors on duty"),
    "key": _("Key"),
    "difficult": _("Difficult"),
    "disputed": _("Disputed"),
    "newCase": _("New"),
    "zoomIn": _("Zoom in to see"),
    "legendIntake": _("Awaiting verification or registration"),
    "legendDispatch": _("Awaiting dispatch or acceptance"),
    "legendHandling": _("Being handled"),
    "legendCheck": _("Handled, awaiting check"),
    "legendOverdue": _("Overdue"),
    "legendUrgent": _("Urgent (outline)"),
    "legendEmergency": _("Emergency (outline)"),
    # Lifeline alarms (static/lifelines/command-alarms.js).
    "alarmLayer": _("Lifeline alarms"),
    "facilityLayer": _("Lifeline facilities"),
    "noAlarms": _("No open alarm."),
    "acknowledge": _("Acknowledge"),
    "acknowledged": _("acknowledged"),
    "blue": _("Blue"),
    "yellow": _("Yellow"),
    "orange": _("Orange"),
    "red": _("Red"),
    # Units of a countdown: "2d 3h", "45m" (天 / 小时 / 分钟).
    "days": _("d"),
    "hours": _("h"),
    "minutes": _("m"),
}


def _staff_or_404(request: HttpRequest) -> None:
    # Citizens and devices have no command centre; to them it does not exist.
    if scope_for(request.user).is_empty:
        raise Http404("No command centre for this account.")


@login_required
@require_GET
def command_centre(request: HttpRequest) -> HttpResponse:
    _staff_or_404(request)
    scope = scope_for(request.user)
    districts = list(districts_visible_to(request.user).order_by("code").values("id", "name"))
    if not scope.city_wide and not scope.district_ids:
        # A street or unit sees its cases but is not a district: offer no district filter beyond its own.
        districts = [d for d in districts if d["id"] in scope.district_ids]
    config = {
        "queues": [{"name": q.name, "label": str(q.label), "hint": str(q.hint), "api": q.api} for q in QUEUES],
        "tileUrl": settings.MAP_TILE_URL,
        "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
        "center": settings.LEAFLET_CONFIG["DEFAULT_CENTER"],
        "zoom": settings.LEAFLET_CONFIG["DEFAULT_ZOOM"],
        "mode": operating_mode_current(),
    }
    context = {
        "districts": districts,
        "outlines": district_outlines(),
        "config": config,
        "text": {key: str(value) for key, value in PAGE_TEXT.items()},
    }
    return render(request, "command/centre.html", context)


@login_required
@require_GET
def case_panel(request: HttpRequest, number: str) -> HttpResponse:
    _staff_or_404(request)
    case = case_get_by_number_for_user_or_404(request.user, number)
    return detail_render(request, case, template=PANEL_TEMPLATE)


@login_required
@require_POST
def case_panel_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    _staff_or_404(request)

    def done(case: object) -> HttpResponse:
        try:  # read again: the action changed it (and may have moved it out of the caller's sight)
            fresh = case_get_by_number_for_user_or_404(request.user, number)
        except Http404:
            return render(request, "command/case_gone.html", {"number": number})
        return detail_render(request, fresh, template=PANEL_TEMPLATE)

    return case_action_run(request, number, action, template=PANEL_TEMPLATE, done=done)
