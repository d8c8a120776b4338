"""/api/v1/cases/: scoped list (JSON and GeoJSON; `?list=` for the overdue, key and difficult lists), detail with
timeline, photos and supervision records, intake, self-handling, and one POST per workflow action;
/api/v1/supervisions/: supervision and urging records addressed to the caller's units, with their replies;
/api/v1/routing-rules/ read-only.

The POSTs that make or change a case (report, self-handle and every workflow action) take an optional
`Idempotency-Key` header (cases.idempotency): a client's retry with the same key replays the first answer.
`nearby/` lists the open cases near a point (what a reporter may be about to report again).

Refusals, the same for every action, and nothing is changed by any of them: 400 for bad input (field
messages, a rejected photo included), 403 for a role the caller lacks for this case, 404 for a case
outside the caller's scope, 409 for an action the case's status does not allow.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework_gis.filters import InBBoxFilter

from cases import lists, selectors, services
from cases import serializers as s
from cases.actions import ACTIONS, rejected_photo_field
from cases.filters import CaseFilter, SupervisionFilter
from cases.idempotency import IDEMPOTENCY_PARAMETER, KEY_REUSED_RESPONSE, idempotent
from cases.models import Case, CaseEvent, CasePhoto, RoutingRule, Status, Supervision
from cases.services.intake import DIVISION_NAMES_ATTR
from catalogue.models import ClassKind
from catalogue.selectors import minor_class_by_full_code_cached
from geography.api import GeoJsonLimitOffsetPagination
from geography.coords import GCJ02, SUPPORTED_SRS, WGS84, gcj02_to_wgs84
from geography.models import District, GridCell, Street
from geography.selectors import locate
from organisations.selectors import scope_for
from photos.services import PhotoRejected


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The case's status does not allow this action.")
    default_code = "invalid_status"


REFUSALS = {
    400: OpenApiResponse(description=_("Bad input; the body names the fields.")),
    403: OpenApiResponse(s.ErrorSerializer, description=_("The caller holds no role that may do this here.")),
    404: OpenApiResponse(s.ErrorSerializer, description=_("No such case in the caller's scope.")),
    409: OpenApiResponse(s.ErrorSerializer, description=_("The case's status does not allow this action.")),
    422: KEY_REUSED_RESPONSE,
}


def _messages(error: DjangoValidationError) -> Any:
    if hasattr(error, "error_dict"):
        return {field: [str(m) for m in errors] for field, errors in error.message_dict.items()}
    return {"non_field_errors": [str(m) for m in error.messages]}


def _rejected_field(data: dict[str, Any], photo_fields: tuple[str, ...]) -> str:
    return rejected_photo_field(data, photo_fields) or "non_field_errors"


# A service's refusals that are about the record's state, not the input: 409.
_CONFLICT_CODES = {"invalid_status", "already_replied"}


@contextmanager
def service_errors(data: dict[str, Any], photo_fields: tuple[str, ...] = ()) -> Iterator[None]:
    """Turn a service's refusal into the API's: 400 with field messages, or 409 for a status conflict.
    (Http404 and PermissionDenied pass through: DRF answers them with 404 and 403.)"""
    try:
        yield
    except PhotoRejected as error:
        raise exceptions.ValidationError(
            {_rejected_field(data, photo_fields): [str(m) for m in error.messages]}
        ) from error
    except DjangoValidationError as error:
        if getattr(error, "code", None) in _CONFLICT_CODES:
            raise Conflict(error.messages[0]) from error
        raise exceptions.ValidationError(_messages(error)) from error


def _listed(queryset: QuerySet[Case]) -> QuerySet[Case]:
    """What a list row shows: the joined names, without the joined rows' polygons (a district's runs to
    hundreds of kilobytes, fetched and parsed once per case otherwise)."""
    return queryset.select_related("minor_class__major", "district", "street", "grid_cell", "lead_unit").defer(
        "district__geom", "district__center", "street__geom", "grid_cell__geom", "lead_unit__area"
    )


_DIVISION_NAMES_SQL = """
SELECT (SELECT name FROM geography_district WHERE id = %s), (SELECT name FROM geography_street WHERE id = %s),
       (SELECT code FROM geography_gridcell WHERE id = %s)
