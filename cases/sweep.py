"""The deadline sweep: marks open cases overdue (and clears the flag once the current deadline is ahead
again), and warns once when 80% of a stage's time limit has run. Set-based SQL, idempotent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext

from cases import clock
from cases.alerts import AlertKind, CaseDeadlineWarning
from cases.events import case_groups, publish_on_commit
from cases.models import PAUSED_STATUSES, STAGE_OF_STATUS, Case, Supervision, SupervisionKind
from cases.modes import time_limit_percent_at
from cases.services import case_urge
from catalogue.models import Stage
from workcalendar.selectors import deadline_after

logger = logging.getLogger(__name__)

# The platform's own account (a dispatcher of the city centre) urges the lead unit when handling goes
# overdue; without that account the sweep still flags, it sends no urging and logs a warning.
# organisations.demo.platform_account_create makes it for the demo (same setting, same default).
DEFAULT_PLATFORM_USERNAME = "platform"
WARN_AT = 0.8  # warn once this share of the stage's time limit has run
# Above this many changed cases one sweep sends one "reload" hint per district instead of one per case.
PUBLISH_PER_CASE_LIMIT = 200

# The clock stands still while paused: a paused case is neither marked, cleared nor warned.
_WATCHED = {status: stage for status, stage in STAGE_OF_STATUS.items() if status not in PAUSED_STATUSES}


@dataclass(frozen=True)
class SweepResult:
    overdue: int  # cases newly flagged overdue
    cleared: int  # cases whose current deadline is ahead again (moved on, extension approved)
    warned: int  # warnings recorded


def _case_expr(column: str) -> tuple[str, list[str]]:
    """SQL `CASE status WHEN ... END` giving, for each watched status, its stage or its stage's deadline."""
    whens, params = [], []
    for status, stage in _WATCHED.items():
        if column == "stage":
            whens.append("WHEN %s THEN %s")
            params += [status, stage]
        else:
            whens.append(f"WHEN %s THEN c.{connection.ops.quote_name(f'{stage}_due_at')}")
            params.append(status)
    return f"CASE c.status {' '.join(whens)} END", params


def _current_sql() -> tuple[str, list[Any]]:
    """The watched cases with their current stage and deadline (one scan of the case table)."""
    stage_sql, stage_params = _case_expr("stage")
    due_sql, due_params = _case_expr("due")
    statuses = list(_WATCHED)
    sql = (
        f"SELECT c.id, c.district_id, c.street_id, c.lead_unit_id, c.is_overdue, c.time_limits, "
        f"{stage_sql} AS stage, {due_sql} AS due_at "
        f"FROM {Case._meta.db_table} c WHERE c.status IN ({', '.join(['%s'] * len(statuses))})"
    )
    return sql, [*stage_params, *due_params, *statuses]


@transaction.atomic
def deadlines_sweep(*, at: dt.datetime | None = None) -> SweepResult:
    """Flag the cases whose current stage deadline has passed, clear the flag where it no longer
    has, and record one warning per stage deadline at 80% of its limit. Running it twice changes
    nothing the second time; no event rows are written (the log is for state changes)."""
    now = at or clock.now()
    current, current_params = _current_sql()
    due_sql, due_params = _case_expr("due")
    watched = list(_WATCHED)
    in_watched = ", ".join(["%s"] * len(watched))
    alerts = CaseDeadlineWarning._meta.db_table
    cases = Case._meta.db_table
    with connection.cursor() as cursor:
        # The alert row keys each (case, stage, deadline) once; the flag flips only where it differs.
        # The UPDATEs test the row itself again: one a transition changed meanwhile is re-read (under
        # READ COMMITTED) after its lock is released, and must still qualify.
        cursor.execute(
            f"""
            WITH cur AS ({current}),
            late AS (SELECT * FROM cur WHERE due_at < %s),
            alerted AS (
                INSERT INTO {alerts} (case_id, stage, kind, due_at, created_at)
                SELECT id, stage, %s, due_at, %s FROM late
                ON CONFLICT DO NOTHING
                RETURNING id, case_id, stage
            ),
            flagged AS (
                UPDATE {cases} c SET is_overdue = TRUE FROM late
                WHERE c.id = late.id AND NOT c.is_overdue AND ({due_sql}) < %s
                RETURNING c.id, c.district_id, c.street_id, c.community_id, c.lead_unit_id
            ),
            cleared AS (
                UPDATE {cases} c SET is_overdue = FALSE FROM cur
                WHERE c.id = cur.id AND cur.is_overdue AND c.is_overdue
                    AND c.status IN ({in_watched}) AND (({due_sql}) < %s) IS NOT TRUE
                RETURNING c.id, c.district_id, c.street_id, c.community_id, c.lead_unit_id
            )
            SELECT 'overdue', id, district_id, street_id, community_id, lead_unit_id FROM flagged
            UNION ALL SELECT 'cleared', id, district_id, street_id, community_id, lead_unit_id FROM cleared
            UNION ALL SELECT 'alerted', id, NULL, NULL, NULL, NULL FROM alerted WHERE stage = %s
            """,
            [
                *current_params,
                now,
                AlertKind.OVERDUE,
                now,
                *due_params,
                now,
                *watched,
                *due_params,
                now,
                Stage.HANDLE,
            ],
        )
        changed = cursor.fetchall()
        warned = _warn(cursor, current, current_params, now)
    flagged = [row[1:] for row in changed if row[0] == "overdue"]
    cleared = [row[1:] for row in changed if row[0] == "cleared"]
    _publish(flagged, action="overdue", at=now)
    _publish(cleared, action="overdue_cleared", at=now)
    _urge_on_commit([row[1] for row in changed if row[0] == "alerted"])
    return SweepResult(overdue=len(flagged), cleared=len(cleared), warned=warned)


