"""The MQTT bridge (`manage.py mqtt_ingest`) against a real Mosquitto: batches published by a device are stored
through the same ingest as HTTP, resent messages store nothing twice, a wrong token stores nothing, bad items
are refused one by one; the bridge survives a broker restart and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from tests.bench.servers import free_port
from tests.conftest import missing
from tests.lifelines.conftest import Station, stored
from tests.lifelines.test_mqtt_support import DeviceClient, bridge_process, broker_url, output, unique_root

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _forget_committed_readings() -> Iterator[None]:
    """The flush between transactional tests leaves the readings table alone: take this test's rows away."""
    yield
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM lifelines_reading WHERE sensor_id IN (SELECT id FROM lifelines_sensor)")


@pytest.fixture(scope="module")
def bridge(django_db_setup: Any, django_db_blocker: Any) -> Iterator[tuple[str, str, subprocess.Popen]]:
    """One bridge process for the module (each test's devices and tokens are new, so nothing leaks between them)."""
    url, root = broker_url(), unique_root()
    with bridge_process(url, root, f"test-bridge-{uuid.uuid4().hex[:8]}") as proc:
        yield url, root, proc


@pytest.fixture
def device(bridge: tuple[str, str, subprocess.Popen]) -> Iterator[DeviceClient]:
    url, root, _proc = bridge
    client = DeviceClient(url, root)
    yield client
    client.close()


def _items(station: Station, minutes: int = 3) -> list[dict[str, Any]]:
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=minutes)
    return [
        {"sensor": station.supply.code, "ts": (start + timedelta(minutes=i)).isoformat(), "value": 80.0 + i}
        for i in range(minutes)
    ]


def test_a_published_batch_is_stored(station: Station, device: DeviceClient) -> None:
    items = _items(station)

    answer = device.send(station.token, items)

    assert answer == {"refused": [], "items": 3, "accepted": 3, "duplicates": 0}
    assert [value for _ts, value in stored(station.supply)] == [80.0, 81.0, 82.0]
    station.supply.refresh_from_db()
    assert station.supply.last_value == 82.0


def test_a_message_resent_stores_nothing_twice(station: Station, device: DeviceClient) -> None:
    items = _items(station)
    device.send(station.token, items)

    again = device.send(station.token, items)

    assert again["accepted"] == 0 and again["duplicates"] == 3
    assert len(stored(station.supply)) == 3


def test_a_wrong_token_is_refused_and_nothing_is_stored(station: Station, device: DeviceClient) -> None:
    prefix = station.token.split(".")[0]
    forged = f"{prefix}.not-the-secret"

    answer = device.send(forged, _items(station))

    assert answer["error"] == "bad_token"
    assert stored(station.supply) == []


def test_another_devices_token_cannot_write_under_this_topic(station: Station, device: DeviceClient) -> None:
    prefix = station.token.split(".")[0]
    device.listen(prefix)

    device.publish(prefix, json.dumps({"token": station.other_token, "readings": _items(station)}))

    assert device.answer(prefix)["error"] == "bad_token"
    assert stored(station.supply) == []


def test_a_revoked_token_is_refused(station: Station, device: DeviceClient) -> None:
    from lifelines.services import device_revoke

    device_revoke(device=station.device)

    answer = device.send(station.token, _items(station))

    assert answer["error"] == "revoked"
    assert stored(station.supply) == []


def test_bad_items_are_refused_one_by_one_and_the_good_ones_stored(station: Station, device: DeviceClient) -> None:
    now = timezone.now().replace(microsecond=0)
    items = [
        {"sensor": station.supply.code, "ts": now.isoformat(), "value": 75.5},
        {"sensor": station.supply.code, "ts": now.isoformat(), "value": 999},  # above 150 °C
        {"sensor": "NO-SUCH", "ts": now.isoformat(), "value": 1},
        {"sensor": station.pressure.code, "ts": "yesterday", "value": 0.7},
        {"sensor": station.pressure.code, "ts": now.isoformat(), "value": 0.7},
    ]

    answer = device.send(station.token, items)

    assert answer["accepted"] == 2
    assert [(r["index"], r["reason"]) for r in answer["refused"]] == [
        (1, "out_of_range"),
        (2, "unknown_sensor"),
        (3, "bad_ts"),
    ]
    assert stored(station.supply) == [(now, 75.5)]
    assert stored(station.pressure) == [(now, 0.7)]


def test_the_token_may_come_as_an_mqtt5_user_property(station: Station, device: DeviceClient) -> None:
    prefix = station.token.split(".")[0]
    device.listen(prefix)

    device.publish(prefix, json.dumps(_items(station)), token_property=station.token)

    assert device.answer(prefix)["accepted"] == 3
    assert len(stored(station.supply)) == 3


def test_a_payload_that_is_not_json_is_refused(station: Station, device: DeviceClient) -> None:
    prefix = station.token.split(".")[0]
    device.listen(prefix)

    device.publish(prefix, b"\x00not json")

    assert device.answer(prefix)["error"] == "bad_json"
    assert stored(station.supply) == []


# --- a broker of the test's own, to restart


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Any]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        missing("mosquitto is not installed (make deps installs it)")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n" + ("user root\n" if os.getuid() == 0 else ""))

    class Broker:
        url = f"mqtt://127.0.0.1:{port}"
        proc: subprocess.Popen | None = None

        def start(self) -> None:
            self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            broker_url_ready(self.url, self.proc)

        def stop(self) -> None:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)

    broker = Broker()
    broker.start()
    yield broker
    if broker.proc and broker.proc.poll() is None:
        broker.stop()


def broker_url_ready(url: str, proc: subprocess.Popen) -> None:
    import socket
    import time

    from lifelines.mqtt import broker_address

    address = broker_address(url)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection((address.host, address.port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("mosquitto did not start") from None
            time.sleep(0.05)  # polling for the port to open, not timing behaviour


def test_the_bridge_reconnects_after_a_broker_restart_and_stops_cleanly_on_sigterm(
    station: Station, own_broker: Any
) -> None:
    root = unique_root()
    with bridge_process(own_broker.url, root, "restart-test") as proc:
        first = DeviceClient(own_broker.url, root)
        assert first.send(station.token, _items(station, 3))["accepted"] == 3
        first.close()

        own_broker.stop()
        own_broker.start()

        second = DeviceClient(own_broker.url, root)
        later = [
            {"sensor": station.pressure.code, "ts": (timezone.now() - timedelta(seconds=s)).isoformat(), "value": 0.7}
            for s in (30, 20, 10)
        ]
        # The bridge may still be waiting for its next reconnect attempt: the device resends until it is answered.
        prefix = station.token.split(".")[0]
        second.listen(prefix)
        answer = None
        for _attempt in range(60):
            second.publish(prefix, json.dumps({"token": station.token, "readings": later}))
            try:
                answer = second.answers[prefix].get(timeout=1.0)
                break
            except Exception:  # noqa: BLE001 - queue.Empty: not reconnected yet
                continue
        second.close()
        assert answer is not None and answer["accepted"] + answer["duplicates"] == 3
        assert len(stored(station.pressure)) == 3

        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        out = output(proc)

    assert proc.returncode == 0, out
    assert "mqtt_ingest stopped" in out
