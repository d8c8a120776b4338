"""The supervision lists (超期 overdue, 重点 key, 疑难 difficult) and the supervision records, scoped
through cases.selectors.cases_visible_to like every other read of cases.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from cases import clock
from cases.alerts import AlertKind, CaseDeadlineWarning, Mode, operating_mode_current
from cases.models import FINAL_STATUSES, Case, Supervision
from cases.selectors import cases_visible_to
from cases.workflow import DIFFICULT_AFTER_REWORKS, DISPUTE_AFTER_RETURNS
from organisations.selectors import scope_for

# A case still open this long after its report is difficult (疑难) whatever else happened to it.
DEFAULT_DIFFICULT_AFTER_DAYS = 30


def difficult_after() -> dt.timedelta:
    return dt.timedelta(days=getattr(settings, "CASES_DIFFICULT_AFTER_DAYS", DEFAULT_DIFFICULT_AFTER_DAYS))


def _open(user: Any) -> QuerySet[Case]:
    return cases_visible_to(user).exclude(status__in=FINAL_STATUSES)


def cases_overdue_for(user: Any) -> QuerySet[Case]:
    """超期: the open cases whose current stage deadline has passed (as of the last sweep)."""
    return _open(user).filter(is_overdue=True)


def cases_key_for(user: Any, *, mode: str | None = None) -> QuerySet[Case]:
    """重点: the open cases a leader flagged; during a major event, every open case."""
    if (mode or operating_mode_current()) == Mode.MAJOR_EVENT:
        return _open(user)
    return _open(user).filter(is_key=True)


def difficult_q(*, now: dt.datetime | None = None) -> Q:
    """Returned or reworked twice (the services also set is_difficult then), or open past the limit."""
    reported_before = (now or clock.now()) - difficult_after()
    return (
        Q(is_difficult=True)
        | Q(return_count__gte=DISPUTE_AFTER_RETURNS)
        | Q(rework_count__gte=DIFFICULT_AFTER_REWORKS)
        | Q(reported_at__lt=reported_before)
    )


def cases_difficult_for(user: Any, *, now: dt.datetime | None = None) -> QuerySet[Case]:
    """疑难: the open cases returned or reworked twice, or still open after CASES_DIFFICULT_AFTER_DAYS."""
    return _open(user).filter(difficult_q(now=now))


CASE_LISTS = {"overdue": cases_overdue_for, "key": cases_key_for, "difficult": cases_difficult_for}


def case_list_for(user: Any, name: str) -> QuerySet[Case]:
    """One of the three lists by name ("overdue", "key", "difficult"); KeyError for any other."""
    return CASE_LISTS[name](user)


def supervisions_visible_to(
    user: Any, *, kind: str | None = None, unreplied: bool | None = None
) -> QuerySet[Supervision]:
    """督办 and 催办 records on the cases `user` sees, and those addressed to the user's units, newest first."""
    scope = scope_for(user)
    if scope.is_empty:
        return Supervision.objects.none()
    records = Supervision.objects.all()
    if not scope.city_wide:
        visible = Q(case__in=cases_visible_to(user).values("pk"))
        if scope.unit_ids:
            visible |= Q(to_unit_id__in=scope.unit_ids) | Q(from_unit_id__in=scope.unit_ids)
        records = records.filter(visible)
    if kind is not None:
        records = records.filter(kind=kind)
    if unreplied is not None:
        records = records.filter(replied_at__isnull=unreplied)
    return records.select_related("case", "by", "from_unit", "to_unit", "replied_by").order_by("-created_at", "-id")


def supervisions_addressed_to(user: Any, *, unreplied: bool | None = None) -> QuerySet[Supervision]:
    """The records sent to the user's units (what a handling unit has to answer)."""
    scope = scope_for(user)
    if scope.city_wide:
        records = Supervision.objects.all()
    elif scope.unit_ids:
        records = Supervision.objects.filter(to_unit_id__in=scope.unit_ids)
    else:
        return Supervision.objects.none()
    if unreplied is not None:
        records = records.filter(replied_at__isnull=unreplied)
    return records.select_related("case", "by", "from_unit", "to_unit", "replied_by").order_by("-created_at", "-id")


def deadline_alerts_for(user: Any, *, kind: str | None = None) -> QuerySet[CaseDeadlineWarning]:
    """The sweep's warnings and overdue alerts on the cases `user` sees, newest first."""
    alerts = CaseDeadlineWarning.objects.filter(case__in=cases_visible_to(user).values("pk"))
    if kind is not None:
        if kind not in AlertKind.values:
            raise ValueError(f"unknown alert kind {kind!r}")
        alerts = alerts.filter(kind=kind)
    return alerts.select_related("case").order_by("-created_at", "-id")
