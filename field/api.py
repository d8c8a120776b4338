"""/api/v1/field/: the inspector's shift, positions and tasks (the phone web app at /m/ reads these), the
inspectors on duty for dispatchers, and anyone's own reports.

Refusals: 400 for bad input (the body names the fields; in a batch of positions, `positions` is a list of one
object per point, empty for the good ones), 403 for starting a shift without the inspector role, 404 for
citizens and devices on the staff endpoints, 409 for a position sent off duty or without consent. A refused
request changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib.gis.geos import Point
from django.core.files.storage import default_storage
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import clock
from cases.models import Case, Status
from cases.serializers import ErrorSerializer
from field import selectors, services
from field.models import InspectorShift
from geography.coords import SUPPORTED_SRS, WGS84, to_wgs84
from organisations.selectors import scope_for

DESCRIPTION_CHARS = 120


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("You are not on duty with your position shared.")
    default_code = "not_sharing_position"


def _staff_only(request: Request) -> None:
    # Citizens and devices have no shift, no tasks and no view of inspectors: to them these do not exist.
    if scope_for(request.user).is_empty:
        raise exceptions.NotFound(_("Nothing here for this account."))


class FieldPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


def _page_of(name: str, rows: serializers.Serializer) -> serializers.Serializer:
    """The schema of one page: {count, next, previous, results}."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": rows,
        },
    )


def _srs_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=SUPPORTED_SRS,
        default=WGS84,
        help_text=_("wgs84 (GPS, the default) or gcj02 (Chinese web maps); converted to WGS 84 here."),
    )


# --- shift


class ShiftSerializer(serializers.Serializer):
    on_duty = serializers.BooleanField()
    started_at = serializers.DateTimeField(allow_null=True)
    share_position = serializers.BooleanField()
    unit = serializers.IntegerField(allow_null=True, help_text=_("The unit the shift is on duty for."))
    unit_name = serializers.CharField(allow_null=True)
    position_at = serializers.DateTimeField(allow_null=True, help_text=_("The latest position's time."))


class ShiftInputSerializer(serializers.Serializer):
    on_duty = serializers.BooleanField()
    share_position = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_("Consent to share the position while on duty; left out: unchanged (off on a new shift)."),
    )


def shift_data(shift: InspectorShift | None) -> dict[str, Any]:
    if shift is None or shift.ended_at is not None:
        return {
            "on_duty": False,
            "started_at": None,
            "share_position": False,
            "unit": None,
            "unit_name": None,
            "position_at": None,
        }
    return {
        "on_duty": True,
        "started_at": shift.started_at,
        "share_position": shift.shares_position,
        "unit": shift.unit_id,
        "unit_name": shift.unit.name,
        "position_at": shift.position_at,
    }


class ShiftView(APIView):
    """The caller's shift: GET whether they are on duty; POST `{"on_duty": true, "share_position": true}` to go on
    duty (again: only the consent changes), `{"on_duty": false}` to go off duty (again: no error)."""

    @extend_schema(operation_id="field_shift", responses={200: ShiftSerializer, 404: ErrorSerializer})
    def get(self, request: Request) -> Response:
        _staff_only(request)
        return Response(shift_data(selectors.shift_open_for(request.user)))

    @extend_schema(
        operation_id="field_shift_set",
        request=ShiftInputSerializer,
        responses={
            200: ShiftSerializer,
            400: OpenApiResponse(description=_("Bad input; the body names the fields.")),
            403: OpenApiResponse(ErrorSerializer, description=_("Only inspectors go on duty.")),
        },
    )
    def post(self, request: Request) -> Response:
        body = ShiftInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        if d["on_duty"]:
            shift = services.shift_start(user=request.user, share_position=d["share_position"])
        else:
            services.shift_end(user=request.user)
            shift = None
        return Response(shift_data(selectors.shift_open_for(request.user) if shift else None))


# --- positions


class PositionInputSerializer(serializers.Serializer):
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    accuracy_m = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0, max_value=100_000, help_text=_("In metres.")
    )
    at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_("When the phone took it (ISO 8601); at most 5 minutes ahead, at most 24 hours old."),
    )
    srs = _srs_field()


class PositionBatchInputSerializer(serializers.Serializer):
    positions = PositionInputSerializer(
        many=True,
        allow_empty=False,
        max_length=services.POSITIONS_PER_BATCH_MAX,
        help_text=_("Positions queued on the phone, in any order; one sent twice is stored once."),
    )


