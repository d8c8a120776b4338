"""/m/: the field inspector's web app. One page shell whose ES modules draw every view (tasks, report, self-handle,
verify and check, the outbox, my reports, the map), the web app manifest, and the service worker, served from /m/
so that its scope is the app and rendered here so that it precaches the static files under their deployed (hashed)
names and is versioned by them."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET

from cases import clock
from cases.services.core import holds_role
from catalogue.models import ClassKind, Urgency
from catalogue.selectors import minor_class_list
from field.api import task_data
from field.selectors import tasks_for
from organisations.models import Role
from organisations.selectors import scope_for

# The app's own modules: those the first screen (the task list) needs, which the shell loads at once (preloaded,
# so that a slow connection fetches them side by side: with the stylesheet, store.js and the tasks' data, six
# requests, as many as a browser opens to one server at a time), and the others (the on-duty switch once the page
# has loaded; each view when first opened). The worker precaches them all.
SHELL_MODULES = [
    "field/app.js",
    "field/common.js",
    "field/outbox.js",
]
VIEW_MODULES = {
    "duty": "field/duty.js",
    "task": "field/views-task.js",
    "report": "field/views-report.js",
    "lists": "field/views-lists.js",
    "map": "field/map.js",
}
LAZY_MODULES = [*VIEW_MODULES.values(), "field/photos.js", "js/cluster-layer.js"]
TASKS_IN_SHELL = 50  # as many as the tasks API's first page
# Shared by the page and the service worker (a classic script: a worker cannot rely on ES modules everywhere).
STORE_SCRIPT = "field/store.js"
ICONS = ["field/icons/icon.svg", "field/icons/icon-192.png", "field/icons/icon-512.png"]
PRECACHED = [
    "field/app.css",
    STORE_SCRIPT,
    *SHELL_MODULES,
    *LAZY_MODULES,
    "leaflet/leaflet.js",
    "leaflet/leaflet.css",
    *ICONS,
]

# The words the page's scripts show, translated here so that no translation can break their JSON.
PAGE_TEXT = {
    "appName": _("Field inspection"),
    "tasks": _("Tasks"),
    "report": _("Report"),
    "outbox": _("Outbox"),
    "myReports": _("My reports"),
    "map": _("Map"),
    "loading": _("Loading…"),
    "retry": _("Try again"),
    "offline": _("Offline: everything you enter is kept on the phone and sent later."),
    "offlineData": _("Offline: showing what was loaded at %(time)s."),
    "loadFailed": _("Could not load. Check the connection and try again."),
    "signInAgain": _("Your sign-in has expired. Nothing is lost: sign in again to send what is waiting."),
    # Tasks
    "noTasks": _("No verification or check tasks for you now."),
    "nearestFirst": _("nearest first"),
    "verify": _("Verify"),
    "check": _("Check"),
    "assignedToMe": _("Assigned to me"),
    "overdueBy": _("Overdue by %(time)s"),
    "dueIn": _("%(time)s left"),
    "waitingToSend": _("Waiting to send"),
    # Units of a countdown, as the command centre writes them: "2d 3h", "45m" (天 / 小时 / 分).
    "days": _("d"),
    "hours": _("h"),
    "minutes": _("m"),
    # Units of a distance (米 / 公里): a context of their own, "m" is the minutes above.
    "metres": pgettext_lazy("distance unit", "m"),
    "kilometres": pgettext_lazy("distance unit", "km"),
    "taskGone": _("This task is no longer in your list."),
    "reported": _("Reported"),
    "deadline": _("Deadline"),
    "address": _("Address"),
    "description": _("Description"),
    "photos": _("Photos"),
    "status": _("Status"),
    "case": _("Case"),
    # Verify / check
    "verifyTitle": _("Verify on site"),
    "checkTitle": _("Check on site"),
    "confirmed": _("True: register it"),
    "notConfirmed": _("Not true"),
    "passed": _("Fixed: passed"),
    "failed": _("Not fixed: failed"),
    "note": _("Note"),
    "noteRequired": _("Say what you found."),
    "chooseOutcome": _("Choose pass or fail."),
    "verifiedTrue": _("Verified: true"),
    "verifiedFalse": _("Verified: not true"),
    "checkPassed": _("Check passed"),
    "checkFailed": _("Check failed"),
    # Report / self-handle
    "reportTitle": _("Report a problem"),
    "selfHandleTitle": _("Self-handle"),
    "selfHandleHint": _("A minor problem you fixed on the spot: recorded and closed at once."),
    "class": _("Class"),
    "searchClass": _("Search by name, e.g. 井盖"),
    "frequentClasses": _("Most reported in your area"),
    "noClassFound": _("No class matches."),
    "classesOffline": _("The class list is not on this phone yet; connect once to load it."),
    "change": _("Change"),
    "component": _("Component"),
    "event": _("Event"),
    "service": _("Service"),
    "position": _("Position"),
    "locating": _("Finding your position…"),
    "locateMe": _("Use my position"),
    "accuracy": _("±%(metres)s m"),
    "dragPin": _("Drag the pin to where the problem is."),
    "gridCell": _("Grid cell %(code)s"),
    "outsideCity": _("This point is outside the city."),
    "gridCellLater": _("The grid cell is found when the report is sent."),
    "noPosition": _("No position yet: allow location, or tap the map."),
    "positionDenied": _("Location is blocked for this site: tap the map to place the pin."),
    "duplicates": _("Open cases nearby"),
    "duplicatesHint": _("Is it one of these? Open it instead of reporting it again."),
    "open": _("Open"),
    "beforePhotos": _("Before"),
    "afterPhotos": _("After"),
    "takePhoto": _("Take photo"),
    "removePhoto": _("Remove photo"),
    "photoRequired": _("Add at least one photo."),
    "urgency": _("Urgency"),
    "addressOptional": _("Address (optional)"),
    "descriptionPlaceholder": _("What is wrong, and where exactly"),
    "required": _("Required."),
    "classRequired": _("Choose a class."),
    "positionRequired": _("Set the position."),
    "saveAndSend": _("Save and send"),
    "recordAndClose": _("Save, send and close"),
    "draftRestored": _("Your unfinished form was restored."),
    "draftSaved": _("Draft kept on the phone at %(time)s"),
    "discardDraft": _("Clear form"),
    "savedOnPhone": _("Saved on the phone. It is sent as soon as there is a connection."),
    "notForSelfHandle": _("This class cannot be self-handled."),
    # Outbox
    "outboxEmpty": _("Nothing waiting: everything has been sent."),
    "waiting": _("Waiting"),
    "sending": _("Sending…"),
    "refused": _("Refused"),
    "refusedToast": _("The server refused a submission: see the outbox to correct or discard it."),
    "nextTry": _("Next try %(time)s"),
    "sendNow": _("Send now"),
    "edit": _("Edit"),
    "discard": _("Discard"),
    "confirmDiscard": _("Discard this submission? It will not be sent."),
    "recentlySent": _("Sent"),
    "waitingCount": _("%(count)s waiting"),
    "sentAs": _("Sent as case %(number)s"),
    "kindReport": _("Report"),
    "kindSelfHandle": _("Self-handle"),
    "kindVerify": _("Verification"),
    "kindCheck": _("Check"),
    "otherAccount": _("Made by another account: sign in as it to send."),
    "networkError": _("No connection"),
    "serverError": _("Server error %(status)s"),
    # My reports
    "noReports": _("You have not reported anything yet."),
    # Map: the legend's state groups, short for a phone (受理 / 派遣 / 处置 / 核查 / 超期).
    "legendIntake": pgettext_lazy("map legend", "Intake"),
    "legendDispatch": pgettext_lazy("map legend", "Dispatch"),
    "legendHandling": pgettext_lazy("map legend", "Handling"),
    "legendCheck": pgettext_lazy("map legend", "To check"),
    "legendOverdue": pgettext_lazy("map legend", "Overdue"),
    # On duty
    "onDuty": _("On duty"),
    "offDuty": _("Off duty"),
    "consentText": _(
        "While you are on duty this phone sends your position to the command centre once a minute, so that "
        "dispatchers see where inspectors are and verification tasks go to the nearest inspector first. It stops "
        "when you go off duty. Positions are kept for the working records only."
    ),
    "positionSent": _("Position sent %(time)s"),
    "positionQueued": _("%(count)s positions waiting to send"),
    "sharingPosition": _("Sharing your position every minute"),
    "dutyFailed": _("Could not change your duty status: check the connection."),
}


def _asset_version(paths: list[str]) -> str:
    """A short hash that changes whenever one of the precached files changes: their deployed names carry their
    content hashes in production; in development (plain names) the files' bytes are read instead."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(static(path).encode())
        if settings.DEBUG:
            found = finders.find(path)
            if found:
                with open(found, "rb") as handle:
                    digest.update(handle.read())
    # The worker's own code (its template) counts too.
    digest.update(render_to_string("field/sw.js", {}).encode())
    return digest.hexdigest()[:12]


