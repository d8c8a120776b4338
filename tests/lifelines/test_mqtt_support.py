"""Helpers for the tests that go through a real MQTT broker (no tests here): the broker to use, a `manage.py
mqtt_ingest` subprocess on this run's test database, and a device that publishes a batch and waits for the answer.

The broker is TEST_MQTT_URL, else MQTT_URL (the private Mosquitto of scripts/services.sh), else the system
Mosquitto on 127.0.0.1:1883. Each bridge listens under a topic root of its own, so parallel test runs (and the
demo's bridge) sharing a broker never see each other's messages.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho
from django.conf import settings
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lifelines.mqtt import ack_topic, broker_address, readings_topic
from tests.conftest import ROOT, missing

ANSWER_TIMEOUT_S = 30.0


def broker_url() -> str:
    url = os.environ.get("TEST_MQTT_URL") or os.environ.get("MQTT_URL") or "mqtt://127.0.0.1:1883"
    address = broker_address(url)
    try:
        socket.create_connection((address.host, address.port), timeout=2).close()
    except OSError:
        missing(f"no MQTT broker at {url} (make test starts the private Mosquitto)")
    return url


def unique_root() -> str:
    return f"lifelines-test-{uuid.uuid4().hex[:10]}"


def bridge_env(**extra: str) -> dict[str, str]:
    """A production-like process on this test run's database."""
    db = settings.DATABASES["default"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DJANGO_SETTINGS_MODULE="qingdao_ops.settings",
        DJANGO_DEBUG="true",
        DATABASE_URL=f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="true",
    )
    env.update(extra)
    return env


class DeviceClient:
    """A device (or gateway) on the broker: publishes batches under `root` and reads the bridge's answers."""

    def __init__(self, url: str, root: str) -> None:
        self.root = root
        self.answers: dict[str, queue.Queue[dict[str, Any]]] = {}
        address = broker_address(url)
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        prefix = msg.topic.split("/")[1]
        self.answers.setdefault(prefix, queue.Queue()).put(json.loads(msg.payload))

    def listen(self, prefix: str) -> None:
        """Subscribe to the prefix's answers (waits for the broker to confirm)."""
        self.answers.setdefault(prefix, queue.Queue())
        subscribed: queue.Queue[int] = queue.Queue()
        self.client.on_subscribe = lambda _client, _userdata, mid, *_rest: subscribed.put(mid)
        _result, mid = self.client.subscribe(ack_topic(prefix, self.root), qos=1)
        assert subscribed.get(timeout=ANSWER_TIMEOUT_S) == mid

    def publish(self, prefix: str, payload: bytes | str, *, token_property: str | None = None) -> None:
        properties = None
        if token_property is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.UserProperty = ("token", token_property)
        info = self.client.publish(readings_topic(prefix, self.root), payload, qos=1, properties=properties)
        info.wait_for_publish(timeout=ANSWER_TIMEOUT_S)

    def send(self, token: str, items: list[Any]) -> dict[str, Any]:
        """Publish a batch the documented way and return the bridge's answer."""
        prefix = token.split(".")[0]
        if prefix not in self.answers:
            self.listen(prefix)
        self.publish(prefix, json.dumps({"token": token, "readings": items}))
        return self.answer(prefix)

    def answer(self, prefix: str) -> dict[str, Any]:
        return self.answers[prefix].get(timeout=ANSWER_TIMEOUT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def session_drop(url: str, client_id: str) -> None:
    """Forget a persistent session the bridge left on the shared broker."""
    address = broker_address(url)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.connect(address.host, address.port, clean_start=True)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@contextmanager
def bridge_process(
    url: str, root: str, client_id: str, *, keep_session: bool = False, **env: str
) -> Iterator[subprocess.Popen]:
    """`manage.py mqtt_ingest` on this run's test database; yields once it answers on the broker.

    Readiness is shown, not guessed: a probe message with no token is published until its refusal comes back."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the bridge stops, after the yield
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "mqtt_ingest",
            "--url",
            url,
            "--topic-root",
            root,
            "--client-id",
            client_id,
            "--max-wait-ms",
            "50",
        ],
        cwd=ROOT,
        env=bridge_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    probe = DeviceClient(url, root)
    try:
        probe.listen("probe")
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"mqtt_ingest did not start: {output(proc)}")
            probe.publish("probe", b"[]")
            try:
                probe.answers["probe"].get(timeout=0.5)
                break
            except queue.Empty:
                continue
    finally:
        probe.close()
    proc.log = log  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if not keep_session:
            session_drop(url, client_id)
        log.close()


def output(proc: subprocess.Popen) -> str:
    """What the bridge process wrote so far (stdout and stderr)."""
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read().decode(errors="replace")  # type: ignore[attr-defined]
