"""Intake through the API at 8 concurrent clients, on the production shape: gunicorn worker processes (the HTTP
server in docker-compose) with DEBUG off and persistent database connections, the full-size city (53,132 grid
cells), real PostgreSQL/PostGIS and Redis. Each report is located, checked for duplicates, gets its time limits
and its first event row, and is published to the Channels groups after commit.

Baseline, measured in the same run against the same server: a DRF endpoint with the same authentication and
body that only answers 201 (make bench).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from cases.models import Case, CaseEvent, Source, Status
from catalogue.models import MinorClass
from organisations.models import OrgUnit, Role, UnitType
from tests.bench.servers import WORKERS, gunicorn
from tests.factories import person

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 8
REQUESTS = 3_000  # in all, spread over the clients
WARM_UP = 200
TARGET_RATE = 200.0  # cases/s
TARGET_P95_MS = 80.0


@pytest.fixture
def web_server(transactional_db: None, bench_city: str) -> Iterator[int]:
    """gunicorn on this run's test database and Redis, as in production (DEBUG off, no TLS in between)."""
    with gunicorn() as port:
        yield port


@dataclass
class Run:
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[dict] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def p(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[q - 1]


def _load(port: int, path: str, token: str, bodies: list[dict], clients: int) -> Run:
    """Each client on its own keep-alive connection posts its share of `bodies` back to back."""
    run = Run()
    lock = threading.Lock()

    def client(share: list[dict]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json", "Authorization": f"Token {token}", "Host": "127.0.0.1"}
        mine, statuses, answers = [], {}, []
        for body in share:
            payload = json.dumps(body).encode()
            started = time.perf_counter_ns()
            conn.request("POST", path, payload, headers)
            response = conn.getresponse()
            answer = response.read()
            mine.append((time.perf_counter_ns() - started) / 1e6)
            statuses[response.status] = statuses.get(response.status, 0) + 1
            answers.append(json.loads(answer) if response.status == 201 else {"error": answer[:300]})
        conn.close()
        with lock:
            run.latencies_ms.extend(mine)
            run.bodies.extend(answers)
            for code, n in statuses.items():
                run.statuses[code] = run.statuses.get(code, 0) + n

    threads = [threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    return run


def _reports(n: int, rng: random.Random) -> list[dict]:
    """12345 hotline reports at points across the city, in every class; one in ten repeats an earlier spot and
    class (the same problem reported twice), which intake must flag as a likely duplicate."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM geography_gridcell"
            " ORDER BY md5(code) LIMIT %s) s",
            [n],
        )
        points = cursor.fetchall()
    classes = list(
        MinorClass.objects.filter(is_active=True, duplicate_radius_m__gt=0).select_related("major").order_by("id")
    )
    reports: list[dict] = []
    for i in range(n):
        if i >= 20 and i % 10 == 0:
            again = dict(reports[rng.randrange(i - 20, i - 1)])
            again["lon"] += 0.00001
            reports.append(again)
            continue
        minor = rng.choice(classes)
        lon, lat = points[i]
        reports.append(
            {
                "source": Source.HOTLINE,
                "kind": minor.major.kind,
                "minor_class": minor.full_code,
                "lon": lon,
                "lat": lat,
                "description": f"市民来电反映：{minor.name}",
                "reporter_name": "王先生",
                "reporter_phone": "13800000000",
            }
        )
    return reports


@pytest.mark.django_db(transaction=True)
def test_intake_through_the_api_at_8_concurrent_clients(web_server: int, bench_city: str) -> None:
    centre = OrgUnit.objects.filter(unit_type=UnitType.CITY_CENTRE).first()
    clerk = person(Role.INTAKE_CLERK, centre, username="bench-intake")
    token = Token.objects.create(user=clerk).key
    rng = random.Random(20261126)
    reports = _reports(WARM_UP + REQUESTS, rng)
    cases_before, events_before = Case.objects.count(), CaseEvent.objects.count()

    _load(web_server, "/bench/created/", token, reports[:WARM_UP], CLIENTS)
    _load(web_server, "/api/v1/cases/", token, reports[:WARM_UP], CLIENTS)
    baseline = _load(web_server, "/bench/created/", token, reports[WARM_UP:], CLIENTS)
    intake = _load(web_server, "/api/v1/cases/", token, reports[WARM_UP:], CLIENTS)

    assert baseline.statuses == {201: REQUESTS}, baseline.statuses
    assert intake.statuses == {201: REQUESTS}, [b for b in intake.bodies if "error" in b][:3]
    created = Case.objects.count() - cases_before
    assert created == WARM_UP + REQUESTS, "one case per accepted report, no more"
    assert CaseEvent.objects.count() - events_before == created, "one report event per case"
    assert {b["status"] for b in intake.bodies} == {Status.VERIFYING}, "hotline reports wait for the grid's inspector"
    assert all(b["grid_cell"] and b["district"] and b["deadline"] for b in intake.bodies), "located, with a deadline"
    flagged = Case.objects.filter(number__in=[b["number"] for b in intake.bodies], duplicate_candidate__isnull=False)
    repeats = sum(1 for i in range(WARM_UP, WARM_UP + REQUESTS) if i % 10 == 0)
    assert flagged.count() >= repeats * 0.9, "the same problem reported twice is flagged as a likely duplicate"

    met = intake.rate >= TARGET_RATE and intake.p(95) < TARGET_P95_MS
    print(
        f"\nintake POST /api/v1/cases/, {CLIENTS} clients, {REQUESTS:,} reports, gunicorn x {WORKERS} workers on"
        f" {os.cpu_count()} cores: {intake.rate:.0f} cases/s, p50 {statistics.median(intake.latencies_ms):.1f} ms,"
        f" p95 {intake.p(95):.1f} ms, p99 {intake.p(99):.1f} ms ({flagged.count()} flagged as duplicates)"
        f" | baseline (DRF 201, same auth and body): {baseline.rate:.0f} req/s,"
        f" p50 {statistics.median(baseline.latencies_ms):.1f} ms, p95 {baseline.p(95):.1f} ms"
        f" | intake costs {baseline.rate / intake.rate:.1f}x the baseline per request"
        f" | target >= {TARGET_RATE:.0f} cases/s and p95 < {TARGET_P95_MS:.0f} ms: {'met' if met else 'NOT met'}"
    )
