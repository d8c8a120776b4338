"""Project-level pages: the health probe and the signed-in home page."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.gis.db.models import PointField
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db.models import Count, Func, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from geography.selectors import simplified
from organisations.selectors import (
    communities_visible_to,
    districts_visible_to,
    grid_cells_visible_to,
    scope_division_names,
    scope_for,
    streets_visible_to,
)
from qingdao_ops.health import run_checks

# Degrees; about 50 m at Qingdao's latitude: outlines stay recognisable at city zoom and the
# page stays small (ten real district boundaries shrink from megabytes to tens of kilobytes).


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, checks = run_checks()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    memberships = user.memberships.select_related("unit__district").order_by("unit__path", "role")
    districts = _districts_overview(user)
    context = {
        "memberships": memberships,
        "city_wide": scope_for(user).city_wide,
        "scope_names": scope_division_names(user),
        "districts": districts,
        "totals": {key: sum(d[key] for d in districts) for key in ("n_streets", "n_communities", "n_cells")},
        "district_features": {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": d["id"],
                    "properties": {
                        "code": d["code"],
                        "name": d["name"],
                        "label": json.loads(d["label"])["coordinates"],
                    },
                    "geometry": json.loads(d["outline"]),
                }
                for d in districts
            ],
        },
        "map_config": {
            "tileUrl": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
            "center": settings.LEAFLET_CONFIG["DEFAULT_CENTER"],
            "zoom": settings.LEAFLET_CONFIG["DEFAULT_ZOOM"],
        },
    }
    return render(request, "home.html", context)


def _districts_overview(user: Any) -> list[dict[str, Any]]:
    """The districts the user may see, with simplified outlines and counts of what they may see in each.

    One query: the counts are correlated subqueries on the scoped selectors.
    """
    outline = simplified("geom")
    # The label goes at the centre of the largest circle inside the outline: a bounding-box centre
    # falls in the sea for a coastal district with islands.
    label = Func(
        outline,
        function="ST_MaximumInscribedCircle",
        template="(%(function)s(%(expressions)s)).center",
        output_field=PointField(srid=4326),
    )
    return list(
        districts_visible_to(user)
        .order_by("code")
        .annotate(
            outline=AsGeoJSON(outline, precision=5),
            label=AsGeoJSON(label, precision=5),
            n_streets=_count_per_district(streets_visible_to(user)),
            n_communities=_count_per_district(communities_visible_to(user)),
            n_cells=_count_per_district(grid_cells_visible_to(user)),
        )
        .values("id", "code", "name", "outline", "label", "n_streets", "n_communities", "n_cells")
    )


def _count_per_district(rows: QuerySet) -> Coalesce:
    counted = rows.filter(district_id=OuterRef("pk")).order_by().values("district_id").annotate(n=Count("*"))
    return Coalesce(Subquery(counted.values("n"), output_field=IntegerField()), 0)
