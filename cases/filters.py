"""Query filters of the case list. Places and units filter by id without a lookup of the target, so an id
outside the caller's scope simply matches nothing."""

from __future__ import annotations

import django_filters
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from cases.lists import CASE_LISTS, case_list_for
from cases.models import Case, Source, Status, Supervision, SupervisionKind
from catalogue.models import ClassKind, Urgency
from geography.filters import IdFilter

CASE_LIST_CHOICES = [("overdue", _("Overdue")), ("key", _("Key case")), ("difficult", _("Difficult case"))]
assert {name for name, _label in CASE_LIST_CHOICES} == set(CASE_LISTS)

_MINOR_CLASS_CODE = RegexValidator(r"^[0-9]{4}$", _("A minor class code is 4 digits: major + minor, e.g. 0101."))


class _OrderingWithTieBreak(django_filters.OrderingFilter):
    """Ordering, then the id in the same direction: pages of equal deadlines never repeat or skip a case, and
    the queue's order matches the index (status, stage_due_at, id)."""

    def filter(self, qs: QuerySet[Case], value: list[str] | None) -> QuerySet[Case]:
        qs = super().filter(qs, value)
        if value and not any(v.lstrip("-") == "id" for v in value):
            qs = qs.order_by(*qs.query.order_by, "-id" if value[-1].startswith("-") else "id")
        return qs


class CaseFilter(django_filters.FilterSet):
    # distinct=False: these are columns of the case itself, so no join can repeat a row, and django-filter's
    # default SELECT DISTINCT over every column made the queue's count and page 5-10x slower.
    status = django_filters.MultipleChoiceFilter(
        choices=Status.choices, distinct=False, help_text=_("Repeat for several.")
    )
    source = django_filters.MultipleChoiceFilter(
        choices=Source.choices, distinct=False, help_text=_("Repeat for several.")
    )
    kind = django_filters.ChoiceFilter(choices=ClassKind.choices)
    minor_class = django_filters.CharFilter(
        method="filter_minor_class",
        validators=[_MINOR_CLASS_CODE],
        help_text=_("4-digit minor class code (major + minor), e.g. 0101; combine with kind."),
    )
    major_class = django_filters.CharFilter(field_name="minor_class__major__code", help_text=_("2-digit major code."))
    urgency = django_filters.ChoiceFilter(choices=Urgency.choices)
    district = IdFilter(field_name="district_id")
    street = IdFilter(field_name="street_id")
    community = IdFilter(field_name="community_id")
    grid_cell = IdFilter(field_name="grid_cell_id")
    unit = IdFilter(method="filter_unit", help_text=_("Lead or supporting unit id."))
    reported_after = django_filters.IsoDateTimeFilter(field_name="reported_at", lookup_expr="gte")
    reported_before = django_filters.IsoDateTimeFilter(field_name="reported_at", lookup_expr="lt")
    is_overdue = django_filters.BooleanFilter()
    is_key = django_filters.BooleanFilter()
    is_difficult = django_filters.BooleanFilter()
    list = django_filters.ChoiceFilter(
        choices=CASE_LIST_CHOICES,
        method="filter_list",
        help_text=_(
            "One of the three lists, as the supervision centre defines them: overdue (超期, open and past the "
            "stage deadline), key (重点, open and flagged by a leader, or every open case in major-event mode), "
            "difficult (疑难, open and returned or reworked twice, or open too long). The is_* flags filter on "
            "the stored flag alone."
        ),
    )
    number = django_filters.CharFilter()
    ordering = _OrderingWithTieBreak(
        fields=(("reported_at", "reported_at"), ("stage_due_at", "deadline"), ("id", "id")),
        help_text=_("reported_at or deadline, - for descending; the default is -reported_at."),
    )

    class Meta:
        model = Case
        fields: list[str] = []

    def filter_minor_class(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        return queryset.filter(minor_class__major__code=value[:2], minor_class__code=value[2:])

    def filter_unit(self, queryset: QuerySet[Case], name: str, value: int) -> QuerySet[Case]:
        supported = Case.supporting_units.through.objects.filter(unit_id=value).values("case_id")
        return queryset.filter(lead_unit_id=value) | queryset.filter(pk__in=supported)

    def filter_list(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        # The list's own definition (cases.lists), already scoped to the caller; combined in one WHERE.
        return queryset & case_list_for(self.request.user, value)


class SupervisionFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=SupervisionKind.choices)
    unreplied = django_filters.BooleanFilter(
        field_name="replied_at", lookup_expr="isnull", help_text=_("true: only those still waiting for a reply.")
    )
    case = IdFilter(field_name="case_id")
    district = IdFilter(field_name="case__district_id", help_text=_("The case's district id."))

    class Meta:
        model = Supervision
        fields: list[str] = []
