"""Factories (factory_boy) for people, units, the geography and the catalogue, and a small city.

Writes with rules go through the services (units through unit_create, people through user_create,
roles through membership_grant), so factories build what the application itself would build.
Geometries default to the parent's polygon (always nested); pass `geom` for distinct shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import factory
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from factory.django import DjangoModelFactory

from catalogue.models import ClassKind, MajorClass, MinorClass
from geography.models import Community, Component, District, GridCell, Street
from organisations.models import Membership, OrgUnit, Role, UnitType, User
from organisations.services import membership_grant, unit_create, user_create

SRID = 4326


def square(lon: float, lat: float, size: float = 0.01) -> MultiPolygon:
    """An axis-aligned square in WGS 84 with its south-west corner at (lon, lat), `size` degrees wide."""
    return box(lon, lat, lon + size, lat + size)


def box(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> MultiPolygon:
    return MultiPolygon(Polygon.from_bbox((min_lon, min_lat, max_lon, max_lat)), srid=SRID)


def inner_point(geom: MultiPolygon) -> Point:
    point = geom.point_on_surface
    point.srid = SRID
    return point


# --- catalogue


class MajorClassFactory(DjangoModelFactory):
    """Defaults to component class 01 公用设施; reused (get_or_create) if it is already loaded."""

    class Meta:
        model = MajorClass
        django_get_or_create = ("kind", "code")

    kind = ClassKind.COMPONENT
    code = "01"
    name = "公用设施"
    name_en = "Public facilities"


class MinorClassFactory(DjangoModelFactory):
    """Defaults to 0101 上水井盖 (water-supply manhole cover)."""

    class Meta:
        model = MinorClass
        django_get_or_create = ("major", "code")

    major = factory.SubFactory(MajorClassFactory)
    code = "01"
    name = "上水井盖"
    name_en = "Water supply manhole cover"


# --- geography


class DistrictFactory(DjangoModelFactory):
    class Meta:
        model = District

    # 9xxxxx keeps generated codes clear of the real Qingdao codes (3702xx) that tests name.
    code = factory.Sequence(lambda n: f"{910000 + n % 90000}")
    name = factory.Sequence(lambda n: f"测试区{n}")
    geom = factory.Sequence(lambda n: square(120.0 + (n % 40) * 0.1, 35.0 + (n // 40 % 40) * 0.1, 0.1))
    center = factory.LazyAttribute(lambda o: inner_point(o.geom))


class StreetFactory(DjangoModelFactory):
    class Meta:
        model = Street

    district = factory.SubFactory(DistrictFactory)
    code = factory.LazyAttributeSequence(lambda o, n: f"{o.district.code}{n % 1000:03d}")
    name = factory.Sequence(lambda n: f"测试街道{n}")
    geom = factory.LazyAttribute(lambda o: o.district.geom)


class CommunityFactory(DjangoModelFactory):
    class Meta:
        model = Community

    street = factory.SubFactory(StreetFactory)
    district = factory.LazyAttribute(lambda o: o.street.district)
    code = factory.LazyAttributeSequence(lambda o, n: f"{o.street.code}{n % 1000:03d}")
    name = factory.Sequence(lambda n: f"测试社区{n}")
    geom = factory.LazyAttribute(lambda o: o.street.geom)


class GridCellFactory(DjangoModelFactory):
    class Meta:
        model = GridCell

    community = factory.SubFactory(CommunityFactory)
    street = factory.LazyAttribute(lambda o: o.community.street)
    district = factory.LazyAttribute(lambda o: o.community.district)
    code = factory.LazyAttributeSequence(lambda o, n: f"{o.community.code}{n % 100:02d}")
    geom = factory.LazyAttribute(lambda o: o.community.geom)
    area_m2 = 10_000.0


class ComponentFactory(DjangoModelFactory):
    """A component placed in its grid cell (or community, street, district: the most specific given)."""

    class Meta:
        model = Component

    minor_class = factory.SubFactory(MinorClassFactory)
    grid_cell = None
    community = factory.LazyAttribute(lambda o: o.grid_cell.community if o.grid_cell else None)
    street = factory.LazyAttribute(lambda o: o.community.street if o.community else None)
    district = factory.Maybe(
        "street",
        yes_declaration=factory.LazyAttribute(lambda o: o.street.district),
        no_declaration=factory.SubFactory(DistrictFactory),
    )
    code = factory.LazyAttributeSequence(
        lambda o, n: f"{o.district.code}{o.minor_class.major.code}{o.minor_class.code}{n % 1_000_000:06d}"
    )
    name = factory.LazyAttribute(lambda o: o.minor_class.name)
    location = factory.LazyAttribute(lambda o: inner_point((o.grid_cell or o.community or o.street or o.district).geom))
    owner_unit = None


# --- organisation


class OrgUnitFactory(DjangoModelFactory):
    """A unit added to the tree by unit_create (a root unless `parent` is given)."""

    class Meta:
        model = OrgUnit

    name = factory.Sequence(lambda n: f"测试单位{n}")
    code = factory.Sequence(lambda n: f"T{n:06d}")
    unit_type = UnitType.FIELD_UNIT
    parent = None
    district = None
    street = None
    community = None
    area = None
    phone = ""

    @classmethod
    def _create(cls, model_class: type[OrgUnit], *args: Any, **kwargs: Any) -> OrgUnit:
        if kwargs["parent"] is not None:
            # treebeard places the child from the parent's numchild, which SQL updates behind
            # the instance's back: refresh it so a parent object reused across calls stays right.
            kwargs["parent"].refresh_from_db()
        return unit_create(**kwargs)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    full_name = factory.Sequence(lambda n: f"测试人员{n}")
    password = "correct horse battery staple"
    phone = ""
    is_staff = False
    is_superuser = False

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        is_superuser = kwargs.pop("is_superuser")
        user = user_create(**kwargs)
        if is_superuser:
            user.is_superuser = user.is_staff = True
            user.save(update_fields=["is_superuser", "is_staff"])
        return user


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.INSPECTOR
    unit = factory.SubFactory(OrgUnitFactory)

    @classmethod
    def _create(cls, model_class: type[Membership], *args: Any, **kwargs: Any) -> Membership:
        return membership_grant(**kwargs)


def person(role: str, unit: OrgUnit | None = None, **user_fields: Any) -> User:
    """A new user holding `role` in `unit` (citizens hold theirs without a unit)."""
    user = UserFactory(**user_fields)
    membership_grant(user=user, role=role, unit=unit)
    return user


# --- a small city for permission tests


@dataclass
class SmallDistrict:
    district: District
    streets: list[Street]
    communities: list[Community]
    cells: list[GridCell]
    components: list[Component]  # one unowned component in each cell, in street order
    centre: OrgUnit
    workstations: list[OrgUnit]  # one per street, in street order


@dataclass
class SmallCity:
    """Two districts side by side, two streets each, one community and one grid cell per street."""

    root: OrgUnit
    department: OrgUnit
    field_unit: OrgUnit  # under the department
    a: SmallDistrict
    b: SmallDistrict
    # Owned by the department (in a's first cell) and by its field unit (in b's first cell).
    department_components: list[Component] = field(default_factory=list)

    @property
    def districts(self) -> list[SmallDistrict]:
        return [self.a, self.b]


def _small_district(code: str, name: str, west: float, south: float, root: OrgUnit) -> SmallDistrict:
    size = 0.04
    district = DistrictFactory(code=code, name=name, geom=square(west, south, size))
    centre = OrgUnitFactory(
        name=f"{name}指挥中心", code=f"{code}-C", unit_type=UnitType.DISTRICT_CENTRE, parent=root, district=district
    )
    streets, communities, cells, components, workstations = [], [], [], [], []
    for i in range(2):
        # The west and the east half of the district; each grid cell sits in its street's south-west corner.
        street_west = west + i * size / 2
        street = StreetFactory(
            district=district,
            code=f"{code}{i + 1:03d}",
            name=f"{name}第{i + 1}街道",
            geom=box(street_west, south, street_west + size / 2, south + size),
        )
        community = CommunityFactory(
            street=street, code=f"{street.code}001", name=f"{street.name}社区", geom=street.geom
        )
        cell = GridCellFactory(community=community, code=f"{community.code}01", geom=square(street_west, south, 0.001))
        streets.append(street)
        communities.append(community)
        cells.append(cell)
        components.append(ComponentFactory(grid_cell=cell))
        workstations.append(
            OrgUnitFactory(
                name=f"{street.name}工作站",
                code=f"{street.code}-W",
                unit_type=UnitType.STREET_WORKSTATION,
                parent=centre,
                street=street,
            )
        )
    return SmallDistrict(district, streets, communities, cells, components, centre, workstations)


def small_city() -> SmallCity:
    """市南区 (a) and 市北区 (b) as toy squares under one city centre, a department and its field unit."""
    root = OrgUnitFactory(name="市指挥中心", code="QD-CC", unit_type=UnitType.CITY_CENTRE)
    department = OrgUnitFactory(name="市水务局", code="QD-WATER", unit_type=UnitType.DEPARTMENT, parent=root)
    field_unit = OrgUnitFactory(
        name="水务抢修一队", code="QD-WATER-1", unit_type=UnitType.FIELD_UNIT, parent=department
    )
    a = _small_district("370202", "市南区", 120.30, 36.00, root)
    b = _small_district("370203", "市北区", 120.34, 36.00, root)
    owned = [
        ComponentFactory(grid_cell=a.cells[0], owner_unit=department),
        ComponentFactory(grid_cell=b.cells[0], owner_unit=field_unit),
    ]
    return SmallCity(root, department, field_unit, a, b, owned)
