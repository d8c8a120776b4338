"""`manage.py mqtt_ingest`: the MQTT bridge (lifelines.mqtt), until SIGTERM or Ctrl-C."""

from __future__ import annotations

import os
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifelines.mqtt import DEFAULT_CLIENT_ID, DEFAULT_URL, TOPIC_ROOT, MqttBridge, broker_address


def default_mqtt_url() -> str:
    """MQTT_URL (settings, else the environment that scripts/services.sh writes), else the local broker."""
    return getattr(settings, "MQTT_URL", "") or os.environ.get("MQTT_URL", "") or DEFAULT_URL


class Command(BaseCommand):
    help = (
        "Subscribe to lifelines/<token prefix>/readings on the MQTT broker and ingest the readings in batches "
        "(see lifelines.mqtt for the topic scheme and the token)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=None, help="broker, mqtt://host:port (default: MQTT_URL)")
        parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="MQTT client id (a persistent session)")
        parser.add_argument("--topic-root", default=TOPIC_ROOT, help="first topic level (default lifelines)")
        parser.add_argument("--max-items", type=int, default=5000, help="readings per batch at most (default 5000)")
        parser.add_argument("--max-wait-ms", type=int, default=200, help="a batch waits at most this long (200)")
        parser.add_argument("--no-answer", action="store_true", help="publish no answer on lifelines/<prefix>/ack")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"] or default_mqtt_url()
        try:
            broker_address(url)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if options["max_items"] < 1 or options["max_wait_ms"] < 0:
            raise CommandError("--max-items must be at least 1 and --max-wait-ms not negative")
        bridge = MqttBridge(
            url=url,
            client_id=options["client_id"],
            topic_root=options["topic_root"],
            max_items=options["max_items"],
            max_wait_ms=options["max_wait_ms"],
            answer=not options["no_answer"],
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: bridge.stop())
        self.stdout.write(f"mqtt_ingest: {url}, client id {options['client_id']}", ending="\n")
        self.stdout.flush()
        stats = bridge.run()
        self.stdout.write(
            f"mqtt_ingest stopped: {stats.messages} messages ({stats.refused_messages} refused), "
            f"{stats.accepted} readings stored, {stats.duplicates} duplicates, {stats.refused_items} items refused"
        )
