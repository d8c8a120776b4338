"""Cases for tests, built through the services (so every case has its log), on the small city.

`CaseWorld` holds the people: in 市南区 (city.a) an inspector of its first street's workstation, an intake
clerk, a dispatcher and a leader in its district centre, a handler of the water department's field unit;
and outsiders: the same roles in 市北区 (city.b) and a handler of an unrelated unit.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from cases import services
from cases.clock import clock_at
from cases.models import Case, RoutingRule, Source, Status
from catalogue.models import MinorClass, Stage, TimeLimit, Urgency
from organisations.models import OrgUnit, Role, UnitType, User
from tests.factories import MajorClassFactory, MinorClassFactory, OrgUnitFactory, SmallCity, person, small_city
from workcalendar.units import TimeUnit

# Calendar hours keep the deadlines independent of the working calendar (its own tests cover that).
LIMIT_HOURS = {Stage.VERIFY: 1, Stage.REGISTER: 2, Stage.DISPATCH: 1, Stage.HANDLE: 24, Stage.CHECK: 2}
T0 = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)  # a Thursday, 10:00 in Qingdao


def png_upload(name: str = "photo.png", colour: tuple[int, int, int] = (200, 30, 30)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def with_limits(minor_class: MinorClass, hours: dict[str, int] | None = None) -> MinorClass:
    """Give the class calendar-hour limits at every urgency (replacing any)."""
    TimeLimit.objects.filter(minor_class=minor_class).delete()
    TimeLimit.objects.bulk_create(
        TimeLimit(minor_class=minor_class, urgency=urgency, stage=stage, amount=amount, unit=TimeUnit.CALENDAR_HOURS)
        for urgency in Urgency.values
        for stage, amount in (hours or LIMIT_HOURS).items()
    )
    return minor_class


def event_class(code: str = "01", **fields: Any) -> MinorClass:
    """An event class (事件 01xx 市容环境) with the test limits."""
    major = MajorClassFactory(kind="event", code="01", name="市容环境")
    minor = MinorClassFactory(major=major, code=code, name=f"事件{code}", **fields)
    return with_limits(minor)


@dataclass
class CaseWorld:
    city: SmallCity
    manhole: MinorClass  # component class 0101 上水井盖, duplicate radius 30 m
    litter: MinorClass  # event class, inspectors may self-handle it
    inspector: User
    clerk: User
    dispatcher: User
    leader: User
    handler: User
    handler_unit: OrgUnit
    other_inspector: User  # inspector of a's second street
    outsider_clerk: User  # 市北区
    outsider_dispatcher: User
    outsider_leader: User
    outsider_handler: User  # of an unrelated unit
    rule: RoutingRule  # manhole, city-wide -> handler_unit

    @property
    def point(self) -> Point:
        """Inside a's first grid cell (and next to its component)."""
        cell = self.city.a.cells[0]
        return Point(cell.geom.extent[0] + 0.0004, cell.geom.extent[1] + 0.0004, srid=4326)

    def near(self, metres_east: float) -> Point:
        return Point(self.point.x + metres_east / 90_000, self.point.y, srid=4326)

    @property
    def outside_city(self) -> Point:
        return Point(100.0, 20.0, srid=4326)

    @property
    def in_b(self) -> Point:
        cell = self.city.b.cells[0]
        return Point(cell.geom.extent[0] + 0.0004, cell.geom.extent[1] + 0.0004, srid=4326)


def case_world() -> CaseWorld:
    city = small_city()
    manhole = with_limits(city.a.components[0].minor_class)
    manhole.duplicate_radius_m = 30
    manhole.save(update_fields=["duplicate_radius_m"])
    litter = event_class("01", self_handle_allowed=True, duplicate_radius_m=30)
    a, b = city.a, city.b
    other_unit = OrgUnitFactory(name="市园林局", code="QD-PARKS", unit_type=UnitType.DEPARTMENT, parent=city.root)
    rule = RoutingRule.objects.create(minor_class=manhole, lead_unit=city.field_unit)
    return CaseWorld(
        city=city,
        manhole=manhole,
        litter=litter,
        inspector=person(Role.INSPECTOR, a.workstations[0], username="jiandu"),
        clerk=person(Role.INTAKE_CLERK, a.centre, username="shouli"),
        dispatcher=person(Role.DISPATCHER, a.centre, username="paiqian"),
        leader=person(Role.LEADER, a.centre, username="lingdao"),
        handler=person(Role.HANDLER, city.field_unit, username="chuzhi"),
        handler_unit=city.field_unit,
        other_inspector=person(Role.INSPECTOR, a.workstations[1], username="jiandu2"),
        outsider_clerk=person(Role.INTAKE_CLERK, b.centre, username="b-shouli"),
        outsider_dispatcher=person(Role.DISPATCHER, b.centre, username="b-paiqian"),
        outsider_leader=person(Role.LEADER, b.centre, username="b-lingdao"),
        outsider_handler=person(Role.HANDLER, other_unit, username="b-chuzhi"),
        rule=rule,
    )


