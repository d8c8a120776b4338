"""The demo's case history: tens of thousands of past cases driven through the real services with the clock set
back, so their event logs, hash chains, deadlines and on-time flags are genuine (used by seed_demo and simulate_cases).
Built in chunks, one transaction each, by worker processes: an interrupted build continues where it stopped.
"""

from __future__ import annotations

import datetime as dt
import io
import multiprocessing
import os
import queue
import random
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.contrib.gis.geos import Point
from django.core.files.base import ContentFile
from django.db import connection, connections, transaction
from django.db.models import Count
from django.utils import timezone
from PIL import Image

from cases import services
from cases.clock import clock_at
from cases.events import publishing_suppressed
from cases.models import STAGE_OF_STATUS, Case, RoutingRule, Source, Status
from cases.services.core import holds_role
from cases.workflow import NEEDS_VERIFICATION
from catalogue.models import ClassKind, MajorClass, MinorClass, Urgency
from geography.models import District, GridCell
from organisations.demo import DEMO_LOGINS, department_codes_by_key
from organisations.models import Membership, OrgUnit, Role, UnitType, User
from organisations.selectors import scope_for
from organisations.services import membership_grant, user_create
from workcalendar.units import TimeUnit

# A month of a mid-sized district's cases, every status among them. Each case's life (about 6 events) goes through
# the services; in two worker processes that is about 3 minutes on two cores.
DEFAULT_CASES = 20_000
HISTORY_DAYS = 30
SEED = 20261126
# Cases per chunk, each chunk one transaction: an interruption loses at most the chunks in flight, and a rerun
# builds the missing ones. Each chunk spans the whole month and is planned from (seed, its index) alone, so the
# history is the same whichever worker builds which chunk, and whether or not it was interrupted.
CHUNK_CASES = 250
# Worker processes: one per core, capped (PostgreSQL needs a share of the cores too).
MAX_WORKERS = 4

# Who reports (监督员 find most problems; citizens and the hotline most of the rest).
SOURCE_WEIGHTS: dict[str, float] = {
    Source.INSPECTOR: 55,
    Source.CITIZEN: 18,
    Source.HOTLINE: 15,
    Source.VIDEO_AI: 7,
    Source.SENSOR_ALARM: 3,
    Source.LEADER_INSTRUCTION: 2,
}
KIND_WEIGHTS: dict[str, float] = {ClassKind.EVENT: 55, ClassKind.COMPONENT: 40, ClassKind.SERVICE: 5}
# Street order and street litter (events 01, 05) are by far the most common; emergencies are rare.
EVENT_MAJOR_WEIGHTS: dict[str, float] = {"01": 35, "02": 12, "03": 14, "04": 4, "05": 28, "06": 7}
URGENCY_WEIGHTS: dict[str, float] = {Urgency.NORMAL: 90, Urgency.URGENT: 9, Urgency.EMERGENCY: 1}

# How a case's life goes (before the present cuts it short): most close; the rest cover every branch.
PLAN_WEIGHTS: dict[str, float] = {
    "close": 62,
    "reject": 5,
    "merge": 2,
    "cancel": 2,
    "self_handle": 3,
    "hold": 2.5,  # put on hold; most are resumed later, some still wait
    "extension": 4,  # an extension asked, approved or refused, then closed
    "return_once": 4,  # returned, re-dispatched to another unit, closed
    "return_twice": 1,  # returned twice: disputed, awaiting arbitration
    "rework_once": 5,
    "rework_twice": 1.5,
    "stall": 6,  # stuck at one stage, still open past its deadline
    "reopen": 0.5,
    "key": 1.5,  # flagged by a leader as a key case, then closed
}
# Each status at least once in any history of this size (the rest is drawn from PLAN_WEIGHTS).
ALL_STATUS_PLANS: tuple[tuple[str, str], ...] = (
    ("stall", Status.VERIFYING),
    ("stall", Status.REPORTED),
    ("stall", Status.REGISTERED),
    ("stall", Status.DISPATCHED),
    ("stall", Status.HANDLING),
    ("stall", Status.HANDLED),
    ("stall", Status.REWORK),
    ("stall", Status.EXTENSION_PENDING),
    ("stall", Status.ON_HOLD),
    ("return_twice", Status.RETURNED),
    ("reject", Status.NOT_REGISTERED),
    ("merge", Status.MERGED),
    ("cancel", Status.CANCELLED),
    ("close", Status.CLOSED),
    ("rework_twice", Status.CLOSED),
)
LATE_SHARE = 0.12  # steps done after their deadline

