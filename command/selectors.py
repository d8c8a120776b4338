"""The command centre's work queues: which cases each queue holds, and all their counts in one query.

Each queue is a filter over the caller's open cases (cases.selectors.cases_visible_to) and the same filter as a
query string of /api/v1/cases/ (or /api/v1/supervisions/), so the page lists exactly what the count counts.
The overdue, key and difficult queues are cases.lists' definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cases.alerts import Mode, operating_mode_current
from cases.lists import difficult_q, supervisions_addressed_to
from cases.models import FINAL_STATUSES, Status
from cases.selectors import cases_visible_to


@dataclass(frozen=True)
class Queue:
    name: str
    label: Any
    hint: Any
    api: str  # the list endpoint with its query string (deadline first: the most pressing on top)


QUEUES: tuple[Queue, ...] = (
    Queue(
        "to_register",
        pgettext_lazy("queue", "To register"),  # 待立案
        _("Reports verified or not needing verification, waiting for the shift leader."),
        "/api/v1/cases/?status=reported&ordering=deadline",
    ),
    Queue(
        "to_dispatch",
        pgettext_lazy("queue", "To dispatch"),  # 待派遣
        _("Registered cases waiting to be sent to a unit."),
        "/api/v1/cases/?status=registered&ordering=deadline",
    ),
    Queue(
        "returned",
        pgettext_lazy("queue", "Returned"),  # 退回/争议
        _("Cases a unit returned as not theirs; returned twice is a dispute for arbitration."),
        "/api/v1/cases/?status=returned&ordering=deadline",
    ),
    Queue(
        "to_verify",
        pgettext_lazy("queue", "Awaiting verification"),  # 待核实
        _("Citizen and hotline reports waiting for the grid's inspector to confirm them on site."),
        "/api/v1/cases/?status=verifying&ordering=deadline",
    ),
    Queue(
        "overdue",
        pgettext_lazy("queue", "Overdue"),  # 超期
        _("Open cases past their current stage's deadline."),
        "/api/v1/cases/?list=overdue&ordering=deadline",
    ),
    Queue(
        "key",
        pgettext_lazy("queue", "Key"),  # 重点
        _("Open cases a leader flagged; in major-event mode, every open case."),
        "/api/v1/cases/?list=key&ordering=deadline",
    ),
    Queue(
        "difficult",
        pgettext_lazy("queue", "Difficult"),  # 疑难
        _("Open cases returned or reworked twice, or open too long."),
        "/api/v1/cases/?list=difficult&ordering=deadline",
    ),
    Queue(
        "supervision",
        pgettext_lazy("queue", "Supervision"),  # 督办
        _("Supervision and urging records still waiting for a reply."),
        "/api/v1/supervisions/?unreplied=true",
    ),
)
QUEUE_NAMES = tuple(queue.name for queue in QUEUES)


def queue_counts(user: Any, *, district_id: int | None = None, mode: str | None = None) -> dict[str, int]:
    """Every queue's count for `user` (optionally within one district), in two queries."""
    cases = cases_visible_to(user).exclude(status__in=FINAL_STATUSES)
    if district_id is not None:
        cases = cases.filter(district_id=district_id)
    every_open_is_key = (mode or operating_mode_current()) == Mode.MAJOR_EVENT
    counts = cases.aggregate(
        to_register=Count("id", filter=Q(status=Status.REPORTED)),
        to_dispatch=Count("id", filter=Q(status=Status.REGISTERED)),
        returned=Count("id", filter=Q(status=Status.RETURNED)),
        to_verify=Count("id", filter=Q(status=Status.VERIFYING)),
        overdue=Count("id", filter=Q(is_overdue=True)),
        key=Count("id") if every_open_is_key else Count("id", filter=Q(is_key=True)),
        difficult=Count("id", filter=difficult_q()),
    )
    records = supervisions_addressed_to(user, unreplied=True)
    if district_id is not None:
        records = records.filter(case__district_id=district_id)
    counts["supervision"] = records.count()
    return {name: counts[name] for name in QUEUE_NAMES}
