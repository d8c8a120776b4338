"""/api/v1/lifelines/: the devices' readings endpoint, and the staff's scoped facilities and sensor charts.

Audiences are apart: `readings/` takes only `Authorization: Device <token>` (see lifelines.authentication) and
the rest only people (session or `Token`), so a device's token opens nothing but its own ingest.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, parsers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView
from rest_framework_gis.filters import InBBoxFilter

from cases.api import Conflict
from geography.api import GeoJsonLimitOffsetPagination
from geography.filters import IdFilter
from lifelines import alarms, selectors, selectors_alarms, services
from lifelines import serializers as s
from lifelines import serializers_alarms as sa
from lifelines.authentication import DeviceAuthentication, IsDevice
from lifelines.models import OPEN_ALARM_STATES, Alarm, AlarmKind, AlarmLevel, AlarmState, Domain, Facility, FacilityKind

MAX_BATCH_ITEMS = 5000
MAX_BATCH_BYTES = 2 * 1024 * 1024  # 5,000 items of a few dozen bytes each fit many times over


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("Too many readings in one batch.")
    default_code = "too_large"


def _body_too_large() -> str:
    return _("The body is larger than %(bytes)s bytes; send at most %(items)s readings per batch.") % {
        "bytes": MAX_BATCH_BYTES,
        "items": MAX_BATCH_ITEMS,
    }


class ReadingsJSONParser(parsers.BaseParser):
    """JSON as devices write it: NaN and Infinity parse (the item is then refused on its own, not the whole
    batch, as DRF's strict parser would), and a body over MAX_BATCH_BYTES is refused before it is read whole.

    Not a JSONParser subclass on purpose: DRF hands those the whole body read in advance."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        raw = stream.read(MAX_BATCH_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_BATCH_BYTES:
            raise PayloadTooLarge(_body_too_large())
        try:
            return json.loads(raw)
        except ValueError as error:
            raise exceptions.ParseError(_("JSON parse error - %s") % error) from error


class ReadingsIngestView(APIView):
    """A device's batch of readings: stores the good items, lists the refused ones with the reason.

    The answer is 200 whenever the body is a JSON array of at most 5,000 items, even when some (or all) items
    are refused: each refusal names the item's index, its sensor and a reason code. A body that is not an
    array is 400 and nothing is stored; more than 5,000 items is 413 and nothing is stored.
    """

    authentication_classes = [DeviceAuthentication]
    permission_classes = [IsDevice]
    parser_classes = [ReadingsJSONParser]

    @extend_schema(
        operation_id="lifelines_readings_ingest",
        request=s.ReadingItemSerializer(many=True),
        responses={
            200: s.IngestResultSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description=_("The body is not a JSON array.")),
            401: OpenApiResponse(OpenApiTypes.OBJECT, description=_("No device token, or a wrong or revoked one.")),
            413: OpenApiResponse(OpenApiTypes.OBJECT, description=_("More than 5,000 readings in one batch.")),
        },
    )
    def post(self, request: Request) -> Response:
        declared = request.META.get("CONTENT_LENGTH")
        if declared and declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
            raise PayloadTooLarge(_body_too_large())
        items = request.data
        if not isinstance(items, list):
            raise exceptions.ParseError(_("The body must be a JSON array of readings."))
        if len(items) > MAX_BATCH_ITEMS:
            raise PayloadTooLarge(
                _("%(count)s readings in one batch; at most %(max)s are taken.")
                % {"count": len(items), "max": MAX_BATCH_ITEMS}
            )
        result = services.readings_ingest(device=request.auth, items=items)
        return Response(result.as_dict())


class FacilityFilter(filters.FilterSet):
    domain = filters.ChoiceFilter(choices=Domain.choices)
    kind = filters.ChoiceFilter(choices=FacilityKind.choices)
    district = IdFilter(field_name="district_id")
    street = IdFilter(field_name="street_id")
    owner_unit = IdFilter(field_name="owner_unit_id")
    code = filters.CharFilter()

    class Meta:
        model = Facility
        fields = ["domain", "kind", "district", "street", "owner_unit", "code"]


class FacilityViewSet(viewsets.ReadOnlyModelViewSet):
    """Lifeline facilities the user may see (owned by their units or lying in their divisions), as GeoJSON,
    with each sensor's latest value; `?domain=`, `?kind=`, `?district=`, `?in_bbox=minlon,minlat,maxlon,maxlat`."""

    queryset = Facility.objects.none()
    pagination_class = GeoJsonLimitOffsetPagination
    filter_backends = [filters.DjangoFilterBackend, InBBoxFilter]
    filterset_class = FacilityFilter
    bbox_filter_field = "location"

    def get_serializer_class(self) -> type[BaseSerializer]:
        return s.FacilityDetailSerializer if self.action == "retrieve" else s.FacilitySerializer

    def get_queryset(self) -> QuerySet[Facility]:
        return selectors.with_sensors(selectors.facilities_visible_to(self.request.user)).order_by("code")