"""


def _with_division_names(case: Case) -> Case:
    """The case with its district, street and grid cell attached by name and code only (one small query; the
    related rows themselves carry polygons the list row does not show)."""
    names = getattr(case, DIVISION_NAMES_ATTR, None)  # intake read them already
    if names is not None:
        district_name, street_name, grid_cell_code = names.district, names.street, names.grid_cell_code
    else:
        with connection.cursor() as cursor:
            cursor.execute(_DIVISION_NAMES_SQL, [case.district_id, case.street_id, case.grid_cell_id])
            district_name, street_name, grid_cell_code = cursor.fetchone()
    case.district = District(pk=case.district_id, name=district_name)
    case.street = Street(pk=case.street_id, name=street_name) if case.street_id else None
    case.grid_cell = GridCell(pk=case.grid_cell_id, code=grid_cell_code) if case.grid_cell_id else None
    return case


# On a case's detail (the prefetch attaches the case itself to each record).
_SUPERVISIONS = Supervision.objects.select_related("by", "from_unit", "to_unit", "replied_by").order_by(
    "-created_at", "-id"
)


def _one_case(case: Case) -> Case:
    """The case with everything its detail shows, read again after a change (whatever the caller's scope now)."""
    return (
        _listed(Case.objects.filter(pk=case.pk))
        .select_related("routing_rule__lead_unit")
        .prefetch_related(
            "supporting_units",
            Prefetch("events", queryset=CaseEvent.objects.select_related("actor", "unit").order_by("seq")),
            Prefetch("photos", queryset=CasePhoto.objects.select_related("event")),
            Prefetch("supervisions", queryset=_SUPERVISIONS),
        )
        .get()
    )


# Resolves what the table's parsed input holds as an instance but the API takes as an id or a code.
Prepare = Callable[[Case, Any, dict[str, Any]], dict[str, Any]]


def _transition(name: str, serializer: type[Serializer], summary: str, *, prepare: Prepare | None = None) -> Any:
    """A POST action on one case: parse, fetch within scope (else 404), call the service through the shared
    action table (cases.actions), answer with the case."""
    case_action = ACTIONS[name]

    @idempotent
    def handler(self: CaseViewSet, request: Request, pk: str | None = None) -> Response:
        case = selectors.case_get_for_user_or_404(request.user, pk)
        body = serializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with service_errors(data, case_action.photo_fields):
            case_action.run(case=case, actor=request.user, data=prepare(case, request.user, data) if prepare else data)
        return Response(s.CaseDetailSerializer(_one_case(case), context={"request": request}).data)

    # The class attribute's name: `return` is a keyword and `dispatch` is APIView's entry point.
    handler.__name__ = f"{name}_" if keyword.iskeyword(name) or hasattr(viewsets.GenericViewSet, name) else name
    handler.__doc__ = summary
    slug = name.replace("_", "-")
    # The schema after the action: @action replaces the `kwargs` where @extend_schema keeps its annotation.
    return extend_schema(
        operation_id=f"cases_{name}",
        summary=summary,
        request=serializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: s.CaseDetailSerializer, **REFUSALS},
    )(action(detail=True, methods=["post"], url_path=slug, url_name=slug)(handler))


def _reported_point(d: dict[str, Any]) -> Point:
    """The report's position in WGS 84 (`srs=gcj02` converts from Chinese web-map coordinates first)."""
    lon, lat = d["lon"], d["lat"]
    if d["srs"] == GCJ02:
        lon, lat = gcj02_to_wgs84(lon, lat)
    return Point(lon, lat, srid=4326)


def _class_or_400(code: str, kind: str, field: str = "minor_class") -> Any:
    found = minor_class_by_full_code_cached(code, kind=kind)
    if found is None:
        raise exceptions.ValidationError({field: [_("No class of this kind has this code.")]})
    return found


def _register_input(case: Case, user: Any, d: dict[str, Any]) -> dict[str, Any]:
    code = d.get("minor_class")
    return {**d, "minor_class": _class_or_400(code, case.kind) if code else None}


