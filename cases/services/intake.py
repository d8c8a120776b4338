"""Intake: one function takes a report from every source, validates, locates, links the component, copies
the class's time limits, flags a likely duplicate and writes the case with its first event.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases import clock, prepared
from cases.clock import stage_due
from cases.log import iso
from cases.models import FINAL_STATUSES, Case, PhotoPhase, Source, Status
from cases.modes import new_cases_are_key
from cases.selectors import COMPONENT_LINK_RADIUS_M, _degrees_covering
from cases.services.core import (
    SYSTEM_ROLE,
    Acting,
    PhotoUpload,
    Place,
    accept_photos,
    acting_as,
    event_write,
    holds_role,
    next_event,
    notify,
    save_photos,
    transition,
)
from cases.workflow import NEEDS_VERIFICATION, REPORTER_ROLES
from catalogue.models import ClassKind, MinorClass, Stage, Urgency
from catalogue.selectors import time_limits_for
from field.services import verification_queued
from geography.models import Component
from geography.selectors import LOCATE_FOUND, Location
from organisations.models import Role, User


def case_time_limits(*, minor_class: MinorClass, urgency: str) -> dict[str, dict[str, Any]]:
    """The class's limits at this urgency, as copied onto a case: {stage: {"amount": n, "unit": u}}."""
    specs = time_limits_for(minor_class=minor_class, urgency=urgency)
    return {stage: {"amount": spec.amount, "unit": str(spec.unit)} for stage, spec in specs.items()}


# Everything intake reads, in one statement: where the point lies (geography.selectors.LOCATE_FOUND, as locate),
# and for a point in the city the case's id and serial, the district's code, the class's limits at the urgency,
# the nearest open case of the class within its duplicate radius (as cases.selectors.duplicate_candidate_for),
# the nearest component of the class (as nearest_component_for) and the routing rule that would dispatch it now
# (as routing_rule_for: the suggestion the dispatcher sees; dispatch looks again, since rules may change).
_INTAKE_SQL = (
    """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g)
SELECT loc.id, loc.code, loc.community_id, loc.street_id, loc.district_id,
       CASE WHEN loc.district_id IS NOT NULL THEN nextval(pg_get_serial_sequence('cases_case', 'id')) END,
       CASE WHEN loc.district_id IS NOT NULL THEN nextval('cases_case_number_seq') END,
       (SELECT code FROM geography_district WHERE id = loc.district_id),
       (SELECT name FROM geography_district WHERE id = loc.district_id),
       (SELECT name FROM geography_street WHERE id = loc.street_id),
       (SELECT coalesce(json_agg(json_build_array(t.stage, t.amount, t.unit)), '[]'::json)
        FROM catalogue_timelimit t WHERE t.minor_class_id = %(minor_class)s AND t.urgency = %(urgency)s),
       dup.id, dup.number, comp.id, comp.code, route.id, route.lead_unit_id
FROM p
LEFT JOIN LATERAL ("""
    + LOCATE_FOUND
    + """) loc ON true
LEFT JOIN LATERAL (
    SELECT c.id, c.number
    FROM cases_case c
    WHERE %(dup_radius)s::float8 > 0
      AND loc.district_id IS NOT NULL
      AND c.minor_class_id = %(minor_class)s
      AND c.status <> ALL(%(final)s)
      AND c.location && ST_Expand(p.g, %(dup_degrees)s)
      AND ST_DWithin(c.location::geography, p.g::geography, %(dup_radius)s)
    ORDER BY ST_Distance(c.location::geography, p.g::geography), c.reported_at, c.id
    LIMIT 1
) dup ON true
LEFT JOIN LATERAL (
    SELECT c.id, c.code
    FROM geography_component c
    WHERE %(link)s
      AND loc.district_id IS NOT NULL
      AND c.minor_class_id = %(minor_class)s
      AND c.location && ST_Expand(p.g, %(link_degrees)s)
      AND ST_DWithin(c.location::geography, p.g::geography, %(link_radius)s)
    ORDER BY ST_Distance(c.location::geography, p.g::geography), c.id
    LIMIT 1
) comp ON true
LEFT JOIN LATERAL (
    SELECT r.id, r.lead_unit_id
    FROM cases_routingrule r
    JOIN organisations_orgunit u ON u.id = r.lead_unit_id
    WHERE loc.district_id IS NOT NULL AND r.is_active AND u.is_active
      AND (r.minor_class_id = %(minor_class)s OR r.major_class_id = %(major_class)s)
      AND ((r.district_id IS NULL AND r.street_id IS NULL)
           OR (r.district_id = loc.district_id AND r.street_id IS NULL)
           OR r.street_id = loc.street_id)
    ORDER BY r.minor_class_id IS NOT NULL DESC,
             CASE WHEN r.street_id IS NOT NULL THEN 2 WHEN r.district_id IS NOT NULL THEN 1 ELSE 0 END DESC,
             r.priority DESC, r.id
    LIMIT 1
) route ON true
"""
)


