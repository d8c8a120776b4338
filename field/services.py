"""Writes of the field app: shifts (on and off duty), positions (history and the latest per inspector, published on
the live feed), their retention, and offering a case awaiting verification to the nearest inspector on duty.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases import clock
from cases.events import case_groups, publish_on_commit
from cases.models import Case, Status
from field.models import InspectorShift, VerificationAssignment
from organisations.models import Membership, Role, UnitType, User

logger = logging.getLogger(__name__)

# A shift nobody ended is ended by the sweep after this long (a phone left on duty overnight).
SHIFT_MAX = dt.timedelta(hours=14)
# A position from the phone may be this far ahead of the server's clock, and this old (queued offline).
POSITION_AHEAD_MAX = dt.timedelta(minutes=5)
POSITION_AGE_MAX = dt.timedelta(hours=24)
POSITIONS_PER_BATCH_MAX = 500
# The live feed hears of an inspector's position at most this often.
LIVE_EVERY = dt.timedelta(seconds=30)
# Only an inspector whose latest position is this fresh is offered a case.
ASSIGN_FRESH_FOR = dt.timedelta(minutes=10)
# Cases reported longer ago than this are not offered at intake (a back-filled history is not news), nor by the sweep.
ASSIGN_WITHIN = dt.timedelta(hours=24)
DEFAULT_RETENTION_DAYS = 30
PURGE_CHUNK = 50_000


def retention() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "FIELD_POSITION_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)))


class NotSharingPosition(Exception):
    """A position from someone not on duty, or on duty without consent to share it: nothing is stored (409)."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


class PositionsRefused(Exception):
    """Some positions cannot be taken (bad time, outside the city): `errors` maps each one's index to its field
    messages. Nothing is stored."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__(repr(errors))
        self.errors = errors


@dataclass(frozen=True)
class Fix:
    """One position as the phone took it, in WGS 84 (`at` None: now, as the server receives it)."""

    lon: float
    lat: float
    accuracy_m: float | None = None
    at: dt.datetime | None = None


# --- shifts


def _name(user: User) -> str:
    return user.full_name or user.username


def _inspector_unit_id(user: User) -> int | None:
    """The unit of the user's first inspector role in an active unit (in the order the roles were granted)."""
    return (
        Membership.objects.filter(user=user, role=Role.INSPECTOR, unit__is_active=True)
        .order_by("id")
        .values_list("unit_id", flat=True)
        .first()
    )


def _with_unit_divisions(shifts: QuerySet[InspectorShift]) -> QuerySet[InspectorShift]:
    """The divisions the shift's unit lies in, as ids (a street workstation may name only its street), for the
    live feed's groups: read with the shift, without the divisions' polygons."""
    return shifts.annotate(
        unit_district_id=Coalesce("unit__district_id", "unit__street__district_id", "unit__community__district_id"),
        unit_street_id=Coalesce("unit__street_id", "unit__community__street_id"),
        unit_community_id=F("unit__community_id"),
    )


def _open_shift_locked(user: User) -> InspectorShift | None:
    return (
        _with_unit_divisions(InspectorShift.objects.filter(user=user, ended_at__isnull=True))
        .select_for_update(of=("self",))
        .first()
    )


def _groups(shift: Any) -> list[str]:
    return case_groups(
        district_id=getattr(shift, "unit_district_id", None),
        street_id=getattr(shift, "unit_street_id", None),
        community_id=getattr(shift, "unit_community_id", None),
        unit_ids=[shift.unit_id],
    )


def _live_message(shift: InspectorShift, *, name: str) -> dict[str, Any]:
    """What the command centre's map needs to move (or, off duty or without a position, remove) a marker."""
    on_duty = shift.ended_at is None
    position = shift.position if on_duty and shift.shares_position else None
    return {
        "kind": "inspector",
        "user": shift.user_id,
        "name": name,
        "unit": shift.unit_id,
        "on_duty": on_duty,
        "lon": round(position.x, 7) if position is not None else None,
        "lat": round(position.y, 7) if position is not None else None,
        "accuracy_m": shift.position_accuracy_m if position is not None else None,
        "at": shift.position_at if position is not None else (shift.ended_at or shift.started_at),
    }


