"""API shapes of cases: the list row, its GeoJSON feature, the detail with timeline and photos, and one
input serializer per intake or workflow action (photos come as repeated multipart files)."""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from cases.models import (
    STAGE_OF_STATUS,
    Case,
    CaseEvent,
    CasePhoto,
    RoutingRule,
    Source,
    Status,
    Supervision,
    SupervisionKind,
)
from cases.workflow import allowed_actions
from catalogue.models import ClassKind, Urgency
from geography.coords import SUPPORTED_SRS, WGS84
from organisations.models import OrgUnit
from workcalendar.units import extension_unit_choices

# --- output

CASE_FIELDS = [
    "id",
    "number",
    "source",
    "status",
    "status_display",
    "kind",
    "minor_class",
    "minor_class_code",
    "minor_class_name",
    "urgency",
    "description",
    "address",
    "district",
    "district_name",
    "street",
    "street_name",
    "community",
    "grid_cell",
    "grid_cell_code",
    "lead_unit",
    "lead_unit_name",
    "is_key",
    "is_difficult",
    "is_overdue",
    "return_count",
    "rework_count",
    "reported_at",
    "deadline",
    "closed_at",
]


_DATETIME = serializers.DateTimeField()  # formats like every other time in the API


@functools.cache
def _status_label(language: str | None, status: str) -> str:
    # Case.get_status_display rebuilds the choices and translates them on every call: a third of a list page.
    return str(Status(status).label) if status in Status.values else status


def _fresh_copies(template: dict[str, serializers.Field]) -> dict[str, serializers.Field]:
    """Unbound copies of `template`'s fields for one serializer. DRF deep-copies them (a Field's __deepcopy__
    builds it again from its arguments: 50 fields cost a millisecond and a half per request); a plain field holds
    nothing a request changes once it is bound, so a shallow copy will do. Fields that hold other fields (nested
    serializers, lists of a child, many-related fields) are still deep-copied: each copy binds what it holds to
    itself, and the OpenAPI schema walks from the held field back to its serializer."""
    return {
        name: copy.deepcopy(field)
        if isinstance(field, serializers.BaseSerializer) or hasattr(field, "child") or hasattr(field, "child_relation")
        else copy.copy(field)
        for name, field in template.items()
    }


class _FieldsBuiltOnce:
    """ModelSerializer inspects the model for every new serializer (1.5 ms, most of serialising one case);
    build the fields once per class and hand each serializer fresh copies, as DRF does for declared fields."""

    def get_fields(self) -> dict[str, serializers.Field]:
        cls = type(self)
        template = cls.__dict__.get("_fields_template")
        if template is None:
            template = super().get_fields()  # type: ignore[misc]
            cls._fields_template = template
        return _fresh_copies(template)


class _CaseFieldsMixin(_FieldsBuiltOnce, serializers.Serializer):
    status_display = serializers.SerializerMethodField()
    minor_class_code = serializers.CharField(source="minor_class.full_code", read_only=True)
    minor_class_name = serializers.CharField(source="minor_class.name", read_only=True)
    district_name = serializers.CharField(source="district.name", read_only=True)
    street_name = serializers.CharField(source="street.name", read_only=True, allow_null=True, default=None)
    grid_cell_code = serializers.CharField(source="grid_cell.code", read_only=True, allow_null=True, default=None)
    lead_unit_name = serializers.CharField(source="lead_unit.name", read_only=True, allow_null=True, default=None)
    deadline = serializers.SerializerMethodField(
        help_text=_("The deadline of the stage the case is in (none when final).")
    )

    def get_status_display(self, case: Case) -> str:
        return _status_label(get_language(), case.status)

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_deadline(self, case: Case) -> str | None:
        # From the row itself: annotating it in SQL cost a CASE over every status in each list query.
        stage = STAGE_OF_STATUS.get(case.status)
        due = getattr(case, f"{stage}_due_at") if stage else None
        return _DATETIME.to_representation(due) if due is not None else None


