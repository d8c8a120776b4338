"""The demo city's geography and components, generated in SQL (PostGIS) from the districts fixture.

Communities are 900 m squares of a UTM grid (EPSG:32651) clipped to each district; streets are
blocks of those squares; unit grid cells are the 100 m squares of the same grid over each
district's built-up core, so every cell nests exactly in one community. Everything is seeded
(no random state), so two runs on fresh databases build the same city.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Point
from django.db import connection, transaction

from catalogue.models import ClassKind, MinorClass
from geography.models import Community, Component, District, GridCell, Street

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "qingdao_districts.geojson"
METRIC_SRID = 32651  # UTM 51N: metres, so the grid squares are true 900 m and 100 m squares
COMMUNITY_M = 900  # 9 x 9 cells of 100 m: at most 81 cells, so a 2-digit cell serial always fits
CELL_M = 100
MIN_COMMUNITY_M2 = 1_000  # slivers where a square barely touches the district are dropped
MIN_CELL_M2 = 2_000  # a cell cut by the coast keeps at least a fifth of its area
DEFAULT_COMPONENTS = 50_000
FULL_SCALE_COMPONENTS = 3_190_000  # the reference city's surveyed components


@dataclass(frozen=True)
class DistrictPlan:
    """How the demo divides one district: street block edge (a multiple of 900 m) and core radius."""

    street_block_m: int
    core_radius_m: int
    urban: bool  # urban districts have only 街道; elsewhere blocks far from the centre are 镇


# Block sizes give about the reference city's 141 streets; core radii give about 53,000 cells.
PLANS: dict[str, DistrictPlan] = {
    "370202": DistrictPlan(1_800, 9_000, urban=True),  # 市南区
    "370203": DistrictPlan(2_700, 8_000, urban=True),  # 市北区
    "370211": DistrictPlan(10_800, 6_000, urban=False),  # 黄岛区
    "370212": DistrictPlan(8_100, 4_500, urban=True),  # 崂山区
    "370213": DistrictPlan(2_700, 6_000, urban=True),  # 李沧区
    "370214": DistrictPlan(9_900, 5_000, urban=False),  # 城阳区
    "370215": DistrictPlan(11_700, 3_500, urban=False),  # 即墨区
    "370281": DistrictPlan(10_800, 3_500, urban=False),  # 胶州市
    "370283": DistrictPlan(13_500, 3_000, urban=False),  # 平度市
    "370285": DistrictPlan(11_700, 3_000, urban=False),  # 莱西市
}
_DEFAULT_PLAN = DistrictPlan(9_000, 3_000, urban=False)
BIG_BLOCK_SHARE = 0.3  # a block covering less than this share of its square joins the nearest street

# Name parts: real-sounding, not real places (the generated streets are not where real ones are).
_STREET_FIRST = "海金华泉云翠明龙凤湖青锦宁福瑞嘉安兴长新春秀蓝玉崇德文昌和永"
_STREET_SECOND = "山湾港阳川林岭溪台园泽岛源苑峰口桥坪河滨庄城坊丰"
_STREET_STYLES = ("路街道", "街道", "街道")
_COMMUNITY_FIRST = "东西南北前后中上下大小新"
_COMMUNITY_URBAN = [
    "海岸", "金湾", "翠湖", "明珠", "锦绣", "阳光", "福泽", "安居", "和平", "兴隆", "春晖", "瑞祥",
    "长青", "嘉园", "丽景", "文苑", "书香", "怡和", "康乐", "荣华", "盛世", "滨海", "望海", "观澜",
    "松岭", "枫林", "桃源", "梅园", "竹苑", "兰亭", "星河", "云栖", "紫荆", "银杏", "泉水", "清溪",
]  # fmt: skip
_COMMUNITY_URBAN_SUFFIX = ("社区", "路社区", "花园社区", "新村社区", "苑社区")
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
_VILLAGE_SUFFIX = ("家庄村", "家疃村", "家屯村", "家埠村", "家洼村", "家沟村", "家岭村", "家河村", "家村")


@dataclass
class StageResult:
    name: str
    created: int = 0
    skipped: bool = False
    detail: str = ""


def _execute(sql: str, params: dict | list | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _fetchall(sql: str, params: dict | list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def districts_load(*, fixture: Path = FIXTURE) -> StageResult:
    """The ten districts from the WGS 84 fixture, with their real names and codes."""
    data = json.loads(fixture.read_text(encoding="utf-8"))
    codes = [str(f["properties"]["adcode"]) for f in data["features"]]
    existing = set(District.objects.filter(code__in=codes).values_list("code", flat=True))
    if existing == set(codes):
        return StageResult("districts", skipped=True, detail=f"{len(codes)} already there")
    with transaction.atomic():
        for feature in data["features"]:
            code = str(feature["properties"]["adcode"])
            if code in existing:
                continue
            geom = GEOSGeometry(json.dumps(feature["geometry"]), srid=4326)
            if not isinstance(geom, MultiPolygon):
                geom = MultiPolygon(geom, srid=4326)
            lon, lat = feature["properties"]["center"]
            District.objects.create(
                code=code, name=feature["properties"]["name"], geom=geom, center=Point(lon, lat, srid=4326)
            )
    return StageResult("districts", created=len(codes) - len(existing))


def _plan_arrays() -> dict[str, list]:
    codes = list(District.objects.values_list("code", flat=True))
    plans = [PLANS.get(code, _DEFAULT_PLAN) for code in codes]
    return {
        "codes": codes,
        "block_squares": [p.street_block_m // COMMUNITY_M for p in plans],
        "radii": [p.core_radius_m for p in plans],
        "urban": [p.urban for p in plans],
    }


def _street_names(rows: list[tuple[str, int, bool]]) -> list[str]:
    """A distinct name for every street of the city, from (district code, serial, is_town) in code order."""
    n1, n2 = len(_STREET_FIRST), len(_STREET_SECOND)
    names = []
    for k, (_code, _serial, is_town) in enumerate(rows):
        # 337 is coprime with n1 * n2 = 720, so k -> 337k mod 720 visits every pair once before repeating.
        pair = (k * 337) % (n1 * n2)
        stem = _STREET_FIRST[pair % n1] + _STREET_SECOND[pair // n1]
        names.append(stem + ("镇" if is_town else _STREET_STYLES[k % len(_STREET_STYLES)]))
    return names


def streets_and_communities_build() -> StageResult:
    """Streets and communities of every district, in a handful of set-based statements."""
    if Street.objects.exists():
        return StageResult(
            "streets + communities",
            skipped=True,
            detail=f"{Street.objects.count()} streets, {Community.objects.count()} communities already there",
        )
    params = {**_plan_arrays(), "size": COMMUNITY_M, "srid": METRIC_SRID, "cell": CELL_M}
    with transaction.atomic():
        _execute("SET LOCAL jit = off")  # compiling these one-off statements costs more than it saves
        _execute("DROP TABLE IF EXISTS demo_community, demo_block, demo_street")
        # Squares are segmentised at 100 m before leaving the metric CRS, so their edges carry
        # exactly the vertices of the 100 m cells inside them (nesting without slivers).
        _execute(
            """
            CREATE TEMP TABLE demo_community AS
            WITH d AS MATERIALIZED (
                SELECT d.id, d.code, d.geom, ST_Transform(d.geom, %(srid)s) AS gm, p.block
                FROM geography_district d
                JOIN unnest(%(codes)s::text[], %(block_squares)s::int[]) AS p(code, block) ON p.code = d.code
            )
            SELECT d.id AS district_id, d.code AS district_code, sq.i, sq.j,
                   floor(sq.i::numeric / d.block)::int AS bi, floor(sq.j::numeric / d.block)::int AS bj, d.block,
                   ST_Segmentize(sq.geom, %(cell)s) AS square,
                   ST_Multi(ST_CollectionExtract(
                       ST_Intersection(d.geom, ST_Transform(ST_Segmentize(sq.geom, %(cell)s), 4326)), 3
                   )) AS geom
            FROM d CROSS JOIN LATERAL ST_SquareGrid(%(size)s, d.gm) AS sq
            WHERE ST_Intersects(d.gm, sq.geom)
            """,
            params,
        )
        _execute(
            "DELETE FROM demo_community WHERE ST_IsEmpty(geom) OR ST_Area(geom::geography) < %s", [MIN_COMMUNITY_M2]
        )
        _execute(
            """
            CREATE TEMP TABLE demo_block AS
            SELECT district_id, bi, bj, sum(ST_Area(geom::geography)) AS area, max(block) AS block,
                   ST_Centroid(ST_Collect(geom)) AS centre
            FROM demo_community GROUP BY district_id, bi, bj
            """
        )
        _execute(
            """
            ALTER TABLE demo_block ADD COLUMN big boolean;
            UPDATE demo_block SET big = area >= %(share)s * (block * %(size)s::float) ^ 2;
            UPDATE demo_block b SET big = true
            WHERE NOT EXISTS (SELECT 1 FROM demo_block o WHERE o.district_id = b.district_id AND o.big)
            """,
            {"share": BIG_BLOCK_SHARE, "size": COMMUNITY_M},
        )
        # Streets are numbered north to south, west to east; a small block (cut by the coast or a
        # border) joins the street whose centre is nearest. A street is the union of its metric
        # squares (exact: integer coordinates) clipped once to the district, like its communities;
        # a union of the clipped communities would move the coast by centimetres.
        _execute(
            """
            CREATE TEMP TABLE demo_street AS
            SELECT b.district_id, d.code AS district_code, b.bi, b.bj, b.centre,
                   row_number() OVER (PARTITION BY b.district_id ORDER BY b.bj DESC, b.bi) AS serial,
                   NOT p.urban AND ST_Distance(b.centre::geography, d.center::geography) > 2 * p.radius AS is_town
            FROM demo_block b
            JOIN geography_district d ON d.id = b.district_id
            JOIN unnest(%(codes)s::text[], %(radii)s::int[], %(urban)s::bool[]) AS p(code, radius, urban)
              ON p.code = d.code
            WHERE b.big
            """,
            params,
        )
        _execute(
            """
            ALTER TABLE demo_community ADD COLUMN street_serial int;
            UPDATE demo_community c SET street_serial = nearest.serial
            FROM demo_block b
            CROSS JOIN LATERAL (
                SELECT s.serial FROM demo_street s WHERE s.district_id = b.district_id
                ORDER BY s.centre <-> b.centre, s.serial LIMIT 1
            ) nearest
            WHERE b.district_id = c.district_id AND b.bi = c.bi AND b.bj = c.bj
            """
        )
        street_rows = _fetchall("SELECT district_code, serial, is_town FROM demo_street ORDER BY district_code, serial")
        names = _street_names(street_rows)
        streets = _execute(
            """
            INSERT INTO geography_street (code, name, district_id, geom)
            SELECT s.district_code || lpad(s.serial::text, 3, '0'), n.name, s.district_id,
                   ST_Multi(ST_CollectionExtract(ST_Intersection(
                       -- Ordered input: the union's vertex order (and so its bytes) must not depend on the plan.
                       d.geom, ST_Transform(ST_Union(c.square ORDER BY c.j DESC, c.i), 4326)
                   ), 3))
            FROM demo_street s
            JOIN geography_district d ON d.id = s.district_id
            JOIN unnest(%(dcodes)s::text[], %(serials)s::int[], %(names)s::text[]) AS n(district_code, serial, name)
              ON n.district_code = s.district_code AND n.serial = s.serial
            JOIN demo_community c ON c.district_id = s.district_id AND c.street_serial = s.serial
            GROUP BY s.district_code, s.serial, s.district_id, n.name, d.geom
            """,
            {"dcodes": [r[0] for r in street_rows], "serials": [r[1] for r in street_rows], "names": names},
        )
        # Communities: 社区 in 街道, villages (X家庄村) in 镇; names repeat across the city as real ones do.
        communities = _execute(
            """
            INSERT INTO geography_community (code, name, street_id, district_id, geom)
            SELECT st.code || lpad(x.serial::text, 3, '0'),
                   CASE WHEN ds.is_town THEN
                       substr(%(first)s, 1 + (x.k / 7) %% length(%(first)s), 1)
                       || substr(%(surnames)s, 1 + (x.k * 11) %% length(%(surnames)s), 1)
                       || (%(village)s::text[])[1 + x.k %% cardinality(%(village)s::text[])]
                   ELSE
                       (%(urban)s::text[])[1 + (x.k * 5) %% cardinality(%(urban)s::text[])]
                       || (%(urban_suffix)s::text[])[1 + (x.k / 3) %% cardinality(%(urban_suffix)s::text[])]
                   END,
                   st.id, x.district_id, x.geom
            FROM (
                SELECT c.*, row_number() OVER (PARTITION BY c.district_id, c.street_serial ORDER BY c.j DESC, c.i)
                           AS serial,
                       (row_number() OVER (ORDER BY c.district_code, c.street_serial, c.j DESC, c.i))::int AS k
                FROM demo_community c
            ) x
            JOIN demo_street ds ON ds.district_id = x.district_id AND ds.serial = x.street_serial
            JOIN geography_street st ON st.code = x.district_code || lpad(x.street_serial::text, 3, '0')
            """,
            {
                "first": _COMMUNITY_FIRST,
                "surnames": _SURNAMES,
                "village": list(_VILLAGE_SUFFIX),
                "urban": _COMMUNITY_URBAN,
                "urban_suffix": list(_COMMUNITY_URBAN_SUFFIX),
            },
        )
        _execute("DROP TABLE demo_community, demo_block, demo_street")
    _execute("ANALYZE geography_street, geography_community")
    return StageResult(
        "streets + communities", created=streets + communities, detail=f"{streets} streets, {communities} communities"
    )


def grid_cells_build(*, core_scale: float = 1.0) -> StageResult:
    """100 m cells within each district's core radius (times core_scale), clipped to the district."""
    if GridCell.objects.exists():
        return StageResult("grid cells", skipped=True, detail=f"{GridCell.objects.count()} already there")
    params = {**_plan_arrays(), "scale": core_scale, "cell": CELL_M, "srid": METRIC_SRID, "min_m2": MIN_CELL_M2}
    per_side = COMMUNITY_M // CELL_M
    params["per_side"] = per_side
    params["size"] = COMMUNITY_M
    with transaction.atomic():
        _execute("SET LOCAL jit = off")  # compiling these one-off statements costs more than it saves
        # Serial = position of the cell in its 900 m square (row from the north, then column), 01..81.
        created = _execute(
            """
            INSERT INTO geography_gridcell (code, community_id, street_id, district_id, geom, area_m2)
            WITH d AS MATERIALIZED (
                SELECT d.id, d.geom, ST_Transform(d.geom, %(srid)s) AS gm,
                       ST_Transform(d.center, %(srid)s) AS centre, p.radius * %(scale)s AS radius
                FROM geography_district d
                JOIN unnest(%(codes)s::text[], %(radii)s::int[]) AS p(code, radius) ON p.code = d.code
                WHERE d.center IS NOT NULL
            ), squares AS MATERIALIZED (
                SELECT d.id AS district_id, d.geom AS dgeom, sq.i, sq.j, ST_Transform(sq.geom, 4326) AS geom
                FROM d CROSS JOIN LATERAL ST_SquareGrid(%(cell)s, ST_Expand(d.centre, d.radius)) AS sq
                WHERE ST_DWithin(d.centre, ST_Centroid(sq.geom), d.radius) AND ST_Intersects(d.gm, sq.geom)
            ), clipped AS MATERIALIZED (
                SELECT district_id, i, j, geom, ST_Area(geom::geography) AS area_m2
                FROM (
                    SELECT district_id, i, j,
                           CASE WHEN ST_Within(geom, dgeom) THEN geom
                                ELSE ST_CollectionExtract(ST_Intersection(dgeom, geom), 3) END AS geom
                    FROM squares
                ) s
                WHERE NOT ST_IsEmpty(geom)
            ), community AS MATERIALIZED (
                -- Each community is one 900 m square (clipped): find its grid indices from a point inside.
                SELECT m.id, m.code, m.street_id, m.district_id,
                       floor(ST_X(p.geom) / %(size)s)::int AS ci, floor(ST_Y(p.geom) / %(size)s)::int AS cj
                FROM geography_community m
                CROSS JOIN LATERAL ST_Transform(ST_PointOnSurface(m.geom), %(srid)s) AS p(geom)
            )
            SELECT m.code || lpad(((%(per_side)s - 1 - c.j %% %(per_side)s) * %(per_side)s
                                   + c.i %% %(per_side)s + 1)::text, 2, '0'),
                   m.id, m.street_id, m.district_id, ST_Multi(c.geom), c.area_m2
            FROM clipped c
            JOIN community m
              ON m.district_id = c.district_id AND m.ci = c.i / %(per_side)s AND m.cj = c.j / %(per_side)s
            WHERE c.area_m2 >= %(min_m2)s
            ORDER BY 1
            """,
            params,
        )
    _execute("ANALYZE geography_gridcell")
    return StageResult("grid cells", created=created)


