"""Admin for the city's geography: districts to grid cells on map widgets, and the surveyed components."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from leaflet.admin import LeafletGeoAdmin

from catalogue.models import ClassKind, MajorClass
from geography.models import Community, Component, ComponentPhoto, District, GridCell, Street
from geography.selectors import locate
from organisations.admin import CityAdministratorPermissions

# Metric CRS for areas around Qingdao: CGCS2000 / 3-degree Gauss-Kruger CM 120E.
_AREA_SRID = 4547
# Below this many rows a real COUNT(*) is cheap enough.
_ESTIMATE_ABOVE_ROWS = 100_000


class EstimatedCountPaginator(Paginator):
    """Paginates a huge table without counting it: an unfiltered list uses PostgreSQL's row estimate.

    COUNT(*) over 3 million components takes longer than the rest of the page together; a filtered
    list (a search, a district) still gets an exact count.
    """

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            # reltuples is -1 before the table's first ANALYZE.
            if row and row[0] > _ESTIMATE_ABOVE_ROWS:
                return int(row[0])
        return super().count


class WithoutGeometryInListsMixin:
    """Boundaries are large: lists and pickers never load them; the change form reads one back."""

    geometry_field = "geom"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).defer(self.geometry_field)


def _check_code_prefix(code: str | None, parent: Any, field: str) -> None:
    if code and parent is not None and not code.startswith(parent.code):
        raise ValidationError(
            {
                "code": _("The code must start with the code of its %(parent)s (%(code)s).")
                % {"parent": field, "code": parent.code}
            }
        )


@admin.register(District)
class DistrictAdmin(CityAdministratorPermissions, WithoutGeometryInListsMixin, LeafletGeoAdmin):
    list_display = ("code", "name")
    search_fields = ("^code", "name")
    fields = ("code", "name", "geom", "center")


class StreetForm(forms.ModelForm):
    class Meta:
        model = Street
        fields = ("code", "name", "district", "geom")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        _check_code_prefix(cleaned.get("code"), cleaned.get("district"), str(_("district")))
        return cleaned


@admin.register(Street)
class StreetAdmin(CityAdministratorPermissions, WithoutGeometryInListsMixin, LeafletGeoAdmin):
    form = StreetForm
    list_display = ("code", "name", "district")
    list_filter = ("district",)
    list_select_related = ("district",)
    search_fields = ("^code", "name")


class CommunityForm(forms.ModelForm):
    """The district follows from the street; it is shown, not chosen."""

    class Meta:
        model = Community
        fields = ("code", "name", "street", "geom")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        street = cleaned.get("street")
        _check_code_prefix(cleaned.get("code"), street, str(_("street")))
        if street is not None:
            self.instance.district_id = street.district_id
        return cleaned


@admin.register(Community)
class CommunityAdmin(CityAdministratorPermissions, WithoutGeometryInListsMixin, LeafletGeoAdmin):
    form = CommunityForm
    list_display = ("code", "name", "street", "district")
    list_filter = ("district", "street")
    list_select_related = ("street", "district")
    search_fields = ("^code", "name")
    autocomplete_fields = ("street",)
    readonly_fields = ("district",)
    fields = ("code", "name", "street", "district", "geom")


class GridCellForm(forms.ModelForm):
    """Street and district follow from the community, the area from the boundary."""

    class Meta:
        model = GridCell
        fields = ("code", "community", "geom")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        community = cleaned.get("community")
        _check_code_prefix(cleaned.get("code"), community, str(_("community")))
        if community is not None:
            self.instance.street_id = community.street_id
            self.instance.district_id = community.district_id
        geom = cleaned.get("geom")
        if geom is not None:
            self.instance.area_m2 = round(geom.transform(_AREA_SRID, clone=True).area, 1)
        return cleaned


@admin.register(GridCell)
class GridCellAdmin(CityAdministratorPermissions, WithoutGeometryInListsMixin, LeafletGeoAdmin):
    form = GridCellForm
    list_display = ("code", "community", "street", "district", "area_m2")
    list_filter = ("district", "street")
    list_select_related = ("community", "street", "district")
    search_fields = ("^code",)
    autocomplete_fields = ("community",)
    readonly_fields = ("street", "district", "area_m2")
    fields = ("code", "community", "street", "district", "area_m2", "geom")
    paginator = EstimatedCountPaginator
    show_full_result_count = False


class ComponentMajorClassFilter(admin.SimpleListFilter):
    title = _("major class")
    parameter_name = "major"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        majors = MajorClass.objects.filter(kind=ClassKind.COMPONENT).order_by("code")
        return [(str(major.pk), f"{major.code} {major.name}") for major in majors]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Component]) -> QuerySet[Component]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(minor_class__major_id=int(value))
        return queryset


class ComponentForm(forms.ModelForm):
    """District, street, community and grid cell follow from where the component stands."""

    class Meta:
        model = Component
        fields = ("code", "minor_class", "name", "location", "address", "owner_unit", "status", "surveyed_on")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        location = cleaned.get("location")
        if location is not None:
            where = locate(location)
            if not where.in_city:
                self.add_error("location", _("This point is outside every district of the city."))
                return cleaned
            self.instance.district_id = where.district_id
            self.instance.street_id = where.street_id
            self.instance.community_id = where.community_id
            self.instance.grid_cell_id = where.grid_cell_id
            district_code = District.objects.filter(pk=where.district_id).values_list("code", flat=True).get()
            code = cleaned.get("code")
            if code and not code.startswith(district_code):
                self.add_error(
                    "code", _("The code must start with the code of the district it stands in (%s).") % district_code
                )
        code, minor = cleaned.get("code"), cleaned.get("minor_class")
        if code and minor is not None and code[6:10] != minor.full_code:
            self.add_error("code", _("Digits 7 to 10 of the code must be the class code %s.") % minor.full_code)
        return cleaned


class ComponentPhotoInline(CityAdministratorPermissions, admin.TabularInline):
    model = ComponentPhoto
    fields = ("preview", "image", "taken_at", "uploaded_at")
    readonly_fields = ("preview", "uploaded_at")
    extra = 0

    @admin.display(description=_("preview"))
    def preview(self, photo: ComponentPhoto) -> str:
        if not photo.image:
            return "-"
        return format_html('<img src="{}" alt="" style="height:64px;border-radius:2px">', photo.image.url)


@admin.register(Component)
class ComponentAdmin(CityAdministratorPermissions, LeafletGeoAdmin):
    form = ComponentForm
    list_display = ("code", "minor_class", "name", "district", "status", "updated_at")
    list_filter = ("status", ComponentMajorClassFilter, "district")
    list_select_related = ("minor_class__major", "district")
    # The search box takes a code or its beginning; see get_search_results.
    search_fields = ("code",)
    search_help_text = _("A full 16-digit code, or its beginning (e.g. a district code); other text searches names.")
    raw_id_fields = ("minor_class", "owner_unit")
    readonly_fields = ("district", "street", "community", "grid_cell", "updated_at")
    fieldsets = (
        (None, {"fields": ("code", "minor_class", "name", "status", "owner_unit", "surveyed_on")}),
        (_("Where"), {"fields": ("location", "address", "district", "street", "community", "grid_cell")}),
        (None, {"fields": ("updated_at",)}),
    )
    inlines = (ComponentPhotoInline,)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Component], search_term: str
    ) -> tuple[QuerySet[Component], bool]:
        # Digits are a code or its prefix: `LIKE 'prefix%'` uses the code's pattern index, where the
        # admin's default `UPPER(code) LIKE UPPER('%term%')` would scan every row.
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(code__startswith=term), False
        return queryset.filter(Q(name__icontains=term) | Q(address__icontains=term)), False