class SensorReadingsView(APIView):
    """A sensor's readings over [from, to) for a chart: raw points when there are at most `max_points`,
    else at most `max_points` buckets (avg, min, max, count) aggregated in the database."""

    @extend_schema(
        operation_id="lifelines_sensor_readings",
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.DATETIME, description=_("Start (inclusive); default 24 h before to.")
            ),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description=_("End (exclusive); default now.")),
            OpenApiParameter("max_points", OpenApiTypes.INT, description=_("At most this many points (10-5000).")),
        ],
        responses={200: s.ReadingsSerializer, 404: OpenApiResponse(description=_("No such sensor in your scope."))},
    )
    def get(self, request: Request, pk: int) -> Response:
        sensor = selectors.get_sensor_for_user_or_404(request.user, pk)
        query = s.ReadingsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["from"], query.validated_data["to"]
        series = selectors.sensor_series(
            sensor=sensor, start=start, end=end, max_points=query.validated_data["max_points"]
        )
        # Points are written by hand, not by a serializer: a 5,000-point chart stays a few milliseconds.
        for point in series.points:
            point["ts"] = timezone.localtime(point["ts"]).isoformat()
        return Response(
            {
                "sensor": s.SensorDetailSerializer(sensor).data,
                "from": timezone.localtime(start).isoformat(),
                "to": timezone.localtime(end).isoformat(),
                "resolution": series.resolution,
                "bucket_s": series.bucket_s,
                "points": series.points,
            }
        )


# --- alarms


class AlarmFilter(filters.FilterSet):
    state = filters.ChoiceFilter(
        choices=[("open", _("Open (raised or acknowledged)")), *AlarmState.choices], method="filter_state"
    )
    domain = filters.ChoiceFilter(choices=Domain.choices, field_name="sensor__sensor_type__domain")
    level = filters.ChoiceFilter(
        choices=[(level.name.lower(), level.label) for level in AlarmLevel], method="filter_level"
    )
    kind = filters.ChoiceFilter(choices=AlarmKind.choices)
    facility = IdFilter(field_name="sensor__facility_id")
    sensor = IdFilter(field_name="sensor_id")

    class Meta:
        model = Alarm
        fields = ["state", "domain", "level", "kind", "facility", "sensor"]

    def filter_state(self, queryset: QuerySet[Alarm], name: str, value: str) -> QuerySet[Alarm]:
        return queryset.filter(state__in=OPEN_ALARM_STATES if value == "open" else [value])

    def filter_level(self, queryset: QuerySet[Alarm], name: str, value: str) -> QuerySet[Alarm]:
        return queryset.filter(level=AlarmLevel[value.upper()].value)


# A refusal about the alarm's state (already acknowledged, already closed) is a conflict, not bad input.
_ALARM_CONFLICT_CODES = {"not_raised", "not_open"}


def _alarm_service(call: Any) -> Alarm:
    try:
        return call()
    except DjangoValidationError as error:
        if getattr(error, "code", None) in _ALARM_CONFLICT_CODES:
            raise Conflict(error.messages[0]) from error
        if hasattr(error, "error_dict"):
            raise exceptions.ValidationError(
                {field: [str(m) for m in errors] for field, errors in error.message_dict.items()}
            ) from error
        raise exceptions.ValidationError({"non_field_errors": [str(m) for m in error.messages]}) from error


class AlarmViewSet(viewsets.ReadOnlyModelViewSet):
    """Alarms of the facilities the user may see, newest first: `?state=open|raised|acknowledged|resolved|cleared`,
    `?domain=`, `?level=blue|yellow|orange|red`, `?kind=`, `?facility=`, `?sensor=`. Acknowledge and resolve
    (with a note) by POST; an alarm outside the user's scope is 404."""

    queryset = Alarm.objects.none()
    serializer_class = sa.AlarmSerializer
    filterset_class = AlarmFilter

    def get_queryset(self) -> QuerySet[Alarm]:
        return selectors_alarms.alarms_visible_to(self.request.user).order_by("-raised_at", "-id")

    def _note(self, request: Request) -> str:
        data = sa.AlarmNoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data.get("note", "")

    @extend_schema(
        request=sa.AlarmNoteSerializer,
        responses={200: sa.AlarmSerializer, 404: OpenApiResponse(description=_("No such alarm in your scope."))},
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        alarm = selectors_alarms.get_alarm_for_user_or_404(request.user, pk)
        note = self._note(request)
        _alarm_service(lambda: alarms.alarm_acknowledge(alarm=alarm, actor=request.user, note=note))
        return Response(sa.AlarmSerializer(selectors_alarms.get_alarm_for_user_or_404(request.user, pk)).data)

    @extend_schema(
        request=sa.AlarmNoteSerializer,
        responses={200: sa.AlarmSerializer, 404: OpenApiResponse(description=_("No such alarm in your scope."))},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        alarm = selectors_alarms.get_alarm_for_user_or_404(request.user, pk)
        note = self._note(request)
        _alarm_service(lambda: alarms.alarm_resolve(alarm=alarm, actor=request.user, note=note))
        return Response(sa.AlarmSerializer(selectors_alarms.get_alarm_for_user_or_404(request.user, pk)).data)
