"""The operating mode (平时 / 战时 / 重大活动保障): which one is in force and what it does, and the leader's switch.

Every page shows the mode and every intake and deadline reads it, so the mode history and the definitions are
cached per process for CACHE_SECONDS. A switch clears this process's cache at once (and again after commit); other
processes see it within CACHE_SECONDS. A stage's limit is tightened by the mode in force when the stage *starts*
(cases.clock), looked up in the cached history, so a deadline computed again later (resume after a hold, a
decided extension) keeps the factor it started with, and a switch never rewrites a deadline already set.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from cases.alerts import Mode, OperatingMode, OperatingModeDefinition, operating_mode_set
from cases.log import iso
from organisations.models import Membership, Role, UnitType

CACHE_SECONDS = 5.0
# Changes held in the cache to answer "which mode was in force at t"; an older moment asks the database.
HISTORY_CACHED = 200
REASON_MAX_LENGTH = OperatingMode._meta.get_field("note").max_length


@dataclass(frozen=True)
class ModeDefinition:
    """What a mode does (a copy of its OperatingModeDefinition row, or the built-in default without one)."""

    mode: str
    time_limit_percent: int
    marks_new_cases_key: bool
    banner_colour: str
    description_zh: str
    description_en: str

    @property
    def label(self) -> str:
        return str(Mode(self.mode).label)

    @property
    def description(self) -> str:
        """In the active language (Chinese for any zh-*), the other one when that is empty."""
        if (translation.get_language() or "").startswith("zh"):
            return self.description_zh or self.description_en
        return self.description_en or self.description_zh

    @property
    def is_normal(self) -> bool:
        return self.mode == Mode.NORMAL

    @classmethod
    def of(cls, row: OperatingModeDefinition) -> ModeDefinition:
        return cls(
            mode=row.mode,
            time_limit_percent=row.time_limit_percent,
            marks_new_cases_key=row.marks_new_cases_key,
            banner_colour=row.banner_colour,
            description_zh=row.description_zh,
            description_en=row.description_en,
        )


# The same values migration 0005 seeds; used for a mode whose row an administrator has not got (or deleted).
DEFAULT_DEFINITIONS: dict[str, ModeDefinition] = {
    Mode.NORMAL: ModeDefinition(
        mode=Mode.NORMAL,
        time_limit_percent=100,
        marks_new_cases_key=False,
        banner_colour="#1e7d4f",
        description_zh="平时：按标准时限受理、派遣和处置。",
        description_en="Normal operation: the standard time limits apply.",
    ),
    Mode.EMERGENCY: ModeDefinition(
        mode=Mode.EMERGENCY,
        time_limit_percent=50,
        marks_new_cases_key=False,
        banner_colour="#c0392b",
        description_zh="战时：各环节时限压缩为标准时限的 50%，全员在岗，优先处置。",
        description_en="Emergency: every stage starting now gets 50% of its standard time limit; all staff on duty.",
    ),
    Mode.MAJOR_EVENT: ModeDefinition(
        mode=Mode.MAJOR_EVENT,
        time_limit_percent=75,
        marks_new_cases_key=True,
        banner_colour="#d35400",
        description_zh="重大活动保障：各环节时限压缩为标准时限的 75%，新上报案件一律列为重点案件。",
        description_en="Major event: every stage starting now gets 75% of its standard time limit; "
        "every new case is a key case.",
    ),
}


@dataclass(frozen=True)
class ModeChange:
    """One switch of the mode, as the banner and the history show it."""

    id: int
    mode: str
    note: str
    set_by_id: int | None
    set_by_name: str
    set_at: dt.datetime

    @property
    def label(self) -> str:
        return str(Mode(self.mode).label)


@dataclass(frozen=True)
class _Snapshot:
    changes: tuple[ModeChange, ...]  # newest first
    complete: bool  # every change ever made is in `changes`
    definitions: dict[str, ModeDefinition]
    expires: float  # time.monotonic()


_lock = threading.Lock()
_snapshot: _Snapshot | None = None
_generation = 0  # bumped by every clear: a load that started before a clear is not kept
_monotonic = time.monotonic  # the tests replace it to age the cache without sleeping


def mode_cache_clear(*, known_empty: bool = False) -> None:
    """Forget the cached mode in this process (the next read loads it again).

    `known_empty`: the caller knows that no mode was ever set and the definitions are the seeded ones (each test's
    fresh database): remember that, without a query, until the next clear (every switch and definition edit
    clears), so a test's query counts do not depend on how long it ran.
    """
    global _snapshot, _generation
    with _lock:
        _generation += 1
        _snapshot = _Snapshot((), True, dict(DEFAULT_DEFINITIONS), float("inf")) if known_empty else None


def _change_of(row: tuple[Any, ...]) -> ModeChange:
    pk, mode, note, set_by_id, full_name, username, set_at = row
    return ModeChange(pk, mode, note, set_by_id, full_name or username or "", set_at)


_CHANGE_FIELDS = ("id", "mode", "note", "set_by_id", "set_by__full_name", "set_by__username", "set_at")


def _load() -> _Snapshot:
    rows = list(OperatingMode.objects.order_by("-set_at", "-id").values_list(*_CHANGE_FIELDS)[: HISTORY_CACHED + 1])
    definitions = dict(DEFAULT_DEFINITIONS)
    definitions.update({row.mode: ModeDefinition.of(row) for row in OperatingModeDefinition.objects.all()})
    return _Snapshot(
        changes=tuple(_change_of(row) for row in rows[:HISTORY_CACHED]),
        complete=len(rows) <= HISTORY_CACHED,
        definitions=definitions,
        expires=_monotonic() + CACHE_SECONDS,
    )


def _current_snapshot() -> _Snapshot:
    global _snapshot
    snapshot = _snapshot
    if snapshot is not None and _monotonic() < snapshot.expires:
        return snapshot
    generation = _generation
    snapshot = _load()
    with _lock:
        if generation == _generation:
            _snapshot = snapshot
    return snapshot


# --- reads


def current_change() -> ModeChange | None:
    """The latest switch (None when the mode was never set: normal)."""
    changes = _current_snapshot().changes
    return changes[0] if changes else None


def current_mode() -> str:
    change = current_change()
    return change.mode if change is not None else Mode.NORMAL


def definition_of(mode: str) -> ModeDefinition:
    return _current_snapshot().definitions[mode]


def current_definition() -> ModeDefinition:
    return definition_of(current_mode())


def mode_at(moment: dt.datetime) -> str:
    """The mode in force at `moment`: the latest change set at or before it (normal before the first one)."""
    snapshot = _current_snapshot()
    for change in snapshot.changes:
        if change.set_at <= moment:
            return change.mode
    if snapshot.complete:
        return Mode.NORMAL
    older = OperatingMode.objects.filter(set_at__lte=moment).order_by("-set_at", "-id")
    return older.values_list("mode", flat=True).first() or Mode.NORMAL


def time_limit_percent_at(moment: dt.datetime) -> int:
    """The share of its standard limit a stage starting at `moment` is given (100: unchanged)."""
    return definition_of(mode_at(moment)).time_limit_percent


def new_cases_are_key(at: dt.datetime) -> bool:
    """Whether a case reported at `at` goes on the key list at once (the mode in force says so)."""
    return definition_of(mode_at(at)).marks_new_cases_key


def mode_history(limit: int = 20) -> list[OperatingMode]:
    """The latest switches, newest first, read from the database (not the cache): the record as it stands."""
    return list(OperatingMode.objects.select_related("set_by").order_by("-set_at", "-id")[:limit])


# --- the switch


class ModeAlreadyInForce(Exception):
    """A switch to the mode already in force (the API answers 409)."""

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.mode = mode
        self.message = _("The platform is already in “%(mode)s” mode.") % {"mode": Mode(mode).label}


def may_switch_mode(user: Any) -> bool:
    """A leader (领导) of a city command centre, or a superuser, switches the operating mode."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(
        user=user, role=Role.LEADER, unit__unit_type=UnitType.CITY_CENTRE, unit__is_active=True
    ).exists()