class CaseSerializer(_CaseFieldsMixin, serializers.ModelSerializer):
    """A case in lists; `lon`/`lat` are WGS 84."""

    lon = serializers.FloatField(source="location.x", read_only=True)
    lat = serializers.FloatField(source="location.y", read_only=True)

    class Meta:
        model = Case
        fields = [*CASE_FIELDS, "lon", "lat"]
        read_only_fields = fields


class CaseFeatureSerializer(_CaseFieldsMixin, GeoFeatureModelSerializer):
    """A case as a GeoJSON feature (WGS 84 point)."""

    class Meta:
        model = Case
        geo_field = "location"
        fields = CASE_FIELDS
        read_only_fields = fields


class CaseEventSerializer(serializers.ModelSerializer):
    actor_name = serializers.SerializerMethodField()
    unit_name = serializers.CharField(source="unit.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = CaseEvent
        fields = [
            "seq",
            "action",
            "from_status",
            "to_status",
            "actor",
            "actor_name",
            "actor_role",
            "unit",
            "unit_name",
            "reason",
            "data",
            "created_at",
            "hash",
        ]
        read_only_fields = fields

    def get_actor_name(self, event: CaseEvent) -> str | None:
        if event.actor is None:
            return None
        return event.actor.full_name or event.actor.username


class CasePhotoSerializer(serializers.ModelSerializer):
    url = serializers.FileField(source="file", read_only=True)
    event_seq = serializers.IntegerField(source="event.seq", read_only=True, allow_null=True, default=None)

    class Meta:
        model = CasePhoto
        fields = ["id", "phase", "url", "content_type", "width", "height", "taken_at", "event_seq", "created_at"]
        read_only_fields = fields


def _person_name(user: Any) -> str | None:
    return (user.full_name or user.username) if user is not None else None


class SupervisionSerializer(serializers.ModelSerializer):
    """A supervision (督办) or urging (催办): who sent it to which unit about which case, and the unit's reply."""

    kind = serializers.ChoiceField(
        choices=SupervisionKind.choices, read_only=True, help_text=_("supervise (督办) or urge (催办).")
    )
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    case_number = serializers.CharField(source="case.number", read_only=True)
    by_name = serializers.SerializerMethodField()
    from_unit_name = serializers.CharField(source="from_unit.name", read_only=True, allow_null=True, default=None)
    to_unit_name = serializers.CharField(source="to_unit.name", read_only=True)
    replied_by_name = serializers.SerializerMethodField()

    class Meta:
        model = Supervision
        fields = [
            "id",
            "case",
            "case_number",
            "kind",
            "kind_display",
            "by",
            "by_name",
            "from_unit",
            "from_unit_name",
            "to_unit",
            "to_unit_name",
            "text",
            "created_at",
            "reply",
            "replied_by",
            "replied_by_name",
            "replied_at",
        ]
        read_only_fields = fields

    def get_by_name(self, record: Supervision) -> str | None:
        return _person_name(record.by)

    def get_replied_by_name(self, record: Supervision) -> str | None:
        return _person_name(record.replied_by)


class CaseDetailSerializer(CaseSerializer):
    """One case: the list fields, its deadlines and clock, supporting units, timeline, photos, supervision and
    urging records, and next actions."""

    events = CaseEventSerializer(many=True, read_only=True)
    photos = CasePhotoSerializer(many=True, read_only=True)
    supervisions = SupervisionSerializer(
        many=True, read_only=True, help_text=_("Supervision and urging records, newest first.")
    )
    supporting_units = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    allowed_actions = serializers.SerializerMethodField(
        help_text=_("Actions the workflow allows from the case's status (the caller's roles are checked on POST).")
    )
    routing_rule = serializers.PrimaryKeyRelatedField(
        read_only=True,
        help_text=_(
            "Before dispatch: the routing rule that would dispatch the case (found at intake); after: the rule used."
        ),
    )
    routed_unit_name = serializers.CharField(
        source="routing_rule.lead_unit.name",
        read_only=True,
        allow_null=True,
        default=None,
        help_text=_("The lead unit of that rule: the dispatch suggestion."),
    )

    class Meta(CaseSerializer.Meta):
        fields = [
            *CaseSerializer.Meta.fields,
            "camera_id",
            "confidence",
            "alarm_ref",
            "component",
            "reporter_name",
            "verified_true",
            "supporting_units",
            "duplicate_candidate",
            "duplicate_of",
            "routing_rule",
            "routed_unit_name",
            "self_handled",
            "time_limits",
            "verify_due_at",
            "register_due_at",
            "dispatch_due_at",
            "handle_due_at",
            "check_due_at",
            "paused_since",
            "pending_extension",
            "verified_at",
            "registered_at",
            "dispatched_at",
            "accepted_at",
            "handled_at",
            "checked_at",
            "updated_at",
            "allowed_actions",
            "events",
            "photos",
            "supervisions",
        ]
        read_only_fields = fields

    def get_allowed_actions(self, case: Case) -> list[str]:
        return allowed_actions(case.status)


class RoutingRuleSerializer(serializers.ModelSerializer):
    minor_class_code = serializers.CharField(
        source="minor_class.full_code", read_only=True, allow_null=True, default=None
    )
    major_class_code = serializers.CharField(source="major_class.code", read_only=True, allow_null=True, default=None)
    lead_unit_name = serializers.CharField(source="lead_unit.name", read_only=True)
    supporting_units = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = RoutingRule
        fields = [
            "id",
            "minor_class",
            "minor_class_code",
            "major_class",
            "major_class_code",
            "district",
            "street",
            "lead_unit",
            "lead_unit_name",
            "supporting_units",
            "priority",
            "is_active",
            "note",
        ]
        read_only_fields = fields


# --- input


def _photos(help_text: Any) -> serializers.ListField:
    # Plain files: the content is checked by photos.services.photo_accept in the service, not by name or type.
    return serializers.ListField(child=serializers.FileField(), required=False, default=list, help_text=help_text)


def _reason(*, required: bool = False) -> serializers.CharField:
    if required:
        return serializers.CharField()
    return serializers.CharField(required=False, allow_blank=True, default="")


class CaseReportInputSerializer(serializers.Serializer):
    """A new report. JSON, or multipart with `photos` repeated once per file."""

    source = serializers.ChoiceField(choices=Source.choices)
    kind = serializers.ChoiceField(
        choices=ClassKind.choices, help_text=_("The class's kind: codes repeat across kinds.")
    )
    minor_class = serializers.RegexField(
        r"^[0-9]{4}$", help_text=_("4-digit class code, major + minor, e.g. 0101."), max_length=4
    )
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    srs = serializers.ChoiceField(
        choices=SUPPORTED_SRS,
        default=WGS84,
        help_text=_("wgs84 (GPS, the default) or gcj02 (Chinese web maps); converted to WGS 84 here."),
    )
    description = serializers.CharField()
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.NORMAL)
    address = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    component_code = serializers.CharField(required=False, allow_blank=True, default="", max_length=32)
    reporter_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    reporter_phone = serializers.CharField(required=False, allow_blank=True, default="", max_length=32)
    camera_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    confidence = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0, max_value=1)
    alarm_ref = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    photos = _photos(_("Evidence photos."))


