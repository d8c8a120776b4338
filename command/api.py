"""/api/v1/command/: what the command centre screen reads besides the case API (the queues' counts)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.alerts import Mode, OperatingMode
from cases.modes import (
    REASON_MAX_LENGTH,
    ModeAlreadyInForce,
    ModeDefinition,
    definition_of,
    may_switch_mode,
    mode_history,
    operating_mode_switch,
)
from cases.serializers import ErrorSerializer
from command.kpi import kpi_today
from command.selectors import QUEUES, queue_counts
from organisations.selectors import districts_visible_to, scope_for


def district_param(request: Request) -> int | None:
    """`?district=<id>`: None when absent; 400 when not an id; 404 when outside the caller's districts."""
    raw = request.query_params.get("district", "")
    if raw == "":
        return None
    if not raw.isdigit():
        raise ValidationError({"district": [_("A district is given by its numeric id.")]})
    district_id = int(raw)
    if not districts_visible_to(request.user).filter(pk=district_id).exists():
        raise NotFound(_("No such district in your area."))
    return district_id


class QueuesView(APIView):
    """The work queues of the command centre with their counts for the caller (optionally one district), and
    the list endpoint that shows each queue's cases."""

    @extend_schema(
        operation_id="command_queues",
        parameters=[OpenApiParameter("district", int, description=_("A district id within your area."))],
        responses=inline_serializer(
            "CommandQueues",
            {
                "queues": inline_serializer(
                    "CommandQueue",
                    {
                        "name": serializers.CharField(),
                        "label": serializers.CharField(),
                        "hint": serializers.CharField(),
                        "count": serializers.IntegerField(),
                        "api": serializers.CharField(),
                    },
                    many=True,
                )
            },
        ),
    )
    def get(self, request: Request) -> Response:
        district_id = district_param(request)
        counts = queue_counts(request.user, district_id=district_id)
        suffix = f"&district={district_id}" if district_id is not None else ""
        return Response(
            {
                "queues": [
                    {
                        "name": queue.name,
                        "label": str(queue.label),
                        "hint": str(queue.hint),
                        "count": counts[queue.name],
                        "api": queue.api + suffix,
                    }
                    for queue in QUEUES
                ]
            }
        )


# --- the operating mode: /api/v1/operating-mode/


class ModeConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The platform is already in this mode.")
    default_code = "mode_in_force"


class ModeDefinitionSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.choices)
    label = serializers.CharField()
    time_limit_percent = serializers.IntegerField(help_text=_("Share of the standard limit new stages get."))
    marks_new_cases_key = serializers.BooleanField()
    banner_colour = serializers.CharField()
    description = serializers.CharField()


class ModeChangeSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.choices)
    label = serializers.CharField()
    note = serializers.CharField(help_text=_("Why the mode was switched."))
    set_by = serializers.CharField()
    at = serializers.DateTimeField()


class OperatingModeSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.choices)
    label = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)
    set_by = serializers.CharField()
    note = serializers.CharField()
    definition = ModeDefinitionSerializer()
    can_switch = serializers.BooleanField(help_text=_("Whether the caller may switch the mode."))
    modes = ModeDefinitionSerializer(many=True)
    history = ModeChangeSerializer(many=True)


class ModeSwitchSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.choices)
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH)


HISTORY_DEFAULT, HISTORY_MAX = 20, 100


def definition_data(definition: ModeDefinition) -> dict[str, Any]:
    return {
        "mode": definition.mode,
        "label": definition.label,
        "time_limit_percent": definition.time_limit_percent,
        "marks_new_cases_key": definition.marks_new_cases_key,
        "banner_colour": definition.banner_colour,
        "description": definition.description,
    }


def change_data(row: OperatingMode) -> dict[str, Any]:
    set_by = row.set_by
    return {
        "mode": row.mode,
        "label": str(Mode(row.mode).label),
        "note": row.note,
        "set_by": (set_by.full_name or set_by.username) if set_by is not None else "",
        "at": row.set_at,
    }