@dataclass(frozen=True)
class DivisionNames:
    """The names of where a new case lies, read with intake's lookups and kept on the case it returns
    (DIVISION_NAMES_ATTR), so that the answer to the reporter needs no query of its own."""

    district: str | None
    street: str | None
    grid_cell_code: str | None


DIVISION_NAMES_ATTR = "_intake_division_names"


@dataclass(frozen=True)
class _Lookups:
    where: Location
    case_id: int | None  # None (and no number) outside the city
    number: str
    limits: dict[str, dict[str, Any]]
    duplicate: tuple[int, str] | None  # (id, number)
    component: tuple[int, str] | None  # (id, code)
    route: tuple[int, int] | None  # (rule id, lead unit id)
    names: DivisionNames


def _lookups(*, minor_class: MinorClass, urgency: str, point: Point, at: dt.datetime, link: bool) -> _Lookups:
    radius = float(minor_class.duplicate_radius_m or 0)
    params = {
        "lon": point.x,
        "lat": point.y,
        "minor_class": minor_class.pk,
        "major_class": minor_class.major_id,
        "urgency": urgency,
        "dup_radius": radius,
        "dup_degrees": _degrees_covering(radius, point.y),
        "final": list(FINAL_STATUSES),
        "link": link,
        "link_radius": float(COMPONENT_LINK_RADIUS_M),
        "link_degrees": _degrees_covering(COMPONENT_LINK_RADIUS_M, point.y),
    }
    with connection.cursor() as cursor:
        prepared.execute(cursor, _INTAKE_SQL, params)
        row = cursor.fetchone()
    case_id, serial, district_code, district_name, street_name, limits = row[5:11]
    dup_id, dup_number, comp_id, comp_code, rule_id, lead_id = row[11:]
    if isinstance(limits, str):  # a connection without psycopg's json adapter
        limits = json.loads(limits)
    return _Lookups(
        where=Location.from_row(row[:5]),
        case_id=case_id,
        # <district code>-<yyyymmdd>-<serial>, e.g. 370202-20261126-000123; the serial comes from a sequence, so
        # numbering never waits on another transaction (gaps after a rollback are fine).
        number=f"{district_code}-{timezone.localdate(at):%Y%m%d}-{serial % 1_000_000:06d}" if serial else "",
        limits={stage: {"amount": amount, "unit": str(unit)} for stage, amount, unit in limits},
        duplicate=(dup_id, dup_number) if dup_id is not None else None,
        component=(comp_id, comp_code) if comp_id is not None else None,
        route=(rule_id, lead_id) if rule_id is not None else None,
        names=DivisionNames(district_name, street_name, row[1]),
    )


def _clean_point(location: Any) -> Point:
    if not isinstance(location, Point):
        raise ValidationError({"location": _("The location must be a point.")}, code="invalid_location")
    if location.srid not in (None, 4326):
        location = location.transform(4326, clone=True)
    point = Point(location.x, location.y, srid=4326)
    if not (-180 <= point.x <= 180 and -90 <= point.y <= 90):
        raise ValidationError({"location": _("The location is not a WGS 84 position.")}, code="invalid_location")
    return point


def _reporter_acting(*, source: str, reporter: User | None, place: Place) -> Acting:
    roles, anonymous_allowed = REPORTER_ROLES[source]
    if reporter is None:
        if not anonymous_allowed:
            raise PermissionDenied(_("This kind of report needs a signed-in reporter."))
        return Acting(None, SYSTEM_ROLE, None)
    if not roles:  # citizens: anyone signed in may report
        return Acting(reporter, Role.CITIZEN, None)
    coverage = "none" if Role.DEVICE in roles else "area"
    acting = acting_as(reporter, roles=roles, coverage=coverage, place=place)
    if acting is None:
        raise PermissionDenied(_("You may not file this kind of report here."))
    return acting


