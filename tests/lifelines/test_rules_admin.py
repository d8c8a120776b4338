"""The admin of thresholds and alarms: every rule edit is on record; alarms list, filter and show their events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from lifelines.models import Alarm, AlarmLevel, AlarmState, RuleChange, ThresholdRule
from lifelines.services import readings_ingest
from organisations.models import User
from tests.lifelines.conftest import Station

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db: Any) -> Client:
    client = Client(headers={"Accept-Language": "en"})  # the messages below are asserted in English
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    return client


def test_creating_changing_and_deleting_a_rule_is_recorded(station: Station, admin: Client) -> None:
    form = {
        "sensor_type": station.supply.sensor_type.pk,
        "condition": "bounds",
        "level": AlarmLevel.ORANGE,
        "upper": "90",
        "min_readings": "1",
        "min_duration_s": "0",
        "hysteresis": "0",
        "is_active": "on",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
    }
    assert admin.post("/admin/lifelines/thresholdrule/add/", form).status_code == 302
    rule = ThresholdRule.objects.get()
    assert admin.post(f"/admin/lifelines/thresholdrule/{rule.pk}/change/", {**form, "upper": "85"}).status_code == 302
    page = admin.get(f"/admin/lifelines/thresholdrule/{rule.pk}/change/")
    assert page.status_code == 200
    admin.post(f"/admin/lifelines/thresholdrule/{rule.pk}/delete/", {"post": "yes"})

    changes = list(RuleChange.objects.order_by("id").values_list("action", "changes"))
    assert [action for action, _ in changes] == ["created", "changed", "deleted"]
    assert changes[1][1] == {"upper": [90.0, 85.0]}
    assert not ThresholdRule.objects.exists()


def test_a_bounds_rule_without_bounds_is_refused_naming_the_field(station: Station, admin: Client) -> None:
    form = {
        "sensor_type": station.supply.sensor_type.pk,
        "condition": "bounds",
        "level": AlarmLevel.ORANGE,
        "min_readings": "1",
        "min_duration_s": "0",
        "hysteresis": "0",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
    }
    page = admin.post("/admin/lifelines/thresholdrule/add/", form)
    assert page.status_code == 200
    assert "Give an upper bound, a lower bound or both." in page.content.decode()
    assert not ThresholdRule.objects.exists() and not RuleChange.objects.exists()


def test_alarms_list_filter_show_events_and_acknowledge(station: Station, admin: Client) -> None:
    ThresholdRule.objects.create(sensor_type=station.supply.sensor_type, level=AlarmLevel.YELLOW, upper=80)
    an_hour_ago = (timezone.now() - timedelta(hours=1)).isoformat()
    readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": an_hour_ago, "value": 85}])
    alarm = Alarm.objects.get()

    assert admin.get("/admin/lifelines/alarm/", {"state": "raised", "level": "2"}).status_code == 200
    detail = admin.get(f"/admin/lifelines/alarm/{alarm.pk}/change/")
    assert detail.status_code == 200 and "raised" in detail.content.decode()
    admin.post("/admin/lifelines/alarm/", {"action": "acknowledge", "_selected_action": [alarm.pk]})

    alarm.refresh_from_db()
    assert alarm.state == AlarmState.ACKNOWLEDGED
    assert alarm.acknowledged_by.username == "root"
