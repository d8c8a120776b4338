"""Reads of alarms, scoped as facilities are: an alarm is visible to whoever may see its sensor's facility (owned
by a unit of the user's subtrees or lying in the user's divisions); outside that scope it does not exist (404)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from lifelines.models import Alarm
from lifelines.selectors import _facility_scope_q


def alarms_visible_to(user: Any) -> QuerySet[Alarm]:
    q = _facility_scope_q(user, prefix="sensor__facility__")
    alarms = Alarm.objects.all() if q is None else Alarm.objects.filter(q)
    return alarms.select_related("sensor", "sensor__facility", "sensor__sensor_type", "case").defer(
        "sensor__facility__location"
    )


def get_alarm_for_user_or_404(user: Any, pk: Any) -> Alarm:
    return get_object_or_404(alarms_visible_to(user), pk=pk)
