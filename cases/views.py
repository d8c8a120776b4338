"""Server-rendered case pages: the list (with the overdue, key and difficult lists as tabs), the report and
self-handle forms, a case's detail with one POST per workflow action, and the supervision records addressed to
the user's units with a reply form.

Views are thin: they parse a form, call cases.services (the workflow actions through the table in cases.actions,
which the API uses too), and redirect with a message. A refusal changes
nothing: ValidationError shows on the form, PermissionDenied is a 403 page, Http404 a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases import clock, services
from cases.actions import ACTIONS, action_run, rejected_photo_field
from cases.forms import (
    ACTION_FORMS,
    ActionForm,
    CaseFilterForm,
    CaseReportForm,
    ReplyForm,
    SelfHandleForm,
    SupervisionReplyForm,
)
from cases.lists import case_list_for, supervisions_addressed_to, supervisions_visible_to
from cases.models import STAGE_FIELDS, STAGE_OF_STATUS, Case, Source, Status, Supervision
from cases.selectors import case_events, case_get_by_number_for_user_or_404, cases_visible_to
from cases.services.core import Place, acting_as, holds_role
from cases.workflow import REPORTER_ROLES, TRANSITIONS
from catalogue.models import Stage
from geography.selectors import district_outlines
from organisations.models import Membership, Role
from organisations.selectors import districts_visible_to
from photos.services import PhotoRejected

PAGE_SIZE = 50
# Actions with no page form: merge_in is the master's side of a merge, self_handle is a kind of report.
_NOT_ON_THE_PAGE = {"merge_in", "self_handle"}
# Every page form posts through the shared table (close is the API's shorthand for a passed check).
assert set(ACTION_FORMS) == set(ACTIONS) - {"close"}
_OTHER_ACTIONS = {"report": _("Report"), "overdue": _("Overdue")}


# --- the list


def _filtered(user: Any, form: CaseFilterForm) -> QuerySet[Case]:
    valid = form.is_valid()
    flag = form.cleaned_data["flag"] if valid else ""
    # A flag is one of the three lists (cases.lists): open cases only, the key list widened in major-event mode.
    rows = case_list_for(user, flag) if flag else cases_visible_to(user)
    rows = rows.select_related("minor_class__major", "district", "street", "lead_unit")
    if not valid:
        return rows
    d = form.cleaned_data
    if d["q"]:
        rows = rows.filter(number__icontains=d["q"].strip())
    for field in ("status", "source", "kind"):
        if d[field]:
            rows = rows.filter(**{field: d[field]})
    if d["district"]:
        rows = rows.filter(district=d["district"])
    return rows


def _list_tabs(request: HttpRequest) -> list[dict[str, Any]]:
    """All cases and the three lists, each a link keeping the other filters."""
    current = request.GET.get("flag", "")
    tabs = []
    for value, label in [("", _("All cases")), *CaseFilterForm.FLAGS]:
        query = request.GET.copy()
        query.pop("page", None)
        query.pop("flag", None)
        if value:
            query["flag"] = value
        tabs.append({"value": value, "label": label, "query": query.urlencode(), "active": value == current})
    return tabs


def current_deadline(case: Case) -> tuple[Any, bool]:
    """The deadline of the stage the case is in, and whether it has passed (or the sweep said so)."""
    stage = STAGE_OF_STATUS.get(case.status)
    if stage is None:
        return None, False
    due = getattr(case, STAGE_FIELDS[stage][0])
    return due, case.is_overdue or (due is not None and due < clock.now())


@login_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    form = CaseFilterForm(request.GET or None, districts=districts_visible_to(request.user))
    rows = _filtered(request.user, form)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for case in page.object_list:
        case.due, case.late = current_deadline(case)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cases/list.html",
        {
            "form": form,
            "page": page,
            "count": page.paginator.count,
            "query": query.urlencode(),
            "tabs": _list_tabs(request),
        },
    )


# --- reporting


# Staff file these from the page; citizens, cameras and sensors report through their own channels.
_PAGE_SOURCES = {Source.INSPECTOR, Source.HOTLINE, Source.LEADER_INSTRUCTION}


def _report_sources(user: Any) -> list[tuple[str, str]]:
    """The sources this user may file from the page, by their roles (the service checks the place too)."""
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    return [
        (value, label) for value, label in Source.choices if value in _PAGE_SOURCES and REPORTER_ROLES[value][0] & roles
    ]


def _add_service_errors(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@login_required
@require_http_methods(["GET", "POST"])
def case_new(request: HttpRequest) -> HttpResponse:
    sources = _report_sources(request.user)
    if not sources:
        raise PermissionDenied(_("You hold no role that may file reports."))
    form = CaseReportForm(request.POST or None, request.FILES or None, sources=sources)
    if request.method == "POST" and form.is_valid():
        try:
            case = services.case_report(**form.service_kwargs(reporter=request.user))
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, gettext("Case %(number)s reported.") % {"number": case.number})
            return redirect("cases:detail", number=case.number)
    return render(request, "cases/new.html", {"form": form, "districts": district_outlines()})


@login_required
@require_http_methods(["GET", "POST"])
def case_self_handle(request: HttpRequest) -> HttpResponse:
    """自行处置: an inspector records a minor problem fixed on the spot; the case closes at once."""
    if not holds_role(request.user, Role.INSPECTOR):
        raise PermissionDenied(_("Only inspectors self-handle cases."))
    form = SelfHandleForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            case = services.case_self_handle(**form.service_kwargs(inspector=request.user))
        except PermissionDenied as denied:
            return render(request, "cases/forbidden.html", {"message": str(denied)}, status=403)
        except PhotoRejected as error:
            form.add_error(rejected_photo_field(form.cleaned_data, ("before_photos", "after_photos")), error.messages)
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, gettext("Case %(number)s self-handled and closed.") % {"number": case.number})
            return redirect("cases:detail", number=case.number)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "districts": district_outlines()}
    return render(request, "cases/self_handle.html", context, status=status)


# --- one case


def available_actions(user: Any, case: Case) -> dict[str, dict[str, Any]]:
    """The actions `user` may perform on `case` now, in table order, with what their forms need."""
    place = Place.of(case)
    found: dict[str, dict[str, Any]] = {}
    for action, spec in TRANSITIONS.items():
        if action in _NOT_ON_THE_PAGE or case.status not in spec.from_statuses:
            continue
        extra: dict[str, Any] = {}
        if spec.coverage == "supervised_unit":
            waiting = [
                s
                for s in case.supervisions.filter(replied_at__isnull=True).select_related("to_unit")
                if acting_as(user, roles=spec.roles, coverage=spec.coverage, target_unit=s.to_unit)
            ]
            if not waiting:
                continue
            extra["supervisions"] = waiting
        elif not acting_as(user, roles=spec.roles, coverage=spec.coverage, place=place, target_unit=case.lead_unit):
            continue
        found[action] = extra
    return found


def _action_form(
    action: str, *, case: Case, user: Any, data: Any = None, files: Any = None, **extra: Any
) -> ActionForm:
    spec = TRANSITIONS[action]
    return ACTION_FORMS[action](
        data, files, prefix=action, reason_required=spec.reason_required, case=case, user=user, **extra
    )


DETAIL_TEMPLATE = "cases/detail.html"


def detail_render(
    request: HttpRequest,
    case: Case,
    *,
    bound: ActionForm | None = None,
    status: int = 200,
    template: str = DETAIL_TEMPLATE,
) -> HttpResponse:
    """The case page, or another template showing the same context (the command centre's side panel)."""
    actions = available_actions(request.user, case)
    forms = []
    for action, extra in actions.items():
        form = (
            bound
            if bound is not None and bound.prefix == action
            else _action_form(action, case=case, user=request.user, **extra)
        )
        forms.append({"action": action, "spec": TRANSITIONS[action], "form": form})
    labels = {action: spec.label for action, spec in TRANSITIONS.items()} | _OTHER_ACTIONS
    events = list(case_events(case))
    for event in events:
        event.label = labels.get(event.action, event.action)
        event.to_label = Status(event.to_status).label if event.to_status in Status.values else event.to_status
    stages = [
        {
            "stage": label,
            "due": getattr(case, STAGE_FIELDS[value][0]),
            "on_time": getattr(case, STAGE_FIELDS[value][1]),
            "current": STAGE_OF_STATUS.get(case.status) == value,
        }
        for value, label in Stage.choices
    ]
    case.due, case.late = current_deadline(case)
    context = {
        "case": case,
        "stages": stages,
        "events": events,
        "photos": case.photos.order_by("created_at", "id"),
        "supervisions": case.supervisions.select_related("to_unit", "by", "replied_by"),
        "supporting": case.supporting_units.order_by("path"),
        "action_forms": forms,
    }
    return render(request, template, context, status=status)


@login_required
@require_GET
def case_detail(request: HttpRequest, number: str) -> HttpResponse:
    case = case_get_by_number_for_user_or_404(request.user, number)
    return detail_render(request, case)


@login_required
@require_POST
def case_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    return case_action_run(
        request,
        number,
        action,
        template=DETAIL_TEMPLATE,
        done=lambda case: redirect("cases:detail", number=case.number),
    )


def case_action_run(
    request: HttpRequest, number: str, action: str, *, template: str, done: Callable[[Case], HttpResponse]
) -> HttpResponse:
    """Run one workflow action posted from a page form: `done(case)` answers when it ran (or when the case
    moved on meanwhile), `template` shows the form again with its errors (400)."""
    if action not in ACTION_FORMS:
        raise Http404("No such action.")
    case = case_get_by_number_for_user_or_404(request.user, number)
    extra: dict[str, Any] = {}
    if action == "reply":
        extra["supervisions"] = case.supervisions.filter(replied_at__isnull=True)
    form = _action_form(action, case=case, user=request.user, data=request.POST, files=request.FILES, **extra)
    if not form.is_valid():
        return detail_render(request, case, bound=form, status=400, template=template)
    try:
        action_run(action, case=case, actor=request.user, data=form.cleaned_data)
    except PermissionDenied as denied:
        return render(request, "cases/forbidden.html", {"case": case, "message": str(denied)}, status=403)
    except ValidationError as error:
        case.refresh_from_db()
        if not isinstance(form, ReplyForm) and action not in available_actions(request.user, case):
            # The case moved on meanwhile: say why on the page rather than on a form that is gone.
            for text in error.messages:
                messages.error(request, text)
            return done(case)
        if isinstance(error, PhotoRejected):
            # On the field that holds the refused upload, as the API names it.
            form.add_error(rejected_photo_field(form.cleaned_data, ACTIONS[action].photo_fields), error.messages)
        else:
            _add_service_errors(form, error)
        return detail_render(request, case, bound=form, status=400, template=template)
    messages.success(request, gettext("“%(action)s” done.") % {"action": TRANSITIONS[action].label})
    return done(case)


# --- supervision and urging addressed to the user's units


def _may_reply(user: Any, record: Supervision) -> bool:
    spec = TRANSITIONS["reply"]
    return acting_as(user, roles=spec.roles, coverage=spec.coverage, target_unit=record.to_unit) is not None


def _supervision_page(
    request: HttpRequest, *, bound: SupervisionReplyForm | None = None, status: int = 200
) -> HttpResponse:
    waiting_only = request.GET.get("waiting") == "yes"
    records = supervisions_addressed_to(request.user, unreplied=True if waiting_only else None)
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    for record in page.object_list:
        record.form = None
        if record.replied_at is None and _may_reply(request.user, record):
            record.form = bound if bound is not None and bound.supervision.pk == record.pk else None
            record.form = record.form or SupervisionReplyForm(supervision=record)
    context = {"page": page, "count": page.paginator.count, "waiting_only": waiting_only}
    return render(request, "cases/supervisions.html", context, status=status)


@login_required
@require_GET
def supervision_list(request: HttpRequest) -> HttpResponse:
    return _supervision_page(request)


@login_required
@require_POST
def supervision_reply(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(supervisions_visible_to(request.user), pk=pk)
    form = SupervisionReplyForm(request.POST, supervision=record)
    if not form.is_valid():
        return _supervision_page(request, bound=form, status=400)
    try:
        ACTIONS["reply"].run(case=None, actor=request.user, data={**form.cleaned_data, "supervision": record})
    except PermissionDenied as denied:
        return render(request, "cases/forbidden.html", {"case": record.case, "message": str(denied)}, status=403)
    except ValidationError as error:
        if getattr(error, "code", None) == "already_replied":
            messages.error(request, error.messages[0])
            return redirect("cases:supervisions")
        _add_service_errors(form, error)
        return _supervision_page(request, bound=form, status=400)
    messages.success(request, gettext("Reply sent about case %(number)s.") % {"number": record.case.number})
    return redirect("cases:supervisions")


@login_required
@require_GET
def case_photo(request: HttpRequest, number: str, photo_id: int) -> FileResponse:
    """A case photo, only to those who may see the case (media files are not public)."""
    case = case_get_by_number_for_user_or_404(request.user, number)
    photo = case.photos.filter(pk=photo_id).first()
    if photo is None:
        raise Http404("No such photo.")
    return FileResponse(photo.file.open("rb"), content_type=photo.content_type or "image/jpeg")