def mode_message(row: OperatingMode) -> dict[str, Any]:
    """What the live feed tells every staff screen about a switch (the label in the platform's language)."""
    definition = definition_of(row.mode)
    with translation.override(settings.LANGUAGE_CODE):
        label = str(Mode(row.mode).label)
    set_by = row.set_by
    return {
        "kind": "mode",
        "mode": row.mode,
        "label": label,
        "note": row.note,
        "set_by": (set_by.full_name or set_by.username) if set_by is not None else "",
        "at": iso(row.set_at),  # to the microsecond, as the record (the JSON encoder would cut it to ms)
        "colour": definition.banner_colour,
        "time_limit_percent": definition.time_limit_percent,
        "marks_new_cases_key": definition.marks_new_cases_key,
    }


@transaction.atomic
def operating_mode_switch(*, mode: str, actor: Any, reason: str) -> OperatingMode:
    """Switch the platform into `mode`, as `actor`, for `reason`: recorded (who, when, why), every staff screen
    told after commit. Raises PermissionDenied (not a city centre leader), ValidationError (unknown mode, no
    reason), ModeAlreadyInForce; then nothing changed."""
    from cases.events import PLATFORM_GROUP, publish_on_commit  # the live feed imports the cases app

    if not may_switch_mode(actor):
        raise PermissionDenied(_("Only a leader of the city command centre may switch the operating mode."))
    reason = (reason or "").strip()
    errors: dict[str, Any] = {}
    if mode not in Mode.values:
        errors["mode"] = _("Unknown operating mode.")
    if not reason:
        errors["reason"] = _("Give the reason for switching the mode.")
    elif len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = _("Keep the reason under %(limit)d characters.") % {"limit": REASON_MAX_LENGTH}
    if errors:
        raise ValidationError(errors, code="invalid")
    # Two leaders switching at once: the second waits here, then sees the first one's mode (reads are not blocked).
    table = connection.ops.quote_name(OperatingMode._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
    in_force = OperatingMode.objects.order_by("-set_at", "-id").values_list("mode", flat=True).first()
    if (in_force or Mode.NORMAL) == mode:
        raise ModeAlreadyInForce(mode)
    row = operating_mode_set(mode=mode, actor=actor, note=reason)
    publish_on_commit(groups=[PLATFORM_GROUP], message=mode_message(row))
    return row