# Which unit handles each major class: a department's field unit serving the district when it has one
# there, else the district's own field unit of that kind (index into the district field unit kinds).
ROUTES: dict[tuple[str, str], tuple[str | None, int]] = {
    (ClassKind.COMPONENT, "01"): ("urban_management", 2),  # 公用设施 -> 市城管局 市政设施维护队
    (ClassKind.COMPONENT, "02"): ("municipal_works", 2),  # 道路交通
    (ClassKind.COMPONENT, "03"): ("sanitation", 1),  # 市容环境
    (ClassKind.COMPONENT, "04"): ("greening", 3),  # 园林绿化
    (ClassKind.COMPONENT, "05"): (None, 5),  # 房屋土地 -> 违法建设治理中队
    (ClassKind.COMPONENT, "06"): ("urban_management", 2),
    (ClassKind.EVENT, "01"): (None, 1),  # 市容环境 -> 环卫作业中队
    (ClassKind.EVENT, "02"): (None, 7),  # 宣传广告 -> 户外广告管理中队
    (ClassKind.EVENT, "03"): (None, 6),  # 施工管理 -> 渣土运输监管中队
    (ClassKind.EVENT, "04"): ("emergency", 9),  # 突发事件 -> 应急救援站 / 防汛应急抢险队
    (ClassKind.EVENT, "05"): ("law_enforcement", 0),  # 街面秩序 -> 执法大队
    (ClassKind.EVENT, "06"): (None, 0),
    (ClassKind.SERVICE, "01"): ("urban_management", 2),
    (ClassKind.SERVICE, "02"): (None, 11),
    (ClassKind.SERVICE, "03"): (None, 10),
    (ClassKind.SERVICE, "04"): (None, 0),
}
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    ClassKind.COMPONENT: ("{name}破损，需维修", "{name}缺失", "{name}松动，存在安全隐患", "{name}被占用", "{name}污损"),
    ClassKind.EVENT: ("发现{name}", "{name}，影响市容", "{name}，群众反映强烈", "{name}，持续多日"),
    ClassKind.SERVICE: ("市民咨询：{name}", "{name}，请尽快处理", "{name}诉求"),
}


@dataclass
class HistoryResult:
    created: int = 0
    skipped: bool = False
    existing: int = 0  # cases the city had before
    events: int = 0  # written by this build
    by_status: dict[str, int] = field(default_factory=dict)  # of all the city's cases
    seconds: float = 0.0
    workers: int = 1


@dataclass
class Cast:
    """The people who work the demo cases."""

    clerk: User  # the city centre's (the demo login); district centres' below do most of the work
    dispatcher: User
    leader: User
    district_clerks: dict[int, User]  # by district id
    district_dispatchers: dict[int, User]
    citizen: User
    inspectors: dict[int, User]  # by street id
    handlers: dict[int, User]  # by field unit id
    fallback_units: dict[int, OrgUnit]  # by district id: where a returned case is re-dispatched


