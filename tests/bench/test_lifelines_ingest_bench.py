"""Sustained lifelines ingest with threshold evaluation, on the production shape:

(a) through the HTTP endpoint (gunicorn workers, DEBUG off, batches of 1,000 readings, several clients), printed
    beside a plain COPY of the same number of rows into the same table in the same run (the floor of what storing
    costs); target >= 20,000 readings/s;
(b) through MQTT: a device publisher -> Mosquitto -> `manage.py mqtt_ingest` -> the same ingest; target >= 5,000
    readings/s, timed from the first publish until the bridge has answered every message.

2,000 sensors on 200 gateways, each sensor type with the demo's type-wide thresholds (every reading evaluated);
about one reading in a hundred breaches, so alarms are raised and cleared as the stream goes.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as paho
import pytest
from django.db import connection
from django.utils import timezone

from lifelines.demo import SENSOR_TYPES, demo_rules_build
from lifelines.models import Device, Facility, Reading, Sensor, SensorType
from lifelines.mqtt import broker_address
from lifelines.services import device_token_issue
from tests.bench.servers import ROOT, WORKERS, gunicorn, production_env
from tests.lifelines.test_mqtt_support import broker_url, session_drop, unique_root

DEVICES = 200
SENSORS_PER_DEVICE = 10
BATCH = 1000  # readings per batch: 100 instants of a gateway's 10 sensors
CLIENTS = 4
TARGET_HTTP = 20_000.0
TARGET_MQTT = 5_000.0
MQTT_MESSAGE = 500  # readings per MQTT message (a gateway's 10 sensors over 50 instants)


@pytest.fixture
def fleet(transactional_db: None) -> list[tuple[Device, str, list[Sensor]]]:
    """200 gateways of 10 gas %LEL sensors each, with the demo thresholds; their tokens."""
    spec = next(t for t in SENSOR_TYPES if t.code == "gas_lel")
    sensor_type = SensorType.objects.create(
        code=spec.code,
        name=spec.name,
        domain=spec.domain,
        metric=spec.metric,
        unit=spec.unit,
        valid_min=spec.valid_min,
        valid_max=spec.valid_max,
        expected_interval_s=spec.interval_s,
    )
    assert demo_rules_build() > 0
    facilities = Facility.objects.bulk_create(
        Facility(
            code=f"B-{i:04d}",
            name=f"压测{i}",
            domain=spec.domain,
            kind="gas_station",
            location="SRID=4326;POINT(120.38 36.07)",
        )
        for i in range(DEVICES)
    )
    devices = Device.objects.bulk_create(
        Device(code=f"B-{i:04d}-GW", name=f"网关{i}", facility=f) for i, f in enumerate(facilities)
    )
    Sensor.objects.bulk_create(
        Sensor(
            code=f"B-{i:04d}-L{j}",
            facility=f,
            device=d,
            sensor_type=sensor_type,
            expected_interval_s=spec.interval_s,
        )
        for i, (f, d) in enumerate(zip(facilities, devices, strict=True))
        for j in range(SENSORS_PER_DEVICE)
    )
    sensors = {d.pk: [] for d in devices}
    for sensor in Sensor.objects.order_by("code"):
        sensors[sensor.device_id].append(sensor)
    return [(d, device_token_issue(device=d), sensors[d.pk]) for d in devices]


def _batch(sensors: list[Sensor], start: datetime, instants: int, salt: int) -> list[dict[str, Any]]:
    items = []
    for k in range(instants):
        ts = (start + timedelta(seconds=k)).isoformat()
        for n, sensor in enumerate(sensors):
            breach = (k * 7 + n * 13 + salt) % 100 == 0
            items.append({"sensor": sensor.code, "ts": ts, "value": 27.5 if breach else round(0.1 * (k % 5), 1)})
    return items


def _post_all(port: int, work: list[tuple[str, list[dict[str, Any]]]]) -> tuple[float, dict[int, int], int]:
    statuses: dict[int, int] = {}
    accepted = 0
    lock = threading.Lock()

    def client(share: list[tuple[str, list[dict[str, Any]]]]) -> None:
        nonlocal accepted
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine: dict[int, int] = {}
        stored = 0
        for token, items in share:
            conn.request(
                "POST",
                "/api/v1/lifelines/readings/",
                json.dumps(items).encode(),
                {"Content-Type": "application/json", "Authorization": f"Device {token}", "Host": "127.0.0.1"},
            )
            response = conn.getresponse()
            body = response.read()
            mine[response.status] = mine.get(response.status, 0) + 1
            if response.status == 200:
                stored += json.loads(body)["accepted"]
        conn.close()
        with lock:
            accepted += stored
            for code, n in mine.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=client, args=(work[i::CLIENTS],)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses, accepted


def _copy(fleet: list[tuple[Device, str, list[Sensor]]], start: datetime, instants: int) -> tuple[float, int]:
    """The same shape of rows, COPYed straight into the readings table (no validation, no rules)."""
    received = timezone.now().isoformat()
    buffer = io.StringIO()
    rows = 0
    ids = {s.code: s.pk for _d, _t, sensors in fleet for s in sensors}
    for _device, _token, sensors in fleet:
        for item in _batch(sensors, start, instants, 1):
            buffer.write(f"{ids[item['sensor']]}\t{item['ts']}\t{item['value']}\t{received}\n")
            rows += 1
    buffer.seek(0)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.copy_expert("COPY lifelines_reading (sensor_id, ts, value, received_at) FROM STDIN", buffer)
    return time.perf_counter() - started, rows


@pytest.fixture
def web_server(fleet: Any) -> Iterator[int]:
    with gunicorn() as port:
        yield port


@pytest.mark.django_db(transaction=True)
def test_sustained_ingest_with_thresholds_over_http_beside_a_plain_copy(web_server: int, fleet: Any) -> None:
    base = timezone.now().replace(microsecond=0) - timedelta(hours=6)
    instants = BATCH // SENSORS_PER_DEVICE
    warm = [(token, _batch(sensors, base, 20, 0)) for _d, token, sensors in fleet[:40]]
    _post_all(web_server, warm)
    work = [(token, _batch(sensors, base + timedelta(hours=1), instants, 0)) for _d, token, sensors in fleet]

    seconds, statuses, accepted = _post_all(web_server, work)
    copy_seconds, copied = _copy(fleet, base + timedelta(hours=2), instants)

    total = DEVICES * BATCH
    assert statuses == {200: DEVICES}, statuses
    assert accepted == total
    assert copied == total
    rate, copy_rate = total / seconds, copied / copy_seconds
    print(
        f"\nlifelines ingest over HTTP with threshold evaluation: {total:,} readings in batches of {BATCH:,},"
        f" {CLIENTS} clients, gunicorn x {WORKERS} workers on {os.cpu_count()} cores: {rate:,.0f} readings/s"
        f" | baseline COPY of the same rows into lifelines_reading: {copy_rate:,.0f} rows/s"
        f" | ingest costs {copy_rate / rate:.1f}x the COPY"
        f" | target >= {TARGET_HTTP:,.0f} readings/s: {'met' if rate >= TARGET_HTTP else 'NOT met'}"
    )


@pytest.mark.django_db(transaction=True)
def test_sustained_ingest_through_mqtt(fleet: Any) -> None:
    url, root, client_id = broker_url(), unique_root(), f"bench-{uuid.uuid4().hex[:8]}"
    env = production_env()
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed at the end
    bridge = subprocess.Popen(
        [sys.executable, "manage.py", "mqtt_ingest", "--url", url, "--topic-root", root, "--client-id", client_id],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    address = broker_address(url)
    answers: queue.Queue[dict[str, Any]] = queue.Queue()
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    publisher.on_message = lambda _c, _u, msg: answers.put(json.loads(msg.payload))
    publisher.max_inflight_messages_set(200)
    publisher.connect(address.host, address.port)
    publisher.loop_start()
    subscribed: queue.Queue[int] = queue.Queue()
    publisher.on_subscribe = lambda _c, _u, mid, *_rest: subscribed.put(mid)
    _rc, mid = publisher.subscribe(f"{root}/+/ack", qos=1)
    assert subscribed.get(timeout=30) == mid
    try:
        # Ready when a probe is answered.
        deadline = time.monotonic() + 60
        while True:
            assert bridge.poll() is None and time.monotonic() < deadline, "mqtt_ingest did not start"
            publisher.publish(f"{root}/probe/readings", b"[]", qos=1)
            try:
                answers.get(timeout=0.5)
                break
            except queue.Empty:
                continue
        while not answers.empty():
            answers.get_nowait()
        base = timezone.now().replace(microsecond=0) - timedelta(hours=3)
        instants = MQTT_MESSAGE // SENSORS_PER_DEVICE
        messages = [
            (token, _batch(sensors, base + timedelta(seconds=r * instants), instants, r))
            for r in range(2)
            for _d, token, sensors in fleet
        ]
        payloads = [
            (f"{root}/{token.split('.')[0]}/readings", json.dumps({"token": token, "readings": items}))
            for token, items in messages
        ]
        total = len(payloads) * MQTT_MESSAGE
        started = time.perf_counter()
        for topic, payload in payloads:
            publisher.publish(topic, payload, qos=1)
        stored = 0
        for _n in range(len(payloads)):
            answer = answers.get(timeout=120)
            stored += answer.get("items", 0) - len(answer.get("refused", []))
        seconds = time.perf_counter() - started
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        bridge.terminate()
        bridge.wait(timeout=60)
        log.close()
        session_drop(url, client_id)
    assert stored == total
    assert Reading.objects.filter(ts__gte=base).count() == total
    rate = total / seconds
    print(
        f"\nlifelines ingest through MQTT (publisher -> Mosquitto -> mqtt_ingest -> PostgreSQL, thresholds"
        f" evaluated): {total:,} readings in {len(payloads)} messages of {MQTT_MESSAGE}: {rate:,.0f} readings/s"
        f" | target >= {TARGET_MQTT:,.0f} readings/s: {'met' if rate >= TARGET_MQTT else 'NOT met'}"
    )
