"""Extensions (延期) are asked for in hours or days: the minute units that time limits may use are refused,
through the API and the service alike, and nothing about the case changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from cases import services
from cases.models import Status
from tests.cases.factories import CaseWorld, case_in
from workcalendar.units import TimeUnit

pytestmark = pytest.mark.django_db

MINUTE_UNITS = [TimeUnit.CALENDAR_MINUTES, TimeUnit.WORKING_MINUTES]


def _request_extension(user: Any, case_id: int, body: dict[str, Any]) -> Any:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client.post(f"/api/v1/cases/{case_id}/request-extension/", body, format="json")


@pytest.mark.parametrize("unit", MINUTE_UNITS)
def test_an_extension_in_minutes_is_refused_by_the_api_and_nothing_changes(
    world: CaseWorld, unchanged: Any, unit: str
) -> None:
    case = case_in(world, Status.HANDLING)
    check = unchanged(case)

    response = _request_extension(world.handler, case.pk, {"amount": 30, "unit": unit, "reason": "等配件"})

    assert response.status_code == 400
    assert list(response.json()) == ["unit"]
    check()


@pytest.mark.parametrize("unit", MINUTE_UNITS)
def test_an_extension_in_minutes_is_refused_by_the_service_and_nothing_changes(
    world: CaseWorld, unchanged: Any, unit: str
) -> None:
    case = case_in(world, Status.HANDLING)
    check = unchanged(case)

    with pytest.raises(ValidationError) as refused:
        services.case_request_extension(case=case, actor=world.handler, amount=30, unit=unit, reason="等配件")

    assert refused.value.message_dict == {"unit": ["Ask for an extension in hours or days."]}
    check()


@pytest.mark.parametrize("unit", [TimeUnit.WORKING_HOURS, TimeUnit.WORKING_DAYS, TimeUnit.CALENDAR_HOURS])
def test_an_extension_in_hours_or_days_is_still_accepted(world: CaseWorld, unit: str) -> None:
    case = case_in(world, Status.HANDLING)

    response = _request_extension(world.handler, case.pk, {"amount": 2, "unit": unit, "reason": "等配件"})

    assert response.status_code == 200, response.json()
    case.refresh_from_db()
    assert case.status == Status.EXTENSION_PENDING
    assert case.pending_extension == {"amount": 2, "unit": unit}
