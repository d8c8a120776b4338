"""The case workflow as a table: for each action, the statuses it starts from, where it goes, who may do it.

`coverage` says which of the actor's units must cover the case:
* "area": a unit whose jurisdiction (community, street or district; the city for a city centre)
  contains the case, e.g. the intake clerk, dispatcher or leader of that district;
* "grid": the same test, for the inspector whose unit covers the case's grid cell;
* "handling_unit": the case's lead unit or a unit above it (its handlers act for it);
* "supervised_unit": the unit a supervision was sent to (its handlers reply).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from cases.models import OPEN_STATUSES, Source, Status
from organisations.models import Role


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    from_statuses: frozenset[str]
    # None: the status does not change, or the service decides among several (check: closed or rework).
    to_status: str | None
    roles: frozenset[str]
    coverage: str
    reason_required: bool = False


def _t(
    action: str,
    label: str,
    from_statuses: set[str] | frozenset[str],
    to_status: str | None,
    roles: set[str],
    coverage: str,
    *,
    reason_required: bool = False,
) -> Transition:
    return Transition(action, label, frozenset(from_statuses), to_status, frozenset(roles), coverage, reason_required)


S = Status
CLERK, DISPATCHER, INSPECTOR, HANDLER, LEADER = (
    Role.INTAKE_CLERK,
    Role.DISPATCHER,
    Role.INSPECTOR,
    Role.HANDLER,
    Role.LEADER,
)
AWAITING_INTAKE = {S.VERIFYING, S.REPORTED}

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in [
        _t("verify", _("Verify on site"), {S.VERIFYING}, S.REPORTED, {INSPECTOR}, "grid"),
        _t("register", _("Register"), {S.REPORTED}, S.REGISTERED, {CLERK}, "area"),
        _t("reject", _("Do not register"), AWAITING_INTAKE, S.NOT_REGISTERED, {CLERK}, "area", reason_required=True),
        _t("merge", _("Merge as a duplicate"), AWAITING_INTAKE | {S.REGISTERED}, S.MERGED, {CLERK}, "area"),
        # The master's side of a merge: it receives the duplicate's evidence, its status unchanged.
        _t("merge_in", _("Receive a merged duplicate"), OPEN_STATUSES, None, {CLERK}, "area"),
        _t("dispatch", _("Dispatch"), {S.REGISTERED, S.RETURNED, S.DISPATCHED}, S.DISPATCHED, {DISPATCHER}, "area"),
        _t("accept", _("Accept"), {S.DISPATCHED, S.REWORK}, S.HANDLING, {HANDLER}, "handling_unit"),
        _t(
            "return",
            _("Return (not ours)"),
            {S.DISPATCHED, S.HANDLING},
            S.RETURNED,
            {HANDLER},
            "handling_unit",
            reason_required=True,
        ),
        _t(
            "request_extension",
            _("Request an extension"),
            {S.HANDLING},
            S.EXTENSION_PENDING,
            {HANDLER},
            "handling_unit",
            reason_required=True,
        ),
        _t(
            "decide_extension",
            _("Decide on the extension"),
            {S.EXTENSION_PENDING},
            S.HANDLING,
            {DISPATCHER, CLERK},
            "area",
        ),
        _t(
            "hold", _("Put on hold"), {S.HANDLING}, S.ON_HOLD, {DISPATCHER, CLERK, LEADER}, "area", reason_required=True
        ),
        _t("resume", _("Resume"), {S.ON_HOLD}, S.HANDLING, {DISPATCHER, CLERK, LEADER}, "area"),
        _t("feedback", _("Report handling done"), {S.HANDLING}, S.HANDLED, {HANDLER}, "handling_unit"),
        _t("check", _("Check on site"), {S.HANDLED}, None, {INSPECTOR}, "grid"),
        _t("self_handle", _("Self-handle"), {S.REPORTED}, S.CLOSED, {INSPECTOR}, "grid"),
        _t("cancel", _("Cancel"), OPEN_STATUSES, S.CANCELLED, {CLERK}, "area", reason_required=True),
        _t("reopen", _("Reopen"), {S.CLOSED}, S.REGISTERED, {LEADER}, "area", reason_required=True),
        _t("flag_key", _("Flag as a key case"), OPEN_STATUSES, None, {LEADER}, "area"),
        _t("supervise", _("Supervise"), OPEN_STATUSES, None, {LEADER}, "area"),
        _t("urge", _("Urge"), OPEN_STATUSES, None, {LEADER, DISPATCHER, CLERK}, "area"),
        _t("reply", _("Reply to a supervision"), set(Status), None, {HANDLER}, "supervised_unit"),
    ]
}


# Where a new report goes: citizens, the hotline and cameras are confirmed on site by the inspector of
# the grid first; an inspector's own report, a sensor alarm and a leader's instruction need no check.
NEEDS_VERIFICATION = frozenset({Source.CITIZEN, Source.HOTLINE, Source.VIDEO_AI})

# Who may file a report from each source (None: also without a signed-in reporter: anonymous
# citizens, the hotline system, cameras and sensors).
REPORTER_ROLES: dict[str, tuple[frozenset[str], bool]] = {
    Source.INSPECTOR: (frozenset({INSPECTOR}), False),
    Source.LEADER_INSTRUCTION: (frozenset({LEADER}), False),
    Source.HOTLINE: (frozenset({CLERK}), True),
    Source.CITIZEN: (frozenset(), True),
    Source.VIDEO_AI: (frozenset({Role.DEVICE}), True),
    Source.SENSOR_ALARM: (frozenset({Role.DEVICE}), True),
}

# A unit returning a case this many times makes it a dispute for arbitration; as many failed checks
# make it difficult too (疑难).
DISPUTE_AFTER_RETURNS = 2
DIFFICULT_AFTER_REWORKS = 2


def allowed_actions(status: str) -> list[str]:
    """The actions the table allows from `status` (whoever the actor), in table order."""
    return [t.action for t in TRANSITIONS.values() if status in t.from_statuses]
