"""The units a time limit is counted in; the catalogue's limits and the SLA clock share them."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeUnit(models.TextChoices):
    WORKING_MINUTES = "working_minutes", _("working minutes")  # 工作分钟
    WORKING_HOURS = "working_hours", _("working hours")  # 工作时
    WORKING_DAYS = "working_days", _("working days")  # 工作日
    CALENDAR_MINUTES = "calendar_minutes", _("calendar minutes")  # 自然分钟 (emergencies: 30 minutes)
    CALENDAR_HOURS = "calendar_hours", _("calendar hours")  # 自然小时 (emergencies)


# Wall-clock units, which ignore the calendar: the only ones an emergency limit may use (worked around the clock).
CALENDAR_UNITS = frozenset({TimeUnit.CALENDAR_MINUTES, TimeUnit.CALENDAR_HOURS})

# An extension (延期) is asked for, pauses the clock while a dispatcher decides, and is counted in
# hours or days: a few minutes more is not worth that round trip, so minute units are not offered.
EXTENSION_UNITS: tuple[TimeUnit, ...] = (TimeUnit.WORKING_HOURS, TimeUnit.WORKING_DAYS, TimeUnit.CALENDAR_HOURS)


def extension_unit_choices() -> list[tuple[str, str]]:
    """(value, label) pairs for the units an extension may be asked in, in TimeUnit's order."""
    return [(unit.value, unit.label) for unit in EXTENSION_UNITS]
