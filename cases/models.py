"""Cases, their append-only hash-chained event log, photos, routing rules and supervision records."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalogue.models import Stage, Urgency


class Source(models.TextChoices):
    INSPECTOR = "inspector", _("Inspector report")  # 监督员上报
    CITIZEN = "citizen", _("Citizen report")  # 市民上报
    HOTLINE = "hotline_12345", _("12345 hotline")  # 12345 热线
    VIDEO_AI = "video_ai", _("Video AI detection")  # 视频智能识别
    SENSOR_ALARM = "sensor_alarm", _("Sensor alarm")  # 传感器告警
    LEADER_INSTRUCTION = "leader_instruction", _("Leader's instruction")  # 领导交办


class Status(models.TextChoices):
    VERIFYING = "verifying", _("Awaiting verification")  # 待核实
    REPORTED = "reported", _("Awaiting registration")  # 待立案
    REGISTERED = "registered", _("Registered, awaiting dispatch")  # 已立案 / 待派遣
    NOT_REGISTERED = "not_registered", _("Not registered")  # 不予立案
    MERGED = "merged", _("Merged into another case")  # 已合并
    DISPATCHED = "dispatched", _("Dispatched")  # 已派遣 / 待接收
    RETURNED = "returned", _("Returned by the unit")  # 已退回 / 待重新派遣
    HANDLING = "handling", _("Being handled")  # 处置中
    EXTENSION_PENDING = "extension_pending", _("Extension requested")  # 延期申请中
    ON_HOLD = "on_hold", _("On hold")  # 挂账 / 缓办
    HANDLED = "handled", _("Handled, awaiting check")  # 已处置 / 待核查
    REWORK = "rework", _("Rework")  # 返工
    CLOSED = "closed", _("Closed")  # 结案
    CANCELLED = "cancelled", _("Cancelled")  # 作废


FINAL_STATUSES = frozenset({Status.NOT_REGISTERED, Status.MERGED, Status.CLOSED, Status.CANCELLED})
OPEN_STATUSES = frozenset(s for s in Status if s not in FINAL_STATUSES)
# Statuses in which the clock stands still.
PAUSED_STATUSES = frozenset({Status.EXTENSION_PENDING, Status.ON_HOLD})


class PhotoPhase(models.TextChoices):
    EVIDENCE = "evidence", _("Report evidence")  # 上报照片
    VERIFY = "verify", _("Verification")  # 核实照片
    BEFORE = "before", _("Before handling")  # 处置前
    AFTER = "after", _("After handling")  # 处置后
    CHECK = "check", _("Check")  # 核查照片


# The timed stage a case in each status is in (whose deadline the overdue sweep watches). On hold and
# with an extension pending the handling clock stands still (see PAUSED_STATUSES); final statuses have none.
STAGE_OF_STATUS: dict[str, str] = {
    Status.VERIFYING: Stage.VERIFY,
    Status.REPORTED: Stage.REGISTER,
    Status.REGISTERED: Stage.DISPATCH,
    Status.RETURNED: Stage.DISPATCH,
    Status.DISPATCHED: Stage.HANDLE,
    Status.HANDLING: Stage.HANDLE,
    Status.REWORK: Stage.HANDLE,
    Status.EXTENSION_PENDING: Stage.HANDLE,
    Status.ON_HOLD: Stage.HANDLE,
    Status.HANDLED: Stage.CHECK,
}


def _deadline_field(label: str) -> models.DateTimeField:
    return models.DateTimeField(label, null=True, blank=True)


def _on_time_field(label: str) -> models.BooleanField:
    # None until the stage completes (or when the class sets no limit for it).
    return models.BooleanField(label, null=True, blank=True)


class Case(models.Model):
    """One problem in the city, from report to closure. Every change goes through cases.services.

    The row is the denormalised present; the truth is the CaseEvent log, from which status,
    counters and on-time flags can be recomputed (cases.log.case_state_from_log).
    """

    number = models.CharField(_("number"), max_length=32, unique=True)  # 370202-20261126-000123
    source = models.CharField(_("source"), max_length=24, choices=Source.choices)
    camera_id = models.CharField(_("camera id"), max_length=64, blank=True)
    confidence = models.FloatField(_("detection confidence"), null=True, blank=True)
    alarm_ref = models.CharField(_("alarm reference"), max_length=64, blank=True)

    minor_class = models.ForeignKey(
        "catalogue.MinorClass", on_delete=models.PROTECT, related_name="cases", verbose_name=_("minor class")
    )
    kind = models.CharField(_("kind"), max_length=16, editable=False)  # the major class's kind, copied for filters
    urgency = models.CharField(_("urgency"), max_length=16, choices=Urgency.choices, default=Urgency.NORMAL)
    status = models.CharField(_("status"), max_length=24, choices=Status.choices)
    description = models.TextField(_("description"))
    address = models.CharField(_("address"), max_length=255, blank=True)

    location = models.PointField(_("location"), srid=4326)
    # No single-column index on district, grid cell or lead unit: the composite indexes in Meta start with them
    # and serve the same look-ups, and every index is one more write on each report and transition.
    district = models.ForeignKey(
        "geography.District", on_delete=models.PROTECT, related_name="+", verbose_name=_("district"), db_index=False
    )
    street = models.ForeignKey(
        "geography.Street", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("street")
    )
    community = models.ForeignKey(
        "geography.Community",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("community"),
    )
    grid_cell = models.ForeignKey(
        "geography.GridCell",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cases",
        verbose_name=_("grid cell"),
        db_index=False,
    )
    component = models.ForeignKey(
        "geography.Component",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cases",
        verbose_name=_("component"),
    )

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reported_cases",
        verbose_name=_("reported by"),
    )
    reporter_name = models.CharField(_("reporter's name"), max_length=64, blank=True)
    reporter_phone = models.CharField(_("reporter's phone"), max_length=32, blank=True)
    verified_true = models.BooleanField(_("confirmed on site"), null=True, blank=True)

    lead_unit = models.ForeignKey(
        "organisations.OrgUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="led_cases",
        verbose_name=_("lead unit"),
        db_index=False,
    )
    supporting_units = models.ManyToManyField(
        "organisations.OrgUnit",
        through="CaseSupportingUnit",
        related_name="supported_cases",
        blank=True,
        verbose_name=_("supporting units"),
    )
    routing_rule = models.ForeignKey(
        "RoutingRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("routed by rule"),
    )

    duplicate_candidate = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("likely duplicate of"),
    )
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_duplicates",
        verbose_name=_("merged into"),
    )

    is_key = models.BooleanField(_("key case"), default=False)  # 重点
    is_difficult = models.BooleanField(_("difficult case"), default=False)  # 疑难
    is_overdue = models.BooleanField(_("overdue"), default=False)  # 超期
    return_count = models.PositiveSmallIntegerField(_("returns"), default=0)
    rework_count = models.PositiveSmallIntegerField(_("reworks"), default=0)
    self_handled = models.BooleanField(_("self-handled by the inspector"), default=False)

    # {stage: {"amount": n, "unit": TimeUnit}} copied from the catalogue at intake (and at reclassification).
    time_limits = models.JSONField(_("time limits"), default=dict, blank=True)
    verify_due_at = _deadline_field(_("verify by"))
    register_due_at = _deadline_field(_("register by"))
    dispatch_due_at = _deadline_field(_("dispatch by"))
    handle_due_at = _deadline_field(_("handle by"))
    check_due_at = _deadline_field(_("check by"))
    # The deadline of the stage the case is in, kept by the database, so that queues sorted by it read an index
    # instead of sorting every case of the status (API: ordering=deadline).
    stage_due_at = models.GeneratedField(
        expression=models.Case(
            *[
                models.When(status=status, then=models.F(f"{stage}_due_at"))
                for status, stage in STAGE_OF_STATUS.items()
            ],
            default=None,
            output_field=models.DateTimeField(),
        ),
        output_field=models.DateTimeField(_("current deadline"), null=True, blank=True),
        db_persist=True,
    )
    verify_on_time = _on_time_field(_("verified on time"))
    register_on_time = _on_time_field(_("registered on time"))
    dispatch_on_time = _on_time_field(_("dispatched on time"))
    handle_on_time = _on_time_field(_("handled on time"))
    check_on_time = _on_time_field(_("checked on time"))

    # The clock: when the current handling stage started, the closed pause intervals
    # [{"kind": "hold"|"extension", "start": iso, "end": iso}], the open one's start, and the
    # approved extensions [{"amount": n, "unit": TimeUnit}] added on top of the handling limit.
    handle_started_at = models.DateTimeField(_("handling clock started"), null=True, blank=True)
    pauses = models.JSONField(_("clock pauses"), default=list, blank=True)
    paused_since = models.DateTimeField(_("clock paused since"), null=True, blank=True)
    extensions = models.JSONField(_("approved extensions"), default=list, blank=True)
    pending_extension = models.JSONField(_("extension requested"), null=True, blank=True)

    reported_at = models.DateTimeField(_("reported at"))
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    registered_at = models.DateTimeField(_("registered at"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)  # also: rejected, merged, cancelled
    updated_at = models.DateTimeField(_("updated at"))

    # The log's head, kept under the row lock so appending needs no read of the event table.
    event_count = models.PositiveIntegerField(_("events"), default=0, editable=False)
    last_event_hash = models.CharField(_("last event hash"), max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-reported_at", "-id"]
        indexes = [
            models.Index(fields=["status", "district", "-reported_at"], name="cases_status_district"),
            models.Index(fields=["district", "-reported_at"], name="cases_district_reported"),
            models.Index(fields=["lead_unit", "status"], name="cases_lead_unit_status"),
            # The work queues: one status, most urgent deadline first.
            models.Index(fields=["status", "stage_due_at", "id"], name="cases_status_deadline"),
            models.Index(fields=["grid_cell", "status"], name="cases_grid_status"),
            # The duplicate check looks for open cases of one class near a point.
            models.Index(
                fields=["minor_class", "status"],
                name="cases_open_by_class",
                condition=~Q(status__in=["not_registered", "merged", "closed", "cancelled"]),
            ),
            models.Index(fields=["is_overdue"], name="cases_overdue", condition=Q(is_overdue=True)),
            # Today's figures (command.kpi) read only the cases changed since midnight.
            models.Index(fields=["updated_at"], name="cases_updated"),
            # The map's cases layer (cases.tiles) counts the open cases of a tile from this index alone.
            models.Index(
                fields=["status"],
                include=[
                    "location",
                    "urgency",
                    "is_overdue",
                    "is_key",
                    "district",
                    "street",
                    "community",
                    "lead_unit",
                    "id",
                ],
                name="cases_open_map",
                condition=~Q(status__in=["cancelled", "closed", "merged", "not_registered"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                name="cases_confidence_0_1",
            ),
            models.CheckConstraint(
                condition=Q(status="merged", duplicate_of__isnull=False) | ~Q(status="merged"),
                name="cases_merged_points_at_master",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


# Each timed stage's deadline and on-time field names, in workflow order.
STAGE_FIELDS: dict[str, tuple[str, str]] = {stage: (f"{stage}_due_at", f"{stage}_on_time") for stage in Stage.values}


class CaseSupportingUnit(models.Model):
    """A unit helping the lead unit (协办单位)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="support_links", verbose_name=_("case"))
    unit = models.ForeignKey(
        "organisations.OrgUnit", on_delete=models.PROTECT, related_name="+", verbose_name=_("unit")
    )
    added_at = models.DateTimeField(_("added at"))

    class Meta:
        verbose_name = _("supporting unit")
        verbose_name_plural = _("supporting units")
        constraints = [models.UniqueConstraint(fields=["case", "unit"], name="cases_supporting_unit_unique")]

    def __str__(self) -> str:
        return f"{self.case} · {self.unit}"