# Relative frequency of component classes by full code (a survey finds far more manhole covers,
# street lights, trees and bins than monuments); unlisted classes weigh 1.
CLASS_WEIGHTS: dict[str, float] = {
    "0101": 60, "0102": 70, "0103": 70, "0104": 90, "0105": 40, "0106": 20, "0107": 40, "0108": 10,
    "0109": 10, "0110": 20, "0111": 25, "0112": 5, "0113": 15, "0114": 3, "0115": 8, "0116": 10,
    "0117": 60, "0118": 120, "0119": 8, "0120": 15, "0121": 2, "0125": 3, "0126": 5, "0127": 3,
    "0133": 2, "0134": 8, "0135": 3, "0136": 20, "0139": 8, "0140": 4, "0141": 5, "0142": 6, "0143": 10,
    "0201": 3, "0202": 2, "0203": 8, "0205": 0.5, "0206": 0.3, "0207": 0.2, "0208": 0.3, "0209": 40,
    "0210": 10, "0211": 30, "0212": 5, "0213": 15, "0214": 5, "0216": 0.5, "0217": 0.5, "0218": 15,
    "0219": 5, "0220": 3, "0221": 3, "0222": 5, "0223": 10, "0224": 30,
    "0301": 3, "0302": 3, "0303": 3, "0304": 2, "0305": 100, "0306": 20, "0307": 50, "0308": 1,
    "0309": 0.3, "0310": 0.3, "0311": 0.5, "0312": 0.5, "0313": 15, "0314": 3, "0316": 3,
    "0401": 0.5, "0402": 150, "0403": 30, "0404": 10, "0405": 10, "0406": 0.5, "0407": 15, "0408": 10,
    "0409": 2, "0410": 0.3, "0411": 2, "0412": 2, "0413": 0.5, "0414": 3,
    "0501": 5, "0502": 0.5, "0503": 0.5, "0504": 0.5,
    "0601": 0.2, "0602": 0.5, "0604": 3, "0605": 0.2, "0606": 0.5, "0607": 0.3, "0608": 2, "0609": 1,
    "0610": 0.5, "0611": 0.3, "0612": 0.3, "0613": 0.5,
}  # fmt: skip

