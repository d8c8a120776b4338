"""API shapes of the geography: GeoJSON features (WGS 84) for the layers, plain JSON for locate."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from geography.coords import SUPPORTED_SRS, WGS84
from geography.models import Community, Component, ComponentPhoto, District, GridCell, Street


class DistrictSerializer(GeoFeatureModelSerializer):
    class Meta:
        model = District
        geo_field = "geom"
        fields = ["id", "code", "name"]


class StreetSerializer(GeoFeatureModelSerializer):
    class Meta:
        model = Street
        geo_field = "geom"
        fields = ["id", "code", "name", "district"]


class CommunitySerializer(GeoFeatureModelSerializer):
    class Meta:
        model = Community
        geo_field = "geom"
        fields = ["id", "code", "name", "district", "street"]


class GridCellSerializer(GeoFeatureModelSerializer):
    class Meta:
        model = GridCell
        geo_field = "geom"
        fields = ["id", "code", "district", "street", "community", "area_m2"]


class ComponentSerializer(GeoFeatureModelSerializer):
    """A component in lists: ids for the places and the owner, the class by its 4-digit code."""

    minor_class_code = serializers.CharField(source="minor_class.full_code", read_only=True)
    minor_class_name = serializers.CharField(source="minor_class.name", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Component
        geo_field = "location"
        fields = [
            "id",
            "code",
            "name",
            "minor_class",
            "minor_class_code",
            "minor_class_name",
            "status",
            "status_display",
            "district",
            "street",
            "community",
            "grid_cell",
            "owner_unit",
            "address",
            "surveyed_on",
            "updated_at",
        ]


class ComponentPhotoSerializer(serializers.ModelSerializer):
    class Meta:
        model = ComponentPhoto
        fields = ["id", "image", "taken_at", "uploaded_at"]
        read_only_fields = fields


class ComponentDetailSerializer(ComponentSerializer):
    """One component, with its photos."""

    photos = ComponentPhotoSerializer(many=True, read_only=True)

    class Meta(ComponentSerializer.Meta):
        fields = [*ComponentSerializer.Meta.fields, "photos"]


class LocateQuerySerializer(serializers.Serializer):
    """The query of /locate/: a point and the coordinate system it is given in."""

    lon = serializers.FloatField(min_value=-180, max_value=180, help_text=_("Longitude in degrees."))
    lat = serializers.FloatField(min_value=-90, max_value=90, help_text=_("Latitude in degrees."))
    srs = serializers.ChoiceField(
        choices=SUPPORTED_SRS,
        default=WGS84,
        help_text=_("wgs84 (GPS, the default) or gcj02 (Chinese web maps); converted to WGS 84 here."),
    )


class DivisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class GridCellBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()


class LocationSerializer(serializers.Serializer):
    """Where a point lies; a layer the point is outside of is null."""

    lon = serializers.FloatField(help_text=_("WGS 84 longitude that was located."))
    lat = serializers.FloatField(help_text=_("WGS 84 latitude that was located."))
    grid_cell = GridCellBriefSerializer(allow_null=True)
    community = DivisionSerializer(allow_null=True)
    street = DivisionSerializer(allow_null=True)
    district = DivisionSerializer()