def operating_mode_data(user: Any, *, history: int = HISTORY_DEFAULT) -> dict[str, Any]:
    """The mode in force as the database has it now (not the cache), what it does, and the last switches."""
    changes = mode_history(max(history, 1))
    latest = changes[0] if changes else None
    mode = latest.mode if latest is not None else Mode.NORMAL
    return {
        "mode": mode,
        "label": str(Mode(mode).label),
        "since": latest.set_at if latest is not None else None,
        "set_by": change_data(latest)["set_by"] if latest is not None else "",
        "note": latest.note if latest is not None else "",
        "definition": definition_data(definition_of(mode)),
        "can_switch": may_switch_mode(user),
        "modes": [definition_data(definition_of(value)) for value in Mode.values],
        "history": [change_data(row) for row in changes[:history]],
    }


def _history_param(request: Request) -> int:
    raw = request.query_params.get("history", "")
    if raw == "":
        return HISTORY_DEFAULT
    if not raw.isdigit() or not 0 <= int(raw) <= HISTORY_MAX:
        raise ValidationError({"history": [_("Ask for 0 to %(max)d past switches.") % {"max": HISTORY_MAX}]})
    return int(raw)


def _staff_only(request: Request) -> None:
    # Citizens and devices have no command centre: to them the mode's record does not exist.
    if scope_for(request.user).is_empty:
        raise NotFound(_("No operating mode for this account."))


class OperatingModeView(APIView):
    """The platform's operating mode (平时 / 战时 / 重大活动保障): GET what is in force, what it does and the last
    switches (`?history=<n>`, 0-100, default 20); POST `{mode, reason}` to switch (a leader of the city command
    centre, or a superuser). Every staff screen is told through the live feed (`platform` group, kind "mode")."""

    @extend_schema(
        operation_id="operating_mode",
        parameters=[OpenApiParameter("history", int, description=_("How many past switches to list (0-100)."))],
        responses={200: OperatingModeSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        _staff_only(request)
        return Response(operating_mode_data(request.user, history=_history_param(request)))

    @extend_schema(
        operation_id="operating_mode_switch",
        request=ModeSwitchSerializer,
        responses={
            201: OperatingModeSerializer,
            400: OpenApiResponse(ErrorSerializer, description=_("No reason given, or an unknown mode.")),
            403: OpenApiResponse(ErrorSerializer, description=_("Only a leader of the city command centre.")),
            404: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description=_("That mode is already in force.")),
        },
    )
    def post(self, request: Request) -> Response:
        _staff_only(request)
        if not may_switch_mode(request.user):  # refused before the input is even looked at
            raise PermissionDenied(_("Only a leader of the city command centre may switch the operating mode."))
        given = ModeSwitchSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            operating_mode_switch(
                mode=given.validated_data["mode"], actor=request.user, reason=given.validated_data["reason"]
            )
        except ModeAlreadyInForce as conflict:
            raise ModeConflict(conflict.message) from conflict
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages) from error
        return Response(operating_mode_data(request.user), status=status.HTTP_201_CREATED)


# --- today's figures: /api/v1/command/kpi/


class KpiSerializer(serializers.Serializer):
    date = serializers.DateField(help_text=_("Today in Qingdao (Asia/Shanghai)."))
    district = serializers.IntegerField(allow_null=True)
    reported = serializers.IntegerField(help_text=_("Cases reported today."))
    registered = serializers.IntegerField(help_text=_("Cases registered today."))
    dispatched = serializers.IntegerField(help_text=_("Cases dispatched or re-dispatched today (each once)."))
    handled = serializers.IntegerField(help_text=_("Cases handled today (feedback given, or self-handled)."))
    closed = serializers.IntegerField(help_text=_("Cases closed today, self-handled ones included."))
    self_handled = serializers.IntegerField(help_text=_("Cases self-handled by inspectors today."))
    on_time_rate = serializers.FloatField(
        allow_null=True,
        help_text=_("Of the timed stages completed today, the share completed by the deadline (0-1; null: none)."),
    )
    stages_completed = serializers.IntegerField()
    stages_on_time = serializers.IntegerField()
    overdue_now = serializers.IntegerField(help_text=_("Open cases past their current stage's deadline now."))
    as_of = serializers.DateTimeField()


class KpiView(APIView):
    """Today's figures for the command centre's KPI strip over the caller's cases, optionally one district's."""

    @extend_schema(
        operation_id="command_kpi",
        parameters=[OpenApiParameter("district", int, description=_("A district id within your area."))],
        responses={200: KpiSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        district_id = district_param(request)
        return Response(kpi_today(request.user, district_id=district_id).as_dict())
