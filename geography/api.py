"""/api/v1/ for the geography: scoped GeoJSON layers (bbox filter, limit/offset pages) and locate."""

from __future__ import annotations

from typing import Any

from django.contrib.gis.geos import Point
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import NotFound
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView
from rest_framework_gis.filters import InBBoxFilter

from geography import filters, selectors, serializers
from geography.coords import GCJ02, gcj02_to_wgs84
from geography.models import Community, Component, District, GridCell, Street
from organisations import selectors as scope


class GeoJsonLimitOffsetPagination(LimitOffsetPagination):
    """limit/offset pages (as every other list of the API) shaped as a GeoJSON FeatureCollection."""

    max_limit = 1000

    def get_paginated_response(self, data: dict[str, Any]) -> Response:
        return Response(
            {
                "type": "FeatureCollection",
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "features": data["features"],
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["features"] = paginated["properties"].pop("results")
        paginated["properties"] = {"type": {"type": "string", "enum": ["FeatureCollection"]}, **paginated["properties"]}
        paginated["required"] = ["type", "count", "features"]
        return paginated


class GeoLayerViewSet(viewsets.ReadOnlyModelViewSet):
    """A read-only layer: GeoJSON, limit/offset pages, `?in_bbox=minlon,minlat,maxlon,maxlat`."""

    pagination_class = GeoJsonLimitOffsetPagination
    filter_backends = [DjangoFilterBackend, InBBoxFilter]
    bbox_filter_field = "geom"
    # && on the bounding boxes: uses the GiST index, and keeps features crossing the box's edge.
    bbox_filter_include_overlapping = True


class DistrictViewSet(GeoLayerViewSet):
    """Districts (区) the user works in, or that contain the streets and communities they work in."""

    queryset = District.objects.none()
    serializer_class = serializers.DistrictSerializer

    def get_queryset(self) -> QuerySet[District]:
        return scope.districts_visible_to(self.request.user)


class StreetViewSet(GeoLayerViewSet):
    """Streets (街道) in the user's divisions, or containing the communities they work in."""

    queryset = Street.objects.none()
    serializer_class = serializers.StreetSerializer
    filterset_class = filters.StreetFilter

    def get_queryset(self) -> QuerySet[Street]:
        return scope.streets_visible_to(self.request.user)


class CommunityViewSet(GeoLayerViewSet):
    """Communities (社区) in the user's divisions or service areas."""

    queryset = Community.objects.none()
    serializer_class = serializers.CommunitySerializer
    filterset_class = filters.CommunityFilter

    def get_queryset(self) -> QuerySet[Community]:
        return scope.communities_visible_to(self.request.user)


class GridCellViewSet(GeoLayerViewSet):
    """Unit grid cells (万米单元网格) in the user's divisions or service areas."""

    queryset = GridCell.objects.none()
    serializer_class = serializers.GridCellSerializer
    filterset_class = filters.GridCellFilter

    def get_queryset(self) -> QuerySet[GridCell]:
        return scope.grid_cells_visible_to(self.request.user)


class ComponentViewSet(GeoLayerViewSet):
    """City components (部件) the user may see; `?code=` finds one by its 16-digit code."""

    queryset = Component.objects.none()
    filterset_class = filters.ComponentFilter
    bbox_filter_field = "location"

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action == "retrieve":
            return serializers.ComponentDetailSerializer
        return serializers.ComponentSerializer

    def get_queryset(self) -> QuerySet[Component]:
        components = scope.components_visible_to(self.request.user).select_related("minor_class__major")
        if self.action == "retrieve":
            components = components.prefetch_related("photos")
        return components


class LocateView(APIView):
    """Which grid cell, community, street and district a point lies in.

    Any signed-in account may ask (devices and citizens' apps locate their reports): the answer
    names public administrative divisions, not internal records.
    """

    @extend_schema(
        operation_id="locate",
        parameters=[serializers.LocateQuerySerializer],
        responses={
            200: serializers.LocationSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description=_("Missing or malformed lon, lat or srs.")),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description=_("The point lies outside the city.")),
        },
    )
    def get(self, request: Request) -> Response:
        query = serializers.LocateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        lon, lat = query.validated_data["lon"], query.validated_data["lat"]
        if query.validated_data["srs"] == GCJ02:
            lon, lat = gcj02_to_wgs84(lon, lat)
        location = selectors.locate(Point(lon, lat, srid=4326))
        if not location.in_city:
            raise NotFound(_("The point lies outside the city."))
        cell = {"id": location.grid_cell_id, "code": location.grid_cell_code} if location.grid_cell_id else None
        body = {"lon": lon, "lat": lat, "grid_cell": cell, **selectors.describe(location)}
        return Response(serializers.LocationSerializer(body).data)