def _merge_input(case: Case, user: Any, d: dict[str, Any]) -> dict[str, Any]:
    master = selectors.cases_visible_to(user).filter(pk=d["master"]).first()
    if master is None:
        raise exceptions.ValidationError({"master": [_("No such case in your scope.")]})
    return {**d, "master": master}


class NearbyQuerySerializer(serializers.Serializer):
    """Where a reporter stands and what they are about to report."""

    minor_class = serializers.RegexField(
        r"^[0-9]{4}$",
        required=False,
        max_length=4,
        help_text=_("4-digit class code, major + minor, e.g. 0101 (with kind); omitted: open cases of any class."),
    )
    kind = serializers.ChoiceField(
        choices=ClassKind.choices, required=False, help_text=_("The class's kind: codes repeat across kinds.")
    )
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    srs = serializers.ChoiceField(
        choices=SUPPORTED_SRS,
        default=WGS84,
        help_text=_("wgs84 (GPS, the default) or gcj02 (Chinese web maps); converted to WGS 84 here."),
    )
    radius = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=selectors.NEARBY_MAX_RADIUS_M,
        help_text=_("Metres; replaces the class's duplicate radius."),
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("minor_class") and not attrs.get("kind"):
            raise exceptions.ValidationError({"kind": [_("Give the kind with the class: codes repeat across kinds.")]})
        return attrs


