"""Who may see what: the one place that turns a user's roles into a scope, and the scoped reads.

The rule: staff roles (STAFF_ROLES) in a unit give sight of everything in that unit's subtree and
in the areas of the units in it; citizen and device roles give none of the internal records.

* City-wide: a superuser, a staff role in a `city_centre` unit, or an administrator in a root unit.
* Subtree: units whose treebeard path starts with the path of a unit the user works in; things
  *owned* by those units (components by `owner_unit`) are visible wherever they lie.
* Areas are division-based, not spatial: a unit's area is its jurisdiction (district, street or
  community FK), so the big tables are filtered by FK ids, never by a polygon join. A unit that has
  an `area` polygon but no jurisdiction (a company's service area) covers the communities whose
  point-on-surface lies in that polygon: one spatial query on the small community table, once
  per request.
* Visibility is monotonic down the tree: a unit sees what any unit below it sees.
* Geography layers also show the divisions that *contain* the user's jurisdiction (a street
  workstation sees its district's outline) but not their other children.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce
from typing import Any

from django.contrib.gis.db.models.functions import PointOnSurface
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Length, Substr
from django.shortcuts import get_object_or_404

from geography.models import Community, Component, District, GridCell, Street
from organisations.models import STAFF_ROLES, Membership, OrgUnit, Role, UnitType, User

_CACHE_ATTR = "_organisations_scope"


@dataclass(frozen=True)
class Scope:
    """What one user may see, computed once per request (see scope_for)."""

    city_wide: bool = False
    unit_paths: tuple[str, ...] = ()  # roots of the visible subtrees (no root lies inside another)
    unit_ids: frozenset[int] = frozenset()  # every unit in those subtrees
    district_ids: frozenset[int] = frozenset()
    street_ids: frozenset[int] = frozenset()
    community_ids: frozenset[int] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not (self.city_wide or self.unit_ids or self.district_ids or self.street_ids or self.community_ids)


NO_SCOPE = Scope()
CITY_WIDE = Scope(city_wide=True)


def scope_for(user: Any, *, fresh: bool = False) -> Scope:
    """The user's scope, cached on the user object (which lives as long as the request).

    Long-lived holders of a user object (a websocket consumer) pass fresh=True after a while,
    since roles may have changed since the cached scope was computed.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_SCOPE
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None and not fresh:
        return cached
    scope = _compute_scope(user)
    setattr(user, _CACHE_ATTR, scope)
    return scope


def _compute_scope(user: User) -> Scope:
    if user.is_superuser:
        return CITY_WIDE
    memberships = list(
        Membership.objects.filter(user=user, role__in=STAFF_ROLES, unit__is_active=True)
        .select_related("unit")
        .only("role", "unit__path", "unit__depth", "unit__unit_type")
    )
    if not memberships:
        return NO_SCOPE
    for m in memberships:
        if m.unit.unit_type == UnitType.CITY_CENTRE or (m.role == Role.ADMINISTRATOR and m.unit.depth == 1):
            return CITY_WIDE

    paths = _subtree_roots({m.unit.path for m in memberships})
    subtree = list(
        OrgUnit.objects.filter(_path_q(paths))
        .annotate(
            free_area=ExpressionWrapper(Q(area__isnull=False, district__isnull=True), output_field=BooleanField())
        )
        .values_list("id", "district_id", "street_id", "community_id", "free_area")
    )
    districts = {d for _u, d, s, c, _a in subtree if d and not s and not c}
    # A unit names its most specific division; drop those inside a division already named in full.
    streets = {s for _u, d, s, c, _a in subtree if s and not c and d not in districts}
    communities = {c for _u, d, s, c, _a in subtree if c and d not in districts and s not in streets}
    has_free_area = any(row[4] for row in subtree)
    if has_free_area:
        communities.update(_communities_in_free_areas(paths))
    return Scope(
        city_wide=False,
        unit_paths=tuple(sorted(paths)),
        unit_ids=frozenset(row[0] for row in subtree),
        district_ids=frozenset(districts),
        street_ids=frozenset(streets),
        community_ids=frozenset(communities),
    )


def _subtree_roots(paths: set[str]) -> set[str]:
    """Drop paths that lie inside another path of the set (their subtree is already counted)."""
    return {p for p in paths if not any(p != q and p.startswith(q) for q in paths)}


def _path_q(paths: set[str] | tuple[str, ...], prefix: str = "") -> Q:
    return reduce(operator.or_, (Q(**{f"{prefix}path__startswith": p}) for p in paths))


def _communities_in_free_areas(paths: set[str]) -> list[int]:
    """Communities lying in the area polygon of a subtree unit without a jurisdiction (one query)."""
    covering = OrgUnit.objects.filter(_path_q(paths), area__isnull=False, district__isnull=True).filter(
        area__contains=OuterRef("inner_point")
    )
    return list(
        Community.objects.annotate(inner_point=PointOnSurface("geom"))
        .filter(Exists(covering))
        .values_list("id", flat=True)
    )


def _located_q(
    scope: Scope, *, district: str = "district_id", street: str = "street_id", community: str = "community_id"
) -> Q:
    """Things lying in the scope's divisions, by FK (an empty Q matches nothing here)."""
    parts = []
    if scope.district_ids:
        parts.append(Q(**{f"{district}__in": scope.district_ids}))
    if scope.street_ids:
        parts.append(Q(**{f"{street}__in": scope.street_ids}))
    if scope.community_ids:
        parts.append(Q(**{f"{community}__in": scope.community_ids}))
    return reduce(operator.or_, parts) if parts else Q(pk__in=[])