class CaseEvent(models.Model):
    """One change of a case, append-only (database triggers refuse UPDATE, DELETE and TRUNCATE).

    `hash` is sha256 over the canonical form of the row (cases.log.event_canonical) including
    `prev_hash`, the hash of the case's previous event, so any edit breaks the chain.
    """

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events", verbose_name=_("case"))
    seq = models.PositiveIntegerField(_("sequence"))
    action = models.CharField(_("action"), max_length=32)
    from_status = models.CharField(_("from"), max_length=24, blank=True)
    to_status = models.CharField(_("to"), max_length=24)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    actor_role = models.CharField(_("as"), max_length=32, blank=True)
    unit = models.ForeignKey(
        "organisations.OrgUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("for unit"),
    )
    reason = models.TextField(_("reason"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"))
    prev_hash = models.CharField(_("previous hash"), max_length=64, blank=True)
    hash = models.CharField(_("hash"), max_length=64)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["case", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["case", "seq"], name="cases_event_unique_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}#{self.seq} {self.action}"


def case_photo_path(instance: CasePhoto, filename: str) -> str:
    return f"cases/{filename}"


class CasePhoto(models.Model):
    """A photo of a case, attached to the event that brought it. EXIF is stripped; GPS and time are kept here."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="photos", verbose_name=_("case"))
    event = models.ForeignKey(
        CaseEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="photos", verbose_name=_("event")
    )
    phase = models.CharField(_("phase"), max_length=16, choices=PhotoPhase.choices)
    file = models.FileField(_("file"), upload_to=case_photo_path, max_length=255)
    content_type = models.CharField(_("content type"), max_length=32, blank=True)
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    original_name = models.CharField(_("original name"), max_length=255, blank=True)
    taken_at = models.DateTimeField(_("taken at"), null=True, blank=True)
    gps = models.PointField(_("GPS position"), srid=4326, null=True, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    # Set on the master's copy of a merged duplicate's photo (the file is shared, not duplicated).
    copied_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("copied from")
    )
    created_at = models.DateTimeField(_("added at"))

    class Meta:
        verbose_name = _("case photo")
        verbose_name_plural = _("case photos")
        ordering = ["case", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.phase} {self.file.name}"


class RoutingRule(models.Model):
    """Which unit handles a class of case in an area (派遣规则). The most specific active rule wins.

    Specificity: a minor class beats its major class; then a street beats a district beats the
    whole city; `priority` (higher first) breaks the remaining ties.
    """

    minor_class = models.ForeignKey(
        "catalogue.MinorClass",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="routing_rules",
        verbose_name=_("minor class"),
    )
    major_class = models.ForeignKey(
        "catalogue.MajorClass",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="routing_rules",
        verbose_name=_("major class"),
    )
    district = models.ForeignKey(
        "geography.District",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("district"),
        help_text=_("Empty: the whole city."),
    )
    street = models.ForeignKey(
        "geography.Street", on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("street")
    )
    lead_unit = models.ForeignKey(
        "organisations.OrgUnit", on_delete=models.PROTECT, related_name="routing_rules", verbose_name=_("lead unit")
    )
    supporting_units = models.ManyToManyField(
        "organisations.OrgUnit", blank=True, related_name="+", verbose_name=_("supporting units")
    )
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher wins among equally specific rules."))
    is_active = models.BooleanField(_("active"), default=True)
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(minor_class__isnull=False) | Q(major_class__isnull=False),
                name="cases_routing_rule_names_a_class",
            ),
            models.CheckConstraint(
                condition=Q(minor_class__isnull=True) | Q(major_class__isnull=True),
                name="cases_routing_rule_one_class_level",
            ),
        ]

    def __str__(self) -> str:
        what = self.minor_class or self.major_class
        where = self.street or self.district or _("whole city")
        return f"{what} · {where} → {self.lead_unit}"


class SupervisionKind(models.TextChoices):
    SUPERVISE = "supervise", _("Supervision")  # 督办
    URGE = "urge", _("Urging")  # 催办


class Supervision(models.Model):
    """督办 / 催办: a formal supervision or a reminder sent to a unit about a case, and the unit's reply."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="supervisions", verbose_name=_("case"))
    kind = models.CharField(_("kind"), max_length=16, choices=SupervisionKind.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by"))
    from_unit = models.ForeignKey(
        "organisations.OrgUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from unit"),
    )
    to_unit = models.ForeignKey(
        "organisations.OrgUnit", on_delete=models.PROTECT, related_name="supervisions", verbose_name=_("to unit")
    )
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("at"))
    reply = models.TextField(_("reply"), blank=True)
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("replied by"),
    )
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)

    class Meta:
        verbose_name = _("supervision or urging")
        verbose_name_plural = _("supervisions and urgings")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.case} → {self.to_unit}"


