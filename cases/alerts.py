"""Deadline alerts the overdue sweep records (warned at 80%, gone overdue), the platform's operating mode and what
each mode does (its definition; cases.modes reads both through a per-process cache).

Registered from cases.models (one import line), so they live in the cases app and its migrations.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class AlertKind(models.TextChoices):
    WARN = "warn", _("Deadline approaching")  # 预警
    OVERDUE = "overdue", _("Overdue")  # 超期


class CaseDeadlineWarning(models.Model):
    """One alert about one stage deadline of a case; the unique key makes the sweep idempotent.

    `due_at` is part of the key: a new deadline for the same stage (an approved extension, a
    re-dispatch, a rework) may be warned about and go overdue again.
    """

    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="deadline_alerts", verbose_name=_("case")
    )
    stage = models.CharField(_("stage"), max_length=16)
    kind = models.CharField(_("kind"), max_length=16, choices=AlertKind.choices)
    due_at = models.DateTimeField(_("deadline"))
    created_at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("deadline alert")
        verbose_name_plural = _("deadline alerts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "stage", "kind", "due_at"], name="cases_deadline_alert_once"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.stage} {self.kind} {self.due_at:%Y-%m-%d %H:%M}"


class Mode(models.TextChoices):
    # Own context: "Normal" is also a component status (完好) and an urgency (一般).
    NORMAL = "normal", pgettext_lazy("operating mode", "Normal")  # 常态
    EMERGENCY = "emergency", pgettext_lazy("operating mode", "Emergency")  # 应急
    MAJOR_EVENT = (
        "major_event",
        pgettext_lazy("operating mode", "Major event"),
    )  # 重大活动保障: every open case is a key case


class OperatingMode(models.Model):
    """The platform's operating mode; each change is a row, the latest one is in force."""

    mode = models.CharField(_("mode"), max_length=16, choices=Mode.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("set by"),
    )
    set_at = models.DateTimeField(_("set at"))

    class Meta:
        verbose_name = _("operating mode")
        verbose_name_plural = _("operating modes")
        ordering = ["-set_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} ({self.set_at:%Y-%m-%d %H:%M})"


class OperatingModeDefinition(models.Model):
    """What a mode does while it is in force (administrators edit it; one row per mode, seeded by migration 0005).

    The percentage applies to the limit of every stage that *starts* while the mode is in force (cases.clock);
    deadlines already set are never rewritten, by a switch of mode or by an edit here.
    """

    mode = models.CharField(_("mode"), max_length=16, choices=Mode.choices, unique=True)
    time_limit_percent = models.PositiveSmallIntegerField(
        _("time limits (%)"),
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Share of each stage's time limit granted to stages that start in this mode (100: unchanged)."),
    )
    marks_new_cases_key = models.BooleanField(
        _("new cases are key cases"),
        default=False,
        help_text=_("Every case reported while this mode is in force is put on the key list (重点) at intake."),
    )
    banner_colour = models.CharField(
        _("banner colour"),
        max_length=7,
        default="#c0392b",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour as #rrggbb."))],
        help_text=_("The colour of the banner every screen shows while this mode is in force."),
    )
    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("operating mode definition")
        verbose_name_plural = _("operating mode definitions")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(time_limit_percent__gte=1, time_limit_percent__lte=100),
                name="cases_mode_definition_percent_1_100",
            ),
            models.CheckConstraint(
                condition=models.Q(banner_colour__regex=r"^#[0-9a-fA-F]{6}$"),
                name="cases_mode_definition_colour_hex",
            ),
        ]

    def __str__(self) -> str:
        return str(self.get_mode_display())


def operating_mode_current() -> str:
    """The mode in force (normal when none was ever set), from the per-process cache (cases.modes)."""
    from cases.modes import current_mode  # imported late: cases.models imports this module while loading

    return current_mode()


@transaction.atomic
def operating_mode_set(*, mode: str, actor: Any | None, note: str = "") -> OperatingMode:
    """Put the platform into `mode` (a new row; the history stays). No checks of who or why: the leader's
    switch (cases.modes.operating_mode_switch) checks them and tells every screen."""
    from cases import clock  # imported late: cases.models imports this module while loading
    from cases.modes import mode_cache_clear

    if mode not in Mode.values:
        raise ValidationError({"mode": _("Unknown operating mode.")}, code="invalid_mode")
    row = OperatingMode.objects.create(mode=mode, note=note, set_by=actor, set_at=clock.now())
    # Now for the rest of this transaction, and again once the row is visible to everyone else.
    mode_cache_clear()
    transaction.on_commit(mode_cache_clear)
    return row
