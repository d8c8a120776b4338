"""`manage.py simulate_lifelines`: stream the demo city's sensor readings (lifelines.simulator) over HTTP, over MQTT,
or straight into lifelines.services.readings_ingest (no option), until Ctrl-C/SIGTERM or --minutes are played."""

from __future__ import annotations

import http.client
import json
import logging
import signal
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from lifelines.models import Device
from lifelines.mqtt import broker_address, readings_topic
from lifelines.services import device_token_issue, readings_ingest
from lifelines.simulator import SimDevice, simulation_load, tokens_issue

logger = logging.getLogger(__name__)
INGEST_PATH = "/api/v1/lifelines/readings/"


class DirectSink:
    """The ingest service in this process (no network): what tests and a quick demo use."""

    def __init__(self) -> None:
        self.devices: dict[int, Device] = {}

    def send(self, device: SimDevice, items: list[dict[str, Any]]) -> bool:
        model = self.devices.get(device.device_id) or Device.objects.get(pk=device.device_id)
        self.devices[device.device_id] = model
        readings_ingest(device=model, items=items)
        return True

    def close(self) -> None:
        pass


class HttpSink:
    """POST to the readings endpoint on one keep-alive connection; a failed batch is logged and dropped (the
    sensor's next reading follows soon, and a silence is one of the faults the platform must notice anyway)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise CommandError(f"--http wants http://host:port, not {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = parts.path.rstrip("/") + INGEST_PATH
        self.conn: http.client.HTTPConnection | None = None

    def send(self, device: SimDevice, items: list[dict[str, Any]]) -> bool:
        body = json.dumps(items).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Device {device.token}"}
        for _attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                self.conn.request("POST", self.path, body, headers)
                response = self.conn.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.close()
                logger.warning("simulate_lifelines: %s:%s unreachable (%s)", self.host, self.port, error)
                continue
            if response.status != 200:
                logger.warning("simulate_lifelines: %s answered %s: %s", device.code, response.status, answer[:200])
            return response.status == 200
        return False

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class MqttSink:
    """QoS 1 publishes on lifelines/<prefix>/readings with the token in the payload (lifelines.mqtt's scheme);
    paho queues them while the broker is away and reconnects."""

    def __init__(self, url: str) -> None:
        import paho.mqtt.client as paho

        try:
            address = broker_address(url)
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        if address.username:
            self.client.username_pw_set(address.username, address.password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.connect_async(address.host, address.port, keepalive=30)
        self.client.loop_start()

    def send(self, device: SimDevice, items: list[dict[str, Any]]) -> bool:
        prefix = device.token.split(".")[0]
        payload = json.dumps({"token": device.token, "readings": items})
        self.client.publish(readings_topic(prefix), payload, qos=1)
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Command(BaseCommand):
    help = (
        "Stream realistic readings of the demo sensors (daily cycles, noise, rain, traffic; with --faults also "
        "breaches and silences) over --http or --mqtt, or into the ingest service directly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--http", metavar="URL", help="the platform, e.g. http://127.0.0.1:8000")
        target.add_argument("--mqtt", metavar="URL", help="the broker, e.g. mqtt://127.0.0.1:1883")
        parser.add_argument("--rate", type=float, default=0, help="readings per second at most (default: no cap)")
        parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second (default 1)")
        parser.add_argument("--minutes", type=float, default=0, help="simulated minutes to play (default: for ever)")
        parser.add_argument("--devices", type=int, default=0, help="drive only the first N demo devices")
        parser.add_argument("--faults", action="store_true", help="now and then a breach or a silent sensor")
        parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one each run)")

    def handle(self, *args: Any, **options: Any) -> None:
        speed, rate, minutes = options["speed"], options["rate"], options["minutes"]
        if speed <= 0 or rate < 0 or minutes < 0:
            raise CommandError("--speed must be positive, --rate and --minutes not negative")
        seed = options["seed"] if options["seed"] is not None else int(time.time())
        simulation = simulation_load(seed=seed, devices=options["devices"])
        if not simulation.devices:
            raise CommandError("no demo sensors here: run `manage.py seed_demo` first")
        simulation.fault_rate_per_hour = 0.02 if options["faults"] else 0.0
        if options["http"]:
            sink: Any = HttpSink(options["http"])
        elif options["mqtt"]:
            sink = MqttSink(options["mqtt"])
        else:
            sink = DirectSink()
        if options["http"] or options["mqtt"]:
            tokens_issue(simulation, lambda pk: device_token_issue(device=Device.objects.get(pk=pk)))
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # A compressed clock starts in the past, so that no reading is ever stamped in the future.
        now = timezone.now().replace(microsecond=0)
        span = timedelta(minutes=minutes) if minutes else None
        start = now - span if span and speed > 1 else now
        end = start + span if span else None
        simulation.start(start)
        self.stdout.write(
            f"simulate_lifelines: {len(simulation.devices)} devices, {simulation.sensor_count} sensors, "
            f"seed {seed}, x{speed:g}" + (f", {minutes:g} simulated minutes" if minutes else "")
        )
        sent = batches = 0
        played_until: datetime = start
        real_start = time.monotonic()
        try:
            while not stopping:
                target = start + timedelta(seconds=(time.monotonic() - real_start) * speed)
                target = min(target, timezone.now())
                if end is not None:
                    target = min(target, end)
                for device, items in simulation.advance(played_until, target):
                    if sink.send(device, items):
                        sent += len(items)
                        batches += 1
                    if rate and sent > rate * (time.monotonic() - real_start):
                        time.sleep(min(1.0, sent / rate - (time.monotonic() - real_start)))
                played_until = target
                if end is not None and played_until >= end:
                    break
                time.sleep(min(1.0, max(0.05, 1 / speed)))
        finally:
            sink.close()
        self.stdout.write(f"simulate_lifelines: {sent} readings in {batches} batches")
