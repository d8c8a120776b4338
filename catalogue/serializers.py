"""API shape of the catalogue: a minor class with its major class, criteria and time limits."""

from __future__ import annotations

from rest_framework import serializers

from catalogue.models import MinorClass, TimeLimit


class TimeLimitSerializer(serializers.ModelSerializer):
    class Meta:
        model = TimeLimit
        fields = ["urgency", "stage", "amount", "unit"]
        read_only_fields = fields


class MinorClassSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(source="major.kind", read_only=True)
    full_code = serializers.CharField(read_only=True)
    major_code = serializers.CharField(source="major.code", read_only=True)
    major_name = serializers.CharField(source="major.name", read_only=True)
    time_limits = TimeLimitSerializer(many=True, read_only=True)

    class Meta:
        model = MinorClass
        fields = [
            "id",
            "kind",
            "full_code",
            "major_code",
            "major_name",
            "code",
            "name",
            "name_en",
            "is_active",
            "registration_criteria",
            "closure_criteria",
            "default_responsible_kind",
            "self_handle_allowed",
            "duplicate_radius_m",
            "time_limits",
        ]
        read_only_fields = fields