# Owner of a component, by the longest matching code prefix -> department key (organisations.demo).
OWNER_BY_PREFIX: dict[str, str] = {
    "01": "urban_management", "0101": "water_group", "0102": "drainage", "0103": "drainage", "0104": "drainage",
    "0105": "power", "0106": "street_lights", "0107": "telecom", "0108": "cable_tv", "0109": "unicom",
    "0110": "heat", "0111": "gas_huarun", "0112": "public_security", "0113": "fire", "0115": "telecom",
    "0116": "power", "0117": "power", "0118": "street_lights", "0119": "street_lights", "0120": "street_lights",
    "0123": "post", "0126": "sports", "0127": "water_group", "0128": "bus", "0129": "sinopec", "0132": "water_group",
    "0133": "power", "0134": "power", "0135": "gas_taineng", "0136": "public_security", "0138": "public_security",
    "0139": "power", "0140": "mobile", "0141": "unicom", "0142": "street_lights", "0143": "gas_huarun",
    "02": "transport", "0201": "parking", "0202": "parking", "0203": "bus", "0204": "transport",
    "0209": "traffic_police", "0210": "traffic_police", "0211": "traffic_police", "0214": "traffic_police",
    "0215": "traffic_police", "0217": "traffic_police", "0221": "bikes", "0224": "parking",
    "03": "sanitation", "0306": "urban_management", "0307": "urban_management", "0308": "environment",
    "0309": "weather", "0310": "environment", "0311": "environment", "0312": "waste_disposal",
    "0314": "urban_management",
    "04": "greening", "05": "housing", "0502": "civil_defence", "0504": "culture",
    "06": "emergency", "0602": "housing", "0603": "water_affairs", "0604": "water_affairs", "0605": "ocean",
    "0606": "water_affairs", "0607": "drainage", "0608": "housing", "0609": "metro", "0610": "metro",
    "0611": "sinopec", "0612": "ocean_park", "0613": "ocean_park",
}  # fmt: skip
_SLOTS = 10_000  # the class of a component is slot[floor(u * _SLOTS)] for a uniform u


