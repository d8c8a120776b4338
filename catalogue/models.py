"""The standard classification (GB/T 30428): kinds, major classes and minor classes."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ClassKind(models.TextChoices):
    COMPONENT = "component", _("Component")  # 部件
    EVENT = "event", _("Event")  # 事件
    SERVICE = "service", _("Service")  # 服务事项


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
