"""Input and output shapes of the alarm endpoints."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from lifelines.alarms import NOTE_MAX_LENGTH
from lifelines.models import Alarm, AlarmLevel


class AlarmSerializer(serializers.ModelSerializer):
    """An alarm as the queue shows it: where, what, how severe, in which state, and its case."""

    sensor_code = serializers.CharField(source="sensor.code", read_only=True)
    facility = serializers.IntegerField(source="sensor.facility_id", read_only=True)
    facility_code = serializers.CharField(source="sensor.facility.code", read_only=True)
    facility_name = serializers.CharField(source="sensor.facility.name", read_only=True)
    domain = serializers.CharField(source="sensor.sensor_type.domain", read_only=True)
    unit = serializers.CharField(source="sensor.sensor_type.unit", read_only=True)
    level = serializers.SerializerMethodField()
    level_label = serializers.CharField(source="get_level_display", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    case_number = serializers.CharField(source="case.number", read_only=True, default=None)

    class Meta:
        model = Alarm
        fields = (
            "id",
            "sensor",
            "sensor_code",
            "facility",
            "facility_code",
            "facility_name",
            "domain",
            "unit",
            "kind",
            "kind_label",
            "rule",
            "level",
            "level_label",
            "state",
            "state_label",
            "raised_at",
            "first_value",
            "peak_value",
            "last_value",
            "last_at",
            "repeats",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "resolution_note",
            "cleared_at",
            "escalated_at",
            "case",
            "case_number",
        )
        read_only_fields = fields

    def get_level(self, alarm: Alarm) -> str:
        return AlarmLevel(alarm.level).name.lower()


class AlarmNoteSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=NOTE_MAX_LENGTH, help_text=_("What was seen or done.")
    )
