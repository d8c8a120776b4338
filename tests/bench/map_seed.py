"""The map tiles benchmark's city, kept in a database of its own because it takes minutes to build: the demo city
at full scale (3.19 million components, seed_demo --scale), 100,000 open cases and 300,000 closed ones, the
components' cluster pyramid, two dispatchers with API tokens. Every step is skipped when already done, so the
second run only checks.

    DATABASE_URL=postgis://.../bench_map_tiles python -m tests.bench.map_seed OUT.json

writes what the benchmark needs to OUT.json: the tokens, the district of the district dispatcher, sample
positions of components and of open cases (all of them, and the district's), and how big everything is.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

OPEN_CASES = 100_000
CLOSED_CASES = 300_000  # the closed history a live system carries; the map must not read it
SAMPLES = 3_000
HISTORY_CASES = 300  # through the real services: templates for the generated rows


def _fill_cases(n: int, *, closed: bool) -> None:
    """n cases in one INSERT ... SELECT over generate_series, copying every other column from a real case: each in
    a grid cell picked by a hash of g (so every district gets its share), a few metres off the cell's centre, of
    every open status in turn (or closed), about one in eight urgent and one in 33 an emergency, one in seven
    overdue, one in 23 key."""
    from django.db import connection

    from cases.models import OPEN_STATUSES, Case

    template = Case.objects.order_by("id").first()
    open_statuses = sorted(OPEN_STATUSES)
    prefix = "MAP-C-" if closed else "MAP-O-"
    start = Case.objects.filter(number__startswith=prefix).count()
    generated = {
        "number": f"'{prefix}' || (%(start)s + g)",
        "status": "'closed'" if closed else "(%(open)s::text[])[1 + (g * 31) %% %(n_open)s]",
        "urgency": "CASE WHEN g %% 33 = 0 THEN 'emergency' WHEN g %% 8 = 0 THEN 'urgent' ELSE 'normal' END",
        "location": "ST_SetSRID(ST_MakePoint(ST_X(c.p) + ((g * 7) %% 9 - 4) * 0.0001,"
        " ST_Y(c.p) + ((g * 13) %% 9 - 4) * 0.0001), 4326)",
        "district_id": "c.district_id",
        "street_id": "c.street_id",
        "community_id": "c.community_id",
        "grid_cell_id": "c.id",
        "reported_at": "now() - make_interval(secs => g * 25)",
        "updated_at": "now()",
        "closed_at": "now()" if closed else "NULL",
        "duplicate_of_id": "NULL",
        "duplicate_candidate_id": "NULL",
        "is_overdue": "FALSE" if closed else "g %% 7 = 0",
        "is_key": "g %% 23 = 0",
        "is_difficult": "g %% 41 = 0",
    }
    columns, values = [], []
    for field in Case._meta.concrete_fields:
        if field.primary_key or field.generated:
            continue
        columns.append(connection.ops.quote_name(field.column))
        values.append(generated.get(field.column, f"t.{connection.ops.quote_name(field.column)}"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH cells AS (
                SELECT id, community_id, street_id, district_id, ST_PointOnSurface(geom) AS p,
                       row_number() OVER (ORDER BY md5(code)) - 1 AS rn
                FROM geography_gridcell
            ), counted AS (SELECT count(*) AS n FROM cells)
            INSERT INTO cases_case ({", ".join(columns)})
            SELECT {", ".join(values)}
            FROM generate_series(1::bigint, %(rows)s) g
            CROSS JOIN counted
            JOIN cells c ON c.rn = (g * 7919) %% counted.n
            CROSS JOIN (SELECT * FROM cases_case WHERE id = %(template)s) t
            """,
            {
                "rows": n,
                "start": start,
                "template": template.pk,
                "open": open_statuses,
                "n_open": len(open_statuses),
            },
        )


