"""Reads on cases, scoped by the caller's units (organisations.selectors.scope_for), and the spatial
look-ups intake needs: duplicates, the component a report is about, the routing rule for a case.

A staff member sees the cases located in the divisions their units cover, and the cases their
units (or the units below them) lead or support. Anything else is a 404.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib.gis.geos import Point
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from cases.models import FINAL_STATUSES, Case, CaseEvent, CaseSupportingUnit, RoutingRule
from catalogue.models import MinorClass
from geography.models import Component
from organisations.selectors import Scope, _located_q, scope_for

# A case fetched for a transition carries its supporting units' ids under this name (cases.services.core.lock_case).
SUPPORT_IDS_ATTR = "support_unit_ids"

# A report about a component without its code is linked to the nearest one of its class this close.
COMPONENT_LINK_RADIUS_M = 5


def _scope_q(scope: Scope) -> Q:
    located = _located_q(scope)
    if not scope.unit_ids:
        return located
    supported = CaseSupportingUnit.objects.filter(case=OuterRef("pk"), unit_id__in=scope.unit_ids)
    return located | Q(lead_unit_id__in=scope.unit_ids) | Q(Exists(supported))


def cases_visible_to(user: Any) -> QuerySet[Case]:
    """The cases `user` may see (none for citizens and devices: their own reports have their own reads)."""
    scope = scope_for(user)
    if scope.city_wide:
        return Case.objects.all()
    if scope.is_empty:
        return Case.objects.none()
    return Case.objects.filter(_scope_q(scope))


def case_is_visible_to(user: Any, case: Case) -> bool:
    """The same rule as cases_visible_to for one case in hand (a query only for supporting units)."""
    scope = scope_for(user)
    if scope.city_wide:
        return True
    if scope.is_empty:
        return False
    if (
        case.district_id in scope.district_ids
        or case.street_id in scope.street_ids
        or case.community_id in scope.community_ids
        or case.lead_unit_id in scope.unit_ids
    ):
        return True
    if not scope.unit_ids:
        return False
    support = getattr(case, SUPPORT_IDS_ATTR, None)
    if support is not None:
        return not scope.unit_ids.isdisjoint(support)
    return case.support_links.filter(unit_id__in=scope.unit_ids).exists()


def case_get_for_user_or_404(user: Any, pk: Any) -> Case:
    return get_object_or_404(cases_visible_to(user).select_related("minor_class__major"), pk=pk)


def case_get_by_number_for_user_or_404(user: Any, number: str) -> Case:
    return get_object_or_404(cases_visible_to(user).select_related("minor_class__major"), number=number)


def case_events(case: Case) -> QuerySet[CaseEvent]:
    """A case's timeline, oldest first, with who did what."""
    return case.events.select_related("actor", "unit").order_by("seq")


def cases_reported_by(user: Any) -> QuerySet[Case]:
    """A citizen's (or anyone's) own reports."""
    if user is None or not user.is_authenticated:
        return Case.objects.none()
    return Case.objects.filter(reporter=user)


# --- spatial look-ups for intake

_NEAREST_OPEN_CASE_SQL = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g)
SELECT c.id
FROM cases_case c, p
WHERE c.minor_class_id = %(minor_class)s
  AND c.status <> ALL(%(final)s)
  AND c.id <> %(exclude)s
  AND c.location && ST_Expand(p.g, %(degrees)s)
  AND ST_DWithin(c.location::geography, p.g::geography, %(radius)s)
ORDER BY ST_Distance(c.location::geography, p.g::geography), c.reported_at, c.id
LIMIT 1
"""

_NEAREST_COMPONENT_SQL = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g)
SELECT c.id
FROM geography_component c, p
WHERE c.minor_class_id = %(minor_class)s
  AND c.location && ST_Expand(p.g, %(degrees)s)
  AND ST_DWithin(c.location::geography, p.g::geography, %(radius)s)
ORDER BY ST_Distance(c.location::geography, p.g::geography), c.id
LIMIT 1
"""


def _degrees_covering(radius_m: float, lat: float) -> float:
    # A box at least `radius_m` wide in both directions, so the GiST index narrows before the exact test.
    return radius_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))


def _nearest_id(sql: str, *, point: Point, minor_class_id: int, radius_m: float, **extra: Any) -> int | None:
    params = {
        "lon": point.x,
        "lat": point.y,
        "minor_class": minor_class_id,
        "radius": float(radius_m),
        "degrees": _degrees_covering(radius_m, point.y),
        **extra,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def duplicate_candidate_for(*, minor_class: MinorClass, location: Point, exclude_id: int | None = None) -> Case | None:
    """The nearest open case of the same minor class within the class's duplicate radius (0: no check)."""
    radius = minor_class.duplicate_radius_m
    if not radius:
        return None
    found = _nearest_id(
        _NEAREST_OPEN_CASE_SQL,
        point=location,
        minor_class_id=minor_class.pk,
        radius_m=radius,
        final=list(FINAL_STATUSES),
        exclude=exclude_id or 0,
    )
    return Case.objects.get(pk=found) if found else None


def nearest_component_for(*, minor_class: MinorClass, location: Point) -> Component | None:
    """The surveyed component of `minor_class` nearest to `location`, within COMPONENT_LINK_RADIUS_M."""
    found = _nearest_id(
        _NEAREST_COMPONENT_SQL, point=location, minor_class_id=minor_class.pk, radius_m=COMPONENT_LINK_RADIUS_M
    )
    return Component.objects.get(pk=found) if found else None


# --- routing


def routing_rule_for(*, minor_class: MinorClass, district_id: int | None, street_id: int | None) -> RoutingRule | None:
    """The most specific active rule for a class in an area (see RoutingRule), or None."""
    area = Q(district__isnull=True, street__isnull=True)
    if district_id is not None:
        area |= Q(district_id=district_id, street__isnull=True)
    if street_id is not None:
        area |= Q(street_id=street_id)
    candidates = (
        RoutingRule.objects.filter(is_active=True, lead_unit__is_active=True)
        .filter(Q(minor_class=minor_class) | Q(major_class_id=minor_class.major_id))
        .filter(area)
        .select_related("lead_unit")
    )
    ranked = sorted(
        candidates,
        key=lambda r: (
            r.minor_class_id is not None,
            2 if r.street_id else 1 if r.district_id else 0,
            r.priority,
            -r.pk,
        ),
        reverse=True,
    )
    return ranked[0] if ranked else None


def routing_rules_list() -> QuerySet[RoutingRule]:
    """The routing table, for the read-only API and the admin."""
    return RoutingRule.objects.select_related(
        "minor_class__major", "major_class", "district", "street", "lead_unit"
    ).prefetch_related("supporting_units")
