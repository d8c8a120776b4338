"""Admin for the standard catalogue: browse and search the classes, switch minor classes on and off.

Codes and names come from the data files (catalogue/data/, loaded by `manage.py load_catalogue`, which
`make run` repeats), so they are read-only here: an edit would be undone by the next load, and a changed
code would break the 16-digit codes of the components already surveyed in that class.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.db.models.functions import Concat
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from catalogue.models import MajorClass, MinorClass
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
    list_display = ("full_code_display", "name", "name_en", "major_link", "kind", "is_active")
    list_display_links = ("full_code_display", "name")
    list_editable = ("is_active",)
    list_filter = ("major__kind", "major", "is_active")
    list_select_related = ("major",)
    # "^code_full": typing 0101 finds 上水井盖 and typing 01 lists the whole major class.
    search_fields = ("^code_full", "name", "name_en", "major__name")
    ordering = ("major__kind", "major__code", "code")
    fields = ("major", "full_code_display", *_FROM_DATA_FILE, "is_active")
    readonly_fields = ("major", "full_code_display", *_FROM_DATA_FILE)

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
