"""The units a time limit is counted in; the catalogue's limits and the SLA clock share them."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeUnit(models.TextChoices):
    WORKING_HOURS = "working_hours", _("working hours")  # 工作时
    WORKING_DAYS = "working_days", _("working days")  # 工作日
    CALENDAR_HOURS = "calendar_hours", _("calendar hours")  # 自然小时 (emergencies)