def jpeg_bytes(colour: tuple[int, int, int] = (120, 120, 120)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


_PHOTO = jpeg_bytes()


def photo(name: str) -> ContentFile:
    return ContentFile(_PHOTO, name=name)


# --- the cast and the routing table


def _staff(username: str, full_name: str, role: str, unit: OrgUnit) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        # Unusable passwords: only the documented demo logins sign in; these people just act in the history.
        user = user_create(username=username, full_name=full_name)
    membership_grant(user=user, role=role, unit=unit)
    return user


def _district_field_unit(district: District, kind_index: int) -> OrgUnit:
    units = list(
        OrgUnit.objects.filter(code__startswith=f"{district.code}F", unit_type=UnitType.FIELD_UNIT).order_by("code")
    )
    return units[kind_index] if kind_index < len(units) else units[0]


def routing_rules_create() -> int:
    """One rule per major class and district (unless the table has rules already): see ROUTES."""
    if RoutingRule.objects.exists():
        return 0
    dept_codes = department_codes_by_key()
    rules = []
    for district in District.objects.order_by("code"):
        for major in MajorClass.objects.order_by("kind", "code"):
            dept_key, kind_index = ROUTES.get((major.kind, major.code), (None, 0))
            unit = None
            if dept_key:
                unit = (
                    OrgUnit.objects.filter(
                        code__startswith=f"{dept_codes[dept_key]}F", unit_type=UnitType.FIELD_UNIT, district=district
                    )
                    .order_by("code")
                    .first()
                )
            unit = unit or _district_field_unit(district, kind_index)
            rules.append(
                RoutingRule(
                    major_class=major, district=district, lead_unit=unit, note=f"演示：{major.name}·{district.name}"
                )
            )
    RoutingRule.objects.bulk_create(rules)
    return len(rules)


def cast_build(*, street_ids: Sequence[int]) -> Cast:
    """The demo logins plus an inspector for each street with cases and a handler for each routed unit."""
    logins = {login.username: User.objects.get(username=login.username) for login in DEMO_LOGINS}
    demo_inspector = logins["inspector"]
    inspectors: dict[int, User] = {}
    held = Membership.objects.filter(user=demo_inspector, role=Role.INSPECTOR).select_related("unit").first()
    if held is not None and held.unit.street_id is not None:
        inspectors[held.unit.street_id] = demo_inspector
    for station in OrgUnit.objects.filter(unit_type=UnitType.STREET_WORKSTATION, street_id__in=street_ids).order_by(
        "code"
    ):
        if station.street_id not in inspectors:
            inspectors[station.street_id] = _staff(
                f"inspector-{station.code}", f"监督员 {station.name[:8]}", Role.INSPECTOR, station
            )
    district_clerks: dict[int, User] = {}
    district_dispatchers: dict[int, User] = {}
    for centre in OrgUnit.objects.filter(unit_type=UnitType.DISTRICT_CENTRE).order_by("code"):
        district_clerks[centre.district_id] = _staff(
            f"intake-{centre.code}", f"受理员 {centre.name[:3]}", Role.INTAKE_CLERK, centre
        )
        district_dispatchers[centre.district_id] = _staff(
            f"dispatcher-{centre.code}", f"派遣员 {centre.name[:3]}", Role.DISPATCHER, centre
        )
    fallback = {d.pk: _district_field_unit(d, 0) for d in District.objects.order_by("code")}
    unit_ids = set(RoutingRule.objects.values_list("lead_unit_id", flat=True)) | {u.pk for u in fallback.values()}
    handlers: dict[int, User] = {}
    demo_handler = logins["handler"]
    for membership in Membership.objects.filter(user=demo_handler, role=Role.HANDLER):
        handlers[membership.unit_id] = demo_handler
    for unit in OrgUnit.objects.filter(pk__in=unit_ids).order_by("code"):
        if unit.pk not in handlers:
            handlers[unit.pk] = _staff(f"handler-{unit.code}", f"处置员 {unit.name[:10]}", Role.HANDLER, unit)
    return Cast(
        clerk=logins["intake"],
        dispatcher=logins["dispatcher"],
        leader=logins["leader"],
        citizen=logins["citizen"],
        district_clerks=district_clerks,
        district_dispatchers=district_dispatchers,
        inspectors=inspectors,
        handlers=handlers,
        fallback_units=fallback,
    )


# --- where and what


@dataclass(frozen=True)
class Spot:
    x: float
    y: float
    street_id: int
    component_code: str | None = None


def busy_cell_weights(cells: Sequence[int], rng: random.Random) -> list[float]:
    """A weight per grid cell: a few busy cells (markets, stations) get many more reports."""
    return [12.0 if rng.random() < 0.05 else 1.0 for _ in cells]


def spots_sample(
    *,
    count: int,
    rng: random.Random,
    seed: int = SEED,
    cells: Sequence[int] | None = None,
    weights: Sequence[float] | None = None,
) -> list[Spot]:
    """`count` points inside the grid cells, more of them in a few busy cells, generated by PostGIS.

    `cells` (ids in id order) and their `weights` are read and drawn here unless the caller holds them."""
    if cells is None:
        cells = list(GridCell.objects.order_by("id").values_list("id", flat=True))
    if not cells:
        return []
    if weights is None:
        weights = busy_cell_weights(cells, rng)
    picked: dict[int, int] = {}
    for cell_id in rng.choices(cells, weights=weights, k=count):
        picked[cell_id] = picked.get(cell_id, 0) + 1
    ids, counts = zip(*sorted(picked.items()), strict=True)
    with connection.cursor() as cursor:
        # ST_GeneratePoints with a seed is repeatable, so the same seed gives the same city.
        cursor.execute(
            """
            SELECT ST_X(d.geom), ST_Y(d.geom), g.street_id
            FROM unnest(%s::int[], %s::int[]) AS w(cell_id, n)
            JOIN geography_gridcell g ON g.id = w.cell_id
            CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(g.geom, w.n, %s)) AS d
            ORDER BY g.id, d.path
            """,
            [list(ids), list(counts), seed],
        )
        spots = [Spot(x, y, street_id) for x, y, street_id in cursor.fetchall()]
    rng.shuffle(spots)
    return spots


@dataclass
class Catalogue:
    classes: list[MinorClass]
    weights: list[float]
    components: dict[int, list[Spot]]  # by minor class id
    self_handled: list[MinorClass]  # the classes inspectors may self-handle

    def pick(self, rng: random.Random) -> MinorClass:
        return rng.choices(self.classes, weights=self.weights)[0]

    def spot_for(self, minor: MinorClass, spot: Spot, rng: random.Random) -> Spot:
        """Most component cases are about a real component of their class: report at it, with its code."""
        components = self.components.get(minor.pk) if minor.major.kind == ClassKind.COMPONENT else None
        return rng.choice(components) if components and rng.random() < 0.7 else spot

    def street_ids(self) -> set[int]:
        return {spot.street_id for spots in self.components.values() for spot in spots}


def source_pick(rng: random.Random) -> str:
    return rng.choices(list(SOURCE_WEIGHTS), weights=list(SOURCE_WEIGHTS.values()))[0]


def catalogue_weighted() -> Catalogue:
    """Every active class with a frequency weight: components by how many of them the city has."""
    classes = list(MinorClass.objects.filter(is_active=True).select_related("major").order_by("major__kind", "id"))
    per_class: dict[int, list[Spot]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT minor_class_id, code, ST_X(location), ST_Y(location), street_id FROM geography_component "
            "WHERE street_id IS NOT NULL AND status = 'normal' ORDER BY id"
        )
        for class_id, code, x, y, street_id in cursor.fetchall():
            per_class.setdefault(class_id, []).append(Spot(x, y, street_id, code))
    by_kind: dict[str, list[MinorClass]] = {}
    for minor in classes:
        by_kind.setdefault(minor.major.kind, []).append(minor)
    weights = []
    for minor in classes:
        siblings = by_kind[minor.major.kind]
        share = KIND_WEIGHTS.get(minor.major.kind, 1) / len(siblings)
        if minor.major.kind == ClassKind.COMPONENT:
            total = sum(len(per_class.get(m.pk, ())) for m in siblings) or 1
            share = KIND_WEIGHTS[ClassKind.COMPONENT] * (len(per_class.get(minor.pk, ())) + 1) / (total + len(siblings))
        elif minor.major.kind == ClassKind.EVENT:
            in_major = [m for m in siblings if m.major_id == minor.major_id]
            rank = in_major.index(minor) + 1
            share = (
                EVENT_MAJOR_WEIGHTS.get(minor.major.code, 5) / rank / sum(1 / r for r in range(1, len(in_major) + 1))
            )
        weights.append(share)
    return Catalogue(classes, weights, per_class, [m for m in classes if m.self_handle_allowed])


# --- lives


def _plan(rng: random.Random) -> tuple[str, str | None]:
    return rng.choices(list(PLAN_WEIGHTS), weights=list(PLAN_WEIGHTS.values()))[0], None


def _steps(plan: str, stop: str | None, rng: random.Random) -> list[str]:
    """The actions after the report (and after verification) for a plan; `stop` cuts a stall short."""
    handle = ["accept", "feedback", "pass"]
    body = {
        "close": ["register", "dispatch", *handle],
        "reject": ["reject"],
        "merge": ["merge"],
        "cancel": ["register", "cancel"] if rng.random() < 0.5 else ["cancel"],
        "hold": [
            "register",
            "dispatch",
            "accept",
            "hold",
            *(["resume", "feedback", "pass"] if rng.random() < 0.7 else []),
        ],
        "extension": ["register", "dispatch", "accept", "extend", "decide", "feedback", "pass"],
        "return_once": ["register", "dispatch", "return", "redispatch", *handle],
        "return_twice": ["register", "dispatch", "return", "dispatch", "return"],
        "rework_once": ["register", "dispatch", "accept", "feedback", "fail", *handle],
        "rework_twice": ["register", "dispatch", "accept", "feedback", "fail", "accept", "feedback", "fail", *handle],
        "reopen": ["register", "dispatch", *handle, "reopen", "dispatch", *handle],
        "key": ["register", "flag_key", "dispatch", *handle],
    }
    if plan != "stall":
        return body[plan]
    stall_paths = {
        Status.VERIFYING: [],
        Status.REPORTED: [],
        Status.REGISTERED: ["register"],
        Status.DISPATCHED: ["register", "dispatch"],
        Status.HANDLING: ["register", "dispatch", "accept"],
        Status.HANDLED: ["register", "dispatch", "accept", "feedback"],
        Status.REWORK: ["register", "dispatch", "accept", "feedback", "fail"],
        Status.EXTENSION_PENDING: ["register", "dispatch", "accept", "extend"],
        Status.ON_HOLD: ["register", "dispatch", "accept", "hold"],
    }
    target = stop or rng.choice([s for s in stall_paths if s != Status.VERIFYING])
    return stall_paths[target]


def _due(case: Case) -> dt.datetime | None:
    stage = STAGE_OF_STATUS.get(case.status)
    return getattr(case, f"{stage}_due_at") if stage else None


def _next_at(
    rng: random.Random, prev: dt.datetime, due: dt.datetime | None, *, share: tuple[float, float]
) -> dt.datetime:
    """When the next step happens: mostly a share of the time left to the deadline, sometimes after it."""
    if due is None or due <= prev:
        return prev + dt.timedelta(minutes=rng.uniform(10, 360))
    if rng.random() < LATE_SHARE:
        return due + dt.timedelta(hours=rng.uniform(0.5, 48))
    return prev + max((due - prev) * rng.uniform(*share), dt.timedelta(minutes=2))


# Actions that finish a stage take a good share of the time left; the others follow soon after.
_QUICK = (0.02, 0.15)
_STAGE_END = (0.2, 0.85)


class _Life:
    """One case's life: its steps, each at its moment, through the services; stops at the present."""

    def __init__(self, *, case: Case, cast: Cast, rng: random.Random, now: dt.datetime, master: Case | None) -> None:
        self.case, self.cast, self.rng, self.now, self.master = case, cast, rng, now, master
        # Most cases are worked by the district's centre, the rest by the city centre's demo people.
        self.local = rng.random() < 0.7

    def handler(self) -> User:
        return self.cast.handlers[self.case.lead_unit_id]

    def inspector(self) -> User:
        return self.cast.inspectors[self.case.street_id]

    def clerk(self) -> User:
        return self.cast.district_clerks.get(self.case.district_id, self.cast.clerk) if self.local else self.cast.clerk

    def dispatcher(self) -> User:
        local = self.cast.district_dispatchers.get(self.case.district_id, self.cast.dispatcher)
        return local if self.local else self.cast.dispatcher

    def actions(self) -> dict[str, tuple[tuple[float, float], Callable[[], Any]]]:
        c, cast = self.case, self.cast
        return {
            "verify": (
                _STAGE_END,
                lambda: services.case_verify(case=c, actor=self.inspector(), photos=[photo("v.jpg")]),
            ),
            "verify_false": (
                _STAGE_END,
                lambda: services.case_verify(case=c, actor=self.inspector(), confirmed=False, reason="现场未发现"),
            ),
            "register": (_STAGE_END, lambda: services.case_register(case=c, actor=self.clerk())),
            "reject": (
                _STAGE_END,
                lambda: services.case_reject(case=c, actor=self.clerk(), reason="经核实不属于城市管理范围"),
            ),
            "merge": (
                _QUICK,
                lambda: services.case_merge(case=c, master=self.master, actor=self.clerk(), reason="重复上报"),
            ),
            "cancel": (_QUICK, lambda: services.case_cancel(case=c, actor=self.clerk(), reason="上报人撤回")),
            "dispatch": (_STAGE_END, lambda: services.case_dispatch(case=c, actor=self.dispatcher())),
            "redispatch": (
                _STAGE_END,
                lambda: services.case_dispatch(
                    case=c, actor=self.dispatcher(), lead_unit=cast.fallback_units[c.district_id], reason="改派属地中队"
                ),
            ),
            "accept": (_QUICK, lambda: services.case_accept(case=c, actor=self.handler())),
            "return": (_QUICK, lambda: services.case_return(case=c, actor=self.handler(), reason="非本单位职责范围")),
            "extend": (
                (0.3, 0.7),
                lambda: services.case_request_extension(
                    case=c, actor=self.handler(), amount=2, unit=TimeUnit.WORKING_DAYS, reason="需协调施工许可"
                ),
            ),
            "decide": (
                _QUICK,
                lambda: services.case_decide_extension(
                    case=c, actor=self.dispatcher(), approved=self.rng.random() < 0.8, reason="理由不充分"
                ),
            ),
            "hold": ((0.2, 0.6), lambda: services.case_hold(case=c, actor=self.dispatcher(), reason="待产权单位确认")),
            "resume": ((3.0, 8.0), lambda: services.case_resume(case=c, actor=self.dispatcher(), reason="条件具备")),
            "feedback": (
                _STAGE_END,
                lambda: services.case_feedback(
                    case=c, actor=self.handler(), description="已处置完毕", after_photos=[photo("after.jpg")]
                ),
            ),
            "pass": (_STAGE_END, lambda: services.case_check(case=c, actor=self.inspector(), passed=True)),
            "fail": (
                _STAGE_END,
                lambda: services.case_check(case=c, actor=self.inspector(), passed=False, reason="处置不到位"),
            ),
            "reopen": ((1.0, 3.0), lambda: services.case_reopen(case=c, actor=cast.leader, reason="市民再次反映")),
            "flag_key": (_QUICK, lambda: services.case_flag_key(case=c, actor=cast.leader, reason="领导关注")),
        }

    def live(self, steps: Sequence[str], *, start: dt.datetime) -> None:
        actions = self.actions()
        at = start
        for step in steps:
            share, act = actions[step]
            if share[1] > 1:  # days later, whatever the deadline (resuming a hold, reopening)
                at += dt.timedelta(days=self.rng.uniform(*share))
            else:
                at = _next_at(self.rng, at, _due(self.case), share=share)
            if at >= self.now:
                return  # the present: the rest of this life has not happened yet
            with clock_at(at):
                act()


def _report_times(*, count: int, days: int, now: dt.datetime, rng: random.Random) -> list[dt.datetime]:
    """Report moments over the past `days`, mostly in the daytime (Qingdao time), in the order drawn."""
    local_now = timezone.localtime(now)
    hours = list(range(24))
    hour_weights = [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 12, 9, 11, 13, 13, 12, 10, 8, 6, 5, 3, 2, 1]
    moments = []
    while len(moments) < count:
        day = local_now - dt.timedelta(days=rng.uniform(0, days))
        hour = rng.choices(hours, weights=hour_weights)[0]
        moment = day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60), microsecond=0)
        if moment < local_now:
            moments.append(moment.astimezone(dt.UTC))
    return moments


