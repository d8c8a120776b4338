"""Helpers for the field tests (shifts, positions, tasks): the case world's people on duty at given places.

The case world (tests.cases.factories) puts `inspector` in the workstation of 市南区's first street and
`other_inspector` in its second street's; `world.point` lies in the first street's grid cell, `world.near(m)` m east.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.gis.geos import Point
from rest_framework.test import APIClient

from cases.clock import clock_at
from field import services
from field.models import InspectorShift
from organisations.models import User


def api_for(user: User) -> APIClient:
    """An API client signed in by session (as the phone's browser is), asking for English messages."""
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def on_duty(user: User, *, at: dt.datetime, share: bool = True) -> InspectorShift:
    with clock_at(at):
        return services.shift_start(user=user, share_position=share)


def seen_at(user: User, point: Point, *, at: dt.datetime, accuracy_m: float = 8.0) -> None:
    """The user's phone reports `point` at `at` (received at that moment too)."""
    with clock_at(at):
        services.positions_record(user=user, fixes=[services.Fix(point.x, point.y, accuracy_m, at)])


def position_body(point: Point, at: dt.datetime | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"lon": point.x, "lat": point.y, "accuracy_m": 10, **extra}
    if at is not None:
        body["at"] = at.isoformat()
    return body