def _fix(d: dict[str, Any]) -> services.Fix:
    lon, lat = to_wgs84(d["lon"], d["lat"], d["srs"])
    return services.Fix(lon=lon, lat=lat, accuracy_m=d["accuracy_m"], at=d["at"])


class PositionView(APIView):
    """The caller's position while on duty with consent: one `{lon, lat, accuracy_m, at, srs}`, or a batch
    `{"positions": [...]}` the phone queued offline. 204 when stored."""

    @extend_schema(
        operation_id="field_position",
        request=PositionInputSerializer,
        responses={
            204: None,
            400: OpenApiResponse(
                description=_("Bad input, a bad time, or outside the city; the body names the fields.")
            ),
            404: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description=_("Not on duty, or not sharing the position.")),
        },
    )
    def post(self, request: Request) -> Response:
        _staff_only(request)
        batch = isinstance(request.data, dict) and "positions" in request.data
        if batch:
            body = PositionBatchInputSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            fixes = [_fix(d) for d in body.validated_data["positions"]]
        else:
            body = PositionInputSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            fixes = [_fix(body.validated_data)]
        try:
            services.positions_record(user=request.user, fixes=fixes)
        except services.NotSharingPosition as refused:
            raise Conflict(refused.message) from refused
        except services.PositionsRefused as refused:
            if batch:
                raise exceptions.ValidationError(
                    {"positions": [refused.errors.get(i, {}) for i in range(len(fixes))]}
                ) from refused
            raise exceptions.ValidationError(refused.errors[0]) from refused
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- where the inspectors are


class InspectorOnDutySerializer(serializers.Serializer):
    user = serializers.IntegerField()
    name = serializers.CharField()
    unit = serializers.IntegerField()
    unit_name = serializers.CharField()
    started_at = serializers.DateTimeField()
    share_position = serializers.BooleanField()
    lon = serializers.FloatField(allow_null=True)
    lat = serializers.FloatField(allow_null=True)
    accuracy_m = serializers.FloatField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True, help_text=_("The latest position's time."))
    stale = serializers.BooleanField(help_text=_("No position for more than 3 minutes."))


class InspectorsView(APIView):
    """The inspectors on duty in the caller's area (their unit in the caller's scope), with their latest shared
    position; `stale` when it is older than 3 minutes (or there is none). Staff only."""

    @extend_schema(
        operation_id="field_inspectors",
        responses={
            200: inline_serializer(
                "FieldInspectors",
                {"as_of": serializers.DateTimeField(), "results": InspectorOnDutySerializer(many=True)},
            ),
            404: ErrorSerializer,
        },
    )
    def get(self, request: Request) -> Response:
        _staff_only(request)
        now = clock.now()
        rows = []
        for shift in selectors.inspectors_on_duty_for(request.user):
            position = shift.position if shift.shares_position else None
            rows.append(
                {
                    "user": shift.user_id,
                    "name": shift.user.full_name or shift.user.username,
                    "unit": shift.unit_id,
                    "unit_name": shift.unit.name,
                    "started_at": shift.started_at,
                    "share_position": shift.shares_position,
                    "lon": round(position.x, 7) if position is not None else None,
                    "lat": round(position.y, 7) if position is not None else None,
                    "accuracy_m": shift.position_accuracy_m if position is not None else None,
                    "at": shift.position_at if position is not None else None,
                    "stale": position is None or selectors.is_stale(shift, now),
                }
            )
        return Response({"as_of": now, "results": rows})


# --- my tasks and my reports


class TaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    task = serializers.ChoiceField(choices=["verify", "check"], help_text=_("verify (核实) or check (核查)."))
    status = serializers.ChoiceField(choices=Status.choices)
    status_display = serializers.CharField()
    kind = serializers.CharField(help_text=_("The class's kind: codes repeat across kinds."))
    minor_class = serializers.CharField(help_text=_("4-digit class code."))
    class_name = serializers.CharField()
    description = serializers.CharField(help_text=_("The first 120 characters."))
    address = serializers.CharField()
    lon = serializers.FloatField()
    lat = serializers.FloatField()
    distance_m = serializers.FloatField(allow_null=True, help_text=_("From the given position; null without one."))
    deadline = serializers.DateTimeField(allow_null=True, help_text=_("When the current stage is due."))
    overdue = serializers.BooleanField()
    assigned_to_me = serializers.BooleanField(help_text=_("Offered to the caller first (the nearest on duty)."))
    photos = serializers.ListField(
        child=serializers.CharField(), help_text=_("The first evidence photo's URL (empty without photos).")
    )