def report_fields(*, source: str, minor: MinorClass, spot: Spot, cast: Cast, rng: random.Random) -> dict[str, Any]:
    text = rng.choice(DESCRIPTIONS.get(minor.major.kind, ("{name}",))).format(name=minor.name)
    fields: dict[str, Any] = {
        "source": source,
        "minor_class": minor,
        "location": Point(spot.x, spot.y, srid=4326),
        "description": text,
        "reporter": None,
        "urgency": rng.choices(list(URGENCY_WEIGHTS), weights=list(URGENCY_WEIGHTS.values()))[0],
        "component_code": spot.component_code,
    }
    if source == Source.INSPECTOR:
        fields["reporter"] = cast.inspectors[spot.street_id]
        fields["photos"] = [photo("evidence.jpg")]
    elif source == Source.CITIZEN:
        fields["reporter"] = cast.citizen if rng.random() < 0.3 else None
        fields["reporter_phone"] = f"13{rng.randrange(10**9):09d}"
    elif source == Source.HOTLINE:
        fields["reporter_name"] = rng.choice(["王先生", "李女士", "张先生", "刘女士", "陈先生", "赵女士"])
        fields["reporter_phone"] = f"15{rng.randrange(10**9):09d}"
    elif source == Source.VIDEO_AI:
        fields.update(camera_id=f"CAM-{rng.randrange(1, 800):04d}", confidence=round(rng.uniform(0.62, 0.99), 2))
    elif source == Source.SENSOR_ALARM:
        fields["alarm_ref"] = f"ALM-{rng.randrange(10**6):06d}"
    elif source == Source.LEADER_INSTRUCTION:
        fields["reporter"] = cast.leader
    return fields


