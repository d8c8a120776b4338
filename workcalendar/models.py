"""The working calendar's tables: one row per day (working or not, and why) and the working hours of a working day."""

from __future__ import annotations

from collections.abc import Collection
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# The calendar is China's: days begin and working periods are clocked in Beijing time, whatever the
# server's or the caller's time zone.
CALENDAR_TIME_ZONE = ZoneInfo("Asia/Shanghai")


class DayKind(models.TextChoices):
    WORKDAY = "workday", _("working day")  # 工作日
    WEEKEND = "weekend", _("weekend")  # 周末
    HOLIDAY = "holiday", _("public holiday")  # 法定节假日 (and the weekend days inside a holiday block)
    MAKEUP_WORKDAY = "makeup_workday", _("make-up working day")  # 调休上班

    @classmethod
    def working(cls) -> tuple[str, ...]:
        return (cls.WORKDAY, cls.MAKEUP_WORKDAY)


class DaySource(models.TextChoices):
    """Who decided what a day is; the loader rewrites only the days it decided itself."""

    PACKAGE = "package", _("official calendar (chinese-calendar)")
    WEEKENDS_ONLY = "weekends_only", _("weekends only (no official data for the year)")
    ADMINISTRATOR = "administrator", _("set by an administrator")


class CalendarDay(models.Model):
    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=DayKind.choices)
    # Derived from kind (a constraint keeps them in step); stored so a reader never has to know the kinds.
    is_working_day = models.BooleanField(_("working day"))
    holiday_name = models.CharField(
        _("holiday"),
        max_length=64,
        blank=True,
        help_text=_("The festival a holiday or make-up working day belongs to."),
    )
    source = models.CharField(_("source"), max_length=16, choices=DaySource.choices)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("edited by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ("date",)
        constraints = (
            models.CheckConstraint(
                name="workcalendar_day_working_matches_kind",
                condition=Q(is_working_day=True, kind__in=DayKind.working())
                | (Q(is_working_day=False) & ~Q(kind__in=DayKind.working())),
            ),
        )

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.get_kind_display()}"

    def clean(self) -> None:
        # A Saturday at work is a make-up working day, a Monday off is a holiday: the kind says why.
        if self.date is None:
            return
        weekend = self.date.weekday() >= 5
        if weekend and self.kind == DayKind.WORKDAY:
            raise ValidationError({"kind": _("A weekend day at work is a make-up working day.")})
        if not weekend and self.kind == DayKind.MAKEUP_WORKDAY:
            raise ValidationError({"kind": _("Only a weekend day can be a make-up working day.")})
        if not weekend and self.kind == DayKind.WEEKEND:
            raise ValidationError({"kind": _("A weekday off is a public holiday.")})


class WorkSchedule(models.Model):
    """The working hours of every working day; exactly one schedule is active at a time."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    is_active = models.BooleanField(_("active"), default=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ("-is_active", "name")
        constraints = (
            models.UniqueConstraint(
                name="workcalendar_one_active_schedule", fields=("is_active",), condition=Q(is_active=True)
            ),
        )

    def __str__(self) -> str:
        return self.name

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        # Activating a schedule deactivates the active one (services.work_schedule_save): a form must not
        # refuse the second active schedule the constraint would see before that happens.
        super().validate_constraints(exclude={*(exclude or ()), "is_active"})


class WorkPeriod(models.Model):
    """One stretch of working time in a day, in Beijing time (08:30-12:00, 13:30-17:30)."""

    schedule = models.ForeignKey(
        WorkSchedule, verbose_name=_("schedule"), on_delete=models.CASCADE, related_name="periods"
    )
    start = models.TimeField(_("start"))
    end = models.TimeField(_("end"))

    class Meta:
        verbose_name = _("working period")
        verbose_name_plural = _("working periods")
        ordering = ("schedule", "start")
        constraints = (
            models.CheckConstraint(name="workcalendar_period_ends_after_start", condition=Q(end__gt=models.F("start"))),
        )

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"
