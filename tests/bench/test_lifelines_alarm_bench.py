"""Reading received -> alarm on a connected dashboard, while 5,000 readings/s are ingested (issue 6).

Production shape: the devices' endpoint on gunicorn (DEBUG off), the WebSockets on daphne, real PostgreSQL and
Redis. 2,000 gas %LEL sensors on 200 gateways with the demo thresholds (tests.bench.test_lifelines_ingest_bench's
fleet); batches of 1,000 readings are posted at a steady 5 per second by two clients; about one reading in a
hundred breaches, so alarms are raised (and cleared by the next normal reading) all the time. DASHBOARDS city
dispatchers' sockets listen to the live feed.

Latency per (dashboard, alarm) = the moment the socket first received the alarm - the moment the POST that
carried its breaching reading started (a reading is "received" when its batch is sent). Baseline in the same
run: the POST's own round trip (the batch answered, alarms committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from websockets.asyncio.client import connect

from organisations.models import Role
from tests.bench import test_lifelines_ingest_bench as ingest_bench
from tests.bench.servers import gunicorn
from tests.bench.test_lifelines_ingest_bench import SENSORS_PER_DEVICE, _batch
from tests.command.servers import running_daphne
from tests.factories import person, small_city

DASHBOARDS = 20
RATE = 5  # batches of 1,000 readings per second
SECONDS = 24
WARM_UP_BATCHES = 10
TARGET_P99_MS = 500.0
SECRET_KEY = "bench-only-" + "x" * 50  # as tests.bench.servers gives it to gunicorn and daphne

fleet = ingest_bench.fleet  # the same fixture: 200 gateways of 10 gas sensors with the demo thresholds


@pytest.fixture
def servers(fleet: Any, settings: Any) -> Iterator[tuple[int, int]]:
    settings.SECRET_KEY = SECRET_KEY
    with contextlib.ExitStack() as stack:
        web = stack.enter_context(gunicorn())
        ws = stack.enter_context(
            running_daphne(settings_module="tests.bench.live_ws_settings", debug=False, conn_max_age=0)
        )
        yield web, ws


class Board:
    def __init__(self) -> None:
        self.first: dict[int, dict[int, tuple[float, str, str]]] = {}  # socket -> alarm -> (time, sensor, raised)
        self.ready = threading.Event()
        self.failures: list[str] = []


async def _listen(n: int, port: int, cookie: str, board: Board, connected: list[int], stop: asyncio.Event) -> None:
    got = board.first.setdefault(n, {})
    async with connect(
        f"ws://127.0.0.1:{port}/ws/live/",
        origin=f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
        open_timeout=60,
        max_queue=None,
    ) as ws:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "resume", "since": {}, "epoch": hello["epoch"]}))
        connected.append(n)
        if len(connected) == DASHBOARDS:
            board.ready.set()
        receiving = asyncio.ensure_future(ws.recv())
        stopping = asyncio.ensure_future(stop.wait())
        while True:
            done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if receiving not in done:
                receiving.cancel()
                return
            now = time.time()
            frame = json.loads(receiving.result())
            receiving = asyncio.ensure_future(ws.recv())
            for event in frame.get("events", []):
                if event.get("kind") == "alarm" and event["id"] not in got:
                    got[event["id"]] = (now, event["sensor_code"], event["raised_at"])


def _dashboards(port: int, cookies: list[str], board: Board, handle: list[Any]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        handle.append((asyncio.get_running_loop(), stop))
        connected: list[int] = []
        results = await asyncio.gather(
            *(_listen(i, port, c, board, connected, stop) for i, c in enumerate(cookies)), return_exceptions=True
        )
        board.failures.extend(repr(r) for r in results if isinstance(r, BaseException))
        board.ready.set()

    asyncio.run(main())


def _post_steadily(port: int, work: list[tuple[str, list[dict[str, Any]]]], started_at: float) -> list[tuple]:
    """Each batch sent at its slot (RATE per second from started_at) by one of two clients; (start, end, items)."""
    done: list[tuple[float, float, list[dict[str, Any]]]] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(offset, len(work), 2):
            slot = started_at + i / RATE
            wait = slot - time.time()
            if wait > 0:
                time.sleep(wait)  # pacing the load to a steady rate, not timing behaviour
            token, items = work[i]
            begun = time.time()
            conn.request(
                "POST",
                "/api/v1/lifelines/readings/",
                json.dumps(items).encode(),
                {"Content-Type": "application/json", "Authorization": f"Device {token}", "Host": "127.0.0.1"},
            )
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
            with lock:
                done.append((begun, time.time(), items))
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


@pytest.mark.django_db(transaction=True)
def test_an_alarm_reaches_the_dashboards_while_5000_readings_a_second_come_in(
    servers: tuple[int, int], fleet: list[Any]
) -> None:
    web, ws = servers
    city = small_city()
    cookies = []
    for i in range(DASHBOARDS):
        client = Client()
        client.force_login(person(Role.DISPATCHER, city.root, username=f"bench-alarm-{i}"))
        cookies.append(client.cookies[settings.SESSION_COOKIE_NAME].value)

    # Each batch: 100 instants of one gateway's 10 sensors; every gateway moves on 100 s per round.
    base = timezone.now().replace(microsecond=0) - timedelta(hours=5)
    instants = 1000 // SENSORS_PER_DEVICE
    batches = WARM_UP_BATCHES + RATE * SECONDS
    work = []
    for i in range(batches):
        _device, token, sensors = fleet[i % len(fleet)]
        start = base + timedelta(seconds=instants * (i // len(fleet)))
        work.append((token, _batch(sensors, start, instants, salt=i)))

    board = Board()
    handle: list[Any] = []
    listening = threading.Thread(target=_dashboards, args=(ws, cookies, board, handle), daemon=True)
    listening.start()
    assert board.ready.wait(60) and not board.failures, board.failures[:3]

    _post_steadily(web, work[:WARM_UP_BATCHES], time.time())
    t0 = time.time()
    posted = _post_steadily(web, work[WARM_UP_BATCHES:], t0)
    elapsed = time.time() - t0
    measured_batches = {id(items): begun for begun, _end, items in posted}
    # Which POST carried each breaching reading: (sensor code, reading time) -> when the POST started.
    carried: dict[tuple[str, int], float] = {}
    for begun, _end, items in posted:
        for item in items:
            if item["value"] > 1:
                carried[(item["sensor"], int(datetime.fromisoformat(item["ts"]).timestamp()))] = begun
    wanted = len(carried)
    deadline, last, quiet = time.monotonic() + 20, -1, 0
    while time.monotonic() < deadline and quiet < 20:  # until nothing new for 2 s (bounded)
        total = sum(len(got) for got in board.first.values())
        quiet, last = (quiet + 1, last) if total == last else (0, total)
        time.sleep(0.1)  # waiting for the last deliveries; each latency is measured per event
    loop, stop = handle[0]
    loop.call_soon_threadsafe(stop.set)
    listening.join(30)

    latencies = []
    for got in board.first.values():
        for received, sensor, raised_at in got.values():
            begun = carried.get((sensor, int(datetime.fromisoformat(raised_at).timestamp())))
            if begun is not None:
                latencies.append((received - begun) * 1000)
    readings = sum(len(items) for _b, _e, items in posted)
    round_trips = [(end - begun) * 1000 for begun, end, _items in posted]
    assert measured_batches and latencies, "alarms arrived on the dashboards"
    per_socket = len(latencies) / DASHBOARDS
    p99 = _p(latencies, 99)
    print(
        f"\nlifeline alarms live: {readings:,} readings in {len(posted)} batches over {elapsed:.1f} s"
        f" ({readings / elapsed:,.0f} readings/s), {wanted} breaching readings, {DASHBOARDS} dashboards,"
        f" {per_socket:.0f} alarms received per dashboard"
        f"\n  reading sent -> alarm on a dashboard: p50 {statistics.median(latencies):.0f} ms,"
        f" p95 {_p(latencies, 95):.0f} ms, p99 {p99:.0f} ms, max {max(latencies):.0f} ms"
        f"\n  baseline, the batch's own POST round trip: p50 {statistics.median(round_trips):.0f} ms,"
        f" p99 {_p(round_trips, 99):.0f} ms"
        f"\n  target p99 < {TARGET_P99_MS:.0f} ms: {'met' if p99 < TARGET_P99_MS else 'NOT met'}"
    )