# --- the history: planned in chunks, built by worker processes


@dataclass(frozen=True)
class _Slot:
    """One case of a chunk, as planned: how its life goes, when it is reported, where."""

    plan: str
    stop: str | None
    at: dt.datetime
    spot: Spot
    # The chunk's mark: reported exactly at its generated spot (no component's, never merged), so that a case
    # at this point tells that the chunk was built (generated points do not repeat).
    mark: bool = False


@dataclass
class _Chunk:
    index: int
    slots: list[_Slot]  # in report order
    rng: random.Random  # drawn from after planning, by the lives

    @property
    def mark(self) -> Spot:
        return next(slot.spot for slot in self.slots if slot.mark)


@dataclass
class _Shared:
    """What every chunk reads, prepared (and committed) before the workers start; forked workers inherit it."""

    cast: Cast
    catalogue: Catalogue
    cells: list[int]
    weights: list[float]
    now: dt.datetime
    days: int
    seed: int


def _chunk_plan(shared: _Shared, index: int, *, size: int) -> _Chunk:
    """Chunk `index` of the history, its first `size` cases: the same for the same seed whatever `size` is (up to
    the order in time), as every chunk draws CHUNK_CASES of everything from its own generator first."""
    rng = random.Random(f"{shared.seed}/{index}")
    plans = [_plan(rng) for _ in range(CHUNK_CASES)]
    times = _report_times(count=CHUNK_CASES, days=shared.days, now=shared.now, rng=rng)
    spots = spots_sample(
        count=CHUNK_CASES, rng=rng, seed=shared.seed + index, cells=shared.cells, weights=shared.weights
    )
    slots = [
        _Slot(plan, stop, at, spot, mark=i == 0)
        for i, ((plan, stop), at, spot) in enumerate(zip(plans, times, spots, strict=False))
    ][:size]
    slots.sort(key=lambda slot: slot.at)
    # Every status shows in even a small history: the first chunk fixes some plans, in its older two thirds.
    if index == 0 and len(slots) >= 3 * len(ALL_STATUS_PLANS):
        for j, (plan, stop) in enumerate(ALL_STATUS_PLANS):
            position = (j * 2 * len(slots)) // (3 * len(ALL_STATUS_PLANS))
            if slots[position].mark:
                position += 1
            slots[position] = _Slot(plan, stop, slots[position].at, slots[position].spot)
    return _Chunk(index, slots, rng)


