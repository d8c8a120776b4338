"""The demo city's organisation tree and one demo login per role (used by seed_demo and demo_logins)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from organisations.models import Membership, OrgUnit, Role, UnitType, User
from organisations.services import membership_grant, unit_create, user_create

CITY_CENTRE_CODE = "370200"
CITY_CENTRE_NAME = "青岛市城市运行管理服务中心"
FIELD_UNITS_TOTAL = 612  # the reference city's figure, across departments, companies and districts


@dataclass(frozen=True)
class Department:
    """A city department or utility company (a handling unit) and its field units."""

    key: str  # stable handle for code that refers to it (component owners)
    name: str
    unit_type: str
    field_suffix: str  # a field unit is named <short name><district short name><suffix>
    field_units: int
    short: str = ""

    @property
    def short_name(self) -> str:
        return self.short or self.name


_D, _C = UnitType.DEPARTMENT, UnitType.COMPANY

# 53 handling units: city departments first, then utility and service companies.
DEPARTMENTS: tuple[Department, ...] = (
    Department("urban_management", "市城市管理局", _D, "市政设施维护队", 10, "市城管局"),
    Department("housing", "市住房和城乡建设局", _D, "建设工程质量监督站", 6, "市住建局"),
    Department("transport", "市交通运输局", _D, "公路养护中心", 6, "市交通局"),
    Department("water_affairs", "市水务管理局", _D, "排水管理所", 8, "市水务局"),
    Department("greening", "市园林和林业局", _D, "园林养护所", 8, "市园林局"),
    Department("planning", "市自然资源和规划局", _D, "自然资源所", 4, "市自然资源局"),
    Department("environment", "市生态环境局", _D, "生态环境执法大队", 6, "市生态环境局"),
    Department("traffic_police", "市公安局交通警察支队", _D, "交警大队", 10, "市交警支队"),
    Department("market", "市市场监督管理局", _D, "市场监管所", 6, "市市场监管局"),
    Department("emergency", "市应急管理局", _D, "应急救援站", 4, "市应急局"),
    Department("civil_affairs", "市民政局", _D, "社会救助站", 3, "市民政局"),
    Department("culture", "市文化和旅游局", _D, "文化市场执法中队", 3, "市文旅局"),
    Department("health", "市卫生健康委员会", _D, "卫生监督所", 3, "市卫健委"),
    Department("education", "市教育局", _D, "校园安全巡查队", 2, "市教育局"),
    Department("commerce", "市商务局", _D, "商贸流通服务站", 2, "市商务局"),
    Department("ocean", "市海洋发展局", _D, "海域海岛监管中队", 3, "市海洋局"),
    Department("civil_defence", "市人民防空办公室", _D, "人防工程管理所", 3, "市人防办"),
    Department("fire", "市消防救援支队", _D, "消防救援站", 8, "市消防支队"),
    Department("law_enforcement", "市综合行政执法支队", _D, "执法大队", 10, "市执法支队"),
    Department("big_data", "市大数据发展管理局", _D, "物联感知运维组", 2, "市大数据局"),
    Department("agriculture", "市农业农村局", _D, "农业综合执法中队", 4, "市农业农村局"),
    Department("development", "市发展和改革委员会", _D, "能源监察中队", 2, "市发改委"),
    Department("industry", "市工业和信息化局", _D, "无线电监测站", 2, "市工信局"),
    Department("sports", "市体育局", _D, "体育设施管理站", 2, "市体育局"),
    Department("weather", "市气象局", _D, "气象观测站", 3, "市气象局"),
    Department("public_security", "市公安局", _D, "治安巡警大队", 6, "市公安局"),
    Department("approval", "市行政审批服务局", _D, "踏勘服务组", 2, "市审批局"),
    Department("sanitation", "市环境卫生发展中心", _D, "环卫作业站", 8, "市环卫中心"),
    Department("water_group", "青岛水务集团有限公司", _C, "供水营业所", 8, "水务集团"),
    Department("bay_water", "青岛海湾水务有限公司", _C, "供水管网维修队", 6, "海湾水务"),
    Department("drainage", "青岛市排水有限公司", _C, "排水管网养护站", 6, "排水公司"),
    Department("gas_huarun", "青岛能源华润燃气有限公司", _C, "燃气抢修站", 8, "华润燃气"),
    Department("gas_taineng", "青岛泰能燃气集团有限公司", _C, "燃气服务站", 6, "泰能燃气"),
    Department("heat", "青岛能源热电集团有限公司", _C, "供热服务站", 8, "热电集团"),
    Department("power", "国网青岛供电公司", _C, "供电服务中心", 10, "青岛供电"),
    Department("mobile", "中国移动青岛分公司", _C, "线路维护中心", 5, "青岛移动"),
    Department("unicom", "中国联通青岛市分公司", _C, "线路维护中心", 5, "青岛联通"),
    Department("telecom", "中国电信青岛分公司", _C, "线路维护中心", 5, "青岛电信"),
    Department("cable_tv", "青岛有线电视网络有限公司", _C, "网络维护站", 4, "青岛有线"),
    Department("metro", "青岛地铁集团有限公司", _C, "车站管理中心", 4, "青岛地铁"),
    Department("bus", "青岛公交集团有限责任公司", _C, "公交场站管理处", 6, "青岛公交"),
    Department("street_lights", "青岛市路灯管理有限公司", _C, "路灯维修队", 8, "路灯公司"),
    Department("municipal_works", "青岛市政空间开发集团有限责任公司", _C, "道路养护队", 6, "市政集团"),
    Department("city_investment", "青岛城市建设投资（集团）有限责任公司", _C, "项目管理部", 3, "青岛城投"),
    Department("parking", "青岛城运智慧停车有限公司", _C, "停车运营站", 5, "城运停车"),
    Department("post", "中国邮政集团青岛市分公司", _C, "邮政揽投部", 4, "青岛邮政"),
    Department("bikes", "青岛公共自行车运营有限公司", _C, "站点运维组", 3, "公共自行车"),
    Department("sanitation_group", "青岛环境卫生集团有限公司", _C, "清扫保洁公司", 8, "环卫集团"),
    Department("waste_disposal", "青岛固体废物处置有限责任公司", _C, "垃圾转运站", 4, "固废公司"),
    Department("sinopec", "中国石化销售股份有限公司山东青岛石油分公司", _C, "加油站管理片区", 3, "青岛石化"),
    Department("tunnel", "青岛国信胶州湾交通有限公司", _C, "隧道养护中心", 2, "胶州湾隧道"),
    Department("port", "山东港口青岛港集团有限公司", _C, "港区安全巡查队", 2, "青岛港"),
    Department("ocean_park", "青岛海洋旅游集团有限公司", _C, "浴场管理站", 3, "海洋旅游"),
)

# District field units cycle through these kinds; a second round is 第二..., and so on.
_DISTRICT_FIELD_KINDS = (
    "城管执法中队",
    "环卫作业中队",
    "市政设施养护队",
    "园林绿化养护队",
    "排水管网养护队",
    "违法建设治理中队",
    "渣土运输监管中队",
    "户外广告管理中队",
    "供热燃气巡查队",
    "防汛应急抢险队",
    "物业管理指导站",
    "市容秩序巡查队",
)
_ORDINALS = ("", "第二", "第三", "第四", "第五", "第六")


def department_code(index: int) -> str:
    return f"{CITY_CENTRE_CODE}D{index:02d}"


def department_codes_by_key() -> dict[str, str]:
    return {dept.key: department_code(i) for i, dept in enumerate(DEPARTMENTS, start=1)}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    full_name: str
    unit_code: str | None  # None for citizens, who hold their role without a unit
    is_staff: bool = False

    @property
    def password(self) -> str:
        return demo_password(self.username)


def demo_password(username: str) -> str:
    """The documented demo password; demo data only, never for a real deployment."""
    return f"demo-{username}-2026"


SUPERUSER = "admin"
# The platform's own account: the deadline sweep urges (催办) late units in its name (cases.sweep.platform_user,
# which reads the same setting). A dispatcher of the city centre, so every case is in its scope; nobody signs
# in with it (no usable password), and it is not one of the demo logins printed for people.
PLATFORM_USERNAME = "platform"
PLATFORM_FULL_NAME = "城运平台（自动催办）"
# Streets are numbered from 001 in each district, so 370202001 is always a street workstation of 市南区.
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("intake", Role.INTAKE_CLERK, "受理员 王晓燕", CITY_CENTRE_CODE),
    DemoLogin("dispatcher", Role.DISPATCHER, "派遣员 刘建国", CITY_CENTRE_CODE),
    DemoLogin("inspector", Role.INSPECTOR, "监督员 张海涛", "370202001"),
    DemoLogin("handler", Role.HANDLER, "处置员 李明", department_codes_by_key()["urban_management"] + "F01"),
    DemoLogin("leader", Role.LEADER, "领导 陈志强", CITY_CENTRE_CODE),
    DemoLogin("administrator", Role.ADMINISTRATOR, "管理员 赵静", CITY_CENTRE_CODE, is_staff=True),
    DemoLogin("citizen", Role.CITIZEN, "市民 孙丽", None),
    DemoLogin("device", Role.DEVICE, "燃气监测终端", department_codes_by_key()["gas_huarun"]),
)


@dataclass
class TreeResult:
    created: int = 0
    skipped: bool = False


def org_tree_build(*, districts: Iterable, streets: Iterable, grassroots_communities: Iterable) -> TreeResult:
    """Build the whole tree unless its root already exists (the tree is built in one transaction)."""
    if OrgUnit.objects.filter(code=CITY_CENTRE_CODE).exists():
        return TreeResult(created=0, skipped=True)
    with transaction.atomic():
        return TreeResult(created=_build(list(districts), list(streets), list(grassroots_communities)))


@dataclass
class _Spec:
    """A unit to create and its children, before it has a place in the tree."""

    name: str
    code: str
    unit_type: str
    district: object = None
    street: object = None
    community: object = None
    children: list[_Spec] = field(default_factory=list)

    def add(self, **fields: object) -> _Spec:
        child = _Spec(**fields)  # type: ignore[arg-type]
        self.children.append(child)
        return child


def _build(districts: list, streets: list, communities: list) -> int:
    """The root through unit_create; its ~1,600 descendants in one bulk insert with their tree paths.

    unit_create adds one node at a time (a dozen queries each, about 25 s for this tree); a new
    subtree's materialised paths are known in advance, so they are computed here instead.
    """
    root = unit_create(name=CITY_CENTRE_NAME, code=CITY_CENTRE_CODE, unit_type=UnitType.CITY_CENTRE, phone="12319")
    top = _Spec(CITY_CENTRE_NAME, CITY_CENTRE_CODE, UnitType.CITY_CENTRE)
    for i, dept in enumerate(DEPARTMENTS, start=1):
        unit = top.add(name=dept.name, code=department_code(i), unit_type=dept.unit_type)
        for n in range(dept.field_units):
            # Each field unit serves one district, in turn, so every district has crews nearby.
            district = districts[n % len(districts)]
            short = district.name.removesuffix("区").removesuffix("市")
            unit.add(
                name=f"{dept.short_name}{short}{_ORDINALS[n // len(districts)]}{dept.field_suffix}",
                code=f"{unit.code}F{n + 1:02d}",
                unit_type=UnitType.FIELD_UNIT,
                district=district,
            )
    district_field = FIELD_UNITS_TOTAL - sum(d.field_units for d in DEPARTMENTS)
    per_district = [
        district_field // len(districts) + (i < district_field % len(districts)) for i in range(len(districts))
    ]
    streets_by_district: dict[int, list] = {}
    for street in streets:
        streets_by_district.setdefault(street.district_id, []).append(street)
    communities_by_street: dict[int, list] = {}
    for community in communities:
        communities_by_street.setdefault(community.street_id, []).append(community)
    for district, field_count in zip(districts, per_district, strict=True):
        centre = top.add(
            name=f"{district.name}城市运行管理服务中心",
            code=district.code,
            unit_type=UnitType.DISTRICT_CENTRE,
            district=district,
        )
        for n in range(field_count):
            kind = _DISTRICT_FIELD_KINDS[n % len(_DISTRICT_FIELD_KINDS)]
            centre.add(
                name=f"{district.name}{_ORDINALS[n // len(_DISTRICT_FIELD_KINDS)]}{kind}",
                code=f"{district.code}F{n + 1:02d}",
                unit_type=UnitType.FIELD_UNIT,
                district=district,
            )
        for street in streets_by_district.get(district.id, []):
            station = centre.add(
                name=f"{street.name}城市管理工作站",
                code=street.code,
                unit_type=UnitType.STREET_WORKSTATION,
                district=district,
                street=street,
            )
            for community in communities_by_street.get(street.id, []):
                committee = "村民委员会" if community.name.endswith("村") else "居民委员会"
                station.add(
                    name=f"{community.name}{committee}",
                    code=community.code,
                    unit_type=UnitType.GRASSROOTS,
                    district=district,
                    street=street,
                    community=community,
                )
    units: list[OrgUnit] = []
    _place(top.children, parent_path=root.path, depth=root.depth + 1, out=units)
    OrgUnit.objects.bulk_create(units, batch_size=500)
    OrgUnit.objects.filter(pk=root.pk).update(numchild=len(top.children))
    return 1 + len(units)


def _place(specs: list[_Spec], *, parent_path: str, depth: int, out: list[OrgUnit]) -> None:
    # Siblings sorted by code, as treebeard keeps them (OrgUnit.node_order_by).
    for step, spec in enumerate(sorted(specs, key=lambda s: s.code), start=1):
        path = OrgUnit._get_path(parent_path, depth, step)
        jurisdiction = spec.community or spec.street or spec.district
        out.append(
            OrgUnit(
                path=path,
                depth=depth,
                numchild=len(spec.children),
                name=spec.name,
                code=spec.code,
                unit_type=spec.unit_type,
                district=spec.district,
                street=spec.street,
                community=spec.community,
                area=jurisdiction.geom if jurisdiction is not None else None,
            )
        )
        _place(spec.children, parent_path=path, depth=depth + 1, out=out)


@dataclass
class LoginsResult:
    created: list[str]
    existing: list[str]


@transaction.atomic
def demo_logins_create() -> LoginsResult:
    """One user per role (and the superuser `admin`); users that already exist are left as they are."""
    result = LoginsResult(created=[], existing=[])
    for login in DEMO_LOGINS:
        if User.objects.filter(username=login.username).exists():
            result.existing.append(login.username)
            continue
        user = user_create(
            username=login.username, full_name=login.full_name, password=login.password, is_staff=login.is_staff
        )
        unit = OrgUnit.objects.get(code=login.unit_code) if login.unit_code else None
        membership_grant(user=user, role=login.role, unit=unit)
        result.created.append(login.username)
    if User.objects.filter(username=SUPERUSER).exists():
        result.existing.append(SUPERUSER)
    else:
        # Django's own manager: the platform's services never create superusers, the demo needs one.
        User.objects.create_superuser(
            username=SUPERUSER, email="", password=demo_password(SUPERUSER), full_name="系统超级管理员"
        )
        result.created.append(SUPERUSER)
    if username := platform_username():
        (result.created if platform_account_create() else result.existing).append(username)
    return result


def platform_username() -> str:
    """The platform account's username; empty when the deployment has switched automatic urging off."""
    return getattr(settings, "CASES_PLATFORM_USERNAME", PLATFORM_USERNAME)