def _dispatcher(username: str, unit: Any) -> Any:
    from organisations.models import Role, User
    from organisations.services import membership_grant, user_create

    user = User.objects.filter(username=username).first()
    if user is None:
        user = user_create(username=username, full_name=username)
        membership_grant(user=user, role=Role.DISPATCHER, unit=unit)
    return user


def _samples(sql: str, params: list[Any]) -> list[tuple[float, float]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(round(x, 7), round(y, 7)) for x, y in cursor.fetchall()]


def seed(out: Path) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from cases.models import FINAL_STATUSES, Case
    from geography import demo
    from geography.models import Component, ComponentCluster
    from organisations.models import OrgUnit, UnitType

    steps: dict[str, float] = {}
    started = time.monotonic()
    call_command("migrate", verbosity=0)
    steps["migrate"] = time.monotonic() - started
    started = time.monotonic()
    # Idempotent: builds what is missing, including the cluster pyramid when the components changed.
    call_command("seed_demo", "--scale", "--cases", str(HISTORY_CASES), verbosity=1, stdout=sys.stderr)
    steps["seed_demo"] = time.monotonic() - started

    started = time.monotonic()
    final = sorted(FINAL_STATUSES)
    open_now = Case.objects.exclude(status__in=final).count()
    closed_now = Case.objects.filter(status__in=final).count()
    filled = False
    if open_now < OPEN_CASES:
        _fill_cases(OPEN_CASES - open_now, closed=False)
        filled = True
    if closed_now < CLOSED_CASES:
        _fill_cases(CLOSED_CASES - closed_now, closed=True)
        filled = True
    if filled:
        with connection.cursor() as cursor:
            # As autovacuum leaves a table between bursts of changes (and so that index-only scans can skip the heap).
            cursor.execute("VACUUM ANALYZE cases_case")
    steps["cases"] = time.monotonic() - started

    centre = OrgUnit.objects.filter(unit_type=UnitType.CITY_CENTRE).order_by("depth", "code").first()
    district_centre = (
        OrgUnit.objects.filter(unit_type=UnitType.DISTRICT_CENTRE, district__isnull=False).order_by("code").first()
    )
    city = _dispatcher("bench-map-city", centre)
    district = _dispatcher("bench-map-district", district_centre)
    district_id = district_centre.district_id
    every_nth = max(1, Component.objects.count() // (SAMPLES * 4))
    component_sql = "SELECT ST_X(location), ST_Y(location) FROM geography_component WHERE id %% %s = 0 {} LIMIT %s"
    case_sql = (
        "SELECT ST_X(location), ST_Y(location) FROM cases_case WHERE NOT (status = ANY(%s)) AND id %% 7 = 0 {}"
        " ORDER BY id LIMIT %s"
    )
    info = {
        "tokens": {
            "city": Token.objects.get_or_create(user=city)[0].key,
            "district": Token.objects.get_or_create(user=district)[0].key,
        },
        "district_id": district_id,
        "components": Component.objects.count(),
        "cluster_rows": ComponentCluster.objects.count(),
        "open_cases": Case.objects.exclude(status__in=final).count(),
        "closed_cases": Case.objects.filter(status__in=final).count(),
        "open_cases_in_district": Case.objects.exclude(status__in=final).filter(district_id=district_id).count(),
        "samples": {
            "components": _samples(component_sql.format(""), [every_nth, SAMPLES]),
            "district_components": _samples(
                component_sql.format("AND district_id = %s"), [max(1, every_nth // 10), district_id, SAMPLES]
            ),
            "cases": _samples(case_sql.format(""), [final, SAMPLES]),
            "district_cases": _samples(case_sql.format("AND district_id = %s"), [final, district_id, SAMPLES]),
        },
        "seed_seconds": steps,
        "demo_components_target": demo.FULL_SCALE_COMPONENTS,
    }
    out.write_text(json.dumps(info), encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qingdao_ops.settings")
    seed(Path(sys.argv[1]))
