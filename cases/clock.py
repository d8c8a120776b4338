"""The case clock: what time it is for the workflow, and each stage's deadline in working time.

`now()` is timezone.now() unless a block runs under `clock_at(moment)`: the tests use it to move
time, and a demo history generator to write past cases through the same services.

Every stage deadline is computed here, from the limits copied onto the case, tightened by the operating mode in
force when the stage starts (cases.modes: emergency 50%, major event 75% by default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.utils import timezone

from cases.log import parse_iso
from cases.modes import time_limit_percent_at
from workcalendar.selectors import deadline_after

_NOW: ContextVar[dt.datetime | None] = ContextVar("cases_clock_now", default=None)


def now() -> dt.datetime:
    return _NOW.get() or timezone.now()


@contextmanager
def clock_at(moment: dt.datetime) -> Iterator[None]:
    """Run the block with the workflow's clock standing at `moment` (timezone-aware)."""
    if timezone.is_naive(moment):
        raise ValueError("clock_at needs a timezone-aware datetime")
    token = _NOW.set(moment)
    try:
        yield
    finally:
        _NOW.reset(token)


def stage_due(limits: Mapping[str, Any], stage: str, *, start: dt.datetime) -> dt.datetime | None:
    """When `stage` is due if it starts at `start`, from the limits copied onto the case (None: no limit)."""
    limit = limits.get(stage)
    if not limit:
        return None
    return _utc(deadline_after(start=start, amount=_in_mode(limit["amount"], start), unit=limit["unit"]))


def pause_intervals(pauses: Sequence[Mapping[str, str]]) -> list[tuple[dt.datetime, dt.datetime]]:
    return [(parse_iso(p["start"]), parse_iso(p["end"])) for p in pauses]  # type: ignore[misc]


def handle_due(
    *,
    limits: Mapping[str, Any],
    started_at: dt.datetime | None,
    pauses: Sequence[Mapping[str, str]] = (),
    extensions: Sequence[Mapping[str, Any]] = (),
) -> dt.datetime | None:
    """The handling deadline: the limit from `started_at`, then each approved extension on top,
    none of it counting the time the clock stood still (on hold, extension pending)."""
    limit = limits.get("handle")
    if not limit or started_at is None:
        return None
    intervals = pause_intervals(pauses)
    amount = _in_mode(limit["amount"], started_at)
    due = deadline_after(start=started_at, amount=amount, unit=limit["unit"], pauses=intervals)
    for extension in extensions:
        due = deadline_after(start=due, amount=extension["amount"], unit=extension["unit"], pauses=intervals)
    return _utc(due)


def _in_mode(amount: int, start: dt.datetime) -> int | float:
    """The limit granted to a stage starting at `start` (the arithmetic takes fractions: it counts in µs).
    Extensions are not scaled: they are the time a leader approved."""
    percent = time_limit_percent_at(start)
    return amount if percent == 100 else amount * percent / 100


def _utc(moment: dt.datetime) -> dt.datetime:
    # Stored and logged in UTC, so the row and the log compare equal without time zone games.
    return moment.astimezone(dt.UTC)