@transaction.atomic
def platform_account_create(*, centre_code: str = CITY_CENTRE_CODE) -> bool:
    """Create the platform account, a dispatcher of the city centre, unless the username is taken.

    Returns whether it was created. An existing account is left as it is: an administrator who
    deactivated it has switched the automatic urging off.
    """
    username = platform_username()
    if not username or User.objects.filter(username=username).exists():
        return False
    user = user_create(username=username, full_name=PLATFORM_FULL_NAME, password=None)
    membership_grant(user=user, role=Role.DISPATCHER, unit=OrgUnit.objects.get(code=centre_code))
    return True


@dataclass(frozen=True)
class LoginRow:
    username: str
    password: str
    role: str
    unit: str


def demo_login_rows() -> list[LoginRow]:
    """The demo logins that exist in the database, in role order, with the unit each is held in."""
    users = {u.username: u for u in User.objects.filter(username__in=[x.username for x in DEMO_LOGINS] + [SUPERUSER])}
    memberships = {
        (m.user.username, m.role): m
        for m in Membership.objects.filter(user__in=users.values()).select_related("user", "unit")
    }
    rows = []
    for login in DEMO_LOGINS:
        if login.username not in users:
            continue
        membership = memberships.get((login.username, login.role))
        unit = membership.unit.name if membership and membership.unit else "-"
        rows.append(LoginRow(login.username, login.password, str(Role(login.role).label), unit))
    if SUPERUSER in users:
        rows.append(LoginRow(SUPERUSER, demo_password(SUPERUSER), str(_("Superuser")), "-"))
    return rows


def display_width(text: str) -> int:
    """Terminal columns: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table_format(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(display_width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            str(c) + " " * (w - display_width(str(c))) for c, w in zip(cells, widths, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])
