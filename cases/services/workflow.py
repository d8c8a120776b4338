"""One service per workflow action (see cases.workflow.TRANSITIONS for who may do what, from which status).

Each is keyword-only and atomic, goes through core.transition (one event row each, hash-chained), and
raises Http404 (case out of the actor's sight), PermissionDenied (role) or ValidationError, changing
nothing, when refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from cases.clock import handle_due, stage_due
from cases.log import iso
from cases.models import (
    Case,
    CaseEvent,
    CasePhoto,
    CaseSupportingUnit,
    PhotoPhase,
    Status,
    Supervision,
    SupervisionKind,
)
from cases.selectors import SUPPORT_IDS_ATTR, routing_rule_for
from cases.services.core import transition
from cases.services.intake import case_time_limits
from cases.workflow import DIFFICULT_AFTER_REWORKS, DISPUTE_AFTER_RETURNS
from catalogue.models import MinorClass, Stage, Urgency
from organisations.models import OrgUnit, User
from workcalendar.units import EXTENSION_UNITS

Fields = dict[str, Any]


def _fresh_handling(locked: Case, now: dt.datetime) -> Fields:
    """A new handling period from `now` (after a dispatch or a failed check): full limit, no pauses."""
    return {
        "handle_started_at": now,
        "pauses": [],
        "paused_since": None,
        "extensions": [],
        "pending_extension": None,
        "handle_due_at": handle_due(limits=locked.time_limits, started_at=now),
    }


def _closed_pause(locked: Case, now: dt.datetime, kind: str) -> list[dict[str, str]]:
    return [*locked.pauses, {"kind": kind, "start": iso(locked.paused_since), "end": iso(now)}]


# --- intake decisions


@transaction.atomic
def case_verify(
    *, case: Case, actor: User, confirmed: bool = True, reason: str = "", photos: Sequence[Any] = ()
) -> CaseEvent:
    """The grid's inspector confirms on site (核实) whether the report is true; then it awaits registration."""

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        data["confirmed"] = bool(confirmed)
        return {
            "verified_at": now,
            "verified_true": bool(confirmed),
            "register_due_at": stage_due(locked.time_limits, Stage.REGISTER, start=now),
        }

    return transition(
        case=case,
        action="verify",
        actor=actor,
        reason=reason,
        changes=changes,
        photos=[(PhotoPhase.VERIFY, p) for p in photos],
    )


@transaction.atomic
def case_register(
    *,
    case: Case,
    actor: User,
    reason: str = "",
    minor_class: MinorClass | None = None,
    urgency: str | None = None,
) -> CaseEvent:
    """Register (立案). The clerk may correct the class or the urgency; the limits are then copied again."""
    if minor_class is not None and not minor_class.is_active:
        raise ValidationError({"minor_class": _("This class is no longer in use.")}, code="inactive_class")
    if urgency is not None and urgency not in Urgency.values:
        raise ValidationError({"urgency": _("Unknown urgency.")}, code="invalid_urgency")

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        fields: Fields = {"registered_at": now}
        new_class = minor_class or locked.minor_class
        new_urgency = urgency or locked.urgency
        if new_class.pk != locked.minor_class_id or new_urgency != locked.urgency:
            limits = case_time_limits(minor_class=new_class, urgency=new_urgency)
            fields.update(minor_class=new_class, kind=new_class.major.kind, urgency=new_urgency, time_limits=limits)
            data.update(minor_class=new_class.full_code, urgency=new_urgency, limits=limits)
        fields["dispatch_due_at"] = stage_due(fields.get("time_limits", locked.time_limits), Stage.DISPATCH, start=now)
        return fields

    return transition(case=case, action="register", actor=actor, reason=reason, changes=changes)


@transaction.atomic
def case_reject(*, case: Case, actor: User, reason: str) -> CaseEvent:
    """Do not register (不予立案), with the reason."""
    return transition(
        case=case, action="reject", actor=actor, reason=reason, changes=lambda locked, now, data: {"closed_at": now}
    )