class TaskQuerySerializer(serializers.Serializer):
    lon = serializers.FloatField(required=False, min_value=-180, max_value=180)
    lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
    srs = _srs_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("lon" in attrs) != ("lat" in attrs):
            missing = "lat" if "lon" in attrs else "lon"
            raise serializers.ValidationError({missing: [_("Give both lon and lat, or neither.")]})
        return attrs


def _status_display(status_value: str) -> str:
    return str(Status(status_value).label) if status_value in Status.values else status_value


def _photo_url(request: Request, name: str | None) -> list[str]:
    return [request.build_absolute_uri(default_storage.url(name))] if name else []


def task_data(case: Case, request: Request, now: Any) -> dict[str, Any]:
    distance = getattr(case, "distance", None)
    deadline = case.stage_due_at
    return {
        "id": case.pk,
        "number": case.number,
        "task": case.task,
        "status": case.status,
        "status_display": _status_display(case.status),
        "kind": case.minor_class.major.kind,
        "minor_class": case.minor_class.full_code,
        "class_name": case.minor_class.name,
        "description": case.description[:DESCRIPTION_CHARS],
        "address": case.address,
        "lon": round(case.location.x, 7),
        "lat": round(case.location.y, 7),
        "distance_m": round(distance.m, 1) if distance is not None else None,
        "deadline": deadline,
        "overdue": bool(case.is_overdue or (deadline is not None and deadline < now)),
        "assigned_to_me": case.assigned_to_me,
        "photos": _photo_url(request, case.first_photo),
    }


class TasksView(APIView):
    """The caller's open inspector tasks in their grid: reports to verify (核实) and handled cases to check (核查);
    those offered to the caller first, then the nearest to `?lon=&lat=` (else the earliest deadline first).
    Paginated (`limit`, default 50, and `offset`). Staff only; empty for staff without the inspector role."""

    pagination_class = FieldPagination

    @extend_schema(
        operation_id="field_tasks",
        parameters=[
            OpenApiParameter("lon", float, description=_("The caller's position (with lat): nearest first.")),
            OpenApiParameter("lat", float),
            OpenApiParameter("srs", str, enum=list(SUPPORTED_SRS)),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={
            200: _page_of("FieldTaskPage", TaskSerializer(many=True)),
            400: OpenApiResponse(description=_("Bad input; the body names the fields.")),
            404: ErrorSerializer,
        },
    )
    def get(self, request: Request) -> Response:
        _staff_only(request)
        query = TaskQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        point = None
        if "lon" in q:
            point = Point(*to_wgs84(q["lon"], q["lat"], q["srs"]), srid=4326)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.tasks_for(request.user, point=point), request, view=self)
        now = clock.now()
        return paginator.get_paginated_response([task_data(case, request, now) for case in page])


class ReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    status_display = serializers.CharField()
    kind = serializers.CharField()
    minor_class = serializers.CharField()
    class_name = serializers.CharField()
    description = serializers.CharField(help_text=_("The first 120 characters."))
    address = serializers.CharField()
    lon = serializers.FloatField()
    lat = serializers.FloatField()
    reported_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


def report_data(case: Case) -> dict[str, Any]:
    return {
        "id": case.pk,
        "number": case.number,
        "status": case.status,
        "status_display": _status_display(case.status),
        "kind": case.minor_class.major.kind,
        "minor_class": case.minor_class.full_code,
        "class_name": case.minor_class.name,
        "description": case.description[:DESCRIPTION_CHARS],
        "address": case.address,
        "lon": round(case.location.x, 7),
        "lat": round(case.location.y, 7),
        "reported_at": case.reported_at,
        "closed_at": case.closed_at,
    }


class MyReportsView(APIView):
    """The caller's own reports, newest first, with their state. Paginated (`limit`, default 50, and `offset`)."""

    pagination_class = FieldPagination

    @extend_schema(
        operation_id="field_my_reports",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: _page_of("FieldReportPage", ReportSerializer(many=True))},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.reports_of(request.user), request, view=self)
        return paginator.get_paginated_response([report_data(case) for case in page])