@functools.cache
def _asset_version_cached() -> str:
    return _asset_version(PRECACHED)


def asset_version() -> str:
    # In production the collected files do not change while the process runs; in development they do.
    return _asset_version(PRECACHED) if settings.DEBUG else _asset_version_cached()


def _is_inspector(request: HttpRequest) -> bool:
    return request.user.is_superuser or holds_role(request.user, Role.INSPECTOR)


@login_required
@require_GET
@never_cache
@ensure_csrf_cookie  # the scripts post with the token from the cookie (the shell has no form)
@gzip_page  # a third of its size on a slow connection (it holds no secret an attacker could probe for: BREACH)
def app_shell(request: HttpRequest) -> HttpResponse:
    """The app (every view of it: the views are drawn by its scripts from the hash, e.g. /m/#/report)."""
    if not _is_inspector(request):
        if scope_for(request.user).is_empty:
            # Citizens and devices have no field app; to them it does not exist.
            raise Http404("No field app for this account.")
        return render(request, "field/not_inspector.html", status=403)
    user = request.user
    config = {
        "user": {"id": user.pk, "name": user.full_name or user.username},
        "version": asset_version(),
        "serviceWorker": reverse("field:service-worker"),
        "scope": reverse("field:app"),
        "loginUrl": f"{reverse('login')}?next={reverse('field:app')}",
        "tileUrl": settings.MAP_TILE_URL,
        "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
        "center": settings.LEAFLET_CONFIG["DEFAULT_CENTER"],
        "urgencies": [{"value": value, "label": str(label)} for value, label in Urgency.choices],
        "kinds": {value: str(label) for value, label in ClassKind.choices},
        "modules": {name: static(path) for name, path in VIEW_MODULES.items()},
        "classesUrl": reverse("field:classes"),
        "assets": {
            "leafletJs": static("leaflet/leaflet.js"),
            "leafletCss": static("leaflet/leaflet.css"),
            "clusterLayer": static("js/cluster-layer.js"),
        },
    }
    context = {
        "config": config,
        "text": {key: str(value) for key, value in PAGE_TEXT.items()},
        "tasks": _first_tasks(request),
        "modules": SHELL_MODULES[1:],
    }
    return render(request, "field/app.html", context)