def _component_by_code(*, code: str, minor_class: MinorClass) -> Component:
    component = Component.objects.filter(code=code).first()
    if component is None:
        raise ValidationError({"component_code": _("No component has this code.")}, code="unknown_component")
    if component.minor_class_id != minor_class.pk:
        raise ValidationError(
            {"component_code": _("This component is not of the case's class.")}, code="component_class"
        )
    return component


def _validate_source_fields(
    *, source: str, urgency: str, description: str, camera_id: str, confidence: float | None, alarm_ref: str
) -> None:
    errors: dict[str, Any] = {}
    if source not in Source.values:
        errors["source"] = _("Unknown source.")
    if urgency not in Urgency.values:
        errors["urgency"] = _("Unknown urgency.")
    if not description.strip():
        errors["description"] = _("Describe the problem.")
    if source == Source.VIDEO_AI:
        if not camera_id:
            errors["camera_id"] = _("A video detection names its camera.")
        if confidence is None or not 0 <= confidence <= 1:
            errors["confidence"] = _("A video detection's confidence lies between 0 and 1.")
    elif confidence is not None:
        errors["confidence"] = _("Only video detections carry a confidence.")
    if source == Source.SENSOR_ALARM and not alarm_ref:
        errors["alarm_ref"] = _("A sensor alarm case names its alarm.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def case_report(
    *,
    source: str,
    minor_class: MinorClass,
    location: Point,
    description: str,
    reporter: User | None,
    photos: Sequence[Any] = (),
    component_code: str | None = None,
    urgency: str = Urgency.NORMAL,
    address: str = "",
    reporter_name: str = "",
    reporter_phone: str = "",
    camera_id: str = "",
    confidence: float | None = None,
    alarm_ref: str = "",
) -> Case:
    """Take a report from any source (监督员, 市民, 12345, 视频AI, 传感器, 领导交办) and open a case.

    Citizen, hotline and camera reports wait for the grid's inspector to verify them; the others go
    straight to the register queue. An open case of the same class within the class's duplicate radius
    is recorded as `duplicate_candidate` for the intake clerk to merge. Photos are evidence photos.
    """
    return _report(
        source=source,
        minor_class=minor_class,
        location=location,
        description=description,
        reporter=reporter,
        photos=[(PhotoPhase.EVIDENCE, upload) for upload in photos],
        component_code=component_code,
        urgency=urgency,
        address=address,
        reporter_name=reporter_name,
        reporter_phone=reporter_phone,
        camera_id=camera_id,
        confidence=confidence,
        alarm_ref=alarm_ref,
    )


