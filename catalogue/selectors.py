"""Reads on the catalogue. The classification is public reference data: every user may see all of it."""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.functions import Concat

from catalogue.models import MajorClass, MinorClass


def major_class_list(*, kind: str | None = None) -> QuerySet[MajorClass]:
    queryset = MajorClass.objects.all()
    if kind is not None:
        queryset = queryset.filter(kind=kind)
    return queryset.order_by("kind", "code")


def minor_class_list(*, kind: str | None = None, include_inactive: bool = False) -> QuerySet[MinorClass]:
    """Minor classes with their major class joined, annotated with `code_full` (e.g. 0101), in code order.

    Pickers for new cases and components use the default (active only); lists of existing records,
    which may point at a deactivated class, pass include_inactive=True.
    """
    queryset = MinorClass.objects.select_related("major").annotate(code_full=Concat("major__code", "code"))
    if kind is not None:
        queryset = queryset.filter(major__kind=kind)
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    return queryset.order_by("major__kind", "major__code", "code")


def minor_class_get_by_full_code(*, kind: str, full_code: str) -> MinorClass:
    """The minor class of `kind` whose major + minor code is `full_code` (e.g. "0101"), active or not.

    Raises MinorClass.DoesNotExist for a code that is not 4 digits or not in the catalogue; importers use
    this to resolve the class from digits 7-10 of a 16-digit component code.
    """
    if len(full_code) != 4 or not full_code.isdigit():
        raise MinorClass.DoesNotExist(f"{full_code!r} is not a 4-digit class code")
    return MinorClass.objects.select_related("major").get(
        major__kind=kind, major__code=full_code[:2], code=full_code[2:]
    )
