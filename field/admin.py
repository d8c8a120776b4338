"""Admin for administrators: shifts, positions and verification offers, read-only (the phones and the services
write them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from field.models import InspectorPosition, InspectorShift, VerificationAssignment
from geography.admin import EstimatedCountPaginator
from organisations.admin import CityAdministratorPermissions


class ReadOnlyMixin:
    """View only: shifts and positions come from the phones, offers from intake, all through field.services."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(InspectorShift)
class InspectorShiftAdmin(ReadOnlyMixin, CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("user", "unit", "started_at", "ended_at", "auto_closed", "shares_position", "position_at")
    list_filter = ("auto_closed", "shares_position", ("ended_at", admin.EmptyFieldListFilter))
    list_select_related = ("user", "unit")
    search_fields = ("user__username", "user__full_name", "unit__name")
    date_hierarchy = "started_at"
    fields = (
        "user",
        "unit",
        "started_at",
        "ended_at",
        "auto_closed",
        "shares_position",
        "position",
        "position_accuracy_m",
        "position_at",
    )
    readonly_fields = fields


@admin.register(InspectorPosition)
class InspectorPositionAdmin(ReadOnlyMixin, CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("user", "at", "received_at", "accuracy_m", "coordinates")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__full_name")
    paginator = EstimatedCountPaginator  # tens of millions of rows: unfiltered, the planner's estimate, no COUNT(*)
    ordering = ("-id",)  # the newest first, by the primary key (no index sorts the whole table by `at`)
    show_full_result_count = False
    fields = ("user", "location", "accuracy_m", "at", "received_at")
    readonly_fields = fields

    @admin.display(description=_("longitude, latitude"))
    def coordinates(self, obj: InspectorPosition) -> str:
        return f"{obj.location.x:.6f}, {obj.location.y:.6f}"


@admin.register(VerificationAssignment)
class VerificationAssignmentAdmin(ReadOnlyMixin, CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("case", "inspector", "assigned_at", "distance_m")
    list_select_related = ("case", "inspector")
    search_fields = ("case__number", "inspector__username", "inspector__full_name")
    raw_id_fields = ("case",)
    fields = ("case", "inspector", "assigned_at", "distance_m")
    readonly_fields = fields