def reported(world: CaseWorld, *, source: str = Source.INSPECTOR, at: dt.datetime = T0, **kwargs: Any) -> Case:
    """A new case of the manhole class at world.point (from the inspector unless told otherwise)."""
    fields: dict[str, Any] = {
        "source": source,
        "minor_class": world.manhole,
        "location": world.point,
        "description": "井盖破损",
        "reporter": world.inspector if source == Source.INSPECTOR else None,
    }
    if source == Source.VIDEO_AI:
        fields.update(camera_id="CAM-1", confidence=0.9)
    if source == Source.SENSOR_ALARM:
        fields.update(alarm_ref="ALARM-1")
    if source == Source.LEADER_INSTRUCTION:
        fields.update(reporter=world.leader)
    fields.update(kwargs)
    with clock_at(at):
        return services.case_report(**fields)


# The path each status is reached by, from a fresh inspector report (status reported).
def advance(world: CaseWorld, case: Case, to: str, *, at: dt.datetime = T0) -> Case:
    """Drive `case` through the services until it is in status `to` (from reported or verifying)."""
    steps = {
        Status.REPORTED: [],
        Status.REGISTERED: ["register"],
        Status.NOT_REGISTERED: ["reject"],
        Status.DISPATCHED: ["register", "dispatch"],
        Status.RETURNED: ["register", "dispatch", "return"],
        Status.HANDLING: ["register", "dispatch", "accept"],
        Status.EXTENSION_PENDING: ["register", "dispatch", "accept", "request_extension"],
        Status.ON_HOLD: ["register", "dispatch", "accept", "hold"],
        Status.HANDLED: ["register", "dispatch", "accept", "feedback"],
        Status.REWORK: ["register", "dispatch", "accept", "feedback", "fail_check"],
        Status.CLOSED: ["register", "dispatch", "accept", "feedback", "pass_check"],
        Status.CANCELLED: ["cancel"],
    }[to]
    actions = {
        "register": lambda: services.case_register(case=case, actor=world.clerk),
        "reject": lambda: services.case_reject(case=case, actor=world.clerk, reason="不属实"),
        "dispatch": lambda: services.case_dispatch(case=case, actor=world.dispatcher),
        "return": lambda: services.case_return(case=case, actor=world.handler, reason="非本单位职责"),
        "accept": lambda: services.case_accept(case=case, actor=world.handler),
        "request_extension": lambda: services.case_request_extension(
            case=case, actor=world.handler, amount=8, unit=TimeUnit.CALENDAR_HOURS, reason="需要采购配件"
        ),
        "hold": lambda: services.case_hold(case=case, actor=world.dispatcher, reason="等待施工许可"),
        "feedback": lambda: services.case_feedback(
            case=case, actor=world.handler, description="已更换井盖", after_photos=[png_upload()]
        ),
        "fail_check": lambda: services.case_check(case=case, actor=world.inspector, passed=False, reason="未修好"),
        "pass_check": lambda: services.case_check(case=case, actor=world.inspector, passed=True),
        "cancel": lambda: services.case_cancel(case=case, actor=world.clerk, reason="重复录入"),
    }
    if case.status == Status.VERIFYING and to != Status.VERIFYING:
        with clock_at(at):
            services.case_verify(case=case, actor=world.inspector)
    with clock_at(at):
        for step in steps:
            actions[step]()
    case.refresh_from_db()
    assert case.status == to, (case.status, to)
    return case


def case_in(world: CaseWorld, status: str, **kwargs: Any) -> Case:
    """A case of the manhole class in `status`, reached through the services."""
    if status == Status.VERIFYING:
        return reported(world, source=Source.CITIZEN, **kwargs)
    return advance(world, reported(world, **kwargs), status)