@transaction.atomic
def shift_start(*, user: User, share_position: bool | None = None) -> InspectorShift:
    """Go on duty (上岗) for the unit of the user's inspector role; a second start changes nothing but the consent
    (`share_position`; None keeps it, False on a new shift). Withdrawing consent forgets the latest position."""
    unit_id = _inspector_unit_id(user)
    if unit_id is None:
        raise PermissionDenied(_("Only inspectors go on duty."))
    shift = _open_shift_locked(user)
    if shift is None:
        try:
            with transaction.atomic():
                shift = InspectorShift.objects.create(
                    user=user, unit_id=unit_id, started_at=clock.now(), shares_position=bool(share_position)
                )
        except IntegrityError:  # started at the same moment by another request: that one is the shift
            shift = _open_shift_locked(user)
            if shift is None:
                raise
        else:
            return shift
    if share_position is not None and share_position != shift.shares_position:
        shift.shares_position = share_position
        fields = ["shares_position"]
        if not share_position:
            shift.position = shift.position_accuracy_m = shift.position_at = None
            fields += ["position", "position_accuracy_m", "position_at"]
            publish_on_commit(groups=_groups(shift), message=_live_message(shift, name=_name(user)))
        shift.save(update_fields=fields)
    return shift


@transaction.atomic
def shift_end(*, user: User) -> InspectorShift | None:
    """Go off duty; the shift that was open (None when there was none: ending twice is no error)."""
    shift = _open_shift_locked(user)
    if shift is None:
        return None
    shift.ended_at = clock.now()
    shift.save(update_fields=["ended_at"])
    publish_on_commit(groups=_groups(shift), message=_live_message(shift, name=_name(user)))
    return shift


@transaction.atomic
def shifts_close_stale(*, now: dt.datetime | None = None) -> int:
    """End the shifts open for longer than SHIFT_MAX (marked auto_closed); how many were ended."""
    now = now or clock.now()
    stale = list(
        _with_unit_divisions(InspectorShift.objects.filter(ended_at__isnull=True, started_at__lt=now - SHIFT_MAX))
        .select_related("user")
        .select_for_update(of=("self",), skip_locked=True)
        .only(
            "id", "user_id", "unit_id", "started_at", "ended_at", "shares_position", "user__username", "user__full_name"
        )
    )
    if not stale:
        return 0
    InspectorShift.objects.filter(pk__in=[s.pk for s in stale]).update(ended_at=now, auto_closed=True)
    for shift in stale:
        shift.ended_at = now
        publish_on_commit(groups=_groups(shift), message=_live_message(shift, name=_name(shift.user)))
    return len(stale)


# --- positions

_CITY_CHECK_SQL = """
SELECT t.i FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS t(lon, lat, i)
WHERE NOT EXISTS (
    SELECT 1 FROM geography_district d
    WHERE d.geom && ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326)
      AND ST_Covers(d.geom, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326))
)
"""

# The history rows and the shift's latest position in one statement: duplicates (same person, same time) are
# skipped by the unique index; the latest moves only forward (points queued offline arrive late and out of order);
# published_at moves to now when the last live event is older than LIVE_EVERY, which `publish` reports (null when
# nothing newer than the latest position came).
_RECORD_SQL = """
WITH new AS (
    SELECT * FROM unnest(%(lons)s::float8[], %(lats)s::float8[], %(accuracies)s::float8[], %(ats)s::timestamptz[])
        AS t(lon, lat, accuracy, at)
), stored AS (
    INSERT INTO field_inspectorposition (user_id, location, accuracy_m, at, received_at)
    SELECT %(user)s, ST_SetSRID(ST_MakePoint(lon, lat), 4326), accuracy, at, %(now)s FROM new
    ON CONFLICT (user_id, at) DO NOTHING
    RETURNING 1
), newest AS (
    SELECT lon, lat, accuracy, at FROM new ORDER BY at DESC LIMIT 1
), moved AS (
    UPDATE field_inspectorshift s
    SET position = ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326), position_accuracy_m = n.accuracy,
        position_at = n.at,
        published_at = CASE WHEN s.published_at IS NULL OR s.published_at <= %(publish_before)s
                            THEN %(now)s ELSE s.published_at END
    FROM newest n
    WHERE s.id = %(shift)s AND (s.position_at IS NULL OR s.position_at < n.at)
    RETURNING s.published_at = %(now)s AS publish, ST_X(s.position) AS lon, ST_Y(s.position) AS lat,
              s.position_accuracy_m AS accuracy, s.position_at AS at
)
SELECT (SELECT count(*) FROM stored), moved.publish, moved.lon, moved.lat, moved.accuracy, moved.at
FROM (SELECT 1) AS one LEFT JOIN moved ON true
"""


