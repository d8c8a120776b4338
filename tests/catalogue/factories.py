"""Factories for catalogue tests (classes, time limits), and the smallest district and component using a class."""

from __future__ import annotations

import factory
from django.contrib.gis.geos import Point

from catalogue.models import ClassKind, MajorClass, MinorClass, Stage, TimeLimit, Urgency
from geography.models import Component
from tests.geography.factories import DistrictFactory
from workcalendar.units import TimeUnit


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


class TimeLimitFactory(factory.django.DjangoModelFactory):
    """One limit of a class; emergencies default to calendar hours, as the database requires."""

    class Meta:
        model = TimeLimit
        django_get_or_create = ("minor_class", "urgency", "stage")

    minor_class = factory.SubFactory(MinorClassFactory)
    urgency = Urgency.NORMAL
    stage = Stage.HANDLE
    amount = 2
    unit = factory.LazyAttribute(
        lambda o: TimeUnit.CALENDAR_HOURS if o.urgency == Urgency.EMERGENCY else TimeUnit.WORKING_HOURS
    )