def _chunk_built(chunk: _Chunk) -> bool:
    mark = chunk.mark
    return Case.objects.filter(location=Point(mark.x, mark.y, srid=4326)).exists()


def _chunks_to_build(shared: _Shared, *, needed: int) -> Iterator[_Chunk]:
    """The chunks not built yet, in index order, until they add `needed` cases (the last one cut short)."""
    index = 0
    while needed > 0:
        chunk = _chunk_plan(shared, index, size=min(CHUNK_CASES, needed))
        index += 1
        if not chunk.slots:
            return  # no grid cells: nowhere to report
        if _chunk_built(chunk):
            continue
        needed -= len(chunk.slots)
        yield chunk


@contextmanager
def _savepoints_skipped() -> Iterator[None]:
    """Inside a chunk's transaction, the services' own atomic blocks take no savepoints.

    A chunk commits or rolls back whole, so the two round trips a savepoint costs per service call (a third of all
    statements) buy nothing here; a service that raises still marks the chunk's transaction for rollback."""
    features = connection.features
    features.uses_savepoints = False
    try:
        yield
    finally:
        del features.uses_savepoints  # the backend's class attribute again


def _chunk_build(shared: _Shared, chunk: _Chunk) -> tuple[int, int]:
    """Live the chunk's cases, in one transaction. Returns (cases, events)."""
    recent_open: deque[Case] = deque(maxlen=40)
    cases = []
    # The past is not news: no live hints to the Channels groups for events that happened weeks ago.
    with publishing_suppressed(), transaction.atomic(), _savepoints_skipped():
        for slot in chunk.slots:
            case = _one_case(
                plan=slot.plan,
                stop=slot.stop,
                at=slot.at,
                spot=slot.spot,
                mark=slot.mark,
                cast=shared.cast,
                catalogue=shared.catalogue,
                rng=chunk.rng,
                now=shared.now,
                recent_open=recent_open,
            )
            cases.append(case)
    # A merge appends to its master, which is one of the chunk's cases: each event is counted once.
    return len(cases), sum(case.event_count for case in cases)