@transaction.atomic
def case_merge(*, case: Case, master: Case, actor: User, reason: str = "") -> CaseEvent:
    """Close `case` as a duplicate of `master` (合并); the master receives copies of its photo records."""
    if case.pk == master.pk:
        raise ValidationError({"master": _("A case cannot be merged into itself.")}, code="merge_self")
    # Both rows locked in id order, so two clerks merging a pair both ways cannot deadlock.
    list(Case.objects.select_for_update(of=("self",)).filter(pk__in=[case.pk, master.pk]).order_by("pk"))
    master.refresh_from_db()
    if not master.is_open:
        raise ValidationError({"master": _("The master case is no longer open.")}, code="master_closed")
    event = transition(
        case=case,
        action="merge",
        actor=actor,
        reason=reason,
        data={"master": master.number},
        changes=lambda locked, now, data: {"duplicate_of": master, "duplicate_candidate": None, "closed_at": now},
    )
    duplicate_photos = list(CasePhoto.objects.filter(case=case).order_by("id"))

    def copy_photos(locked_master: Case, master_event: CaseEvent) -> None:
        CasePhoto.objects.bulk_create(
            CasePhoto(
                case=locked_master,
                event=master_event,
                phase=photo.phase,
                file=photo.file.name,
                content_type=photo.content_type,
                width=photo.width,
                height=photo.height,
                original_name=photo.original_name,
                taken_at=photo.taken_at,
                gps=photo.gps,
                sha256=photo.sha256,
                copied_from=photo.copied_from or photo,
                created_at=master_event.created_at,
            )
            for photo in duplicate_photos
        )

    transition(
        case=master,
        action="merge_in",
        actor=actor,
        reason=reason,
        data={"duplicate": case.number, "photos_copied": [p.sha256 for p in duplicate_photos]},
        after=copy_photos,
    )
    return event


@transaction.atomic
def case_cancel(*, case: Case, actor: User, reason: str) -> CaseEvent:
    """Cancel (作废) an open case, with the reason (the shift leader)."""
    return transition(
        case=case,
        action="cancel",
        actor=actor,
        reason=reason,
        changes=lambda locked, now, data: {"closed_at": now, "paused_since": None, "pending_extension": None},
    )


# --- dispatch and handling


@transaction.atomic
def case_dispatch(
    *,
    case: Case,
    actor: User,
    lead_unit: OrgUnit | None = None,
    supporting_units: Sequence[OrgUnit] | None = None,
    reason: str = "",
) -> CaseEvent:
    """Dispatch (派遣) or re-dispatch to a lead unit and supporting units.

    Without `lead_unit`, the routing table decides (minor class + area); a dispatcher's choice
    overrides it, and the event records both. The handling clock starts now.
    """

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        rule = routing_rule_for(
            minor_class=locked.minor_class, district_id=locked.district_id, street_id=locked.street_id
        )
        lead = lead_unit or (rule.lead_unit if rule else None)
        if lead is None:
            raise ValidationError(
                {"lead_unit": _("No routing rule covers this case; choose the unit.")}, code="no_route"
            )
        if supporting_units is not None:
            support = list(supporting_units)
        else:
            support = list(rule.supporting_units.all()) if rule and rule.lead_unit_id == lead.pk else []
        support = [unit for unit in dict.fromkeys(support) if unit.pk != lead.pk]
        if not all(unit.is_active for unit in [lead, *support]):
            raise ValidationError({"lead_unit": _("Dispatch only to active units.")}, code="inactive_unit")
        data.update(
            lead_unit=lead.pk,
            supporting_units=[unit.pk for unit in support],
            rule=rule.pk if rule else None,
            overridden=lead_unit is not None and (rule is None or rule.lead_unit_id != lead.pk),
            redispatch=locked.status != Status.REGISTERED,
        )
        return {
            "lead_unit": lead,
            "routing_rule": rule,
            "dispatched_at": now,
            "accepted_at": None,
            **_fresh_handling(locked, now),
        }

    def replace_supporting(locked: Case, event: CaseEvent) -> None:
        # lock_case read the current links: no DELETE when there are none (most dispatches).
        if getattr(locked, SUPPORT_IDS_ATTR, None) != []:
            CaseSupportingUnit.objects.filter(case=locked).delete()
        new_ids = event.data["supporting_units"]
        CaseSupportingUnit.objects.bulk_create(
            [CaseSupportingUnit(case=locked, unit_id=unit_id, added_at=event.created_at) for unit_id in new_ids]
        )
        setattr(locked, SUPPORT_IDS_ATTR, list(new_ids))

    return transition(
        case=case, action="dispatch", actor=actor, reason=reason, changes=changes, after=replace_supporting
    )


@transaction.atomic
def case_accept(*, case: Case, actor: User) -> CaseEvent:
    """The lead unit takes the case on (接收): handling starts (or restarts, after a failed check)."""
    return transition(case=case, action="accept", actor=actor, changes=lambda locked, now, data: {"accepted_at": now})


