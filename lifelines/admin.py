"""Admin for lifelines: facilities on a map widget with their sensors, sensor types, sensors, and devices
(a new token is shown once on the page the action returns; it is never stored in clear, nor in a message)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from leaflet.admin import LeafletGeoAdmin

from geography.selectors import locate
from lifelines.alarms import alarm_acknowledge, alarm_resolve
from lifelines.models import (
    Alarm,
    AlarmEvent,
    AlarmState,
    Device,
    Facility,
    LifelineModeTightening,
    RuleChange,
    Sensor,
    SensorType,
    ThresholdRule,
)
from lifelines.rules import tightening_cache_clear
from lifelines.services import device_revoke, device_token_issue
from organisations.admin import CityAdministratorPermissions


@admin.register(SensorType)
class SensorTypeAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("code", "name", "domain", "metric", "unit", "valid_min", "valid_max", "expected_interval_s")
    list_filter = ("domain", "metric")
    search_fields = ("^code", "name")


class FacilityForm(forms.ModelForm):
    """District, street and community follow from where the facility stands."""

    class Meta:
        model = Facility
        fields = ("code", "name", "domain", "kind", "owner_unit", "location", "address", "attributes")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        location = cleaned.get("location")
        if location is not None and ("location" in self.changed_data or self.instance.district_id is None):
            where = locate(location)
            if not where.in_city:
                self.add_error("location", _("This point is outside every district of the city."))
                return cleaned
            self.instance.district_id = where.district_id
            self.instance.street_id = where.street_id
            self.instance.community_id = where.community_id
        return cleaned


class SensorInline(CityAdministratorPermissions, admin.TabularInline):
    model = Sensor
    fields = ("code", "name", "sensor_type", "device", "expected_interval_s", "is_active", "last_value", "last_at")
    readonly_fields = ("last_value", "last_at")
    raw_id_fields = ("device",)
    extra = 0


@admin.register(Facility)
class FacilityAdmin(CityAdministratorPermissions, LeafletGeoAdmin):
    form = FacilityForm
    list_display = ("code", "name", "domain", "kind", "owner_unit", "district", "street")
    list_filter = ("domain", "kind", "district")
    list_select_related = ("owner_unit", "district", "street")
    search_fields = ("^code", "name", "address")
    raw_id_fields = ("owner_unit",)
    readonly_fields = ("district", "street", "community", "created_at")
    fieldsets = (
        (None, {"fields": ("code", "name", "domain", "kind", "owner_unit", "attributes")}),
        (_("Where"), {"fields": ("location", "address", "district", "street", "community")}),
        (None, {"fields": ("created_at",)}),
    )
    inlines = (SensorInline,)
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[Facility]:
        # The joined units' and divisions' polygons are never shown in the list.
        return (
            super()
            .get_queryset(request)
            .defer("owner_unit__area", "district__geom", "district__center", "street__geom")
        )


@admin.register(Sensor)
class SensorAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("code", "name", "facility", "sensor_type", "device", "is_active", "last_value", "last_at")
    list_filter = ("is_active", "sensor_type__domain", "sensor_type")
    list_select_related = ("facility", "sensor_type", "device")
    search_fields = ("^code", "name", "facility__code", "facility__name")
    raw_id_fields = ("facility", "device")
    readonly_fields = ("last_value", "last_at", "last_received_at")
    list_per_page = 100


@admin.register(Device)
class DeviceAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("code", "name", "facility", "token_prefix", "token_issued_at", "revoked_at", "state")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("facility",)
    search_fields = ("^code", "name", "^token_prefix")
    raw_id_fields = ("facility",)
    readonly_fields = ("token_prefix", "token_issued_at", "revoked_at", "created_at")
    fields = ("code", "name", "facility", "token_prefix", "token_issued_at", "revoked_at", "created_at")
    actions = ("issue_tokens", "revoke_tokens")

    @admin.display(description=_("state"))
    def state(self, device: Device) -> str:
        if not device.token_hash:
            return str(_("no token yet"))
        if device.revoked_at is not None:
            return str(_("revoked"))
        return str(_("active"))

    @admin.action(description=_("Issue a new token (shown once)"), permissions=["change"])
    def issue_tokens(self, request: HttpRequest, queryset: QuerySet[Device]) -> TemplateResponse:
        issued = [(device, device_token_issue(device=device)) for device in queryset.order_by("code")]
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "issued": issued}
        context["title"] = _("New device tokens")
        response = TemplateResponse(request, "admin/lifelines/device/issued_tokens.html", context)
        response["Cache-Control"] = "no-store"  # the clear tokens must not outlive this page
        return response

    @admin.action(description=_("Revoke the token"), permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        devices = list(queryset.filter(revoked_at__isnull=True))
        for device in devices:
            device_revoke(device=device)
        self.message_user(
            request,
            ngettext("%(count)d device can no longer report.", "%(count)d devices can no longer report.", len(devices))
            % {"count": len(devices)},
            messages.SUCCESS,
        )


# --- thresholds and alarms (slice 2)


_RULE_FIELDS = (
    "name",
    "sensor_type",
    "facility",
    "sensor",
    "condition",
    "level",
    "upper",
    "lower",
    "rate_per_min",
    "min_readings",
    "min_duration_s",
    "hysteresis",
    "case_level",
    "case_minor_class",
    "is_active",
)


def _rule_values(rule: ThresholdRule) -> dict[str, Any]:
    return {name: getattr(rule, rule._meta.get_field(name).attname) for name in _RULE_FIELDS}


class RuleChangeInline(admin.TabularInline):
    model = RuleChange
    fields = ("changed_at", "changed_by", "action", "changes")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-changed_at", "-id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ThresholdRule)
class ThresholdRuleAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    """Every save and delete writes a RuleChange (who, when, each field's old and new value): a small history
    model rather than django-simple-history, since only this one model needs it and the record must outlive
    the rule (the change keeps the rule's label when the rule is deleted)."""

    list_display = (
        "__str__",
        "sensor_type",
        "facility",
        "sensor",
        "condition",
        "level",
        "upper",
        "lower",
        "rate_per_min",
        "is_active",
    )
    list_filter = ("is_active", "condition", "level", "sensor_type__domain", "sensor_type")
    list_select_related = ("sensor_type", "facility", "sensor")
    raw_id_fields = ("facility", "sensor", "case_minor_class")
    search_fields = ("name", "sensor_type__code", "facility__code", "sensor__code")
    fields = _RULE_FIELDS
    inlines = (RuleChangeInline,)

    def save_model(self, request: HttpRequest, obj: ThresholdRule, form: Any, change: bool) -> None:
        before = _rule_values(ThresholdRule.objects.get(pk=obj.pk)) if change and obj.pk else {}
        super().save_model(request, obj, form, change)
        after = _rule_values(obj)
        diff = {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}
        if change and not diff:
            return
        RuleChange.objects.create(
            rule=obj,
            rule_label=str(obj)[:255],
            action=RuleChange.Action.CHANGED if change else RuleChange.Action.CREATED,
            changes=diff,
            changed_by=request.user,
        )

    def delete_model(self, request: HttpRequest, obj: ThresholdRule) -> None:
        RuleChange.objects.create(
            rule=obj,
            rule_label=str(obj)[:255],
            action=RuleChange.Action.DELETED,
            changes={name: [value, None] for name, value in _rule_values(obj).items()},
            changed_by=request.user,
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ThresholdRule]) -> None:
        for rule in queryset:
            self.delete_model(request, rule)


@admin.register(RuleChange)
class RuleChangeAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("changed_at", "rule_label", "action", "changed_by")
    list_filter = ("action",)
    search_fields = ("rule_label",)
    readonly_fields = ("rule", "rule_label", "action", "changes", "changed_by", "changed_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LifelineModeTightening)
class LifelineModeTighteningAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("mode", "threshold_percent")

    def save_model(self, request: HttpRequest, obj: LifelineModeTightening, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        tightening_cache_clear()


class AlarmEventInline(admin.TabularInline):
    model = AlarmEvent
    fields = ("at", "kind", "actor", "from_level", "to_level", "data")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alarm)
class AlarmAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    """Alarms are changed only through their lifecycle (the actions below and the readings), never edited."""

    list_display = (
        "id",
        "sensor",
        "kind",
        "level",
        "state",
        "raised_at",
        "repeats",
        "last_value",
        "escalated_at",
        "case",
    )
    list_filter = ("state", "level", "kind", "sensor__sensor_type__domain")
    list_select_related = ("sensor", "case")
    search_fields = ("=id", "sensor__code", "sensor__facility__code")
    readonly_fields = [field.name for field in Alarm._meta.fields]
    inlines = (AlarmEventInline,)
    actions = ("acknowledge", "resolve")
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Acknowledge"), permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alarm]) -> None:
        alarms = list(queryset.filter(state=AlarmState.RAISED).order_by("id"))
        for alarm in alarms:
            alarm_acknowledge(alarm=alarm, actor=request.user)
        self.message_user(
            request,
            ngettext("%(count)d alarm acknowledged.", "%(count)d alarms acknowledged.", len(alarms))
            % {"count": len(alarms)},
            messages.SUCCESS,
        )

    @admin.action(description=_("Resolve (noted as resolved in the admin)"), permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[Alarm]) -> None:
        alarms = list(queryset.filter(state__in=[AlarmState.RAISED, AlarmState.ACKNOWLEDGED]).order_by("id"))
        for alarm in alarms:
            alarm_resolve(alarm=alarm, actor=request.user, note=str(_("Resolved in the admin.")))
        self.message_user(
            request,
            ngettext("%(count)d alarm resolved.", "%(count)d alarms resolved.", len(alarms)) % {"count": len(alarms)},
            messages.SUCCESS,
        )
