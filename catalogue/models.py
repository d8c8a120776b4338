"""The standard classification (GB/T 30428): kinds, major and minor classes, and each minor class's case rules."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from workcalendar.units import CALENDAR_UNITS, TimeUnit


class ClassKind(models.TextChoices):
    COMPONENT = "component", _("Component")  # 部件
    EVENT = "event", _("Event")  # 事件
    SERVICE = "service", _("Service")  # 服务事项


class ResponsibleKind(models.TextChoices):
    """The kind of department that handles a class by default; routing picks the actual unit by area."""

    MUNICIPAL_FACILITIES = "municipal_facilities", _("Municipal facilities")  # 市政设施
    LANDSCAPING = "landscaping", _("Parks and greening")  # 园林绿化
    SANITATION = "sanitation", _("Environmental sanitation")  # 环境卫生
    URBAN_ENFORCEMENT = "urban_enforcement", _("Urban management enforcement")  # 城管执法
    TRANSPORT = "transport", _("Transport")  # 交通运输
    TRAFFIC_POLICE = "traffic_police", _("Traffic police")  # 公安交警
    PUBLIC_SECURITY = "public_security", _("Public security")  # 公安
    WATER = "water", _("Water affairs")  # 水务
    GAS = "gas", _("Gas")  # 燃气
    HEATING = "heating", _("Heating")  # 供热
    POWER = "power", _("Electric power")  # 电力
    TELECOM = "telecom", _("Telecommunications")  # 通信
    HOUSING = "housing", _("Housing management")  # 房屋管理
    CONSTRUCTION = "construction", _("Housing and construction")  # 住房建设
    ECOLOGY = "ecology", _("Ecology and environment")  # 生态环境
    MARKET_REGULATION = "market_regulation", _("Market regulation")  # 市场监管
    CIVIL_AFFAIRS = "civil_affairs", _("Civil affairs")  # 民政
    EMERGENCY_MANAGEMENT = "emergency_management", _("Emergency management")  # 应急管理
    STREET_OFFICE = "street_office", _("Street office")  # 街道办事处
    OTHER = "other", _("Other")  # 其他


class Urgency(models.TextChoices):
    # A context of their own: "Normal" is also a component status (完好), which reads wrong here.
    NORMAL = "normal", pgettext_lazy("urgency", "Normal")  # 一般
    URGENT = "urgent", pgettext_lazy("urgency", "Urgent")  # 紧急
    EMERGENCY = "emergency", pgettext_lazy("urgency", "Emergency")  # 特急


class Stage(models.TextChoices):
    """The timed stages of a case, in workflow order."""

    VERIFY = "verify", _("Verify")  # 核实
    REGISTER = "register", _("Register")  # 立案
    DISPATCH = "dispatch", _("Dispatch")  # 派遣
    HANDLE = "handle", _("Handle")  # 处置
    CHECK = "check", _("Check")  # 核查


class MajorClass(models.Model):
    kind = models.CharField(_("kind"), max_length=16, choices=ClassKind.choices)
    code = models.CharField(_("code"), max_length=2, help_text=_("Two-digit major class code, e.g. 01."))
    name = models.CharField(_("name"), max_length=64)
    name_en = models.CharField(_("English name"), max_length=128, blank=True)

    class Meta:
        verbose_name = _("major class")
        verbose_name_plural = _("major classes")
        ordering = ["kind", "code"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "code"], name="catalogue_major_unique_kind_code"),
            models.CheckConstraint(condition=models.Q(code__regex=r"^[0-9]{2}$"), name="catalogue_major_code_2_digits"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.code} {self.name}"


class MinorClass(models.Model):
    major = models.ForeignKey(
        MajorClass, on_delete=models.PROTECT, related_name="minors", verbose_name=_("major class")
    )
    code = models.CharField(_("code"), max_length=2, help_text=_("Two-digit minor class code within its major class."))
    name = models.CharField(_("name"), max_length=64)
    name_en = models.CharField(_("English name"), max_length=128, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # The case rules below are seeded from catalogue/data/rules/ once, then belong to the administrators:
    # the loader never overwrites them (see catalogue.services.catalogue_load_standard).
    registration_criteria = models.TextField(_("registration criteria"), default="")  # 立案标准
    closure_criteria = models.TextField(_("closure criteria"), default="")  # 结案标准
    default_responsible_kind = models.CharField(
        _("default responsible department kind"),
        max_length=32,
        choices=ResponsibleKind.choices,
        default=ResponsibleKind.OTHER,
    )
    self_handle_allowed = models.BooleanField(
        _("inspectors may self-handle"),
        default=False,
        help_text=_("An inspector may fix it on the spot and close it at once (before and after photos)."),
    )
    duplicate_radius_m = models.PositiveIntegerField(
        _("duplicate radius (m)"),
        default=30,
        help_text=_(
            "An open case of this class within this distance is flagged as a likely duplicate; 0 turns it off."
        ),
    )
    rules_seeded_at = models.DateTimeField(
        _("rules seeded at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When the loader set the rules from the data files; it leaves them alone afterwards."),
    )

    class Meta:
        verbose_name = _("minor class")
        verbose_name_plural = _("minor classes")
        ordering = ["major__kind", "major__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["major", "code"], name="catalogue_minor_unique_major_code"),
            models.CheckConstraint(condition=models.Q(code__regex=r"^[0-9]{2}$"), name="catalogue_minor_code_2_digits"),
        ]

    def __str__(self) -> str:
        return f"{self.full_code} {self.name}"

    @property
    def full_code(self) -> str:
        """Major + minor code, e.g. 0101 (上水井盖)."""
        return f"{self.major.code}{self.code}"


class TimeLimit(models.Model):
    """How long one stage of a case of this class may take at one urgency (e.g. handle, urgent: 2 calendar hours;
    verify, emergency: 30 calendar minutes).

    Cases copy their limits at intake, so an edit here applies to new cases only.
    """

    minor_class = models.ForeignKey(
        MinorClass, on_delete=models.CASCADE, related_name="time_limits", verbose_name=_("minor class")
    )
    urgency = models.CharField(_("urgency"), max_length=16, choices=Urgency.choices)
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices)
    amount = models.PositiveIntegerField(_("amount"))
    unit = models.CharField(_("unit"), max_length=16, choices=TimeUnit.choices)

    class Meta:
        verbose_name = _("time limit")
        verbose_name_plural = _("time limits")
        constraints = [
            models.UniqueConstraint(
                fields=["minor_class", "urgency", "stage"], name="catalogue_timelimit_unique_class_urgency_stage"
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="catalogue_timelimit_amount_positive"),
            # An emergency is worked around the clock: its limits never wait for office hours.
            models.CheckConstraint(
                condition=~models.Q(urgency=Urgency.EMERGENCY) | models.Q(unit__in=sorted(CALENDAR_UNITS)),
                name="catalogue_timelimit_emergency_in_calendar_time",
                violation_error_message=_("Emergency time limits are counted in calendar hours or minutes."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_urgency_display()} {self.get_stage_display()}: {self.amount} {self.get_unit_display()}"

    def clean(self) -> None:
        # The check constraint's twin for forms: the admin shows urgency read-only, and Django skips
        # validating a constraint on a field the form does not have.
        if self.urgency == Urgency.EMERGENCY and self.unit not in CALENDAR_UNITS:
            raise ValidationError(
                {"unit": _("Emergency time limits are counted in calendar hours or minutes.")}, code="emergency_unit"
            )
