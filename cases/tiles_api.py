"""/api/v1/map/cases/{z}/{x}/{y}/: the cases layer's tiles (the caller's open cases), shaped like the components
layer's (geography.tiles_api)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from cases.tiles import STATE_GROUPS, URGENCIES, case_tile
from geography.tiles_api import TILE_ERRORS, TILE_PATH_PARAMETERS, parse_tile, split_values, tile_response
from organisations.selectors import districts_visible_to


def _choices(value: str, choices: list[str], what: Any) -> list[str]:
    values = split_values(value)
    unknown = [v for v in values if v not in choices]
    if unknown:
        raise serializers.ValidationError(
            _("No %(what)s %(values)s; choose from %(choices)s.")
            % {"what": what, "values": ", ".join(unknown), "choices": ", ".join(choices)}
        )
    return values


class CaseTileQuerySerializer(serializers.Serializer):
    group = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=_("State groups, comma-separated: intake, dispatch, handling, check; all open cases if absent."),
    )
    urgency = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=_("Urgencies, comma-separated: normal, urgent, emergency; all if absent."),
    )
    district = serializers.IntegerField(required=False, min_value=1, help_text=_("A district id within your area."))

    def validate_group(self, value: str) -> list[str]:
        return _choices(value, list(STATE_GROUPS), _("state group"))

    def validate_urgency(self, value: str) -> list[str]:
        return _choices(value, [str(u) for u in URGENCIES], _("urgency"))


class CaseTileView(APIView):
    """One map tile of the caller's open cases, counted live.

    Below zoom 16: `clusters`, each `[lon, lat, count, by_group, urgency, overdue, key]` (counts per state group in
    the order of `groups`, the highest urgency, how many are overdue and key), drawn at the mean position of its
    cases; a cluster cell holding a single case sends it in `points` instead. From zoom 16: `points`, each
    `[id, number, lon, lat, status, urgency, is_overdue, is_key]` (clusters again past 5,000 in a tile).
    Browsers revalidate every time (ETag), so a refresh after a live event costs a 304 when nothing changed.
    """

    @extend_schema(
        operation_id="map_cases_tile",
        parameters=[*TILE_PATH_PARAMETERS, CaseTileQuerySerializer],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description=_("The tile.")),
            **TILE_ERRORS,
            404: OpenApiResponse(OpenApiTypes.OBJECT, description=_("The district is not in your area.")),
        },
    )
    def get(self, request: Request, z: str, x: str, y: str) -> HttpResponse:
        tile = parse_tile(z, x, y)
        query = CaseTileQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        district_id = query.validated_data.get("district")
        if district_id is not None and not districts_visible_to(request.user).filter(pk=district_id).exists():
            raise NotFound(_("No such district in your area."))
        body = case_tile(
            user=request.user,
            tile=tile,
            groups=query.validated_data.get("group", []),
            urgencies=query.validated_data.get("urgency", []),
            district_id=district_id,
        )
        return tile_response(request, body, cache_control="private, no-cache")
