"""Input and output shapes of the lifelines API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from lifelines.models import Facility, Sensor


class SensorBriefSerializer(serializers.ModelSerializer):
    """A sensor with its latest value, as the map and a facility's list show it."""

    type = serializers.CharField(source="sensor_type.code", read_only=True)
    type_name = serializers.CharField(source="sensor_type.name", read_only=True)
    metric = serializers.CharField(source="sensor_type.metric", read_only=True)
    unit = serializers.CharField(source="sensor_type.unit", read_only=True)

    class Meta:
        model = Sensor
        fields = (
            "id",
            "code",
            "name",
            "type",
            "type_name",
            "metric",
            "unit",
            "is_active",
            "expected_interval_s",
            "last_value",
            "last_at",
            "last_received_at",
        )
        read_only_fields = fields


class SensorDetailSerializer(SensorBriefSerializer):
    valid_min = serializers.FloatField(source="sensor_type.valid_min", read_only=True, allow_null=True)
    valid_max = serializers.FloatField(source="sensor_type.valid_max", read_only=True, allow_null=True)

    class Meta(SensorBriefSerializer.Meta):
        fields = (*SensorBriefSerializer.Meta.fields, "valid_min", "valid_max")
        read_only_fields = fields


class FacilitySerializer(GeoFeatureModelSerializer):
    """A facility as a GeoJSON feature: where, whose, and its sensors' latest values."""

    domain_name = serializers.CharField(source="get_domain_display", read_only=True)
    kind_name = serializers.CharField(source="get_kind_display", read_only=True)
    owner_unit_name = serializers.CharField(source="owner_unit.name", read_only=True, default=None)
    district_name = serializers.CharField(source="district.name", read_only=True, default=None)
    street_name = serializers.CharField(source="street.name", read_only=True, default=None)
    sensors = SensorBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Facility
        geo_field = "location"
        fields = (
            "id",
            "code",
            "name",
            "domain",
            "domain_name",
            "kind",
            "kind_name",
            "owner_unit",
            "owner_unit_name",
            "district",
            "district_name",
            "street",
            "street_name",
            "address",
            "sensors",
        )
        read_only_fields = fields


class FacilityDetailSerializer(FacilitySerializer):
    sensors = SensorDetailSerializer(many=True, read_only=True)

    class Meta(FacilitySerializer.Meta):
        fields = (*FacilitySerializer.Meta.fields, "attributes")
        read_only_fields = fields


MAX_CHART_POINTS = 5000


class ReadingsQuerySerializer(serializers.Serializer):
    """`from` and `to` (ISO 8601; default the last 24 hours up to now), `max_points` (default 500)."""

    to = serializers.DateTimeField(required=False)
    max_points = serializers.IntegerField(required=False, default=500, min_value=10, max_value=MAX_CHART_POINTS)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(required=False)  # a Python keyword: added by name
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("to") or timezone.now()
        start = attrs.get("from") or end - timedelta(hours=24)
        if start >= end:
            raise serializers.ValidationError({"from": [_("from must be before to.")]})
        return {"from": start, "to": end, "max_points": attrs["max_points"]}


class ReadingPointSerializer(serializers.Serializer):
    """A raw reading (value) or a bucket (avg, min, max, count; ts is the bucket's start)."""

    ts = serializers.DateTimeField()
    value = serializers.FloatField(required=False)
    avg = serializers.FloatField(required=False)
    min = serializers.FloatField(required=False)
    max = serializers.FloatField(required=False)
    count = serializers.IntegerField(required=False)


class ReadingsSerializer(serializers.Serializer):
    sensor = SensorDetailSerializer()
    to = serializers.DateTimeField()
    resolution = serializers.ChoiceField(choices=["raw", "bucket"])
    bucket_s = serializers.IntegerField(allow_null=True)
    points = ReadingPointSerializer(many=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField()
        return fields


class ReadingItemSerializer(serializers.Serializer):
    """One item of a device's batch (documentation only: the batch is checked item by item by the service)."""

    sensor = serializers.CharField(help_text=_("The sensor's code."))
    ts = serializers.CharField(help_text=_("ISO 8601 with a time zone, or Unix seconds or milliseconds."))
    value = serializers.FloatField()


class RefusalSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    sensor = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    message = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    refused = RefusalSerializer(many=True)