def _warn(cursor: Any, current: str, current_params: list[Any], now: dt.datetime) -> int:
    """Record a warning for each case with at most 20% of its stage's limit left, once per deadline.

    "20% left" is measured in the limit's own unit (working time for working hours and days): the
    deadline falls before the moment that much limit, started now, would run out. Cases share a few
    distinct limits, so that moment is computed once per (stage, limit) in Python and the rest is SQL.
    """
    cursor.execute(
        f"SELECT DISTINCT stage, time_limits -> stage FROM ({current}) cur "
        "WHERE due_at >= %s AND time_limits -> stage IS NOT NULL",
        [*current_params, now],
    )
    thresholds: list[tuple[str, str, dt.datetime]] = []
    # The operating mode grants stages a share of the class's limit (cases.modes); 80% is of what was granted.
    # Measured with the mode in force now: exact for every stage started since the last switch, and for the few
    # started before it, off by the difference between the two modes' shares until they end.
    share = time_limit_percent_at(now) / 100
    for stage, limit in cursor.fetchall():
        limit = json.loads(limit) if isinstance(limit, str) else limit
        try:
            amount, unit = float(limit["amount"]) * share, limit["unit"]
            # Fractional amounts are fine for the arithmetic (it works in microseconds).
            until = deadline_after(start=now, amount=amount * (1 - WARN_AT), unit=unit)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            continue  # a malformed limit copied onto old cases: no warning rather than no sweep
        thresholds.append((stage, json.dumps(limit), until))
    if not thresholds:
        return 0
    values = ", ".join(["(%s, %s::jsonb, %s::timestamptz)"] * len(thresholds))
    cursor.execute(
        f"""
        WITH cur AS ({current}), limits(stage, lim, until) AS (VALUES {values})
        INSERT INTO {CaseDeadlineWarning._meta.db_table} (case_id, stage, kind, due_at, created_at)
        SELECT cur.id, cur.stage, %s, cur.due_at, %s FROM cur
        JOIN limits ON limits.stage = cur.stage AND cur.time_limits -> cur.stage = limits.lim
        WHERE cur.due_at >= %s AND cur.due_at <= limits.until
        ON CONFLICT DO NOTHING
        """,
        [*current_params, *(v for row in thresholds for v in row), AlertKind.WARN, now, now],
    )
    return cursor.rowcount


def _publish(rows: list[tuple[Any, ...]], *, action: str, at: dt.datetime) -> None:
    """Tell the pages watching these cases, after commit: per case, or, when there are many, one "reload"
    hint (kind "cases", how many changed) to each group that watches any of them."""
    if not rows:
        return
    if len(rows) <= PUBLISH_PER_CASE_LIMIT:
        for case_id, district_id, street_id, community_id, lead_unit_id in rows:
            publish_on_commit(
                groups=case_groups(
                    district_id=district_id,
                    street_id=street_id,
                    community_id=community_id,
                    unit_ids=[lead_unit_id] if lead_unit_id else [],
                ),
                message={
                    "kind": "case",
                    "case": case_id,
                    "action": action,
                    "is_overdue": action == "overdue",
                    "district": district_id,
                    "street": street_id,
                    "community": community_id,
                    "lead_unit": lead_unit_id,
                    "at": at,
                },
            )
        return
    by_group: dict[str, int] = defaultdict(int)
    for _case_id, district_id, street_id, community_id, lead_unit_id in rows:
        for group in case_groups(
            district_id=district_id,
            street_id=street_id,
            community_id=community_id,
            unit_ids=[lead_unit_id] if lead_unit_id else [],
        ):
            by_group[group] += 1
    # One hint per count, to the groups with that count (each group is told only about its own cases).
    by_count: dict[int, list[str]] = defaultdict(list)
    for group, count in by_group.items():
        by_count[count].append(group)
    for count, groups in sorted(by_count.items()):
        publish_on_commit(
            groups=sorted(groups), message={"kind": "cases", "case": None, "action": action, "count": count, "at": at}
        )