class NearbyCaseSerializer(serializers.Serializer):
    """An open case near the point (coordinates in WGS 84)."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.SerializerMethodField()
    minor_class = serializers.CharField(source="minor_class.full_code")
    class_name = serializers.CharField(source="minor_class.name")
    description = serializers.SerializerMethodField()
    reported_at = serializers.DateTimeField()
    distance_m = serializers.SerializerMethodField()
    lon = serializers.FloatField(source="location.x")
    lat = serializers.FloatField(source="location.y")

    def get_status_display(self, case: Case) -> str:
        return str(Status(case.status).label)

    def get_description(self, case: Case) -> str:
        return Truncator(case.description).chars(80)

    def get_distance_m(self, case: Case) -> int:
        return round(case.distance_m)


class CaseViewSet(viewsets.ReadOnlyModelViewSet):
    """Cases the caller may see: those located in the divisions their units cover, and those their units
    lead or support. Citizens and devices see none here (they may still report)."""

    queryset = Case.objects.none()
    serializer_class = s.CaseSerializer
    filterset_class = CaseFilter
    bbox_filter_field = "location"  # for the GeoJSON list's ?in_bbox=
    bbox_filter_include_overlapping = True

    def get_queryset(self) -> QuerySet[Case]:
        cases = _listed(selectors.cases_visible_to(self.request.user))
        if self.action == "retrieve":
            cases = cases.select_related("routing_rule__lead_unit").prefetch_related(
                "supporting_units",
                Prefetch("events", queryset=CaseEvent.objects.select_related("actor", "unit").order_by("seq")),
                Prefetch("photos", queryset=CasePhoto.objects.select_related("event")),
                Prefetch("supervisions", queryset=_SUPERVISIONS),
            )
        return cases.order_by("-reported_at", "-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The case list (filters, ordering, limit/offset pages); `?list=overdue|key|difficult` for the three lists."""
        if self.action != "list":  # the GeoJSON twin keeps its own serializer
            return super().list(request, *args, **kwargs)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        # Rows through the thread's bound CaseSerializer: the dispatcher's queue is read on every live update.
        return self.get_paginated_response([s.case_row(case) for case in page])

    def get_serializer_class(self) -> type[Serializer]:
        if self.action == "retrieve":
            return s.CaseDetailSerializer
        if self.action == "geojson":
            return s.CaseFeatureSerializer
        return s.CaseSerializer

    @extend_schema(
        operation_id="cases_report",
        request=s.CaseReportInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: s.CaseSerializer, 400: REFUSALS[400], 403: REFUSALS[403], 422: REFUSALS[422]},
    )
    @idempotent
    def create(self, request: Request) -> Response:
        """Report a case (any source the caller may report from; devices: video_ai and sensor_alarm).

        `srs=gcj02` converts the position from Chinese web-map coordinates to WGS 84 before anything else.
        """
        d = s.report_input_validated(request.data)
        minor_class = _class_or_400(d["minor_class"], d["kind"])
        with service_errors(d, ("photos",)):
            case = services.case_report(
                source=d["source"],
                minor_class=minor_class,
                location=_reported_point(d),
                description=d["description"],
                reporter=request.user,
                photos=d["photos"],
                component_code=d["component_code"] or None,
                urgency=d["urgency"],
                address=d["address"],
                reporter_name=d["reporter_name"],
                reporter_phone=d["reporter_phone"],
                camera_id=d["camera_id"],
                confidence=d["confidence"],
                alarm_ref=d["alarm_ref"],
            )
        # The new case as a list row (not the detail: its timeline is the one report event), from the object
        # the service returned: reading it back through the ORM cost a third of the request.
        return Response(s.case_row(_with_division_names(case)), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="cases_self_handle",
        request={"multipart/form-data": s.SelfHandleInputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: s.CaseDetailSerializer, 400: REFUSALS[400], 403: REFUSALS[403], 422: REFUSALS[422]},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="self-handle",
        url_name="self-handle",
        parser_classes=[MultiPartParser, FormParser],
    )
    @idempotent
    def self_handle(self, request: Request) -> Response:
        """Self-handle (自行处置): an inspector fixed a minor problem in their grid on the spot; the case is
        reported and closed at once, with before and after photos. Only for classes that allow it."""
        body = s.SelfHandleInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        minor_class = _class_or_400(d["minor_class"], d["kind"])
        with service_errors(d, ("before_photos", "after_photos")):
            case = services.case_self_handle(
                inspector=request.user,
                minor_class=minor_class,
                location=_reported_point(d),
                description=d["description"],
                before_photos=d["before_photos"],
                after_photos=d["after_photos"],
                urgency=d["urgency"],
                address=d["address"],
                component_code=d["component_code"] or None,
            )
        data = s.CaseDetailSerializer(_one_case(case), context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="cases_nearby",
        parameters=[NearbyQuerySerializer],
        responses={200: NearbyCaseSerializer(many=True), 400: REFUSALS[400]},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def nearby(self, request: Request) -> Response:
        """The open cases nearest to a point (at most 5, nearest first) within the class's duplicate radius (50 m
        for a class that sets none; `radius` replaces it, up to 500 m): what a reporter checks before reporting
        a problem again. Of any class when `minor_class` is omitted. In the caller's scope like every case read."""
        query = NearbyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        d = query.validated_data
        minor_class = _class_or_400(d["minor_class"], d["kind"]) if d.get("minor_class") else None
        point = _reported_point(d)
        if not locate(point).in_city:
            raise exceptions.ValidationError({"location": [_("The location lies outside the city.")]})
        cases = selectors.open_cases_near(
            request.user, point=point, minor_class=minor_class, kind=d.get("kind"), radius_m=d.get("radius")
        )
        return Response(NearbyCaseSerializer(cases, many=True).data)

    @extend_schema(operation_id="cases_geojson_list", filters=True)
    @action(
        detail=False,
        methods=["get"],
        pagination_class=GeoJsonLimitOffsetPagination,
        filter_backends=[*viewsets.ReadOnlyModelViewSet.filter_backends, InBBoxFilter],
    )
    def geojson(self, request: Request) -> Response:
        """The same list as a GeoJSON FeatureCollection (WGS 84 points), with `?in_bbox=` too."""
        return self.list(request)

    verify = _transition("verify", s.VerifyInputSerializer, "Verify on site (核实): the grid's inspector.")
    register = _transition(
        "register", s.RegisterInputSerializer, "Register (立案): an intake clerk.", prepare=_register_input
    )
    reject = _transition(
        "reject", s.ReasonInputSerializer, "Do not register (不予立案), with the reason: an intake clerk."
    )
    merge = _transition(
        "merge",
        s.MergeInputSerializer,
        "Merge as a duplicate of `master`: an intake clerk.",
        prepare=_merge_input,
    )
    dispatch_ = _transition(
        "dispatch",
        s.DispatchInputSerializer,
        "Dispatch or re-dispatch (派遣); without lead_unit the routing table decides: a dispatcher.",
    )
    accept = _transition("accept", s.EmptyInputSerializer, "Accept (接收): a handler of the lead unit.")
    return_ = _transition(
        "return", s.ReasonInputSerializer, "Return (退回, not ours), with the reason: a handler of the lead unit."
    )
    request_extension = _transition(
        "request_extension",
        s.RequestExtensionInputSerializer,
        "Request an extension (延期): a handler of the lead unit.",
    )
    decide_extension = _transition(
        "decide_extension",
        s.DecideExtensionInputSerializer,
        "Approve or refuse a pending extension: a dispatcher or intake clerk.",
    )
    hold = _transition("hold", s.ReasonInputSerializer, "Put on hold (挂账): a dispatcher, clerk or leader.")
    resume = _transition("resume", s.OptionalReasonInputSerializer, "Take off hold: a dispatcher, clerk or leader.")
    feedback = _transition(
        "feedback",
        s.FeedbackInputSerializer,
        "Report the work done (处置反馈) with after-photos: a handler of the lead unit.",
    )
    check = _transition(
        "check",
        s.CheckInputSerializer,
        "Check on site (核查): passed closes, failed sends back as rework: the grid's inspector.",
    )
    close = _transition("close", s.CloseInputSerializer, "Close (结案): a passed check by the grid's inspector.")
    cancel = _transition("cancel", s.ReasonInputSerializer, "Cancel (作废), with the reason: an intake clerk.")
    reopen = _transition("reopen", s.ReasonInputSerializer, "Reopen a closed case, with the reason: a leader.")
    flag_key = _transition("flag_key", s.FlagKeyInputSerializer, "Put on (or take off) the key list (重点): a leader.")
    supervise = _transition(
        "supervise",
        s.SuperviseInputSerializer,
        "Supervise (督办), addressed to a unit (default the lead unit): a leader.",
    )
    urge = _transition(
        "urge",
        s.SuperviseInputSerializer,
        "Urge (催办), addressed to a unit (default the lead unit): a leader, dispatcher or clerk.",
    )


SUPERVISION_REFUSALS = {
    400: REFUSALS[400],
    403: OpenApiResponse(s.ErrorSerializer, description=_("Only a handler of the addressed unit replies.")),
    404: OpenApiResponse(s.ErrorSerializer, description=_("No such record in the caller's scope.")),
    409: OpenApiResponse(s.ErrorSerializer, description=_("This has been replied to already.")),
}


class SupervisionViewSet(viewsets.ReadOnlyModelViewSet):
    """Supervision (督办) and urging (催办) records. The list holds those addressed to the caller's units (what
    a handling unit has to answer; the whole city for a city-wide role); one record can be read, and replied
    to, by anyone who may see it or its case. The records of one case are also on the case's detail."""

    queryset = Supervision.objects.none()
    serializer_class = s.SupervisionSerializer
    filterset_class = SupervisionFilter

    def get_queryset(self) -> QuerySet[Supervision]:
        if self.action == "list":
            return lists.supervisions_addressed_to(self.request.user)
        return lists.supervisions_visible_to(self.request.user)

    @extend_schema(
        operation_id="supervisions_reply",
        request=s.ReplyInputSerializer,
        responses={200: s.SupervisionSerializer, **SUPERVISION_REFUSALS},
    )
    @action(detail=True, methods=["post"])
    def reply(self, request: Request, pk: str | None = None) -> Response:
        """Reply (once) to a supervision or urging: a handler of the addressed unit (or a unit above it)."""
        record = self.get_object()  # 404 outside the caller's scope
        body = s.ReplyInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with service_errors(body.validated_data):
            ACTIONS["reply"].run(case=None, actor=request.user, data={**body.validated_data, "supervision": record})
        fresh = Supervision.objects.select_related("case", "by", "from_unit", "to_unit", "replied_by").get(pk=record.pk)
        return Response(s.SupervisionSerializer(fresh).data)


class RoutingRuleViewSet(viewsets.ReadOnlyModelViewSet):
    """The routing table (派遣规则), read-only; staff only (citizens and devices see an empty table)."""

    queryset = RoutingRule.objects.none()
    serializer_class = s.RoutingRuleSerializer

    def get_queryset(self) -> QuerySet[RoutingRule]:
        if scope_for(self.request.user).is_empty:
            return RoutingRule.objects.none()
        return selectors.routing_rules_list()
