"""Reads on the catalogue. The classification is public reference data: every user may see all of it.

The cases app codes against `minor_class_by_full_code`, `time_limit_for` / `time_limits_for` and the rule
fields of MinorClass; it copies the limits onto a case at intake, so later edits apply to new cases only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db.models import QuerySet
from django.db.models.functions import Concat

from catalogue.models import MajorClass, MinorClass, TimeLimit


@dataclass(frozen=True)
class TimeLimitSpec:
    """One stage's time limit, e.g. 2 calendar hours."""

    amount: int  # e.g. 2
    unit: str  # a workcalendar.units.TimeUnit value


def major_class_list(*, kind: str | None = None) -> QuerySet[MajorClass]:
    queryset = MajorClass.objects.all()
    if kind is not None:
        queryset = queryset.filter(kind=kind)
    return queryset.order_by("kind", "code")


def minor_class_list(*, kind: str | None = None, include_inactive: bool = False) -> QuerySet[MinorClass]:
    """Minor classes with their major class joined, annotated with `code_full` (e.g. 0101), in code order.

    Pickers for new cases and components use the default (active only); lists of existing records,
    which may point at a deactivated class, pass include_inactive=True.
    """
    queryset = MinorClass.objects.select_related("major").annotate(code_full=Concat("major__code", "code"))
    if kind is not None:
        queryset = queryset.filter(major__kind=kind)
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    return queryset.order_by("major__kind", "major__code", "code")


def minor_class_get_by_full_code(*, kind: str, full_code: str) -> MinorClass:
    """The minor class of `kind` whose major + minor code is `full_code` (e.g. "0101"), active or not.

    Raises MinorClass.DoesNotExist for a code that is not 4 digits or not in the catalogue; importers use
    this to resolve the class from digits 7-10 of a 16-digit component code.
    """
    if len(full_code) != 4 or not full_code.isdigit():
        raise MinorClass.DoesNotExist(f"{full_code!r} is not a 4-digit class code")
    return MinorClass.objects.select_related("major").get(
        major__kind=kind, major__code=full_code[:2], code=full_code[2:]
    )


def minor_class_by_full_code(full_code: str, *, kind: str | None = None) -> MinorClass | None:
    """The minor class whose major + minor code is `full_code` (e.g. "0101"), active or not; None if there is none.

    Pass `kind`: the kinds share codes (component 0101 上水井盖, event 0101 暴露垃圾). Without it the code must
    be unique across kinds, else MinorClass.MultipleObjectsReturned is raised rather than a guess returned.
    """
    if len(full_code) != 4 or not full_code.isdigit():
        return None
    queryset = MinorClass.objects.select_related("major").filter(major__code=full_code[:2], code=full_code[2:])
    if kind is not None:
        queryset = queryset.filter(major__kind=kind)
    found = list(queryset[:2])
    if len(found) > 1:
        raise MinorClass.MultipleObjectsReturned(f"{full_code} exists in several kinds; pass kind=")
    return found[0] if found else None


def time_limit_for(*, minor_class: MinorClass, urgency: str, stage: str) -> TimeLimitSpec | None:
    """The limit of `stage` (a Stage value) at `urgency` (an Urgency value) for this class; None if it has none.

    One query, or none when the class was fetched with prefetch_related("time_limits").
    """
    return time_limits_for(minor_class=minor_class, urgency=urgency).get(stage)


def time_limits_for(*, minor_class: MinorClass, urgency: str) -> dict[str, TimeLimitSpec]:
    """Every stage's limit at `urgency` for this class, by stage, in one query (intake needs them all)."""
    prefetched = getattr(minor_class, "_prefetched_objects_cache", {}).get("time_limits")
    if prefetched is not None:
        rows = [(limit.stage, limit.amount, limit.unit) for limit in prefetched if limit.urgency == urgency]
    else:
        rows = TimeLimit.objects.filter(minor_class=minor_class, urgency=urgency).values_list("stage", "amount", "unit")
    return {stage: TimeLimitSpec(amount=amount, unit=unit) for stage, amount, unit in rows}


# --- intake's lookup, remembered per process

CLASS_CACHE_SECONDS = 30.0
_classes_seen: dict[tuple[str, str | None], tuple[float, MinorClass | None]] = {}


def minor_class_by_full_code_cached(full_code: str, *, kind: str | None = None) -> MinorClass | None:
    """As minor_class_by_full_code, remembered in this process for CLASS_CACHE_SECONDS.

    Every report looks its class up (1.3 ms through the ORM, a tenth of an intake request); the catalogue
    changes a few times a year, and an administrator's edit reaches new reports within half a minute.
    """
    key = (full_code, kind)
    now = time.monotonic()
    seen = _classes_seen.get(key)
    if seen is not None and now - seen[0] < CLASS_CACHE_SECONDS:
        return seen[1]
    found = minor_class_by_full_code(full_code, kind=kind)
    _classes_seen[key] = (now, found)
    return found


def minor_class_cache_clear() -> None:
    _classes_seen.clear()
