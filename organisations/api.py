"""/api/v1/ for the organisation: the signed-in user, the units and the people a user may see."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from geography.filters import IdFilter
from organisations import selectors
from organisations.models import Membership, OrgUnit, Role, UnitType, User
from organisations.serializers import MeSerializer, PersonSerializer, UnitSerializer


class MeView(APIView):
    """Who is signed in: any authenticated account, a device included, may ask."""

    @extend_schema(responses=MeSerializer, operation_id="me_retrieve")
    def get(self, request: Request) -> Response:
        user = (
            User.objects.prefetch_related(
                Prefetch("memberships", queryset=Membership.objects.select_related("unit").order_by("id"))
            )
            .only("id", "username", "full_name", "phone", "email", "is_superuser")
            .get(pk=request.user.pk)
        )
        user.sees_whole_city = selectors.scope_for(request.user).city_wide
        return Response(MeSerializer(user).data)


class UnitFilter(django_filters.FilterSet):
    unit_type = django_filters.ChoiceFilter(choices=UnitType.choices)
    district = IdFilter(field_name="district_id")
    code = django_filters.CharFilter()

    class Meta:
        model = OrgUnit
        fields = ["unit_type", "district", "code"]


class UnitViewSet(viewsets.ReadOnlyModelViewSet):
    """Units in the subtrees of the units the user works in, in tree order."""

    queryset = OrgUnit.objects.none()
    serializer_class = UnitSerializer
    filterset_class = UnitFilter

    def get_queryset(self) -> QuerySet[OrgUnit]:
        return selectors.with_parent_id(selectors.visible_units(self.request.user)).order_by("path")


class PersonFilter(django_filters.FilterSet):
    """Filters on roles match only roles held in visible units, so they reveal nothing beyond scope."""

    role = django_filters.ChoiceFilter(choices=Role.choices, method="filter_role")
    unit = IdFilter(method="filter_unit")

    class Meta:
        model = User
        fields = ["role", "unit"]

    def _holding(self, queryset: QuerySet[User], **membership: object) -> QuerySet[User]:
        visible = selectors.memberships_visible_to(self.request.user)
        return queryset.filter(Exists(visible.filter(user=OuterRef("pk"), **membership)))

    def filter_role(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        return self._holding(queryset, role=value)

    def filter_unit(self, queryset: QuerySet[User], name: str, value: int) -> QuerySet[User]:
        return self._holding(queryset, unit_id=value)


class PersonViewSet(viewsets.ReadOnlyModelViewSet):
    """People holding a role in a unit the user may see."""

    queryset = User.objects.none()
    serializer_class = PersonSerializer
    filterset_class = PersonFilter

    def get_queryset(self) -> QuerySet[User]:
        user = self.request.user
        roles = selectors.memberships_visible_to(user).select_related("unit").order_by("id")
        return selectors.people_visible_to(user).prefetch_related(
            Prefetch("memberships", queryset=roles, to_attr="visible_memberships")
        )
