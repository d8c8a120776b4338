"""/command/mode/: the operating mode in force, what each mode does, the switch (leaders) and the record of switches."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from cases.alerts import Mode
from cases.modes import (
    REASON_MAX_LENGTH,
    ModeAlreadyInForce,
    definition_of,
    may_switch_mode,
    mode_history,
    operating_mode_switch,
)
from organisations.selectors import scope_for

HISTORY_SHOWN = 50
NOT_A_LEADER = _("Only a leader of the city command centre may switch the operating mode.")


class ModeSwitchForm(forms.Form):
    mode = forms.ChoiceField(label=_("Switch to"), choices=Mode.choices)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Recorded with your name and the time, and shown to every screen."),
    )


def _page(request: HttpRequest, form: ModeSwitchForm, *, status: int = 200, refusal: str = "") -> HttpResponse:
    changes = mode_history(HISTORY_SHOWN)
    current = changes[0] if changes else None
    mode = current.mode if current is not None else Mode.NORMAL
    context: dict[str, Any] = {
        "current": current,
        "definition": definition_of(mode),
        "definitions": [definition_of(value) for value in Mode.values],
        "changes": changes,
        "form": form,
        "can_switch": may_switch_mode(request.user),
        "refusal": refusal,
    }
    return render(request, "command/mode.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def operating_mode_page(request: HttpRequest) -> HttpResponse:
    if scope_for(request.user).is_empty:  # citizens and devices have no command centre
        raise Http404("No operating mode for this account.")
    if request.method != "POST":
        return _page(request, ModeSwitchForm())
    form = ModeSwitchForm(request.POST)
    if not may_switch_mode(request.user):
        return _page(request, form, status=403, refusal=str(NOT_A_LEADER))
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        row = operating_mode_switch(
            mode=form.cleaned_data["mode"], actor=request.user, reason=form.cleaned_data["reason"]
        )
    except ModeAlreadyInForce as conflict:
        return _page(request, form, status=409, refusal=str(conflict.message))
    except PermissionDenied as denied:
        return _page(request, form, status=403, refusal=str(denied))
    except ValidationError as error:
        form.add_error(None, error)
        return _page(request, form, status=400)
    messages.success(request, _("The platform is now in “%(mode)s” mode.") % {"mode": Mode(row.mode).label})
    return redirect("command:mode")
