"""Factories for catalogue tests, plus the smallest district and component that can hold a class in use."""

from __future__ import annotations

import factory
from django.contrib.gis.geos import MultiPolygon, Point, Polygon

from catalogue.models import ClassKind, MajorClass, MinorClass
from geography.models import Component, District


class MajorClassFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MajorClass
        django_get_or_create = ("kind", "code")

    kind = ClassKind.COMPONENT
    code = factory.Sequence(lambda n: f"{90 + n % 10:02d}")
    name = factory.Sequence(lambda n: f"测试大类{n}")


class MinorClassFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MinorClass

    major = factory.SubFactory(MajorClassFactory)
    code = factory.Sequence(lambda n: f"{1 + n % 99:02d}")
    name = factory.Sequence(lambda n: f"测试小类{n}")


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = District
        django_get_or_create = ("code",)

    code = "370202"
    name = "市南区"
    geom = factory.LazyFunction(lambda: MultiPolygon(Polygon.from_bbox((120.30, 36.04, 120.42, 36.10)), srid=4326))


class ComponentFactory(factory.django.DjangoModelFactory):
    """A surveyed component; its 16-digit code carries the district, the class's full code and a serial."""

    class Meta:
        model = Component

    minor_class = factory.SubFactory(MinorClassFactory)
    district = factory.SubFactory(DistrictFactory)
    code = factory.LazyAttribute(lambda o: f"{o.district.code}{o.minor_class.full_code}{o.serial:06d}")
    location = factory.LazyFunction(lambda: Point(120.38, 36.07, srid=4326))

    class Params:
        serial = factory.Sequence(lambda n: n + 1)
