"""/api/v1/catalogue/classes/: the case classes (部件, 事件, 服务事项) with criteria and time limits, read-only;
`?q=` searches the Chinese or English name or the code; `frequent/` lists the classes most reported in the
caller's area (a reporter's class picker offers them first)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from cases import clock
from cases.selectors import minor_class_counts_for
from catalogue.models import ClassKind, MinorClass
from catalogue.selectors import minor_class_list
from catalogue.serializers import MinorClassSerializer

FREQUENT_DAYS = 90


class MinorClassFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(field_name="major__kind", choices=ClassKind.choices)
    major = django_filters.CharFilter(field_name="major__code", help_text=_("2-digit major class code."))
    q = django_filters.CharFilter(
        method="filter_q", help_text=_("Part of the class's Chinese or English name, or of its code (e.g. 井盖, 0101).")
    )
    include_inactive = django_filters.BooleanFilter(
        method="filter_inactive", help_text=_("Also classes no longer in use (for existing records).")
    )

    class Meta:
        model = MinorClass
        fields = ["kind", "major", "q", "include_inactive"]

    def filter_inactive(self, queryset: QuerySet[MinorClass], name: str, value: bool) -> QuerySet[MinorClass]:
        return queryset if value else queryset.filter(is_active=True)

    def filter_q(self, queryset: QuerySet[MinorClass], name: str, value: str) -> QuerySet[MinorClass]:
        words = value.strip()
        if not words:
            return queryset
        # code_full (major + minor code, e.g. 0101) is annotated by catalogue.selectors.minor_class_list.
        return queryset.filter(Q(name__icontains=words) | Q(name_en__icontains=words) | Q(code_full__icontains=words))


class FrequentQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=50, default=12, help_text=_("How many classes (1-50)."))


class FrequentClassSerializer(MinorClassSerializer):
    """A class of the catalogue and how many cases of it were reported in the caller's area lately."""

    count = serializers.IntegerField(read_only=True)

    class Meta(MinorClassSerializer.Meta):
        fields = [*MinorClassSerializer.Meta.fields, "count"]
        read_only_fields = fields


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

    @extend_schema(
        operation_id="catalogue_classes_frequent",
        parameters=[FrequentQuerySerializer],
        responses={200: FrequentClassSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def frequent(self, request: Request) -> Response:
        """The active classes most reported in the caller's area (the cases they may see) over the last 90 days,
        most first, then by code, each with its `count`: a reporter's class picker offers them first. Empty for
        an account that sees no cases (citizens, devices)."""
        query = FrequentQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        since = clock.now() - dt.timedelta(days=FREQUENT_DAYS)
        counts = minor_class_counts_for(request.user, since=since, limit=query.validated_data["limit"])
        by_id: dict[int, Any] = {c.pk: c for c in self.get_queryset().filter(pk__in=[pk for pk, _n in counts])}
        rows = []
        for pk, n in counts:
            found = by_id.get(pk)
            if found is not None:
                found.count = n
                rows.append(found)
        return Response(FrequentClassSerializer(rows, many=True).data)