class VerifyInputSerializer(serializers.Serializer):
    confirmed = serializers.BooleanField(default=True, help_text=_("Whether the report is true."))
    reason = _reason()
    photos = _photos(_("Verification photos."))


class RegisterInputSerializer(serializers.Serializer):
    reason = _reason()
    minor_class = serializers.RegexField(
        r"^[0-9]{4}$", required=False, max_length=4, help_text=_("A corrected class (4-digit code, same kind).")
    )
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)


class ReasonInputSerializer(serializers.Serializer):
    reason = _reason(required=True)


class OptionalReasonInputSerializer(serializers.Serializer):
    reason = _reason()


class EmptyInputSerializer(serializers.Serializer):
    pass


class MergeInputSerializer(serializers.Serializer):
    master = serializers.IntegerField(help_text=_("Id of the case this one duplicates."))
    reason = _reason()


class DispatchInputSerializer(serializers.Serializer):
    lead_unit = serializers.PrimaryKeyRelatedField(
        queryset=OrgUnit.objects.all(), required=False, allow_null=True, default=None,
        help_text=_("Empty: the routing table decides."),
    )  # fmt: skip
    supporting_units = serializers.PrimaryKeyRelatedField(
        queryset=OrgUnit.objects.all(), many=True, required=False, default=None
    )
    reason = _reason()


class RequestExtensionInputSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)
    # Hours or days only: see workcalendar.units.EXTENSION_UNITS.
    unit = serializers.ChoiceField(choices=extension_unit_choices())
    reason = _reason(required=True)


class DecideExtensionInputSerializer(serializers.Serializer):
    approved = serializers.BooleanField()
    reason = _reason()


class FeedbackInputSerializer(serializers.Serializer):
    description = serializers.CharField(help_text=_("What was done."))
    after_photos = serializers.ListField(child=serializers.FileField(), min_length=1)
    before_photos = _photos(_("Photos from before handling."))


class CheckInputSerializer(serializers.Serializer):
    passed = serializers.BooleanField()
    reason = _reason()
    photos = _photos(_("Check photos."))


class CloseInputSerializer(serializers.Serializer):
    """A passed check (核查通过, 结案)."""

    reason = _reason()
    photos = _photos(_("Check photos."))


class FlagKeyInputSerializer(serializers.Serializer):
    key = serializers.BooleanField(default=True)
    reason = _reason()


class SuperviseInputSerializer(serializers.Serializer):
    text = serializers.CharField()
    to_unit = serializers.PrimaryKeyRelatedField(
        queryset=OrgUnit.objects.all(), required=False, allow_null=True, default=None,
        help_text=_("Empty: the lead unit."),
    )  # fmt: skip


class ReplyInputSerializer(serializers.Serializer):
    text = serializers.CharField(help_text=_("The unit's reply."))


class SelfHandleInputSerializer(serializers.Serializer):
    """A problem an inspector fixed on the spot (自行处置). Multipart, `before_photos` and `after_photos`
    repeated once per file."""

    kind = serializers.ChoiceField(
        choices=ClassKind.choices, help_text=_("The class's kind: codes repeat across kinds.")
    )
    minor_class = serializers.RegexField(
        r"^[0-9]{4}$", help_text=_("4-digit class code of a class inspectors may self-handle."), max_length=4
    )
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    srs = serializers.ChoiceField(
        choices=SUPPORTED_SRS,
        default=WGS84,
        help_text=_("wgs84 (GPS, the default) or gcj02 (Chinese web maps); converted to WGS 84 here."),
    )
    description = serializers.CharField()
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.NORMAL)
    address = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    component_code = serializers.CharField(required=False, allow_blank=True, default="", max_length=32)
    before_photos = serializers.ListField(
        child=serializers.FileField(), min_length=1, help_text=_("Photos from before handling.")
    )
    after_photos = serializers.ListField(
        child=serializers.FileField(), min_length=1, help_text=_("Photos after handling.")
    )


class ErrorSerializer(serializers.Serializer):
    """A refusal: `detail` says why; 400s name the fields instead."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False)


# --- intake's hot path: one bound serializer per thread

# Building a serializer binds a copy of each field to it (a millisecond for the case row); the report endpoint
# answers hundreds of reports a second, so it validates and answers with serializers built once per thread.
# Neither keeps anything between calls: run_validation and to_representation return their result.
_per_thread = threading.local()


def _bound(name: str, factory: type[serializers.Serializer]) -> serializers.Serializer:
    found = getattr(_per_thread, name, None)
    if found is None:
        found = factory()
        setattr(_per_thread, name, found)
    return found


def report_input_validated(data: Any) -> dict[str, Any]:
    """`data` checked as CaseReportInputSerializer checks it; raises ValidationError with the same details as
    `is_valid(raise_exception=True)` (a 400 naming each bad field)."""
    return _bound("report_input", CaseReportInputSerializer).run_validation(data)


def case_row(case: Case) -> dict[str, Any]:
    """The case as a row of the list (CaseSerializer's output)."""
    return _bound("case_row", CaseSerializer).to_representation(case)