@transaction.atomic
def case_return(*, case: Case, actor: User, reason: str) -> CaseEvent:
    """The lead unit returns the case (退回: not ours), back to the dispatcher. The second return of a
    case makes it a dispute for arbitration (is_difficult)."""

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        returns = locked.return_count + 1
        disputed = returns >= DISPUTE_AFTER_RETURNS
        data.update(unit=locked.lead_unit_id, disputed=disputed)
        return {
            "return_count": returns,
            "is_difficult": locked.is_difficult or disputed,
            "dispatch_due_at": stage_due(locked.time_limits, Stage.DISPATCH, start=now),
            "handle_due_at": None,
            "handle_started_at": None,
        }

    return transition(case=case, action="return", actor=actor, reason=reason, changes=changes)


@transaction.atomic
def case_request_extension(*, case: Case, actor: User, amount: int, unit: str, reason: str) -> CaseEvent:
    """The lead unit asks for more time (延期); the clock stands still until the decision."""
    if not isinstance(amount, int) or amount <= 0:
        raise ValidationError({"amount": _("Ask for a positive amount of time.")}, code="invalid_amount")
    if unit not in EXTENSION_UNITS:
        raise ValidationError({"unit": _("Ask for an extension in hours or days.")}, code="invalid_unit")

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        data.update(amount=amount, unit=unit)
        return {"pending_extension": {"amount": amount, "unit": unit}, "paused_since": now}

    return transition(case=case, action="request_extension", actor=actor, reason=reason, changes=changes)


@transaction.atomic
def case_decide_extension(*, case: Case, actor: User, approved: bool, reason: str = "") -> CaseEvent:
    """Approve (the handling deadline moves by the amount) or refuse a pending extension; either way the
    time it was pending does not count."""
    if not approved and not (reason or "").strip():
        raise ValidationError({"reason": _("Say why the extension is refused.")}, code="reason_required")

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        requested = locked.pending_extension or {}
        data.update(approved=bool(approved), **requested)
        pauses = _closed_pause(locked, now, "extension")
        extensions = [*locked.extensions, requested] if approved and requested else list(locked.extensions)
        return {
            "pauses": pauses,
            "paused_since": None,
            "pending_extension": None,
            "extensions": extensions,
            "handle_due_at": handle_due(
                limits=locked.time_limits, started_at=locked.handle_started_at, pauses=pauses, extensions=extensions
            ),
        }

    return transition(case=case, action="decide_extension", actor=actor, reason=reason, changes=changes)


@transaction.atomic
def case_hold(*, case: Case, actor: User, reason: str) -> CaseEvent:
    """Put a case on hold (挂账/缓办), approved by a dispatcher, shift leader or leader: the clock stops."""
    return transition(
        case=case, action="hold", actor=actor, reason=reason, changes=lambda locked, now, data: {"paused_since": now}
    )


@transaction.atomic
def case_resume(*, case: Case, actor: User, reason: str = "") -> CaseEvent:
    """Take a case off hold; the handling deadline moves by the time it was held."""

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        pauses = _closed_pause(locked, now, "hold")
        return {
            "pauses": pauses,
            "paused_since": None,
            "handle_due_at": handle_due(
                limits=locked.time_limits,
                started_at=locked.handle_started_at,
                pauses=pauses,
                extensions=locked.extensions,
            ),
        }

    return transition(case=case, action="resume", actor=actor, reason=reason, changes=changes)


@transaction.atomic
def case_feedback(
    *, case: Case, actor: User, description: str, after_photos: Sequence[Any], before_photos: Sequence[Any] = ()
) -> CaseEvent:
    """The lead unit reports the work done (处置反馈), with after-photos; the grid's inspector checks next."""
    errors = {}
    if not (description or "").strip():
        errors["description"] = _("Say what was done.")
    if not after_photos:
        errors["after_photos"] = _("A photo after handling is required.")
    if errors:
        raise ValidationError(errors, code="feedback_incomplete")

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        return {"handled_at": now, "check_due_at": stage_due(locked.time_limits, Stage.CHECK, start=now)}

    photos = [(PhotoPhase.BEFORE, p) for p in before_photos] + [(PhotoPhase.AFTER, p) for p in after_photos]
    return transition(case=case, action="feedback", actor=actor, reason=description, changes=changes, photos=photos)


