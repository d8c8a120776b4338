"""Lifeline facilities, their sensors, the devices that report them, and the raw readings (a partitioned table)."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.gis.db import models
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
