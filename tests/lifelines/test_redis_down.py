"""With Redis unreachable, readings are still accepted and stored and alarms raised in the database; once Redis is
back, the sweep publishes the alarm changes the feed missed, each once."""

from __future__ import annotations

from typing import Any

from cases.events import PLATFORM_GROUP, district_group, publish_on_commit
from lifelines.models import Alarm, AlarmEvent, AlarmState, Reading
from lifelines.tasks import republish_alarms
from organisations.models import Role
from tests.command.servers import free_port
from tests.factories import person
from tests.lifelines import test_live
from tests.lifelines.conftest import Station
from tests.lifelines.test_live import alarm_events, ingest, started

daphne_port, live_socket, live_station = test_live.daphne_port, test_live.live_socket, test_live.live_station


def test_readings_and_alarms_survive_a_dead_redis_and_the_sweep_publishes_them_once(
    live_station: Station, live_socket: Any, device_client: Any, settings: Any
) -> None:
    group = district_group(live_station.city.a.district.pk)
    socket = started(live_socket(person(Role.DISPATCHER, live_station.city.a.centre)))
    device = device_client(live_station.token)

    settings.LIVE_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    ingest(device, live_station, 70, 95, start_min=10)
    ingest(device, live_station, 97, start_min=5)

    assert Reading.objects.filter(sensor=live_station.supply).count() == 3
    [alarm] = Alarm.objects.filter(sensor=live_station.supply)
    assert (alarm.state, alarm.last_value, alarm.repeats) == (AlarmState.RAISED, 97, 1)
    assert AlarmEvent.objects.filter(alarm=alarm, published_at__isnull=True).count() == 2  # raised, repeated
    assert republish_alarms.delay().get() == 0  # Redis still away: the sweep sends nothing and marks nothing
    assert AlarmEvent.objects.filter(alarm=alarm, published_at__isnull=True).count() == 2

    settings.LIVE_REDIS_URL = settings.REDIS_URL  # Redis is back
    assert republish_alarms.delay().get() == 1
    assert republish_alarms.delay().get() == 0

    [event] = socket.events(group, 1)
    assert (event["id"], event["state"], event["level"], event["value"]) == (alarm.pk, "raised", "red", 97)
    publish_on_commit(groups=[PLATFORM_GROUP], message={"kind": "test-marker"})
    assert alarm_events(socket.until(lambda f: f.get("group") == PLATFORM_GROUP)) == []
    assert not AlarmEvent.objects.filter(published_at__isnull=True).exists()
