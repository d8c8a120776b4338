"""Reads of the field app, scoped: an inspector's own shift and tasks, the inspectors on duty a dispatcher may see,
and a reporter's own reports.
"""

from __future__ import annotations

import datetime as dt
import operator
from functools import reduce
from typing import Any

from django.contrib.gis.db.models.functions import Distance
from django.contrib.gis.geos import Point
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from cases.models import Case as CaseRow
from cases.models import CasePhoto, PhotoPhase, Status
from cases.selectors import cases_reported_by
from field.models import InspectorShift, VerificationAssignment
from organisations.models import Membership, OrgUnit, Role, UnitType
from organisations.selectors import scope_for

# A position older than this is shown as stale (the phone sends one a minute).
STALE_AFTER = dt.timedelta(minutes=3)
# The statuses in which a case is an inspector's task: verify (核实) a report, check (核查) the handling.
TASK_OF_STATUS = {Status.VERIFYING: "verify", Status.HANDLED: "check"}


def shift_open_for(user: Any) -> InspectorShift | None:
    """The user's shift on duty now, or None."""
    if user is None or not user.is_authenticated:
        return None
    return (
        InspectorShift.objects.filter(user=user, ended_at__isnull=True)
        .select_related("unit")
        .defer("unit__area")  # a unit's polygon is never shown here
        .first()
    )


def inspectors_on_duty_for(user: Any) -> QuerySet[InspectorShift]:
    """The open shifts of inspectors whose unit lies in the user's scope (the unit is in the user's subtrees, or
    its jurisdiction in the user's divisions), with the person and the unit's name; none for an empty scope."""
    scope = scope_for(user)
    shifts = InspectorShift.objects.filter(ended_at__isnull=True)
    if scope.is_empty:
        return shifts.none()
    if not scope.city_wide:
        parts = [Q(unit_id__in=scope.unit_ids)] if scope.unit_ids else []
        if scope.district_ids:
            parts += [Q(unit__district_id__in=scope.district_ids), Q(unit__street__district_id__in=scope.district_ids)]
        if scope.street_ids:
            parts += [Q(unit__street_id__in=scope.street_ids), Q(unit__community__street_id__in=scope.street_ids)]
        if scope.community_ids:
            parts.append(Q(unit__community_id__in=scope.community_ids))
        shifts = shifts.filter(reduce(operator.or_, parts)) if parts else shifts.none()
    return (
        shifts.select_related("user", "unit")
        .only(
            "id",
            "user_id",
            "unit_id",
            "started_at",
            "shares_position",
            "position",
            "position_accuracy_m",
            "position_at",
            "user__username",
            "user__full_name",
            "unit__name",
        )
        .order_by("unit__name", "user__full_name", "user_id")
    )


def is_stale(shift: InspectorShift, now: dt.datetime) -> bool:
    return shift.position_at is None or now - shift.position_at > STALE_AFTER


# --- an inspector's tasks


def _unit_covers_q(unit: OrgUnit) -> Q | None:
    """The cases a unit covers, as cases.services.core.unit_covers_place decides for one case (None: none)."""
    if unit.unit_type == UnitType.CITY_CENTRE:
        return Q()
    if unit.community_id is not None:
        return Q(community_id=unit.community_id)
    if unit.street_id is not None:
        return Q(street_id=unit.street_id)
    if unit.district_id is not None:
        return Q(district_id=unit.district_id)
    if unit.area is not None:
        return Q(location__coveredby=unit.area)
    return None


def grid_q(user: Any) -> Q | None:
    """The cases the user may verify or check: those in the grid of a unit where they hold the inspector role (the
    services' "grid" coverage). None when they hold it nowhere."""
    memberships = Membership.objects.filter(user=user, role=Role.INSPECTOR, unit__is_active=True).select_related("unit")
    parts = [q for m in memberships if (q := _unit_covers_q(m.unit)) is not None]
    if not parts:
        return None
    if any(not q for q in parts):  # a city centre's inspector covers the city
        return Q()
    return reduce(operator.or_, parts)


def tasks_for(user: Any, *, point: Point | None = None) -> QuerySet[CaseRow]:
    """The user's open inspector tasks: cases awaiting verification or a check in their grid; those offered to the
    user first, then the nearest to `point` (when given), else the earliest deadline first.

    Each row carries `task`, `assigned_to_me`, `first_photo` (the first evidence photo's file) and, with a point,
    `distance` (metres).
    """
    if user is None or not user.is_authenticated:
        return CaseRow.objects.none()
    coverage = grid_q(user)
    if coverage is None:
        return CaseRow.objects.none()
    offered = VerificationAssignment.objects.filter(case_id=OuterRef("pk"), inspector=user)
    first_photo = (
        CasePhoto.objects.filter(case_id=OuterRef("pk"), phase=PhotoPhase.EVIDENCE)
        .order_by("created_at", "id")
        .values("file")[:1]
    )
    tasks = (
        CaseRow.objects.filter(coverage, status__in=list(TASK_OF_STATUS))
        .select_related("minor_class__major")
        .only(
            "id",
            "number",
            "status",
            "description",
            "address",
            "location",
            "stage_due_at",
            "is_overdue",
            "reported_at",
            "minor_class__code",
            "minor_class__name",
            "minor_class__major__code",
            "minor_class__major__kind",
        )
        .annotate(
            task=Case(*[When(status=s, then=Value(t)) for s, t in TASK_OF_STATUS.items()]),
            assigned_to_me=Case(
                When(Q(status=Status.VERIFYING) & Exists(offered), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            first_photo=Subquery(first_photo),
        )
    )
    order: list[Any] = [F("assigned_to_me").desc()]
    if point is not None:
        # On the sphere, in metres; a few hundred open tasks per grid at most: sorted, not searched by an index.
        tasks = tasks.annotate(distance=Distance("location", point, spheroid=False))
        order.append(F("distance").asc())
    order += [F("stage_due_at").asc(nulls_last=True), "reported_at", "id"]
    return tasks.order_by(*order)


def reports_of(user: Any) -> QuerySet[CaseRow]:
    """The user's own reports, newest first (any role: inspectors, citizens)."""
    return (
        cases_reported_by(user)
        .select_related("minor_class__major")
        .only(
            "id",
            "number",
            "status",
            "description",
            "address",
            "location",
            "reported_at",
            "closed_at",
            "stage_due_at",
            "minor_class__code",
            "minor_class__name",
            "minor_class__major__code",
            "minor_class__major__kind",
        )
        .order_by("-reported_at", "-id")
    )