@transaction.atomic
def case_check(*, case: Case, actor: User, passed: bool, reason: str = "", photos: Sequence[Any] = ()) -> CaseEvent:
    """The grid's inspector checks the work on site (核查): passed closes the case (结案); failed sends
    it back to the unit as rework (返工), counted, with a new handling period."""
    if not passed and not (reason or "").strip():
        raise ValidationError({"reason": _("Say what is still wrong.")}, code="reason_required")

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        data["passed"] = bool(passed)
        if passed:
            return {"status": Status.CLOSED, "checked_at": now, "closed_at": now}
        reworks = locked.rework_count + 1
        return {
            "status": Status.REWORK,
            "checked_at": now,
            "rework_count": reworks,
            "is_difficult": locked.is_difficult or reworks >= DIFFICULT_AFTER_REWORKS,
            "accepted_at": None,
            **_fresh_handling(locked, now),
        }

    return transition(
        case=case,
        action="check",
        actor=actor,
        reason=reason,
        changes=changes,
        photos=[(PhotoPhase.CHECK, p) for p in photos],
    )


@transaction.atomic
def case_reopen(*, case: Case, actor: User, reason: str) -> CaseEvent:
    """A leader reopens a closed case (with the reason): it goes back to the dispatcher."""

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        return {
            "closed_at": None,
            "dispatch_due_at": stage_due(locked.time_limits, Stage.DISPATCH, start=now),
            "handle_due_at": None,
            "check_due_at": None,
            "handle_started_at": None,
        }

    return transition(case=case, action="reopen", actor=actor, reason=reason, changes=changes)


# --- lists and supervision


@transaction.atomic
def case_flag_key(*, case: Case, actor: User, key: bool = True, reason: str = "") -> CaseEvent:
    """A leader puts a case on (or takes it off) the key list (重点)."""

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        data["key"] = bool(key)
        return {"is_key": bool(key)}

    return transition(case=case, action="flag_key", actor=actor, reason=reason, changes=changes)


def _supervision(*, kind: str, case: Case, actor: User, text: str, to_unit: OrgUnit | None) -> Supervision:
    if not (text or "").strip():
        raise ValidationError({"text": _("Write the supervision's text.")}, code="text_required")
    records: list[Supervision] = []

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        target = to_unit or locked.lead_unit
        if target is None:
            raise ValidationError({"to_unit": _("The case has no unit to address yet.")}, code="no_unit")
        data.update(to_unit=target.pk)
        records.append(Supervision(case=locked, kind=kind, by=actor, to_unit=target, text=text.strip(), created_at=now))
        return {}

    def save_record(locked: Case, event: CaseEvent) -> None:
        record = records[0]
        record.from_unit_id = event.unit_id
        record.save()

    transition(case=case, action=kind, actor=actor, reason=text, changes=changes, after=save_record)
    return records[0]


@transaction.atomic
def case_supervise(*, case: Case, actor: User, text: str, to_unit: OrgUnit | None = None) -> Supervision:
    """Formal supervision (督办) of a case, addressed to a unit (default: the lead unit)."""
    return _supervision(kind=SupervisionKind.SUPERVISE, case=case, actor=actor, text=text, to_unit=to_unit)


@transaction.atomic
def case_urge(*, case: Case, actor: User, text: str, to_unit: OrgUnit | None = None) -> Supervision:
    """A reminder (催办) about a case, addressed to a unit (default: the lead unit)."""
    return _supervision(kind=SupervisionKind.URGE, case=case, actor=actor, text=text, to_unit=to_unit)


@transaction.atomic
def supervision_reply(*, supervision: Supervision, actor: User, text: str) -> Supervision:
    """The addressed unit replies to a supervision or urging (once)."""
    if not (text or "").strip():
        raise ValidationError({"text": _("Write the reply.")}, code="text_required")
    record = Supervision.objects.select_for_update().get(pk=supervision.pk)
    if record.replied_at is not None:
        raise ValidationError(_("This has been replied to already."), code="already_replied")
    case = record.case

    def changes(locked: Case, now: dt.datetime, data: Fields) -> Fields:
        data.update(supervision=record.pk)
        record.reply, record.replied_by, record.replied_at = text.strip(), actor, now
        return {}

    transition(
        case=case,
        action="reply",
        actor=actor,
        reason=text,
        changes=changes,
        target_unit=record.to_unit,
        after=lambda locked, event: record.save(update_fields=["reply", "replied_by", "replied_at"]),
    )
    supervision.reply, supervision.replied_by, supervision.replied_at = record.reply, actor, record.replied_at
    return record