def scope_division_names(user: Any, *, limit: int = 5) -> list[str]:
    """Names of the districts, streets and communities a user's scope covers, most general first.

    For a heading like "海山路街道" rather than "1 district" (which the containing-district outline
    on the map would otherwise suggest). Empty for city-wide scopes and scopes by ownership only.
    """
    scope = scope_for(user)
    if scope.city_wide:
        return []
    names: list[str] = []
    for model, ids in ((District, scope.district_ids), (Street, scope.street_ids), (Community, scope.community_ids)):
        if ids and len(names) < limit:
            names += (
                model.objects.filter(id__in=ids).order_by("code").values_list("name", flat=True)[: limit - len(names)]
            )
    return names


# --- organisation


def visible_units(user: Any) -> QuerySet[OrgUnit]:
    """The units in the subtrees of the units the user works in (all units for city-wide users)."""
    scope = scope_for(user)
    if scope.city_wide:
        return OrgUnit.objects.all()
    if not scope.unit_paths:
        return OrgUnit.objects.none()
    return OrgUnit.objects.filter(_path_q(scope.unit_paths))


def with_parent_id(units: QuerySet[OrgUnit]) -> QuerySet[OrgUnit]:
    """Annotate `parent_id` from the materialised path in the same query (no get_parent() per row)."""
    parent_path = Substr(OuterRef("path"), 1, Length(OuterRef("path")) - OrgUnit.steplen)
    return units.annotate(parent_id=Subquery(OrgUnit.objects.filter(path=parent_path).values("id")[:1]))


def people_visible_to(user: Any) -> QuerySet[User]:
    """People holding any role in a visible unit; superusers see everyone, citizens included."""
    scope = scope_for(user)
    if user.is_authenticated and user.is_superuser:
        return User.objects.order_by("username")
    if scope.city_wide:
        in_scope = Membership.objects.filter(user=OuterRef("pk"), unit__isnull=False)
    elif scope.unit_paths:
        in_scope = Membership.objects.filter(_path_q(scope.unit_paths, "unit__"), user=OuterRef("pk"))
    else:
        return User.objects.none()
    return User.objects.filter(Exists(in_scope)).order_by("username")


def memberships_visible_to(user: Any) -> QuerySet[Membership]:
    """Roles held in visible units: what may be shown of a visible person's other roles."""
    scope = scope_for(user)
    if scope.city_wide:
        return Membership.objects.all()
    if not scope.unit_paths:
        return Membership.objects.none()
    return Membership.objects.filter(_path_q(scope.unit_paths, "unit__"))


def get_unit_for_user_or_404(user: Any, pk: Any) -> OrgUnit:
    return get_object_or_404(visible_units(user), pk=pk)


def get_person_for_user_or_404(user: Any, pk: Any) -> User:
    return get_object_or_404(people_visible_to(user), pk=pk)


# --- geography


def districts_visible_to(user: Any) -> QuerySet[District]:
    scope = scope_for(user)
    if scope.city_wide:
        return District.objects.all()
    if not (scope.district_ids or scope.street_ids or scope.community_ids):
        return District.objects.none()
    return District.objects.filter(
        Q(id__in=scope.district_ids)
        | Q(id__in=Street.objects.filter(id__in=scope.street_ids).values("district_id"))
        | Q(id__in=Community.objects.filter(id__in=scope.community_ids).values("district_id"))
    )


def streets_visible_to(user: Any) -> QuerySet[Street]:
    scope = scope_for(user)
    if scope.city_wide:
        return Street.objects.all()
    if not (scope.district_ids or scope.street_ids or scope.community_ids):
        return Street.objects.none()
    return Street.objects.filter(
        Q(district_id__in=scope.district_ids)
        | Q(id__in=scope.street_ids)
        | Q(id__in=Community.objects.filter(id__in=scope.community_ids).values("street_id"))
    )


def communities_visible_to(user: Any) -> QuerySet[Community]:
    scope = scope_for(user)
    if scope.city_wide:
        return Community.objects.all()
    return Community.objects.filter(_located_q(scope, community="id"))


def grid_cells_visible_to(user: Any) -> QuerySet[GridCell]:
    scope = scope_for(user)
    if scope.city_wide:
        return GridCell.objects.all()
    return GridCell.objects.filter(_located_q(scope))


def components_visible_to(user: Any) -> QuerySet[Component]:
    """Components lying in the user's divisions or owned by a unit of the user's subtrees."""
    scope = scope_for(user)
    if scope.city_wide:
        return Component.objects.all()
    if scope.is_empty:
        return Component.objects.none()
    owned = Q(owner_unit_id__in=scope.unit_ids) if scope.unit_ids else Q(pk__in=[])
    return Component.objects.filter(owned | _located_q(scope))


def get_district_for_user_or_404(user: Any, pk: Any) -> District:
    return get_object_or_404(districts_visible_to(user), pk=pk)


def get_street_for_user_or_404(user: Any, pk: Any) -> Street:
    return get_object_or_404(streets_visible_to(user), pk=pk)


def get_community_for_user_or_404(user: Any, pk: Any) -> Community:
    return get_object_or_404(communities_visible_to(user), pk=pk)


def get_grid_cell_for_user_or_404(user: Any, pk: Any) -> GridCell:
    return get_object_or_404(grid_cells_visible_to(user), pk=pk)


def get_component_for_user_or_404(user: Any, pk: Any) -> Component:
    return get_object_or_404(components_visible_to(user), pk=pk)
