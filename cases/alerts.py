"""Deadline alerts the overdue sweep records (warned at 80%, gone overdue) and the platform's operating mode.

Registered from cases.models (one import line), so they live in the cases app and its migrations.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
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


def operating_mode_current() -> str:
    """The mode in force (normal when none was ever set)."""
    latest = OperatingMode.objects.order_by("-set_at", "-id").values_list("mode", flat=True).first()
    return latest or Mode.NORMAL


@transaction.atomic
def operating_mode_set(*, mode: str, actor: Any | None, note: str = "") -> OperatingMode:
    """Put the platform into `mode` (a new row; the history stays)."""
    from cases import clock  # imported late: cases.models imports this module while loading

    if mode not in Mode.values:
        raise ValidationError({"mode": _("Unknown operating mode.")}, code="invalid_mode")
    return OperatingMode.objects.create(mode=mode, note=note, set_by=actor, set_at=clock.now())
