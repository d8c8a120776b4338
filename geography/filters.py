"""Query filters of the geography API. Foreign keys filter by id without a lookup of the target,
so an id outside the user's scope simply matches nothing (and says nothing about whether it exists)."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from geography.models import Community, Component, ComponentStatus, GridCell, Street


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """An integer id (a foreign key compared by id, with no query for the target)."""

    field_class = forms.IntegerField


_MINOR_CLASS_CODE = RegexValidator(r"^[0-9]{4}$", _("A minor class code is 4 digits: major + minor, e.g. 0101."))


class StreetFilter(django_filters.FilterSet):
    district = IdFilter(field_name="district_id")
    code = django_filters.CharFilter()

    class Meta:
        model = Street
        fields = ["district", "code"]


class CommunityFilter(django_filters.FilterSet):
    district = IdFilter(field_name="district_id")
    street = IdFilter(field_name="street_id")
    code = django_filters.CharFilter()

    class Meta:
        model = Community
        fields = ["district", "street", "code"]


class GridCellFilter(django_filters.FilterSet):
    district = IdFilter(field_name="district_id")
    street = IdFilter(field_name="street_id")
    community = IdFilter(field_name="community_id")
    code = django_filters.CharFilter()
    code_prefix = django_filters.CharFilter(field_name="code", lookup_expr="startswith")

    class Meta:
        model = GridCell
        fields = ["district", "street", "community", "code", "code_prefix"]


class ComponentFilter(django_filters.FilterSet):
    code = django_filters.CharFilter(help_text=_("Exact 16-digit component code."))
    code_prefix = django_filters.CharFilter(
        field_name="code", lookup_expr="startswith", help_text=_("Leading digits of the component code.")
    )
    minor_class = django_filters.CharFilter(
        method="filter_minor_class",
        validators=[_MINOR_CLASS_CODE],
        help_text=_("4-digit minor class code (major + minor), e.g. 0101."),
    )
    status = django_filters.ChoiceFilter(choices=ComponentStatus.choices)
    district = IdFilter(field_name="district_id")
    street = IdFilter(field_name="street_id")
    community = IdFilter(field_name="community_id")
    grid_cell = IdFilter(field_name="grid_cell_id")
    owner_unit = IdFilter(field_name="owner_unit_id")

    class Meta:
        model = Component
        fields = [
            "code",
            "code_prefix",
            "minor_class",
            "status",
            "district",
            "street",
            "community",
            "grid_cell",
            "owner_unit",
        ]

    def filter_minor_class(self, queryset: QuerySet[Component], name: str, value: str) -> QuerySet[Component]:
        return queryset.filter(minor_class__major__code=value[:2], minor_class__code=value[2:])