def _class_tables() -> tuple[list[int], list[int], list[int | None]]:
    """Slots for a weighted draw of minor classes, and each class's owner unit id."""
    from organisations.demo import department_codes_by_key
    from organisations.models import OrgUnit

    minors = list(
        MinorClass.objects.filter(major__kind=ClassKind.COMPONENT, is_active=True)
        .select_related("major")
        .order_by("major__code", "code")
    )
    if not minors:
        return [], [], []
    weights = [CLASS_WEIGHTS.get(m.full_code, 1.0) for m in minors]
    total = sum(weights)
    # Every class gets at least one slot, so the rarest classes still appear in a large seed.
    counts = [max(1, round(_SLOTS * w / total)) for w in weights]
    slots = [m.id for m, n in zip(minors, counts, strict=True) for _ in range(n)]
    unit_ids = dict(OrgUnit.objects.filter(code__in=department_codes_by_key().values()).values_list("code", "id"))
    codes = department_codes_by_key()
    owners: list[int | None] = []
    for minor in minors:
        full = minor.full_code
        key = OWNER_BY_PREFIX.get(full) or OWNER_BY_PREFIX.get(full[:2])
        owners.append(unit_ids.get(codes[key]) if key else None)
    return slots, [m.id for m in minors], owners


def _u(expr: str) -> str:
    """SQL for a uniform number in [0, 1) drawn from the md5 of `expr` (stable across runs and servers)."""
    return f"(('x' || substr(md5({expr}), 1, 8))::bit(32)::bigint / 4294967296.0)"