def _shared_prepare(*, days: int, seed: int, now: dt.datetime) -> _Shared:
    """The routing table, the cast and the catalogue (created if missing, committed) and the grid's cells."""
    with transaction.atomic():
        routing_rules_create()
        catalogue = catalogue_weighted()
        cells = list(GridCell.objects.order_by("id").values_list("id", flat=True))
        streets = set(GridCell.objects.order_by().values_list("street_id", flat=True).distinct())
        cast = cast_build(street_ids=sorted((streets - {None}) | catalogue.street_ids()))
        # Each person's scope and memberships, read once here and inherited by the forked workers (each would
        # read them again: cached on the user objects, as for a request).
        for person in _people(cast):
            scope_for(person)
            holds_role(person, Role.INSPECTOR)
    weights = busy_cell_weights(cells, random.Random(seed))
    return _Shared(cast=cast, catalogue=catalogue, cells=cells, weights=weights, now=now, days=days, seed=seed)


def _people(cast: Cast) -> list[User]:
    groups: list[Any] = [
        [cast.clerk, cast.dispatcher, cast.leader, cast.citizen],
        cast.district_clerks.values(),
        cast.district_dispatchers.values(),
        cast.inspectors.values(),
        cast.handlers.values(),
    ]
    # Each object once: the same person may act through two objects, each with its own cache.
    return list({id(person): person for group in groups for person in group}.values())


