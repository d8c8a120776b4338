"""Admin for the standard catalogue: browse and search the classes, switch minor classes on and off, and edit
each minor class's case rules (criteria, department kind, self-handling, duplicate radius, time limits).

Codes and names come from the data files (catalogue/data/, loaded by `manage.py load_catalogue`, which
`make run` repeats), so they are read-only here: an edit would be undone by the next load, and a changed
code would break the 16-digit codes of the components already surveyed in that class. The rules are only
seeded by the loader and then belong to the administrators: a later load leaves edits made here alone.
Cases copy their limits at intake, so an edit applies to new cases only.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Case, Count, IntegerField, QuerySet, Value, When
from django.db.models.functions import Concat
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from catalogue.models import MajorClass, MinorClass, Stage, TimeLimit, Urgency
from organisations.admin import CityAdministratorPermissions

_FROM_DATA_FILE = ("code", "name", "name_en")


class MinorClassInline(admin.TabularInline):
    model = MinorClass
    fields = ("full_code_display", "name", "name_en", "is_active")
    readonly_fields = ("full_code_display", "name", "name_en")
    ordering = ("code",)
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description=_("code"))
    def full_code_display(self, obj: MinorClass) -> str:
        return obj.full_code

    def has_add_permission(self, request: HttpRequest, obj: MajorClass | None = None) -> bool:
        return False


def _in_choice_order(field: str, values: list[str]) -> Case:
    return Case(*(When(**{field: v}, then=Value(i)) for i, v in enumerate(values)), output_field=IntegerField())


class TimeLimitInline(CityAdministratorPermissions, admin.TabularInline):
    """One row per (urgency, stage): the loader creates all fifteen, administrators change amount and unit."""

    model = TimeLimit
    fields = ("urgency", "stage", "amount", "unit")
    readonly_fields = ("urgency", "stage")
    extra = 0
    can_delete = False
    verbose_name_plural = _("time limits (apply to new cases)")

    def get_queryset(self, request: HttpRequest) -> QuerySet[TimeLimit]:
        # Urgency, then the stages in workflow order, rather than alphabetically.
        return (
            super()
            .get_queryset(request)
            .order_by(_in_choice_order("urgency", Urgency.values), _in_choice_order("stage", Stage.values))
        )

    # The set of pairs is fixed (every urgency x every stage, which the cases rely on).
    def has_add_permission(self, request: HttpRequest, obj: MinorClass | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MinorClass | None = None) -> bool:
        return False


@admin.register(MajorClass)
class MajorClassAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("code", "name", "name_en", "kind", "minor_count")
    list_display_links = ("code", "name")
    list_filter = ("kind",)
    search_fields = ("=code", "name", "name_en")
    ordering = ("kind", "code")
    readonly_fields = ("kind", *_FROM_DATA_FILE)
    inlines = (MinorClassInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[MajorClass]:
        return super().get_queryset(request).annotate(minor_total=Count("minors"))

    @admin.display(description=_("minor classes"), ordering="minor_total")
    def minor_count(self, obj: MajorClass) -> int:
        return obj.minor_total

    # Classes come only from the data files; see the module docstring.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MajorClass | None = None) -> bool:
        return False


@admin.register(MinorClass)
class MinorClassAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = (
        "full_code_display",
        "name",
        "name_en",
        "major_link",
        "kind",
        "default_responsible_kind",
        "self_handle_allowed",
        "duplicate_radius_m",
        "is_active",
    )
    list_display_links = ("full_code_display", "name")
    list_editable = ("is_active",)
    list_max_show_all = 300  # "show all" lists the whole catalogue (249 classes)
    list_filter = ("major__kind", "major", "is_active", "default_responsible_kind", "self_handle_allowed")
    list_select_related = ("major",)
    # "^code_full": typing 0101 finds 上水井盖 and typing 01 lists the whole major class.
    search_fields = ("^code_full", "name", "name_en", "major__name")
    ordering = ("major__kind", "major__code", "code")
    fieldsets = (
        (None, {"fields": ("major", "full_code_display", *_FROM_DATA_FILE, "is_active")}),
        (
            _("Case rules (apply to new cases)"),
            {
                "fields": (
                    "registration_criteria",
                    "closure_criteria",
                    "default_responsible_kind",
                    "self_handle_allowed",
                    "duplicate_radius_m",
                    "rules_seeded_at",
                )
            },
        ),
    )
    readonly_fields = ("major", "full_code_display", *_FROM_DATA_FILE, "rules_seeded_at")
    inlines = (TimeLimitInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[MinorClass]:
        return super().get_queryset(request).annotate(code_full=Concat("major__code", "code"))

    @admin.display(description=_("code"), ordering="code_full")
    def full_code_display(self, obj: MinorClass) -> str:
        return obj.full_code

    @admin.display(description=_("major class"), ordering="major__code")
    def major_link(self, obj: MinorClass) -> str:
        url = reverse("admin:catalogue_majorclass_change", args=[obj.major_id])
        return format_html('<a href="{}">{} {}</a>', url, obj.major.code, obj.major.name)

    @admin.display(description=_("kind"), ordering="major__kind")
    def kind(self, obj: MinorClass) -> str:
        return obj.major.get_kind_display()

    # Classes come only from the data files; see the module docstring.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MinorClass | None = None) -> bool:
        return False