def components_build(*, target: int, batch_size: int = 250_000, progress: bool = False) -> StageResult:
    """Top the components up to `target`: new points in grid cells, weighted by cell area, in SQL batches."""
    existing = Component.objects.count()
    if existing >= target:
        return StageResult("components", skipped=True, detail=f"{existing} already there")
    cells = GridCell.objects.count()
    if not cells:
        return StageResult("components", skipped=True, detail="no grid cells to place them in")
    slots, minor_ids, owner_ids = _class_tables()
    if not slots:
        return StageResult("components", skipped=True, detail="no component classes in the catalogue")
    wanted = target - existing
    created = 0
    # Each batch draws a fresh set of points; the run number keeps a top-up from repeating them.
    run = existing
    while created < wanted:
        n = min(batch_size, wanted - created)
        created += _components_batch(n=n, run=run + created, slots=slots, minor_ids=minor_ids, owner_ids=owner_ids)
        if progress:
            print(f"  components: {existing + created:,} / {target:,}", flush=True)
    _execute("ANALYZE geography_component")
    return StageResult("components", created=created)


@transaction.atomic
def _components_batch(*, n: int, run: int, slots: list[int], minor_ids: list[int], owner_ids: list[int | None]) -> int:
    params = {
        "n": n,
        "run": str(run),
        "slots": slots,
        "nslots": len(slots),
        "minor_ids": minor_ids,
        "owners": owner_ids,
    }
    _execute("DROP TABLE IF EXISTS demo_point")
    # Cell quotas: n split over the cells in code order by cumulative weight (exact in numeric), the
    # weight being the cell's area times a seeded factor, so some blocks are denser than others.
    _execute(
        f"""
        CREATE TEMP TABLE demo_point AS
        WITH w AS (
            SELECT c.id, c.code, c.geom, c.district_id, c.street_id, c.community_id,
                   round((c.area_m2 * (0.25 + {_u("c.code || ':w:' || %(run)s")}))::numeric, 3) AS w
            FROM geography_gridcell c
        ), q AS (
            SELECT w.*, sum(w.w) OVER (ORDER BY w.code) AS cum, sum(w.w) OVER () AS total FROM w
        ), k AS (
            SELECT q.*, (floor(%(n)s * q.cum / q.total) - floor(%(n)s * (q.cum - q.w) / q.total))::int AS quota
            FROM q
        )
        SELECT k.id AS cell_id, k.code AS cell_code, k.district_id, k.street_id, k.community_id, p.path[1] AS idx,
               p.geom AS location,
               (%(slots)s::int[])[1 + floor({_u("k.code || ':' || p.path[1] || ':' || %(run)s")} * %(nslots)s)::int]
                   AS minor_id,
               {_u("k.code || ':s:' || p.path[1] || ':' || %(run)s")} AS u_status,
               {_u("k.code || ':d:' || p.path[1] || ':' || %(run)s")} AS u_date
        FROM k CROSS JOIN LATERAL ST_Dump(
            ST_GeneratePoints(k.geom, k.quota, ((k.code::bigint + %(run)s::bigint * 7919) %% 2000000000)::int + 1)
        ) AS p
        WHERE k.quota > 0
        """,
        params,
    )
    # Serials continue after the highest one already used for the district and class.
    return _execute(
        """
        INSERT INTO geography_component (code, minor_class_id, name, location, district_id, street_id,
            community_id, grid_cell_id, owner_unit_id, status, address, surveyed_on, updated_at)
        SELECT d.code || mj.code || mn.code
                   || lpad((coalesce(used.serial, 0) + row_number() OVER (
                       PARTITION BY p.district_id, p.minor_id ORDER BY p.cell_code, p.idx))::text, 6, '0'),
               p.minor_id, mn.name, p.location, p.district_id, p.street_id, p.community_id, p.cell_id, o.owner,
               CASE WHEN p.u_status < 0.95 THEN 'normal' WHEN p.u_status < 0.98 THEN 'damaged'
                    WHEN p.u_status < 0.99 THEN 'lost' ELSE 'removed' END,
               d.name || s.name || m.name, DATE '2023-03-01' + floor(p.u_date * 700)::int, now()
        FROM demo_point p
        JOIN catalogue_minorclass mn ON mn.id = p.minor_id
        JOIN catalogue_majorclass mj ON mj.id = mn.major_id
        JOIN geography_district d ON d.id = p.district_id
        JOIN geography_street s ON s.id = p.street_id
        JOIN geography_community m ON m.id = p.community_id
        JOIN unnest(%(minor_ids)s::int[], %(owners)s::int[]) AS o(minor_id, owner) ON o.minor_id = p.minor_id
        LEFT JOIN (
            SELECT left(code, 10) AS prefix, max(right(code, 6)::int) AS serial
            FROM geography_component GROUP BY left(code, 10)
        ) used ON used.prefix = d.code || mj.code || mn.code
        """,
        params,
    )