def history_workers() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def case_history_build(
    *,
    count: int = DEFAULT_CASES,
    days: int = HISTORY_DAYS,
    seed: int = SEED,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> HistoryResult:
    """Bring the city up to `count` cases with past cases over the last `days`, through the services.

    Skipped when the city has `count` cases already. Built in chunks of CHUNK_CASES, each its own transaction, by
    `workers` processes (default: one per core, at most MAX_WORKERS); a chunk found built (an earlier run was
    interrupted) is not built again. For a given city and seed the chunks are the same (but the dates, which end
    now); which earlier cases intake flags as likely duplicates depends on which chunks are already committed.
    Inside a transaction (tests) the chunks are built one after the other in this process, which alone sees the
    uncommitted city.
    """
    started, clock_started = timezone.now(), time.monotonic()
    existing = Case.objects.count()
    if count <= 0 or existing >= count:
        return HistoryResult(skipped=True, existing=existing)
    shared = _shared_prepare(days=days, seed=seed, now=started)
    needed = count - existing
    workers = max(1, workers or history_workers())
    if connection.in_atomic_block:
        workers = 1
    result = HistoryResult(existing=existing, workers=workers)

    def done(cases: int, events: int) -> None:
        result.created += cases
        result.events += events
        if progress:
            progress(result.created, needed)

    chunks = _chunks_to_build(shared, needed=needed)
    if workers == 1:
        for chunk in chunks:
            done(*_chunk_build(shared, chunk))
    else:
        _build_in_workers(shared, chunks, workers=workers, done=done)
    result.by_status = dict(Case.objects.order_by().values_list("status").annotate(n=Count("id")))
    result.seconds = time.monotonic() - clock_started
    return result


def _build_in_workers(
    shared: _Shared, chunks: Iterator[_Chunk], *, workers: int, done: Callable[[int, int], None]
) -> None:
    """Hand the chunks to `workers` forked processes as they are planned; raise if one of them failed."""
    context = multiprocessing.get_context("fork")
    tasks: Any = context.Queue()
    results: Any = context.Queue()
    stop = context.Event()
    # A forked child must not share the parent's database connection: each opens its own.
    connections.close_all()
    processes = [
        context.Process(target=_worker, args=(shared, tasks, results, stop), name=f"case-history-{n}", daemon=True)
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        planned = 0
        for chunk in chunks:
            tasks.put(chunk)
            planned += 1
        for _ in processes:
            tasks.put(None)
        failures = []
        for _ in range(planned):
            message = _result(results, processes)
            if message[0] == "built":
                done(message[2], message[3])
            elif message[0] == "failed":
                failures.append(message[2])
                stop.set()
        if failures:
            raise RuntimeError(f"a case history worker failed:\n{failures[0]}")
    finally:
        stop.set()
        # Chunks nobody took (Ctrl-C, a failure) are dropped: else this process would wait at exit for a reader
        # of the queue that never comes. The next run builds them.
        tasks.cancel_join_thread()
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()


def _result(results: Any, processes: Sequence[Any]) -> tuple[Any, ...]:
    """The next worker's message; a worker that died without one (killed) fails the build."""
    while True:
        try:
            return results.get(timeout=5)
        except queue.Empty:
            if not any(process.is_alive() for process in processes):
                raise RuntimeError("the case history workers stopped before building every chunk") from None


def _worker(shared: _Shared, tasks: Any, results: Any, stop: Any) -> None:
    """A worker process: build chunks until told to stop; each chunk commits (or rolls back) on its own."""
    try:
        while True:
            chunk = tasks.get()
            if chunk is None:
                return
            if stop.is_set():  # another worker failed: leave the rest to the next run
                results.put(("skipped", chunk.index))
                continue
            try:
                cases, events = _chunk_build(shared, chunk)
            except Exception:  # noqa: BLE001 (reported to the parent, which raises)
                results.put(("failed", chunk.index, traceback.format_exc()))
                stop.set()
            else:
                results.put(("built", chunk.index, cases, events))
    finally:
        connections.close_all()


def _one_case(
    *,
    plan: str,
    stop: str | None,
    at: dt.datetime,
    spot: Spot,
    mark: bool = False,
    cast: Cast,
    catalogue: Catalogue,
    rng: random.Random,
    now: dt.datetime,
    recent_open: deque[Case],
) -> Case:
    source = source_pick(rng)
    minor = catalogue.pick(rng)
    master = None
    if plan == "merge":
        master = None if mark else next((c for c in reversed(recent_open) if c.is_open), None)
        if master is None:
            plan = "close"
        else:
            # Reported again a few metres away: intake flags it as a likely duplicate of the master.
            minor = master.minor_class
            spot = Spot(master.location.x + rng.uniform(-3e-5, 3e-5), master.location.y, master.street_id)
    if plan == "self_handle":
        source, minor = Source.INSPECTOR, rng.choice(catalogue.self_handled)
    if stop == Status.VERIFYING or (
        stop is None and plan == "stall" and source in NEEDS_VERIFICATION and rng.random() < 0.2
    ):
        source, stop = Source.CITIZEN, Status.VERIFYING
    elif stop == Status.REPORTED:
        source = Source.INSPECTOR
    if plan != "merge" and not mark:
        spot = catalogue.spot_for(minor, spot, rng)
    fields = report_fields(source=source, minor=minor, spot=spot, cast=cast, rng=rng)
    with clock_at(at):
        if plan == "self_handle":
            return services.case_self_handle(
                inspector=cast.inspectors[spot.street_id],
                minor_class=minor,
                location=fields["location"],
                description=fields["description"],
                before_photos=[photo("before.jpg")],
                after_photos=[photo("after.jpg")],
            )
        case = services.case_report(**fields)
    steps = [] if stop == Status.VERIFYING else _steps(plan, stop, rng)
    if case.status == Status.VERIFYING and stop != Status.VERIFYING:
        steps = ["verify" if plan != "reject" else "verify_false", *steps]
    _Life(case=case, cast=cast, rng=rng, now=now, master=master).live(steps, start=at)
    if case.is_open:
        recent_open.append(case)
    return case
