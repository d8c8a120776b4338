"""Admin for administrators: cases to look at (every change goes through the workflow services, never here),
their events, photos and supervisions read-only, and the routing table to edit.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from cases.alerts import CaseDeadlineWarning, Mode, OperatingMode, OperatingModeDefinition
from cases.models import Case, CaseEvent, CasePhoto, RoutingRule, Supervision
from cases.modes import may_switch_mode, mode_cache_clear, operating_mode_switch
from organisations.admin import CityAdministratorPermissions


class ReadOnlyMixin:
    """View only: a case changes through its workflow, and its log is append-only."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CaseEventInline(ReadOnlyMixin, CityAdministratorPermissions, admin.TabularInline):
    model = CaseEvent
    fields = ("seq", "created_at", "action", "from_status", "to_status", "actor", "actor_role", "unit", "reason")
    readonly_fields = fields
    ordering = ("seq",)
    extra = 0


class CasePhotoInline(ReadOnlyMixin, CityAdministratorPermissions, admin.TabularInline):
    model = CasePhoto
    fk_name = "case"
    fields = ("phase", "file", "taken_at", "sha256", "copied_from")
    readonly_fields = fields
    extra = 0


@admin.register(Case)
class CaseAdmin(ReadOnlyMixin, CityAdministratorPermissions, admin.ModelAdmin):
    list_display = (
        "number",
        "status",
        "source",
        "minor_class",
        "urgency",
        "district",
        "lead_unit",
        "is_overdue",
        "is_key",
        "is_difficult",
        "reported_at",
    )
    list_filter = ("status", "source", "urgency", "district", "is_overdue", "is_key", "is_difficult", "self_handled")
    list_select_related = ("minor_class__major", "district", "lead_unit")
    search_fields = ("^number",)
    date_hierarchy = "reported_at"
    show_full_result_count = False  # a count over millions of rows on every page is not worth it
    inlines = (CaseEventInline, CasePhotoInline)


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyMixin, CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("case", "seq", "action", "from_status", "to_status", "actor", "actor_role", "created_at")
    list_filter = ("action", "actor_role")
    list_select_related = ("case", "actor")
    search_fields = ("^case__number",)
    show_full_result_count = False


@admin.register(RoutingRule)
class RoutingRuleAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("__str__", "minor_class", "major_class", "district", "street", "lead_unit", "priority", "is_active")
    list_filter = ("is_active", "district", "major_class__kind")
    list_select_related = ("minor_class__major", "major_class", "district", "street", "lead_unit")
    search_fields = ("minor_class__name", "major_class__name", "lead_unit__name", "note")
    autocomplete_fields = ("minor_class", "major_class", "district", "street", "lead_unit", "supporting_units")
    fieldsets = (
        (_("What"), {"fields": ("minor_class", "major_class")}),
        (_("Where"), {"fields": ("district", "street")}),
        (_("Who"), {"fields": ("lead_unit", "supporting_units")}),
        (None, {"fields": ("priority", "is_active", "note")}),
    )


@admin.register(Supervision)
class SupervisionAdmin(ReadOnlyMixin, CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("case", "kind", "by", "to_unit", "created_at", "replied_at")
    list_filter = ("kind",)
    list_select_related = ("case", "by", "to_unit")
    search_fields = ("^case__number",)


@admin.register(CaseDeadlineWarning)
class CaseDeadlineWarningAdmin(ReadOnlyMixin, CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("case", "stage", "kind", "due_at", "created_at")
    list_filter = ("kind", "stage")
    search_fields = ("case__number",)
    list_select_related = ("case",)
    raw_id_fields = ("case",)
    show_full_result_count = False


class OperatingModeSwitchForm(forms.ModelForm):
    """A switch needs its reason, and a mode other than the one in force (the service checks both again)."""

    class Meta:
        model = OperatingMode
        fields = ("mode", "note")
        labels = {"note": _("Reason")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["note"].required = True

    def clean_mode(self) -> str:
        mode = self.cleaned_data["mode"]
        in_force = OperatingMode.objects.order_by("-set_at", "-id").values_list("mode", flat=True).first()
        if (in_force or Mode.NORMAL) == mode:
            raise forms.ValidationError(_("This mode is already in force."), code="mode_in_force")
        return mode


@admin.register(OperatingMode)
class OperatingModeAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    """The mode history; adding a row switches the platform's mode through the leader's switch (a leader of the
    city command centre or a superuser, with a reason; every screen is told)."""

    list_display = ("mode", "note", "set_by", "set_at")
    list_select_related = ("set_by",)
    form = OperatingModeSwitchForm

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return may_switch_mode(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history: switch by adding a new mode, never by editing an old one

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: OperatingMode, form: Any, change: bool) -> None:
        created = operating_mode_switch(mode=obj.mode, actor=request.user, reason=obj.note)
        obj.pk, obj.set_by, obj.set_at = created.pk, created.set_by, created.set_at


@admin.register(OperatingModeDefinition)
class OperatingModeDefinitionAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    """What each mode does; an edit applies to stages and cases that start after it (never to deadlines set)."""

    list_display = ("mode", "time_limit_percent", "marks_new_cases_key", "banner_colour", "updated_at")
    fields = ("mode", "time_limit_percent", "marks_new_cases_key", "banner_colour", "description_zh", "description_en")
    readonly_fields = ("mode",)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # one row per mode, seeded

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: OperatingModeDefinition, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        mode_cache_clear()  # this process at once, the others within cases.modes.CACHE_SECONDS
        transaction.on_commit(mode_cache_clear)
