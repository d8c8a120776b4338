"""Lifeline facilities, their sensors, the devices that report them, and the raw readings (a partitioned table)."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.alerts import Mode


class Domain(models.TextChoices):
    GAS = "gas", _("Gas")  # 燃气
    WATER_SUPPLY = "water_supply", _("Water supply")  # 供水
    DRAINAGE = "drainage", _("Drainage")  # 排水
    HEATING = "heating", _("Heating")  # 供热
    BRIDGE = "bridge", _("Bridge")  # 桥梁
    MANHOLE_COVER = "manhole_cover", _("Manhole cover")  # 井盖
    WATERLOGGING = "waterlogging", _("Waterlogging")  # 内涝


class Metric(models.TextChoices):
    PRESSURE = "pressure", _("Pressure")  # 压力
    CONCENTRATION_LEL = "concentration_lel", _("Combustible gas concentration")  # 可燃气体浓度
    FLOW = "flow", _("Flow")  # 流量
    LEVEL = "level", _("Level")  # 液位
    SUPPLY_TEMPERATURE = "supply_temperature", _("Supply temperature")  # 供水温度
    RETURN_TEMPERATURE = "return_temperature", _("Return temperature")  # 回水温度
    STRAIN = "strain", _("Strain")  # 应变
    DISPLACEMENT = "displacement", _("Displacement")  # 位移
    TILT = "tilt", _("Tilt")  # 倾角
    COVER_OPEN = "cover_open", _("Cover open")  # 井盖开启
    WATER_LEVEL = "water_level", _("Water depth")  # 积水深度


class Unit(models.TextChoices):
    MPA = "MPa", "MPa"
    KPA = "kPa", "kPa"
    PERCENT_LEL = "%LEL", "%LEL"
    CUBIC_METRES_PER_HOUR = "m³/h", "m³/h"
    METRE = "m", "m"
    CELSIUS = "°C", "°C"
    MICROSTRAIN = "με", "με"
    MILLIMETRE = "mm", "mm"
    DEGREE = "°", "°"
    BOOLEAN = "bool", _("yes / no (1 / 0)")  # 是 / 否


class FacilityKind(models.TextChoices):
    HEAT_SOURCE = "heat_source", _("Heat source")  # 热源
    HEAT_EXCHANGE_STATION = "heat_exchange_station", _("Heat-exchange station")  # 换热站
    GAS_STATION = "gas_station", _("Gas station")  # 燃气场站
    UNDERGROUND_SPACE = "underground_space", _("Underground space")  # 地下空间 (燃气泄漏监测)
    PIPELINE_SEGMENT = "pipeline_segment", _("Pipeline segment")  # 管段
    PUMPING_STATION = "pumping_station", _("Pumping station")  # 泵站
    BRIDGE = "bridge", _("Bridge")  # 桥梁
    WATERLOGGING_POINT = "waterlogging_point", _("Waterlogging point")  # 积水点
    MANHOLE = "manhole", _("Manhole")  # 井盖 / 检查井


class SensorType(models.Model):
    """What a kind of sensor measures, in which unit, and the physical range outside which a reading is refused.

    The range is what the instrument can report at all (a %LEL detector reads 0-100), not an alarm threshold:
    a value outside it is a fault or garbage, and is never stored.
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    domain = models.CharField(_("domain"), max_length=16, choices=Domain.choices)
    metric = models.CharField(_("metric"), max_length=24, choices=Metric.choices)
    unit = models.CharField(_("unit"), max_length=8, choices=Unit.choices)
    valid_min = models.FloatField(_("lowest valid value"), null=True, blank=True)
    valid_max = models.FloatField(_("highest valid value"), null=True, blank=True)
    expected_interval_s = models.PositiveIntegerField(_("expected reporting interval (s)"), default=60)

    class Meta:
        verbose_name = _("sensor type")
        verbose_name_plural = _("sensor types")
        ordering = ["domain", "code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_min__isnull=True)
                | models.Q(valid_max__isnull=True)
                | models.Q(valid_min__lte=models.F("valid_max")),
                name="lifelines_sensortype_range_ordered",
            ),
            models.CheckConstraint(condition=models.Q(expected_interval_s__gt=0), name="lifelines_sensortype_interval"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.unit})"


