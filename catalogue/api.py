"""/api/v1/catalogue/classes/: the case classes (部件, 事件, 服务事项) with criteria and time limits, read-only."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework import viewsets

from catalogue.models import ClassKind, MinorClass
from catalogue.selectors import minor_class_list
from catalogue.serializers import MinorClassSerializer


class MinorClassFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(field_name="major__kind", choices=ClassKind.choices)
    major = django_filters.CharFilter(field_name="major__code", help_text=_("2-digit major class code."))
    include_inactive = django_filters.BooleanFilter(
        method="filter_inactive", help_text=_("Also classes no longer in use (for existing records).")
    )

    class Meta:
        model = MinorClass
        fields = ["kind", "major", "include_inactive"]

    def filter_inactive(self, queryset: QuerySet[MinorClass], name: str, value: bool) -> QuerySet[MinorClass]:
        return queryset if value else queryset.filter(is_active=True)


class MinorClassViewSet(viewsets.ReadOnlyModelViewSet):
    """The catalogue, in code order: any signed-in account may read it (reporters pick a class from it).
    Active classes only unless `include_inactive=true`."""

    queryset = MinorClass.objects.none()
    serializer_class = MinorClassSerializer
    filterset_class = MinorClassFilter

    def get_queryset(self) -> QuerySet[MinorClass]:
        classes = minor_class_list(include_inactive=True).prefetch_related("time_limits")
        if self.action == "list" and self.request.query_params.get("include_inactive") is None:
            classes = classes.filter(is_active=True)
        return classes