def _time_errors(fixes: Sequence[Fix], now: dt.datetime) -> dict[int, dict[str, list[str]]]:
    errors: dict[int, dict[str, list[str]]] = {}
    for i, fix in enumerate(fixes):
        if fix.at is None:
            continue
        if fix.at > now + POSITION_AHEAD_MAX:
            errors[i] = {"at": [str(_("This time lies more than 5 minutes in the future: check the phone's clock."))]}
        elif fix.at < now - POSITION_AGE_MAX:
            errors[i] = {"at": [str(_("This position is older than 24 hours."))]}
    return errors


def _outside_city(fixes: Sequence[Fix]) -> list[int]:
    """Indexes of the fixes lying outside every district (one query for all)."""
    with connection.cursor() as cursor:
        cursor.execute(_CITY_CHECK_SQL, [[f.lon for f in fixes], [f.lat for f in fixes]])
        return [row[0] - 1 for row in cursor.fetchall()]


@transaction.atomic
def positions_record(*, user: User, fixes: Sequence[Fix]) -> int:
    """Store positions the inspector's phone took on duty (one, or a batch it queued offline) and move the latest
    one; returns how many were new (a point sent again is skipped).

    Raises NotSharingPosition off duty or without consent, PositionsRefused when a point's time is implausible
    or it lies outside the city. Three statements: the shift, the city check, the write.
    """
    if not fixes:
        return 0
    shift = _open_shift_locked(user)
    if shift is None:
        raise NotSharingPosition(_("You are not on duty: go on duty to share your position."))
    if not shift.shares_position:
        raise NotSharingPosition(_("You are on duty without sharing your position: allow it first."))
    now = clock.now()
    errors = _time_errors(fixes, now)
    for i in _outside_city(fixes):
        errors.setdefault(i, {})["location"] = [str(_("This position lies outside the city."))]
    if errors:
        raise PositionsRefused(dict(sorted(errors.items())))

    params = {
        "lons": [f.lon for f in fixes],
        "lats": [f.lat for f in fixes],
        "accuracies": [f.accuracy_m for f in fixes],
        "ats": [f.at or now for f in fixes],
        "user": user.pk,
        "shift": shift.pk,
        "now": now,
        "publish_before": now - LIVE_EVERY,
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)
        stored, publish, lon, lat, accuracy, at = cursor.fetchone()
    if publish:  # None when nothing newer than the latest position came: the map has it already
        message = {
            "kind": "inspector",
            "user": user.pk,
            "name": _name(user),
            "unit": shift.unit_id,
            "on_duty": True,
            "lon": round(lon, 7),
            "lat": round(lat, 7),
            "accuracy_m": accuracy,
            "at": at,
        }
        publish_on_commit(groups=_groups(shift), message=message)
    return stored


def positions_purge(*, now: dt.datetime | None = None) -> int:
    """Delete the positions received before the retention period (in chunks: a day's points run to a million
    rows, and one long DELETE would hold its locks and bloat the table at once); how many went."""
    before = (now or clock.now()) - retention()
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM field_inspectorposition WHERE id IN ("
                " SELECT id FROM field_inspectorposition WHERE received_at < %s LIMIT %s)",
                [before, PURGE_CHUNK],
            )
            deleted = cursor.rowcount
        total += deleted
        if deleted < PURGE_CHUNK:
            return total


# --- nearest inspector first