def _urge_on_commit(alert_ids: list[int]) -> None:
    if not alert_ids:
        return
    from cases.tasks import urge_overdue  # the tasks module imports this one

    transaction.on_commit(lambda: urge_overdue.delay(sorted(alert_ids)))


def _platform_username() -> str:
    return getattr(settings, "CASES_PLATFORM_USERNAME", DEFAULT_PLATFORM_USERNAME)


def platform_user() -> Any | None:
    """The active platform account that urges late units, or None (urging is then skipped, with a warning)."""
    username = _platform_username()
    return get_user_model().objects.filter(username=username, is_active=True).first() if username else None


def overdue_urge_all(alert_ids: list[int]) -> int:
    """The platform's urging for a batch of overdue alerts (what one sweep found); how many were sent.

    Without a platform account nothing is urged and one warning names the missing account and the cases, however
    many there are (a city-wide catch-up after an outage finds thousands at once).
    """
    actor = platform_user()
    if actor is None:
        case_ids = sorted(
            CaseDeadlineWarning.objects.filter(pk__in=alert_ids, kind=AlertKind.OVERDUE).values_list(
                "case_id", flat=True
            )
        )
        if case_ids:
            _warn_not_urged(case_ids)
        return 0
    return sum(1 for alert_id in alert_ids if overdue_urge(alert_id=alert_id, actor=actor) is not None)


def _warn_not_urged(case_ids: list[int]) -> None:
    shown = ", ".join(str(pk) for pk in case_ids[:10]) + (
        f" and {len(case_ids) - 10} more" if len(case_ids) > 10 else ""
    )
    username = _platform_username()
    if username:
        # A configuration gap, not a normal outcome: say which account is missing and how to fix it.
        logger.warning(
            "%d overdue case(s) not urged (case %s): no active platform account %r (a dispatcher of the city "
            "centre; seed_demo creates it in the demo, an administrator creates it in production)",
            len(case_ids),
            shown,
            username,
        )
    else:
        # Switched off on purpose: worth a line, not an alarm.
        logger.info("%d overdue case(s) not urged (case %s): automatic urging is off", len(case_ids), shown)


@transaction.atomic
def overdue_urge(*, alert_id: int, actor: Any | None = None) -> Supervision | None:
    """The platform urges (催办) the lead unit of a case whose handling deadline has passed.

    Once per overdue alert: nothing when the platform already urged the case since the alert, when
    the case has moved on (closed, or no longer in handling), or when there is no platform account.
    """
    # The alert's row lock serialises two deliveries of the same task (acks_late redelivers).
    alert = (
        CaseDeadlineWarning.objects.select_for_update(of=("self",))
        .select_related("case")
        .filter(pk=alert_id, kind=AlertKind.OVERDUE)
        .first()
    )
    if alert is None:
        return None
    actor = actor or platform_user()
    if actor is None:
        _warn_not_urged([alert.case_id])
        return None
    case = alert.case
    if case.lead_unit_id is None or _WATCHED.get(case.status) != alert.stage or case.handle_due_at != alert.due_at:
        return None
    already = Supervision.objects.filter(
        case=case, kind=SupervisionKind.URGE, by=actor, created_at__gte=alert.created_at
    ).exists()
    if already:
        return None
    text = gettext("Overdue: the handling deadline %(due)s has passed. Please handle the case and report back.") % {
        "due": timezone.localtime(alert.due_at).strftime("%Y-%m-%d %H:%M")
    }
    try:
        return case_urge(case=case, actor=actor, text=text)
    except (Http404, PermissionDenied, ValidationError):
        # The account lacks the role or scope (a configuration matter); the flag and alert stand.
        logger.warning("platform account may not urge case %s", case.pk, exc_info=True)
        return None
