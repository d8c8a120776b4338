"""The case event log's integrity: the canonical form and hash of an event, the chain check, and the
case's state recomputed from its log alone (status, counters, each stage's deadline and on-time flag).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cases.models import Case, CaseEvent
from catalogue.models import Stage

# The action whose event completes each timed stage (its on-time flag is decided then).
STAGE_COMPLETED_BY: dict[str, str] = {
    "verify": Stage.VERIFY,
    "register": Stage.REGISTER,
    "reject": Stage.REGISTER,
    "merge": Stage.REGISTER,
    "dispatch": Stage.DISPATCH,
    "feedback": Stage.HANDLE,
    "check": Stage.CHECK,
}


def iso(moment: dt.datetime | None) -> str | None:
    """A datetime as it is hashed and logged: UTC, microseconds, ISO 8601."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_iso(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def on_time(completed_at: dt.datetime, due: dt.datetime | None) -> bool | None:
    """Whether a stage completed by its deadline; None where the stage had no limit."""
    return None if due is None else completed_at <= due


def event_canonical(
    *,
    case_id: int,
    seq: int,
    action: str,
    from_status: str,
    to_status: str,
    actor_id: int | None,
    actor_role: str,
    unit_id: int | None,
    reason: str,
    data: dict[str, Any],
    created_at: dt.datetime,
    prev_hash: str,
) -> bytes:
    """The bytes an event's hash covers: every field but the hash, as sorted compact JSON."""
    payload = {
        "case": case_id,
        "seq": seq,
        "action": action,
        "from": from_status,
        "to": to_status,
        "actor": actor_id,
        "role": actor_role,
        "unit": unit_id,
        "reason": reason,
        "data": data,
        "at": iso(created_at),
        "prev": prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(**fields: Any) -> str:
    return hashlib.sha256(event_canonical(**fields)).hexdigest()


def stored_event_hash(event: CaseEvent) -> str:
    """The hash an event row should carry, recomputed from its stored fields."""
    return event_hash(
        case_id=event.case_id,
        seq=event.seq,
        action=event.action,
        from_status=event.from_status,
        to_status=event.to_status,
        actor_id=event.actor_id,
        actor_role=event.actor_role,
        unit_id=event.unit_id,
        reason=event.reason,
        data=event.data,
        created_at=event.created_at,
        prev_hash=event.prev_hash,
    )


def chain_problems(case: Case, events: Iterable[CaseEvent]) -> list[str]:
    """What is wrong with a case's hash chain (empty when intact). `events` in seq order."""
    problems: list[str] = []
    prev_hash = ""
    expected_seq = 1
    for event in events:
        if event.seq != expected_seq:
            problems.append(f"event {expected_seq} is missing (found {event.seq} next)")
            expected_seq = event.seq
        if event.prev_hash != prev_hash:
            problems.append(f"event {event.seq}: its previous hash does not match event {event.seq - 1}")
        if stored_event_hash(event) != event.hash:
            problems.append(f"event {event.seq} ({event.action}): content does not match its hash")
        prev_hash = event.hash
        expected_seq += 1
    if expected_seq - 1 != case.event_count:
        problems.append(f"the case counts {case.event_count} events, the log holds {expected_seq - 1}")
    if prev_hash != case.last_event_hash:
        problems.append("the case's last event hash does not match the log's last event")
    return problems


@dataclass
class LogState:
    """What the log alone says about a case."""

    status: str = ""
    return_count: int = 0
    rework_count: int = 0
    self_handled: bool = False
    is_key: bool = False
    due: dict[str, dt.datetime | None] = field(default_factory=lambda: dict.fromkeys(Stage.values))
    on_time: dict[str, bool | None] = field(default_factory=lambda: dict.fromkeys(Stage.values))

    def mismatches(self, case: Case) -> list[str]:
        """Differences between this state and the case row, as readable lines."""
        pairs: list[tuple[str, Any, Any]] = [
            ("status", self.status, case.status),
            ("return_count", self.return_count, case.return_count),
            ("rework_count", self.rework_count, case.rework_count),
            ("self_handled", self.self_handled, case.self_handled),
            ("is_key", self.is_key, case.is_key),
        ]
        for stage in Stage.values:
            pairs.append((f"{stage}_due_at", self.due[stage], getattr(case, f"{stage}_due_at")))
            pairs.append((f"{stage}_on_time", self.on_time[stage], getattr(case, f"{stage}_on_time")))
        return [f"{name}: log says {logged!r}, row says {row!r}" for name, logged, row in pairs if logged != row]


def state_from_events(events: Iterable[CaseEvent]) -> LogState:
    """Replay a case's events (in seq order) into its state. The services record every deadline they
    set in the event's data["due"], so this needs neither the calendar nor the catalogue."""
    state = LogState()
    for event in events:
        state.status = event.to_status
        data = event.data or {}
        stage = STAGE_COMPLETED_BY.get(event.action)
        if stage is not None:
            state.on_time[stage] = on_time(event.created_at, state.due[stage])
        for name, value in (data.get("due") or {}).items():
            state.due[name] = parse_iso(value)
        if event.action == "return":
            state.return_count += 1
        elif event.action == "check" and not data.get("passed"):
            state.rework_count += 1
        elif event.action == "self_handle":
            state.self_handled = True
        elif event.action == "flag_key" or (event.action == "report" and "key" in data):
            # A report is key at once when the operating mode in force marks new cases key (cases.modes).
            state.is_key = bool(data.get("key"))
    return state


def case_state_from_log(case: Case) -> LogState:
    """The case's state recomputed from its event log alone."""
    return state_from_events(case.events.order_by("seq"))