def _report(
    *,
    source: str,
    minor_class: MinorClass,
    location: Point,
    description: str,
    reporter: User | None,
    photos: Sequence[PhotoUpload],
    component_code: str | None,
    urgency: str,
    address: str,
    reporter_name: str,
    reporter_phone: str,
    camera_id: str,
    confidence: float | None,
    alarm_ref: str,
    initial_status: str | None = None,
) -> Case:
    _validate_source_fields(
        source=source,
        urgency=urgency,
        description=description,
        camera_id=camera_id,
        confidence=confidence,
        alarm_ref=alarm_ref,
    )
    if not minor_class.is_active:
        raise ValidationError({"minor_class": _("This class is no longer in use.")}, code="inactive_class")
    point = _clean_point(location)
    now = clock.now()
    found = _lookups(
        minor_class=minor_class,
        urgency=urgency,
        point=point,
        at=now,
        link=not component_code and minor_class.major.kind == ClassKind.COMPONENT,
    )
    where = found.where
    if not where.in_city:
        raise ValidationError({"location": _("The location lies outside the city.")}, code="outside_city")
    place = Place(where.district_id, where.street_id, where.community_id, point)
    acting = _reporter_acting(source=source, reporter=reporter, place=place)
    if reporter is not None and source in (Source.CITIZEN, Source.HOTLINE) and not (reporter_name or reporter_phone):
        reporter_name, reporter_phone = reporter.full_name or reporter.username, reporter.phone
    component = _component_by_code(code=component_code, minor_class=minor_class) if component_code else None
    accepted = accept_photos(photos)

    status = initial_status or (Status.VERIFYING if source in NEEDS_VERIFICATION else Status.REPORTED)
    limits = found.limits
    due_stage = Stage.VERIFY if status == Status.VERIFYING else Stage.REGISTER
    due_at = stage_due(limits, due_stage, start=now)
    case = Case(
        id=found.case_id,
        number=found.number,
        source=source,
        camera_id=camera_id,
        confidence=confidence,
        alarm_ref=alarm_ref,
        minor_class=minor_class,
        kind=minor_class.major.kind,
        urgency=urgency,
        status=status,
        description=description.strip(),
        address=address,
        location=point,
        district_id=where.district_id,
        street_id=where.street_id,
        community_id=where.community_id,
        grid_cell_id=where.grid_cell_id,
        reporter=reporter,
        reporter_name=reporter_name,
        reporter_phone=reporter_phone,
        time_limits=limits,
        reported_at=now,
        updated_at=now,
        **{f"{due_stage}_due_at": due_at},
    )
    if component is not None:
        case.component = component
    elif found.component is not None:
        case.component_id = found.component[0]
    if found.duplicate is not None:
        case.duplicate_candidate_id = found.duplicate[0]
    if found.route is not None:
        case.routing_rule_id = found.route[0]
    data: dict[str, Any] = {
        "source": source,
        "minor_class": minor_class.full_code,
        "urgency": urgency,
        "location": [point.x, point.y],
        "limits": limits,
        "due": {due_stage: iso(due_at)},
    }
    if found.duplicate is not None:
        data["duplicate_candidate"] = found.duplicate[1]
    if component is not None or found.component is not None:
        data["component"] = component.code if component is not None else found.component[1]
    if found.route is not None:
        data["route"] = {"rule": found.route[0], "lead_unit": found.route[1]}
    if accepted:
        data["photos"] = [{"phase": phase, "sha256": photo.sha256} for phase, photo in accepted]
    if new_cases_are_key(now):  # the operating mode in force (重大活动保障) puts every new case on the key list
        case.is_key = data["key"] = True
    # The id came from the sequence, so the first event (and the chain head the row keeps) is known before
    # the row is written: one INSERT each, no UPDATE after.
    event = next_event(
        case=case,
        action="report",
        from_status="",
        to_status=status,
        acting=acting,
        reason="",
        data=data,
        at=now,
    )
    event_write(event=event, case=case)
    save_photos(case=case, event=event, photos=accepted)
    notify(case, action="report", unit_ids=())
    if status == Status.VERIFYING:
        verification_queued(case)  # after commit, a task offers it to the nearest inspector on duty (no query here)
    setattr(case, DIVISION_NAMES_ATTR, found.names)
    return case


@transaction.atomic
def case_self_handle(
    *,
    inspector: User,
    minor_class: MinorClass,
    location: Point,
    description: str,
    before_photos: Sequence[Any],
    after_photos: Sequence[Any],
    urgency: str = Urgency.NORMAL,
    address: str = "",
    component_code: str | None = None,
) -> Case:
    """An inspector fixed a minor problem on the spot (自行处置): the case is reported and closed at once,
    with before and after photos, counted apart (self_handled). Only for classes that allow it."""
    if not minor_class.self_handle_allowed:
        raise ValidationError(
            {"minor_class": _("Inspectors may not self-handle cases of this class.")}, code="self_handle_not_allowed"
        )
    errors = {}
    if not before_photos:
        errors["before_photos"] = _("A photo from before is required.")
    if not after_photos:
        errors["after_photos"] = _("A photo from after is required.")
    if errors:
        raise ValidationError(errors, code="photos_required")
    if not holds_role(inspector, Role.INSPECTOR):
        raise PermissionDenied(_("Only inspectors self-handle cases."))
    case = _report(
        source=Source.INSPECTOR,
        minor_class=minor_class,
        location=location,
        description=description,
        reporter=inspector,
        photos=[(PhotoPhase.BEFORE, upload) for upload in before_photos],
        component_code=component_code,
        urgency=urgency,
        address=address,
        reporter_name="",
        reporter_phone="",
        camera_id="",
        confidence=None,
        alarm_ref="",
    )

    def changes(locked: Case, now: dt.datetime, data: dict[str, Any]) -> dict[str, Any]:
        return {"self_handled": True, "handled_at": now, "closed_at": now}

    transition(
        case=case,
        action="self_handle",
        actor=inspector,
        changes=changes,
        photos=[(PhotoPhase.AFTER, upload) for upload in after_photos],
    )
    return case
