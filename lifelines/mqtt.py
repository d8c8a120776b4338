"""The MQTT bridge: readings published on the broker go through the same lifelines.services.readings_ingest as the
HTTP endpoint, in batches.

Topic scheme and authentication (the contract for devices):

* A device publishes, QoS 1, on ``lifelines/<token prefix>/readings``.
* The payload is JSON: either ``{"token": "<prefix>.<secret>", "readings": [{sensor, ts, value}, ...]}``, or the
  bare array ``[{sensor, ts, value}, ...]`` with the token in an MQTT 5 user property named ``token``. The token's
  prefix must be the one in the topic (so one device cannot write under another's topic).
* The bridge answers on ``lifelines/<token prefix>/ack`` (QoS 1): ``{"accepted": n, "duplicates": n, "refused":
  [{index, sensor, reason, message}]}`` with indexes into that message's array, or ``{"error": code, "message"}``
  when the whole message was refused (bad JSON, no token, a wrong or revoked token); a refused message is also logged.

Messages are taken from the broker's queue for up to ``max_items`` readings or ``max_wait_ms`` milliseconds, grouped
per device and ingested (one readings_ingest call per device and batch); the broker's QoS 1 acknowledgement is sent
only after the batch is committed, and the session is persistent (clean start off, an hour's expiry), so a bridge
killed in the middle of a batch gets the unacknowledged messages again when it reconnects: ingest is idempotent, so
nothing is stored twice and no alarm is raised twice. The paho network thread reconnects with backoff when the
broker goes away; SIGTERM (see the mqtt_ingest command) finishes the batch in hand, acknowledges it and stops.
"""

from __future__ import annotations

import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from django.db import DatabaseError, close_old_connections, connection
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lifelines.api import MAX_BATCH_ITEMS
from lifelines.models import Device, token_hash
from lifelines.services import readings_ingest

logger = logging.getLogger(__name__)

TOPIC_ROOT = "lifelines"
DEFAULT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_CLIENT_ID = "qdops-mqtt-ingest"
SESSION_EXPIRY_S = 3600  # the broker keeps unacknowledged readings this long while the bridge is away
RECEIVE_MAXIMUM = 2000  # messages the broker may have in flight to the bridge before it acknowledges any
DEVICE_CACHE_SECONDS = 5.0  # a revoked or re-issued token takes effect on the bridge at most this late


def readings_topic(prefix: str, root: str = TOPIC_ROOT) -> str:
    return f"{root}/{prefix}/readings"


def ack_topic(prefix: str, root: str = TOPIC_ROOT) -> str:
    return f"{root}/{prefix}/ack"


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None


def broker_address(url: str) -> BrokerAddress:
    """mqtt://[user:password@]host[:port] (the scheme MQTT_URL uses; tcp:// is taken too)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"{url!r} is not an MQTT URL (mqtt://host:port)")
    return BrokerAddress(parts.hostname, parts.port or 1883, parts.username, parts.password)


class Refused(Exception):
    """A whole message refused: `code` for the device, the message for the log."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Message:
    """One received message, parsed: its device, its readings, and what acknowledges it to the broker."""

    mid: int
    generation: int  # the connection it came on: a message id means nothing on the next connection
    prefix: str
    device: Device | None = None
    items: list[Any] = field(default_factory=list)
    refused: Refused | None = None