from cases.alerts import CaseDeadlineWarning, OperatingMode  # noqa: E402, F401 (models of this app, kept apart)


class _OpenCaseCounts(models.Model):
    """A zoom-13 map cell's open cases of one district, status, urgency and flags: how many, and the sums of
    their coordinates (a cluster is drawn at the mean position)."""

    cx = models.IntegerField()
    cy = models.IntegerField()
    district_id = models.IntegerField()
    status = models.CharField(max_length=24)
    urgency = models.CharField(max_length=16)
    is_overdue = models.BooleanField()
    is_key = models.BooleanField()
    n = models.IntegerField()
    sum_lon = models.FloatField()
    sum_lat = models.FloatField()

    class Meta:
        abstract = True


class OpenCaseCell(_OpenCaseCounts):
    """The city's open cases counted per zoom-13 map cell, district and what the map tells apart (status, urgency,
    overdue, key), with the sums of their coordinates: the case layer's clusters at city scale (tiles of zoom 10
    and below, cases.map_counts) add up these few thousand rows instead of counting 100,000 cases.

    Kept by row triggers on cases_case (migration 0009), which append each write's change to
    OpenCaseCellDelta; `compact_open_case_cells` folds the deltas in here every few seconds. Readers add both.
    `district_id` is 0 for a case outside every district.
    """

    class Meta:
        verbose_name = _("open case count")
        verbose_name_plural = _("open case counts")
        constraints = [
            models.UniqueConstraint(
                fields=["cx", "cy", "district_id", "status", "urgency", "is_overdue", "is_key"],
                name="cases_open_cell_key",
            )
        ]


