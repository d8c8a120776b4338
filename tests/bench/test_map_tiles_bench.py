"""The command centre map's data layers at full scale: 3.19 million city components (clusters from the pyramid,
points from zoom 17) and 100,000 open cases among 400,000 (clustered live), as tiles at every zoom level from 10 to
18 over the city, through gunicorn as docker-compose runs it (DEBUG off, persistent connections), for a city-wide
dispatcher and for a district's.

Baselines, measured in the same run against the same server and database: GET /api/v1/me/ (the same DRF stack and
token authentication, two small queries), and in SQL the naive way to count a tile, `count(*)` of the components in
the tile's box with the GiST index.

The city lives in a database of its own (BENCH_MAP_DATABASE, default bench_map_tiles, on the test database's
server), built by tests/bench/map_seed.py the first time (about five minutes) and reused afterwards (make bench).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from django.conf import settings

from geography.tiles import Tile, cell_of
from tests.bench import servers

ROOT = Path(__file__).resolve().parents[2]
DATABASE = os.environ.get("BENCH_MAP_DATABASE", "bench_map_tiles")
ZOOMS = range(10, 19)
REQUESTS = 60  # per zoom level, layer and user: random tiles that hold data
WARM_UP = 10
CLIENTS = 4  # the concurrent pass: a browser fetching a screenful of tiles
TARGET_P95_MS = 150.0
SEED = 20261127


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{DATABASE}"


def _connect(database: str) -> Any:
    db = settings.DATABASES["default"]
    return psycopg2.connect(
        dbname=database, user=db["USER"], host=db["HOST"], port=db["PORT"], password=db.get("PASSWORD") or None
    )


@pytest.fixture(scope="module")
def map_city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The benchmark city's facts (tokens, samples, sizes), building the database first if it is not there."""
    admin = _connect("postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{DATABASE}"')
    admin.close()
    out = tmp_path_factory.mktemp("map") / "city.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="qingdao_ops.settings",
        DJANGO_DEBUG="true",
        DATABASE_URL=_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="true",
    )
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "tests.bench.map_seed", str(out)], cwd=ROOT, env=env, check=True)
    city = json.loads(out.read_text(encoding="utf-8"))
    city["ready_seconds"] = time.monotonic() - started
    return city


@pytest.fixture(scope="module")
def web(map_city: dict[str, Any]) -> Iterator[int]:
    """gunicorn as in production (tests/bench/servers.py), on the benchmark city's database."""
    production_env = servers.production_env
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(servers, "production_env", lambda: {**production_env(), "DATABASE_URL": _database_url()})
        with servers.gunicorn() as port:
            yield port


@dataclass
class Timings:
    ms: list[float] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    def p(self, q: int) -> float:
        return statistics.quantiles(self.ms, n=100, method="inclusive")[q - 1]

    @property
    def p50(self) -> float:
        return statistics.median(self.ms)


def _get(conn: http.client.HTTPConnection, path: str, token: str) -> tuple[float, int, bytes]:
    headers = {"Authorization": f"Token {token}", "Host": "127.0.0.1", "Accept": "application/json"}
    started = time.perf_counter_ns()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    return (time.perf_counter_ns() - started) / 1e6, response.status, body


def _tiles(samples: list[list[float]], z: int, n: int, rng: random.Random) -> list[Tile]:
    """n tiles of zoom z holding at least one sampled position (so: holding data), picked at random."""
    return [Tile(z, *cell_of(lon, lat, z)) for lon, lat in rng.choices(samples, k=n)]


def _measure(port: int, paths: list[str], token: str) -> Timings:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    timings = Timings()
    for path in paths:
        ms, status, body = _get(conn, path, token)
        assert status == 200, (path, status, body[:300])
        timings.ms.append(ms)
        timings.bytes.append(len(body))
        if body.startswith(b"{"):
            timings.totals.append(json.loads(body).get("total", 0))
    conn.close()
    return timings


