"""The one table of workflow actions the API and the pages both call: action name → service, and how the
service's keyword arguments come from parsed input.

"Parsed input" is what a front end has after checking its request: the API's validated serializer data,
the page's cleaned form data. Both name their fields as the services' arguments, hold yes/no answers as
booleans and hold references as model instances (a master case, a minor class, units, a supervision),
each front end resolving them its own way (the API by id or code, the page by number or choice) and in
the caller's scope. Everything after that is here, so the two cannot drift apart.

Who may act and from which status is cases.workflow.TRANSITIONS; the services check it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cases import services
from cases.models import Case
from cases.workflow import TRANSITIONS
from photos.services import PhotoRejected, photo_accept

Parsed = Mapping[str, Any]


def _reason(d: Parsed) -> str:
    return d.get("reason") or ""


def _photos(d: Parsed, field: str = "photos") -> list[Any]:
    return list(d.get(field) or ())


@dataclass(frozen=True)
class CaseAction:
    """One action: `service` called with `arguments(parsed input)` as keywords, plus `case=` (unless the
    action acts on a record of the case, as a reply does) and `actor=`."""

    name: str
    service: Callable[..., Any]
    arguments: Callable[[Parsed], dict[str, Any]]
    # The input fields holding uploads: a photo the service rejects is reported against them.
    photo_fields: tuple[str, ...] = ()
    takes_case: bool = True
    # The workflow table's entry whose roles and statuses apply (an alias such as close shares check's).
    transition: str = ""

    def run(self, *, case: Case | None, actor: Any, data: Parsed) -> Any:
        """Call the service. Its refusals pass through: ValidationError, PermissionDenied, Http404."""
        kwargs = self.arguments(data)
        if self.takes_case:
            kwargs["case"] = case
        return self.service(actor=actor, **kwargs)

    @property
    def workflow_name(self) -> str:
        return self.transition or self.name


def _a(name: str, service: Callable[..., Any], arguments: Callable[[Parsed], dict[str, Any]], **kw: Any) -> CaseAction:
    return CaseAction(name, service, arguments, **kw)


ACTIONS: dict[str, CaseAction] = {
    a.name: a
    for a in [
        _a(
            "verify",
            services.case_verify,
            lambda d: {"confirmed": d.get("confirmed", True), "reason": _reason(d), "photos": _photos(d)},
            photo_fields=("photos",),
        ),
        _a(
            "register",
            services.case_register,
            lambda d: {"reason": _reason(d), "minor_class": d.get("minor_class"), "urgency": d.get("urgency") or None},
        ),
        _a("reject", services.case_reject, lambda d: {"reason": _reason(d)}),
        _a("merge", services.case_merge, lambda d: {"master": d["master"], "reason": _reason(d)}),
        _a(
            "dispatch",
            services.case_dispatch,
            # None (not given) lets the routing table choose the supporting units along with the lead unit.
            lambda d: {
                "lead_unit": d.get("lead_unit"),
                "supporting_units": d.get("supporting_units"),
                "reason": _reason(d),
            },
        ),
        _a("accept", services.case_accept, lambda d: {}),
        _a("return", services.case_return, lambda d: {"reason": _reason(d)}),
        _a(
            "request_extension",
            services.case_request_extension,
            lambda d: {"amount": d["amount"], "unit": d["unit"], "reason": _reason(d)},
        ),
        _a(
            "decide_extension",
            services.case_decide_extension,
            lambda d: {"approved": d["approved"], "reason": _reason(d)},
        ),
        _a("hold", services.case_hold, lambda d: {"reason": _reason(d)}),
        _a("resume", services.case_resume, lambda d: {"reason": _reason(d)}),
        _a(
            "feedback",
            services.case_feedback,
            lambda d: {
                "description": d["description"],
                "after_photos": _photos(d, "after_photos"),
                "before_photos": _photos(d, "before_photos"),
            },
            photo_fields=("before_photos", "after_photos"),
        ),
        _a(
            "check",
            services.case_check,
            lambda d: {"passed": d["passed"], "reason": _reason(d), "photos": _photos(d)},
            photo_fields=("photos",),
        ),
        # Close (结案) is a passed check, offered on its own in the API.
        _a(
            "close",
            services.case_check,
            lambda d: {"passed": True, "reason": _reason(d), "photos": _photos(d)},
            photo_fields=("photos",),
            transition="check",
        ),
        _a("cancel", services.case_cancel, lambda d: {"reason": _reason(d)}),
        _a("reopen", services.case_reopen, lambda d: {"reason": _reason(d)}),
        _a("flag_key", services.case_flag_key, lambda d: {"key": d.get("key", True), "reason": _reason(d)}),
        _a("supervise", services.case_supervise, lambda d: {"text": d["text"], "to_unit": d.get("to_unit")}),
        _a("urge", services.case_urge, lambda d: {"text": d["text"], "to_unit": d.get("to_unit")}),
        _a(
            "reply",
            services.supervision_reply,
            lambda d: {"supervision": d["supervision"], "text": d["text"]},
            takes_case=False,
        ),
    ]
}

# Every workflow action a person takes on an existing case is here; merge_in happens inside a merge and
# self_handle is a kind of report (cases.services.case_self_handle, called directly).
assert {a.workflow_name for a in ACTIONS.values()} == set(TRANSITIONS) - {"merge_in", "self_handle"}


def action_run(name: str, *, case: Case | None, actor: Any, data: Parsed) -> Any:
    """Perform the action `name` (a key of ACTIONS) with parsed input."""
    return ACTIONS[name].run(case=case, actor=actor, data=data)


def rejected_photo_field(data: Parsed, photo_fields: tuple[str, ...]) -> str | None:
    """Which of `photo_fields` holds the upload a service refused (PhotoRejected does not say): each is
    checked again, only on this rare path. None when there is no such field."""
    for field in photo_fields:
        for upload in data.get(field) or ():
            upload.seek(0)
            try:
                photo_accept(upload=upload)
            except PhotoRejected:
                return field
    return photo_fields[0] if photo_fields else None