class OpenCaseCellDelta(_OpenCaseCounts):
    """One write's change to OpenCaseCell, appended by the triggers (appending never waits on another
    transaction, so intake does not queue behind a busy cell); folded in by `compact_open_case_cells`."""

    id = models.BigAutoField(primary_key=True)

    class Meta:
        verbose_name = _("open case count change")
        verbose_name_plural = _("open case count changes")


class ClientSubmission(models.Model):
    """One POST sent with an `Idempotency-Key` (cases.idempotency): what it asked for and what it was answered, so
    that a phone sending the same submission again (a dead connection, a retry from its offline queue) gets the
    same answer instead of a second case or a second transition.

    Written in the transaction of the action itself, before it; a failed action rolls it back, so only successful
    answers are kept. Deleted after 30 days (`cases.purge_client_submissions`).
    """

    id = models.BigAutoField(primary_key=True)
    # Indexed by the unique constraint below, which leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False, related_name="+", verbose_name=_("user")
    )
    key = models.CharField(_("idempotency key"), max_length=64)
    endpoint = models.CharField(_("endpoint"), max_length=255)  # method and path: "POST /api/v1/cases/12/verify/"
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)  # cases.idempotency.request_fingerprint
    status_code = models.PositiveSmallIntegerField(_("response status"), null=True)
    # The JSON as it was sent, byte for byte (jsonb would reorder the keys of the replayed answer).
    response_body = models.TextField(_("response body"), null=True)
    # No index and no cascade: a case is never deleted (its log is a legal record); this only says what was made.
    case = models.ForeignKey(
        Case, on_delete=models.SET_NULL, null=True, db_index=False, related_name="+", verbose_name=_("case")
    )
    created_at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        verbose_name = _("client submission")
        verbose_name_plural = _("client submissions")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="cases_client_submission_user_key")]

    def __str__(self) -> str:
        return f"{self.key} {self.endpoint}"
