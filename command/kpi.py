"""Today's figures for the command centre's KPI strip, in one aggregate query over the caller's cases.

Definitions (today = the calendar day in Asia/Shanghai, as the clock of the workflow stands):
* reported: cases reported today (every source, self-handled ones too);
* registered / dispatched / handled: cases registered (立案), dispatched or re-dispatched (派遣), handled (处置反馈,
  or self-handled) today, each case counted once per step;
* closed: cases closed (结案) today, self-handled ones included; not the rejected, merged or cancelled;
* on-time rate: of the timed stages (verify, register, dispatch, handle, check) completed today that had a
  deadline, the share completed by it. Counted per case and stage from the case's on-time flags, which are the
  event log's (cases.log recomputes them from the log alone; verify_case_log checks they agree); a stage
  completed twice today (a rework) counts once, with its latest completion. None when no stage completed today;
* overdue_now: open cases past their current stage's deadline now (as of the last sweep; cases.lists' overdue list).

Every change of a case sets its `updated_at`, so the cases with anything to count today are those updated since
midnight (index cases_updated) or overdue (partial index cases_overdue): the query reads only those rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q

from cases import clock
from cases.models import FINAL_STATUSES, Status
from cases.selectors import cases_visible_to
from catalogue.models import Stage

# The column each timed stage's completion sets (reject and merge complete registration too: see _completed).
STAGE_DONE_AT = {
    Stage.VERIFY: "verified_at",
    Stage.REGISTER: "registered_at",
    Stage.DISPATCH: "dispatched_at",
    Stage.HANDLE: "handled_at",
    Stage.CHECK: "checked_at",
}


@dataclass(frozen=True)
class Kpi:
    date: dt.date
    district: int | None
    reported: int
    registered: int
    dispatched: int
    handled: int
    closed: int
    self_handled: int
    stages_completed: int  # timed stages completed today that had a deadline
    stages_on_time: int  # of those, completed by their deadline
    overdue_now: int  # open cases past their current stage's deadline (as of the last sweep)
    as_of: dt.datetime

    @property
    def on_time_rate(self) -> float | None:
        """stages_on_time / stages_completed, 0..1 (None when no stage completed today)."""
        return self.stages_on_time / self.stages_completed if self.stages_completed else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "on_time_rate": self.on_time_rate}


def today_bounds(now: dt.datetime | None = None) -> tuple[dt.date, dt.datetime, dt.datetime]:
    """Today's date in the city and its [start, end) as aware datetimes."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local = (now or clock.now()).astimezone(zone)
    start = dt.datetime.combine(local.date(), dt.time(), tzinfo=zone)
    end = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return local.date(), start, end


def _in(column: str, start: dt.datetime, end: dt.datetime) -> Q:
    return Q(**{f"{column}__gte": start, f"{column}__lt": end})


def _completed(stage: str, start: dt.datetime, end: dt.datetime) -> Q:
    done = _in(STAGE_DONE_AT[stage], start, end)
    if stage == Stage.REGISTER:  # not registered or merged today: the registration stage ended then too
        done |= Q(status__in=[Status.NOT_REGISTERED, Status.MERGED]) & _in("closed_at", start, end)
    return done


def kpi_today(user: Any, district_id: int | None = None, *, now: dt.datetime | None = None) -> Kpi:
    """Today's figures over the cases `user` sees (cases_visible_to), optionally in one district. One query.

    The caller checks that the district is within the user's area (a district outside it simply counts nothing).
    """
    now = now or clock.now()
    day, start, end = today_bounds(now)
    cases = cases_visible_to(user)
    if district_id is not None:
        cases = cases.filter(district_id=district_id)
    overdue_now = Q(is_overdue=True) & ~Q(status__in=FINAL_STATUSES)
    cases = cases.filter(Q(updated_at__gte=start) | overdue_now)
    aggregates: dict[str, Any] = {
        "reported": Count("id", filter=_in("reported_at", start, end)),
        "registered": Count("id", filter=_in("registered_at", start, end)),
        "dispatched": Count("id", filter=_in("dispatched_at", start, end)),
        "handled": Count("id", filter=_in("handled_at", start, end)),
        "closed": Count("id", filter=Q(status=Status.CLOSED) & _in("closed_at", start, end)),
        "self_handled": Count("id", filter=Q(self_handled=True) & _in("closed_at", start, end)),
        "overdue_now": Count("id", filter=overdue_now),
    }
    for stage in STAGE_DONE_AT:
        done = _completed(stage, start, end)
        aggregates[f"{stage}_completed"] = Count("id", filter=done & Q(**{f"{stage}_on_time__isnull": False}))
        aggregates[f"{stage}_on_time"] = Count("id", filter=done & Q(**{f"{stage}_on_time": True}))
    counts = cases.aggregate(**aggregates)
    return Kpi(
        date=day,
        district=district_id,
        reported=counts["reported"],
        registered=counts["registered"],
        dispatched=counts["dispatched"],
        handled=counts["handled"],
        closed=counts["closed"],
        self_handled=counts["self_handled"],
        stages_completed=sum(counts[f"{stage}_completed"] for stage in STAGE_DONE_AT),
        stages_on_time=sum(counts[f"{stage}_on_time"] for stage in STAGE_DONE_AT),
        overdue_now=counts["overdue_now"],
        as_of=now,
    )