def _first_tasks(request: HttpRequest) -> dict[str, Any]:
    """The first page of the inspector's tasks, as /api/v1/field/tasks/ answers it (without a position: the phone
    sorts them by its own), inside the page: on a slow connection the first screen waits for no second request."""
    now = clock.now()
    rows = tasks_for(request.user)[:TASKS_IN_SHELL]
    return {"at": now.isoformat(), "results": [task_data(case, request, now) for case in rows]}


@login_required
@require_GET
@gzip_page
def classes(request: HttpRequest) -> HttpResponse:
    """The catalogue as the phone keeps it for its class picker (searched offline): each active class's kind, code,
    names, major class and whether inspectors may self-handle it. 15 KB where the catalogue API's full rows (with
    criteria and time limits) are 400 KB: a weak connection loads this in a second."""
    rows = [
        {
            "kind": c.major.kind,
            "code": c.code_full,
            "name": c.name,
            "name_en": c.name_en,
            "major": c.major.name,
            "selfHandle": c.self_handle_allowed,
        }
        for c in minor_class_list().only(
            "code", "name", "name_en", "self_handle_allowed", "major__kind", "major__code", "major__name"
        )
    ]
    response = JsonResponse({"results": rows}, json_dumps_params={"ensure_ascii": False, "separators": (",", ":")})
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    """The web app manifest (public: browsers fetch it without the session cookie)."""
    body = {
        "name": str(_("Qingdao field inspection")),
        "short_name": str(pgettext_lazy("app icon label", "Inspection")),
        "description": str(_("Report, verify, check and self-handle city problems, even offline.")),
        "lang": request.LANGUAGE_CODE,
        "start_url": reverse("field:app"),
        "scope": reverse("field:app"),
        "id": reverse("field:app"),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#eef1f4",
        "theme_color": "#0f2740",
        "icons": [
            {"src": static("field/icons/icon.svg"), "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
            {"src": static("field/icons/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": static("field/icons/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {
                "src": static("field/icons/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    response = JsonResponse(body, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker (public, holds no data): precaches the shell's static files under their deployed names,
    answers navigations offline, and sends the outbox on Background Sync when no page of the app is open."""
    context = {
        "assets": json.dumps([static(path) for path in PRECACHED]),
        "store": json.dumps(static(STORE_SCRIPT)),
        "static_url": json.dumps(settings.STATIC_URL),
        "shell": json.dumps(reverse("field:app")),
        "version": asset_version(),
    }
    response = render(request, "field/sw.js", context, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = reverse("field:app")
    # Browsers check for a new worker at most daily anyway; never let a cache hold an old one longer.
    response["Cache-Control"] = "no-cache"
    return response