def _concurrent(port: int, paths: list[str], token: str, clients: int) -> Timings:
    timings, lock = Timings(), threading.Lock()

    def client(share: list[str]) -> None:
        mine = _measure(port, share, token)
        with lock:
            timings.ms.extend(mine.ms)
            timings.bytes.extend(mine.bytes)

    threads = [threading.Thread(target=client, args=(paths[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def _naive_count_ms(tiles: list[Tile]) -> Timings:
    """The baseline in SQL: counting a tile's components straight from the table (GiST on location)."""
    conn = _connect(DATABASE)
    timings = Timings()
    with conn.cursor() as cursor:
        for tile in tiles:
            west, south, east, north = tile.bounds()
            started = time.perf_counter_ns()
            cursor.execute(
                "SELECT count(*) FROM geography_component WHERE location && ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
                [west, south, east, north],
            )
            timings.totals.append(cursor.fetchone()[0])
            timings.ms.append((time.perf_counter_ns() - started) / 1e6)
    conn.close()
    return timings


def test_map_tiles_at_every_zoom_with_3_19_million_components_and_100000_open_cases(
    map_city: dict[str, Any], web: int
) -> None:
    rng = random.Random(SEED)
    tokens, samples = map_city["tokens"], map_city["samples"]
    layers = {
        ("components", "city"): ("/api/v1/map/components/", samples["components"]),
        ("components", "district"): ("/api/v1/map/components/", samples["district_components"]),
        ("cases", "city"): ("/api/v1/map/cases/", samples["cases"]),
        ("cases", "district"): ("/api/v1/map/cases/", samples["district_cases"]),
    }
    warm = [f"/api/v1/map/components/{t.z}/{t.x}/{t.y}/" for t in _tiles(samples["components"], 12, WARM_UP, rng)]
    _measure(web, warm + ["/api/v1/me/"] * WARM_UP, tokens["city"])

    results: dict[tuple[str, str, int], Timings] = {}
    for (layer, who), (prefix, points) in layers.items():
        for z in ZOOMS:
            paths = [f"{prefix}{t.z}/{t.x}/{t.y}/" for t in _tiles(points, z, REQUESTS, rng)]
            results[(layer, who, z)] = timed = _measure(web, paths, tokens[who])
            assert all(total > 0 for total in timed.totals), f"every {layer} tile sampled holds data ({who}, z{z})"
    baseline = _measure(web, ["/api/v1/me/"] * REQUESTS * 3, tokens["city"])
    mixed = [
        f"/api/v1/map/{layer}/{t.z}/{t.x}/{t.y}/"
        for layer in ("components", "cases")
        for z in ZOOMS
        for t in _tiles(layers[(layer, "city")][1], z, REQUESTS // 3, rng)
    ]
    rng.shuffle(mixed)
    concurrent = _concurrent(web, mixed, tokens["city"], CLIENTS)
    naive = {z: _naive_count_ms(_tiles(samples["components"], z, 20, rng)) for z in (10, 12, 14, 16, 18)}

    lines = [
        "",
        f"map tiles through gunicorn x {servers.WORKERS} workers on {os.cpu_count()} cores (load average"
        f" {os.getloadavg()[0]:.1f}), {map_city['components']:,} components ({map_city['cluster_rows']:,} pyramid"
        f" rows), {map_city['open_cases']:,} open cases of {map_city['open_cases'] + map_city['closed_cases']:,}"
        f" ({map_city['open_cases_in_district']:,} open in the district), {REQUESTS} random tiles holding data"
        " per zoom, layer and user, one client:",
        "  zoom | components city p50 / p95 (KB) | components district p95 | cases city p50 / p95 (KB) |"
        " cases district p95",
    ]
    worst: dict[str, float] = {}
    for z in ZOOMS:
        cc, cd = results[("components", "city", z)], results[("components", "district", z)]
        kc, kd = results[("cases", "city", z)], results[("cases", "district", z)]
        worst["components"] = max(worst.get("components", 0.0), cc.p(95), cd.p(95))
        worst["cases"] = max(worst.get("cases", 0.0), kc.p(95), kd.p(95))
        lines.append(
            f"  {z:>4} | {cc.p50:6.1f} / {cc.p(95):6.1f} ms ({statistics.mean(cc.bytes) / 1024:5.1f})"
            f" | {cd.p(95):6.1f} ms | {kc.p50:6.1f} / {kc.p(95):6.1f} ms ({statistics.mean(kc.bytes) / 1024:5.1f})"
            f" | {kd.p(95):6.1f} ms"
        )
    lines += [
        f"  baseline GET /api/v1/me/ (same stack and token auth): p50 {baseline.p50:.1f} ms,"
        f" p95 {baseline.p(95):.1f} ms",
        f"  {CLIENTS} concurrent clients, {len(mixed)} tiles of both layers at zooms 10-18 mixed: p50"
        f" {concurrent.p50:.1f} ms, p95 {concurrent.p(95):.1f} ms, p99 {concurrent.p(99):.1f} ms",
        "  baseline in SQL, count(*) of the components in a tile's box (GiST), no HTTP: "
        + ", ".join(f"z{z} p50 {t.p50:.0f} ms ({statistics.mean(t.totals):,.0f} rows)" for z, t in naive.items()),
        f"  target: any components tile p95 < {TARGET_P95_MS:.0f} ms at every zoom: worst p95"
        f" {worst['components']:.1f} ms, {'met' if worst['components'] < TARGET_P95_MS else 'NOT met'}"
        f" | cases tiles worst p95 {worst['cases']:.1f} ms",
        f"  city database ready in {map_city['ready_seconds']:.0f} s (steps: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in map_city["seed_seconds"].items())
        + ")",
    ]
    print("\n".join(lines))


def test_rebuilding_the_component_pyramid_at_full_scale(map_city: dict[str, Any]) -> None:
    """The pyramid counted again from 3.19 million components (as after an import, or nightly), and over a 1 km box
    (after a few components there changed); baseline: one full scan of the components computing the same cells."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(DJANGO_SETTINGS_MODULE="qingdao_ops.settings", DJANGO_DEBUG="true", DATABASE_URL=_database_url())

    def run(*args: str) -> tuple[float, str]:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "manage.py", "rebuild_component_clusters", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return time.monotonic() - started, done.stdout.strip()

    lon, lat = map_city["samples"]["components"][0]
    box = f"{lon - 0.006},{lat - 0.0045},{lon + 0.006},{lat + 0.0045}"
    full_s, full_out = run()
    box_s, box_out = run("--bbox", box)
    conn = _connect(DATABASE)
    with conn.cursor() as cursor:
        started = time.monotonic()
        cursor.execute(
            "SELECT count(DISTINCT (floor((ST_X(location) + 180) / 360 * 262144)::int,"
            " floor((0.5 - asinh(tan(radians(ST_Y(location)))) / (2 * pi())) * 262144)::int))"
            " FROM geography_component"
        )
        cells = cursor.fetchone()[0]
        scan_s = time.monotonic() - started
    conn.close()
    print(
        f"\ncomponent pyramid rebuild at {map_city['components']:,} components (load average"
        f" {os.getloadavg()[0]:.1f}): everything {full_s:.1f} s ({full_out}) | a 1 km box {box_s:.1f} s ({box_out})"
        f" | baseline: one scan computing the {cells:,} finest cells, {scan_s:.1f} s"
    )