class Facility(models.Model):
    """A monitored place: a heat-exchange station, a gas station, a bridge, a pipeline segment, a manhole...

    District, street and community are where the location lies (found by geography.selectors.locate when
    the facility is saved without them); they and the owner unit decide who may see it.
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=128)
    domain = models.CharField(_("domain"), max_length=16, choices=Domain.choices)
    kind = models.CharField(_("kind"), max_length=32, choices=FacilityKind.choices)
    location = models.PointField(_("location"), srid=4326)
    owner_unit = models.ForeignKey(
        "organisations.OrgUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lifeline_facilities",
        verbose_name=_("responsible unit"),
    )
    district = models.ForeignKey(
        "geography.District",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("district"),
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
    address = models.CharField(_("address"), max_length=255, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lifeline facility")
        verbose_name_plural = _("lifeline facilities")
        ordering = ["code"]
        indexes = [models.Index(fields=["domain", "kind"], name="lifelines_facility_domain_kind")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.location is not None and self.district_id is None:
            self.locate()
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "district", "street", "community"}  # type: ignore[misc]
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def locate(self) -> None:
        """Set district, street and community from the location (all None outside the city)."""
        from geography.selectors import locate

        where = locate(self.location)
        self.district_id, self.street_id, self.community_id = where.district_id, where.street_id, where.community_id


TOKEN_PREFIX_LENGTH = 8  # hex digits: shown in the admin and used to find the device, not secret


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Device(models.Model):
    """A device or gateway that reports readings over HTTP (or MQTT) with its own token.

    Only a SHA-256 hash of the token is kept; the clear token is shown once, when it is issued. The token
    reads `<prefix>.<secret>`: the prefix finds the row, the hash of the whole token is compared in constant
    time. Issuing a new token replaces the old one; revoking stops the device until a new token is issued.
    """

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=128)
    facility = models.ForeignKey(
        Facility,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="devices",
        verbose_name=_("facility"),
    )
    token_prefix = models.CharField(
        _("token prefix"), max_length=16, unique=True, null=True, blank=True, editable=False
    )
    token_hash = models.CharField(_("token hash"), max_length=64, blank=True, editable=False)
    token_issued_at = models.DateTimeField(_("token issued at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_usable(self) -> bool:
        return bool(self.token_hash) and self.revoked_at is None

    def issue_token(self) -> str:
        """A new token for this device (the old one stops working); returns the clear token, the only time it
        exists outside the device."""
        for _attempt in range(5):
            prefix = secrets.token_hex(TOKEN_PREFIX_LENGTH // 2)
            token = f"{prefix}.{secrets.token_urlsafe(32)}"
            self.token_prefix, self.token_hash = prefix, token_hash(token)
            self.token_issued_at, self.revoked_at = timezone.now(), None
            try:
                # A savepoint: a prefix collision (1 in 4 billion) must not break the caller's transaction.
                with transaction.atomic():
                    self.save(update_fields=["token_prefix", "token_hash", "token_issued_at", "revoked_at"])
            except IntegrityError:
                continue
            return token
        raise RuntimeError("could not draw a unique token prefix")

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])


class Sensor(models.Model):
    """One measuring point of a facility, reported by one device.

    The latest reading is kept on the row for the map: `last_value` and `last_at` are the reading with the
    newest timestamp (a late reading never moves them back); `last_received_at` is when a reading of this
    sensor was last stored, late or not (what says the sensor is still talking).
    """

    code = models.CharField(_("code"), max_length=48, unique=True)
    name = models.CharField(_("name"), max_length=128, blank=True)
    facility = models.ForeignKey(Facility, on_delete=models.CASCADE, related_name="sensors", verbose_name=_("facility"))
    sensor_type = models.ForeignKey(
        SensorType, on_delete=models.PROTECT, related_name="sensors", verbose_name=_("sensor type")
    )
    device = models.ForeignKey(
        Device,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sensors",
        verbose_name=_("reporting device"),
    )
    expected_interval_s = models.PositiveIntegerField(
        _("expected reporting interval (s)"), null=True, blank=True, help_text=_("Empty: the sensor type's interval.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    last_value = models.FloatField(_("latest value"), null=True, blank=True, editable=False)
    last_at = models.DateTimeField(_("latest reading at"), null=True, blank=True, editable=False)
    last_received_at = models.DateTimeField(_("last received at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("sensor")
        verbose_name_plural = _("sensors")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def save(self, *args: object, **kwargs: object) -> None:
        if self.expected_interval_s is None and self.sensor_type_id is not None:
            self.expected_interval_s = self.sensor_type.expected_interval_s
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class Reading(models.Model):
    """One raw reading: unique by sensor and timestamp.

    The table is created by hand (migration 0002): RANGE-partitioned by month on `ts`, primary key
    (sensor_id, ts) with the value included in the index, and no foreign key to the sensor (each stored row
    would pay for the check, and a foreign key would make Django's flush refuse to truncate the sensors).
    Writes go through lifelines.services.readings_ingest; old months are dropped whole by
    lifelines.services.reading_partitions_maintain.
    """

    pk = models.CompositePrimaryKey("sensor", "ts")
    sensor = models.ForeignKey(
        Sensor, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", verbose_name=_("sensor")
    )
    ts = models.DateTimeField(_("measured at"))
    value = models.FloatField(_("value"))
    received_at = models.DateTimeField(_("received at"))

    class Meta:
        managed = False
        db_table = "lifelines_reading"
        verbose_name = _("reading")
        verbose_name_plural = _("readings")


# --- thresholds, rule state and alarms (slice 2: lifelines.rules evaluates, lifelines.alarms owns the lifecycle)


class AlarmLevel(models.IntegerChoices):
    """Ordered: a higher number is more severe (蓝 < 黄 < 橙 < 红)."""

    BLUE = 1, _("Blue")  # 蓝色
    YELLOW = 2, _("Yellow")  # 黄色
    ORANGE = 3, _("Orange")  # 橙色
    RED = 4, _("Red")  # 红色


class RuleCondition(models.TextChoices):
    BOUNDS = "bounds", _("Value outside the bounds")  # 越限
    RATE = "rate", _("Rate of change")  # 变化率


class ThresholdRule(models.Model):
    """A threshold at one level: for a sensor type, optionally narrowed to one facility or one sensor.

    For a sensor, a condition (bounds or rate) and a level, the most specific active rule applies (the sensor's
    over the facility's over the type's). Bounds: a reading above `upper` or below `lower` breaches. Rate: the
    absolute change per minute between consecutive readings above `rate_per_min` breaches. A breach counts once
    it has held for `min_readings` consecutive readings and `min_duration_s` seconds; it clears only when the
    value is back inside by `hysteresis` (for a rate: the rate is `hysteresis` below the limit). The operating
    mode in force may tighten every bound (LifelineModeTightening). Every edit is recorded (RuleChange).
    """

    name = models.CharField(_("name"), max_length=128, blank=True)
    sensor_type = models.ForeignKey(
        SensorType, on_delete=models.PROTECT, related_name="threshold_rules", verbose_name=_("sensor type")
    )
    facility = models.ForeignKey(
        Facility,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="threshold_rules",
        verbose_name=_("only for facility"),
    )
    sensor = models.ForeignKey(
        Sensor,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="threshold_rules",
        verbose_name=_("only for sensor"),
    )
    condition = models.CharField(
        _("condition"), max_length=8, choices=RuleCondition.choices, default=RuleCondition.BOUNDS
    )
    level = models.PositiveSmallIntegerField(_("level"), choices=AlarmLevel.choices)
    upper = models.FloatField(_("upper bound"), null=True, blank=True)
    lower = models.FloatField(_("lower bound"), null=True, blank=True)
    rate_per_min = models.FloatField(_("rate of change per minute"), null=True, blank=True)
    min_readings = models.PositiveIntegerField(_("consecutive readings"), default=1)
    min_duration_s = models.PositiveIntegerField(_("holding for (s)"), default=0)
    hysteresis = models.FloatField(_("hysteresis"), default=0.0)
    case_level = models.PositiveSmallIntegerField(
        _("opens a case from level"),
        choices=AlarmLevel.choices,
        null=True,
        blank=True,
        help_text=_("Empty: the LIFELINES_CASE_LEVEL setting (orange)."),
    )
    case_minor_class = models.ForeignKey(
        "catalogue.MinorClass",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("case class"),
        help_text=_("The class of the case an alarm of this rule opens; empty: no case."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("threshold rule")
        verbose_name_plural = _("threshold rules")
        ordering = ["sensor_type", "condition", "level", "id"]
        indexes = [models.Index(fields=["sensor_type", "is_active"], name="lifelines_rule_type_active")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(facility__isnull=True) | models.Q(sensor__isnull=True),
                name="lifelines_rule_facility_or_sensor",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(condition=RuleCondition.BOUNDS)
                    & (models.Q(upper__isnull=False) | models.Q(lower__isnull=False))
                    & models.Q(rate_per_min__isnull=True)
                )
                | (
                    models.Q(condition=RuleCondition.RATE)
                    & models.Q(rate_per_min__gt=0)
                    & models.Q(upper__isnull=True, lower__isnull=True)
                ),
                name="lifelines_rule_condition_fields",
            ),
            models.CheckConstraint(
                condition=models.Q(upper__isnull=True)
                | models.Q(lower__isnull=True)
                | models.Q(lower__lt=models.F("upper")),
                name="lifelines_rule_bounds_ordered",
            ),
            models.CheckConstraint(condition=models.Q(hysteresis__gte=0), name="lifelines_rule_hysteresis"),
            models.CheckConstraint(condition=models.Q(min_readings__gte=1), name="lifelines_rule_min_readings"),
        ]

    def __str__(self) -> str:
        target = self.sensor or self.facility or self.sensor_type
        return self.name or f"{target} · {self.get_condition_display()} · {self.get_level_display()}"

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.facility_id and self.sensor_id:
            errors["sensor"] = _("Narrow a rule to a facility or to a sensor, not both.")
        if self.sensor_id and self.sensor_type_id and self.sensor.sensor_type_id != self.sensor_type_id:
            errors["sensor"] = _("This sensor is of another sensor type.")
        if self.condition == RuleCondition.BOUNDS:
            if self.upper is None and self.lower is None:
                errors["upper"] = _("Give an upper bound, a lower bound or both.")
            if self.upper is not None and self.lower is not None and self.lower >= self.upper:
                errors["lower"] = _("The lower bound must be below the upper bound.")
            if self.rate_per_min is not None:
                errors["rate_per_min"] = _("A bounds rule has no rate of change.")
        else:
            if self.rate_per_min is None or self.rate_per_min <= 0:
                errors["rate_per_min"] = _("Give the rate of change per minute (above zero).")
            if self.upper is not None or self.lower is not None:
                errors["upper"] = _("A rate rule has no bounds.")
        if errors:
            raise ValidationError(errors)


class RuleChange(models.Model):
    """One edit of a threshold rule in the admin: who, when, and each changed field's old and new value.

    Kept when the rule is deleted (the rule link is then empty and `rule_label` still says which it was)."""

    class Action(models.TextChoices):
        CREATED = "created", _("created")
        CHANGED = "changed", _("changed")
        DELETED = "deleted", _("deleted")

    rule = models.ForeignKey(
        ThresholdRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes", verbose_name=_("rule")
    )
    rule_label = models.CharField(_("rule"), max_length=255)
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("threshold rule change")
        verbose_name_plural = _("threshold rule changes")
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule_label} {self.action} {self.changed_at:%Y-%m-%d %H:%M}"


class LifelineModeTightening(models.Model):
    """How the operating mode tightens the thresholds: every bound moves inwards by (100 - percent)% of its
    magnitude (an upper bound of 90 at 90% becomes 81, a lower bound of 0.2 becomes 0.22), a rate limit becomes
    percent% of itself. No row for a mode: 100% (unchanged)."""

    mode = models.CharField(_("operating mode"), max_length=16, unique=True, choices=Mode.choices)
    threshold_percent = models.PositiveSmallIntegerField(_("thresholds at (%)"), default=100)

    class Meta:
        verbose_name = _("threshold tightening by operating mode")
        verbose_name_plural = _("threshold tightening by operating mode")
        ordering = ["mode"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(threshold_percent__gte=1, threshold_percent__lte=100),
                name="lifelines_tightening_percent",
            )
        ]

    def __str__(self) -> str:
        return f"{self.mode}: {self.threshold_percent}%"


class RuleState(models.Model):
    """Where a sensor stands against one rule, kept in the database so any worker continues the count: the
    current run of breaching readings (count, first breach time), whether the rule holds (`active`), and the
    last evaluated reading (for the rate of change and to skip readings older than what was evaluated)."""

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(ThresholdRule, on_delete=models.CASCADE, related_name="states")
    breach_count = models.PositiveIntegerField(default=0)
    breach_since = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=False)
    last_value = models.FloatField(null=True, blank=True)
    last_ts = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("rule state")
        verbose_name_plural = _("rule states")
        constraints = [models.UniqueConstraint(fields=["sensor", "rule"], name="lifelines_rulestate_sensor_rule")]


class AlarmKind(models.TextChoices):
    BOUNDS = "bounds", _("Value outside the bounds")  # 越限告警
    RATE = "rate", _("Rate of change")  # 变化率告警
    OFFLINE = "offline", _("Sensor offline")  # 离线告警


class AlarmState(models.TextChoices):
    RAISED = "raised", _("Raised")  # 已触发
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")  # 已确认
    RESOLVED = "resolved", _("Resolved")  # 已处理
    CLEARED = "cleared", _("Cleared")  # 已恢复 (自动)


OPEN_ALARM_STATES = (AlarmState.RAISED, AlarmState.ACKNOWLEDGED)


class Alarm(models.Model):
    """One alarm of a sensor: at most one open (raised or acknowledged) per sensor and kind, enforced by a
    partial unique index. The levels of a sensor's rules of one condition share the alarm: a higher level
    breached raises its level in place, a higher level cleared while a lower one holds lowers it; `rule` is
    the rule of the level it stands at. Every change is an AlarmEvent (lifelines.alarms writes both)."""

    sensor = models.ForeignKey(Sensor, on_delete=models.PROTECT, related_name="alarms", verbose_name=_("sensor"))
    kind = models.CharField(_("kind"), max_length=8, choices=AlarmKind.choices)
    rule = models.ForeignKey(
        ThresholdRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="alarms", verbose_name=_("rule")
    )
    level = models.PositiveSmallIntegerField(_("level"), choices=AlarmLevel.choices)
    state = models.CharField(_("state"), max_length=12, choices=AlarmState.choices, default=AlarmState.RAISED)
    raised_at = models.DateTimeField(_("raised at"))
    first_value = models.FloatField(_("first value"), null=True, blank=True)
    peak_value = models.FloatField(
        _("peak value"), null=True, blank=True, help_text=_("For a rate alarm: the highest rate per minute.")
    )
    last_value = models.FloatField(_("last value"), null=True, blank=True)
    last_at = models.DateTimeField(_("last breach at"), null=True, blank=True)
    repeats = models.PositiveIntegerField(_("repeats"), default=0)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution_note = models.TextField(_("resolution note"), blank=True)
    cleared_at = models.DateTimeField(_("cleared at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    case = models.ForeignKey(
        "cases.Case",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("case"),
    )

    class Meta:
        verbose_name = _("alarm")
        verbose_name_plural = _("alarms")
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sensor", "kind"],
                condition=models.Q(state__in=["raised", "acknowledged"]),
                name="lifelines_alarm_one_open",
            )
        ]
        indexes = [
            models.Index(
                fields=["state", "raised_at"],
                name="lifelines_alarm_open_raised",
                condition=models.Q(state__in=["raised", "acknowledged"]),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.sensor_id} {self.kind} {self.get_level_display()} {self.state}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_ALARM_STATES

    @property
    def case_ref(self) -> str:
        """What the case it opens keeps in Case.alarm_ref."""
        return f"lifelines:{self.pk}"


class AlarmEventKind(models.TextChoices):
    RAISED = "raised", _("raised")
    REPEATED = "repeated", _("repeated")
    LEVEL_UP = "level_up", _("level raised")
    LEVEL_DOWN = "level_down", _("level lowered")
    ACKNOWLEDGED = "acknowledged", _("acknowledged")
    ESCALATED = "escalated", _("escalated")
    RESOLVED = "resolved", _("resolved")
    CLEARED = "cleared", _("cleared")
    CASE_OPENED = "case_opened", _("case opened")


class AlarmEvent(models.Model):
    """One change of an alarm (append-only): what, when, by whom (empty: the platform), from which level to
    which, with the reading or note that caused it in `data`."""

    alarm = models.ForeignKey(Alarm, on_delete=models.PROTECT, related_name="events", verbose_name=_("alarm"))
    kind = models.CharField(_("event"), max_length=16, choices=AlarmEventKind.choices)
    at = models.DateTimeField(_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    from_level = models.PositiveSmallIntegerField(_("from level"), choices=AlarmLevel.choices, null=True, blank=True)
    to_level = models.PositiveSmallIntegerField(_("to level"), choices=AlarmLevel.choices, null=True, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)
    # Set once the change reached the live feed (lifelines.live); empty: still to publish (Redis was away).
    published_at = models.DateTimeField(_("published at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("alarm event")
        verbose_name_plural = _("alarm events")
        ordering = ["at", "id"]
        indexes = [
            models.Index(
                fields=["alarm"], name="lifelines_alarmevent_unpub", condition=models.Q(published_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.alarm_id} {self.kind} {self.at:%Y-%m-%d %H:%M:%S}"
