"""/api/v1/map/components/{z}/{x}/{y}/: the components layer's tiles, and what every map tile view shares (the
z/x/y check, compact JSON, ETag and Cache-Control). cases.tiles_api serves the cases layer the same way."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.views import APIView

from geography.tiles import Tile, TileError, component_majors, component_tile

# Components change by survey imports, not by the second: browsers may keep a tile this long.
DEFAULT_COMPONENT_TILES_MAX_AGE = 60

TILE_PATH_PARAMETERS = [
    OpenApiParameter("z", int, OpenApiParameter.PATH, description=_("Zoom level, 0-22.")),
    OpenApiParameter("x", int, OpenApiParameter.PATH, description=_("Tile column from the west, 0 to 2^z - 1.")),
    OpenApiParameter("y", int, OpenApiParameter.PATH, description=_("Tile row from the north, 0 to 2^z - 1.")),
]
TILE_ERRORS = {
    304: OpenApiResponse(description=_("Unchanged since the ETag sent in If-None-Match.")),
    400: OpenApiResponse(OpenApiTypes.OBJECT, description=_("No such tile (z, x or y out of range) or a bad filter.")),
}


def parse_tile(z: str, x: str, y: str) -> Tile:
    try:
        return Tile.parse(z, x, y)
    except TileError as error:
        raise ParseError(str(error)) from error


def split_values(raw: str) -> list[str]:
    """`a,b` or `a` -> the distinct non-empty values, in order."""
    return list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def tile_response(request: Request, body: dict[str, Any], *, cache_control: str) -> HttpResponse:
    """Compact JSON with a strong ETag of its bytes; 304 when the browser's copy is the same."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    etag = f'"{hashlib.blake2b(content, digest_size=16).hexdigest()}"'
    if etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(content, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    # What a tile holds depends on who asks: never serve one person's tile to the next from a cache.
    patch_vary_headers(response, ["Cookie", "Authorization"])
    return response


class ComponentTileQuerySerializer(serializers.Serializer):
    major = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=_("Major class codes of components, comma-separated (e.g. 01,04); all classes if absent."),
    )

    def validate_major(self, value: str) -> list[str]:
        codes = split_values(value)
        known = {code for _pk, code in component_majors()}
        unknown = [code for code in codes if code not in known]
        if unknown:
            raise serializers.ValidationError(
                _("No component major class %(codes)s; the classes are %(known)s.")
                % {"codes": ", ".join(unknown), "known": ", ".join(sorted(known))}
            )
        return codes


class ComponentTileView(APIView):
    """One map tile of the city components the caller may see.

    Up to zoom 16: `clusters`, each `[lon, lat, count, by_major, by_status]` (counts per class in the order of
    `majors`, per status in the order of `statuses`), drawn at the mean position of its components. From zoom 17:
    `points`, each `[id, lon, lat, class, status]` (class = 4-digit minor class code), or clusters again where a
    tile holds more than 5,000. A tile outside the caller's area is empty.
    """

    @extend_schema(
        operation_id="map_components_tile",
        parameters=[*TILE_PATH_PARAMETERS, ComponentTileQuerySerializer],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description=_("The tile.")), **TILE_ERRORS},
    )
    def get(self, request: Request, z: str, x: str, y: str) -> HttpResponse:
        tile = parse_tile(z, x, y)
        query = ComponentTileQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        body = component_tile(user=request.user, tile=tile, majors=query.validated_data.get("major", []))
        max_age = int(getattr(settings, "MAP_COMPONENT_TILES_MAX_AGE", DEFAULT_COMPONENT_TILES_MAX_AGE))
        return tile_response(request, body, cache_control=f"private, max-age={max_age}")