class DeviceTokens:
    """Device look-up by token prefix for a few seconds per process, the token checked against the stored hash
    in constant time every message."""

    def __init__(self, seconds: float = DEVICE_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._cache: dict[str, tuple[float, Device | None]] = {}

    def authenticate(self, prefix: str, token: Any) -> Device:
        if not isinstance(token, str) or not token:
            raise Refused("no_token", "no device token in the message")
        token_prefix, dot, _secret = token.partition(".")
        if not dot or token_prefix != prefix:
            raise Refused("bad_token", "the token does not belong to this topic")
        now = time.monotonic()
        cached = self._cache.get(prefix)
        if cached is None or now - cached[0] > self.seconds:
            if len(self._cache) > 50_000:
                self._cache.clear()
            device = Device.objects.filter(token_prefix=prefix).only("id", "code", "token_hash", "revoked_at").first()
            cached = (now, device)
            self._cache[prefix] = cached
        device = cached[1]
        if device is None or not hmac.compare_digest(device.token_hash, token_hash(token)):
            raise Refused("bad_token", "invalid device token")
        if device.revoked_at is not None:
            raise Refused("revoked", "the device's token has been revoked")
        return device


def parse_message(
    *,
    topic: str,
    payload: bytes,
    properties: Any,
    tokens: DeviceTokens,
    mid: int = 0,
    generation: int = 0,
    root: str = TOPIC_ROOT,
) -> Message:
    """A received message, authenticated; a refusal is kept on the message (it is acknowledged all the same, or
    the broker would hand it back for ever)."""
    parts = topic.split("/")
    prefix = parts[1] if len(parts) == 3 and parts[0] == root and parts[2] == "readings" else ""
    message = Message(mid=mid, generation=generation, prefix=prefix)
    try:
        if not prefix:
            raise Refused("bad_topic", f"not a readings topic: {topic}")
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as error:
            raise Refused("bad_json", f"the payload is not JSON: {error}") from None
        token = None
        if isinstance(body, dict):
            token, items = body.get("token"), body.get("readings")
        else:
            items = body
        if token is None:
            for name, value in getattr(properties, "UserProperty", None) or []:
                if name == "token":
                    token = value
        if not isinstance(items, list):
            raise Refused("bad_payload", "the readings must be a JSON array")
        if len(items) > MAX_BATCH_ITEMS:
            raise Refused("too_large", f"{len(items)} readings in one message; at most {MAX_BATCH_ITEMS}")
        message.device = tokens.authenticate(prefix, token)
        message.items = items
    except Refused as refusal:
        message.refused = refusal
    return message


@dataclass
class BridgeStats:
    messages: int = 0
    refused_messages: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused_items: int = 0
    batches: int = 0


class MqttBridge:
    """Subscribes to every device's readings topic and feeds readings_ingest in batches (see the module)."""

    def __init__(
        self,
        *,
        url: str = DEFAULT_URL,
        client_id: str = DEFAULT_CLIENT_ID,
        topic_root: str = TOPIC_ROOT,
        max_items: int = 5000,
        max_wait_ms: int = 200,
        answer: bool = True,
        on_batch: Callable[[BridgeStats], None] | None = None,
    ) -> None:
        self.address = broker_address(url)
        self.client_id = client_id
        self.root = topic_root
        self.max_items = max_items
        self.max_wait = max_wait_ms / 1000
        self.answer = answer
        self.on_batch = on_batch
        self.stats = BridgeStats()
        self.tokens = DeviceTokens()
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self._inbox: queue.Queue[tuple[int, paho.MQTTMessage] | None] = queue.Queue()
        self._generation = 0
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        if self.address.username:
            self.client.username_pw_set(self.address.username, self.address.password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # --- the paho network thread: only hands messages over

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            logger.warning("mqtt: the broker refused the connection: %s", reason)
            return
        self._generation += 1
        client.subscribe(readings_topic("+", self.root), qos=1)
        logger.info(
            "mqtt: connected to %s:%s, subscribed to %s",
            self.address.host,
            self.address.port,
            readings_topic("+", self.root),
        )
        self.connected.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            logger.warning("mqtt: disconnected (%s); reconnecting with backoff", reason)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._inbox.put((self._generation, msg))

    # --- the main thread: batches, the database, acknowledgements

    def start(self) -> None:
        """Connect (retrying while the broker is not there) and start the network thread."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        delay = 1.0
        while not self.stopping.is_set():
            try:
                self.client.connect(
                    self.address.host, self.address.port, keepalive=30, clean_start=False, properties=properties
                )
                break
            except OSError as error:
                logger.warning("mqtt: cannot reach %s:%s (%s); retrying", self.address.host, self.address.port, error)
                self.stopping.wait(delay)
                delay = min(delay * 2, 30.0)
        self.client.loop_start()

    def stop(self) -> None:
        """Ask run() to finish the batch in hand and return (safe from a signal handler)."""
        self.stopping.set()
        self._inbox.put(None)

    def run(self) -> BridgeStats:
        """Batches until stop(); then acknowledges what was ingested and disconnects."""
        self.start()
        try:
            while not self.stopping.is_set():
                batch = self._collect()
                delay = 0.5
                while batch:
                    try:
                        self._process(batch)
                        break
                    except DatabaseError as error:
                        # The batch stays unacknowledged and is tried again whole (ingest is idempotent); if the
                        # bridge is stopped meanwhile, the broker hands it to the next one.
                        logger.warning("mqtt: the database failed (%s); retrying the batch in %.1fs", error, delay)
                        connection.close()
                        if self.stopping.wait(delay):
                            return self.stats
                        close_old_connections()
                        delay = min(delay * 2, 30.0)
        finally:
            self.client.disconnect()
            self.client.loop_stop()
        return self.stats

    def _collect(self) -> list[tuple[int, paho.MQTTMessage]]:
        """Messages for up to max_items readings (counted roughly by message) or max_wait after the first."""
        batch: list[tuple[int, paho.MQTTMessage]] = []
        try:
            first = self._inbox.get(timeout=1.0)
        except queue.Empty:
            return batch
        if first is None:
            return batch
        batch.append(first)
        deadline = time.monotonic() + self.max_wait
        size = len(first[1].payload) // 40  # a reading is about 40-60 bytes of JSON
        while size < self.max_items:
            remaining = deadline - time.monotonic()
            try:
                msg = self._inbox.get(timeout=remaining) if remaining > 0 else self._inbox.get_nowait()
            except queue.Empty:
                break
            if msg is None:
                break
            batch.append(msg)
            size += len(msg[1].payload) // 40
        return batch

    def _process(self, raw: list[tuple[int, paho.MQTTMessage]]) -> None:
        messages = [
            parse_message(
                topic=msg.topic,
                payload=msg.payload,
                properties=getattr(msg, "properties", None),
                tokens=self.tokens,
                mid=msg.mid,
                generation=generation,
                root=self.root,
            )
            for generation, msg in raw
        ]
        answers: list[tuple[str, dict[str, Any]]] = []
        groups: dict[int, list[Message]] = {}
        for message in messages:
            if message.refused is not None:
                self.stats.refused_messages += 1
                logger.warning(
                    "mqtt: refused a message on %s: %s (%s)",
                    readings_topic(message.prefix or "?", self.root),
                    message.refused,
                    message.refused.code,
                )
                if message.prefix:
                    answers.append((message.prefix, {"error": message.refused.code, "message": str(message.refused)}))
                continue
            groups.setdefault(message.device.pk, []).append(message)  # type: ignore[union-attr]
        for group in groups.values():
            answers.extend(self._ingest_group(group))
        self.stats.messages += len(messages)
        self.stats.batches += 1
        # Acknowledged only now that the readings are committed: a bridge killed before this line gets them again.
        generation = self._generation
        for message in messages:
            if message.generation == generation:
                self.client.ack(message.mid, 1)
        if self.answer:
            for prefix, answer in answers:
                self.client.publish(
                    ack_topic(prefix, self.root), json.dumps(answer, ensure_ascii=False, default=str), qos=1
                )
        if self.on_batch is not None:
            self.on_batch(self.stats)

    def _ingest_group(self, group: list[Message]) -> list[tuple[str, dict[str, Any]]]:
        """One device's messages as few readings_ingest calls as the batch limit allows; each message's answer
        counts only its own items."""
        device = group[0].device
        answers: list[tuple[str, dict[str, Any]]] = []
        chunk: list[Message] = []
        size = 0
        for message in [*group, None]:
            if message is not None and (not chunk or size + len(message.items) <= MAX_BATCH_ITEMS):
                chunk.append(message)
                size += len(message.items)
                continue
            items = [item for m in chunk for item in m.items]
            result = self._ingest(device, items)
            offset = 0
            for m in chunk:
                end = offset + len(m.items)
                refused = [r.as_dict() | {"index": r.index - offset} for r in result.refused if offset <= r.index < end]
                answers.append((m.prefix, {"refused": refused, "items": len(m.items)}))
                offset = end
            if len(chunk) == 1:
                answers[-1][1].update(accepted=result.accepted, duplicates=result.duplicates)
            self.stats.accepted += result.accepted
            self.stats.duplicates += result.duplicates
            self.stats.refused_items += len(result.refused)
            chunk, size = ([message], len(message.items)) if message is not None else ([], 0)
        return answers

    def _ingest(self, device: Device, items: list[Any]) -> Any:
        return readings_ingest(device=device, items=items)