# For each case still awaiting verification and not yet offered: the nearest inspector on duty, sharing a position
# fresher than ASSIGN_FRESH_FOR, who still holds the inspector role in the shift's unit, and whose unit covers the
# case's place as cases.services.core.unit_covers_place decides (a city centre everywhere; else the unit's most
# specific division; else its area polygon). KNN on the sphere (geography <->): the true nearest, in metres.
_ASSIGN_SQL = """
INSERT INTO field_verificationassignment (case_id, inspector_id, assigned_at, distance_m)
SELECT c.id, best.user_id, %(now)s, best.distance_m
FROM cases_case c
CROSS JOIN LATERAL (
    SELECT s.user_id, ST_Distance(s.position::geography, c.location::geography) AS distance_m
    FROM field_inspectorshift s
    JOIN organisations_orgunit u ON u.id = s.unit_id
    WHERE s.ended_at IS NULL AND s.shares_position AND s.position IS NOT NULL
      AND s.position_at >= %(fresh_since)s
      AND u.is_active
      AND EXISTS (SELECT 1 FROM organisations_membership m
                  WHERE m.user_id = s.user_id AND m.unit_id = s.unit_id AND m.role = %(inspector)s)
      AND (u.unit_type = %(city_centre)s
           OR (u.community_id IS NOT NULL AND u.community_id = c.community_id)
           OR (u.community_id IS NULL AND u.street_id IS NOT NULL AND u.street_id = c.street_id)
           OR (u.community_id IS NULL AND u.street_id IS NULL AND u.district_id IS NOT NULL
               AND u.district_id = c.district_id)
           OR (u.community_id IS NULL AND u.street_id IS NULL AND u.district_id IS NULL
               AND u.area IS NOT NULL AND ST_Covers(u.area, c.location)))
    ORDER BY s.position::geography <-> c.location::geography, s.user_id
    LIMIT 1
) best
WHERE c.id = ANY(%(ids)s) AND c.status = %(verifying)s
  AND NOT EXISTS (SELECT 1 FROM field_verificationassignment a WHERE a.case_id = c.id)
ON CONFLICT (case_id) DO NOTHING
RETURNING case_id, inspector_id, distance_m
"""


@dataclass(frozen=True)
class Assigned:
    case_id: int
    inspector_id: int
    distance_m: float


@transaction.atomic
def verifications_assign(*, case_ids: Sequence[int], now: dt.datetime | None = None) -> list[Assigned]:
    """Offer each case (still awaiting verification, not offered yet) to the nearest inspector on duty in its grid;
    cases with nobody on duty there stay unassigned. Idempotent; one statement."""
    if not case_ids:
        return []
    now = now or clock.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _ASSIGN_SQL,
            {
                "now": now,
                "fresh_since": now - ASSIGN_FRESH_FOR,
                "inspector": Role.INSPECTOR,
                "city_centre": UnitType.CITY_CENTRE,
                "ids": list(case_ids),
                "verifying": Status.VERIFYING,
            },
        )
        return [Assigned(*row) for row in cursor.fetchall()]


def verifications_assign_pending(*, now: dt.datetime | None = None, limit: int = 1_000) -> list[Assigned]:
    """The sweep behind the intake hook: cases reported in the last ASSIGN_WITHIN, still awaiting verification and
    offered to nobody (the hook's message was lost, or nobody was on duty then), offered now."""
    now = now or clock.now()
    ids = list(
        Case.objects.filter(status=Status.VERIFYING, reported_at__gte=now - ASSIGN_WITHIN)
        .exclude(pk__in=VerificationAssignment.objects.values("case_id"))
        .order_by("-reported_at")
        .values_list("pk", flat=True)[:limit]
    )
    return verifications_assign(case_ids=ids, now=now)


def verification_queued(case: Case) -> None:
    """Intake's hook for a case that waits for verification: once the report has committed, a Celery task offers
    it to the nearest inspector on duty (field.assign_verification). No query here; a case reported in the past
    (a back-filled history) is not offered."""
    if case.status != Status.VERIFYING or case.reported_at < timezone.now() - ASSIGN_WITHIN:
        return
    case_id = case.pk
    transaction.on_commit(lambda: _enqueue_assignment(case_id))


def _enqueue_assignment(case_id: int) -> None:
    from field.tasks import assign_verification

    try:
        # No retries against an unreachable broker: the request that reported the case is waiting.
        assign_verification.apply_async((case_id,), retry=False)
    except Exception:  # noqa: BLE001 (the report is committed; the sweep offers the case a minute later)
        logger.warning("could not queue the verification assignment of case %s", case_id, exc_info=True)
