"""Admin for a city's administrator: the organisation tree, people, and the roles they hold in units."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.db.models import Q, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from leaflet.admin import LeafletGeoAdminMixin
from treebeard.admin import TreeAdmin
from treebeard.forms import movenodeform_factory

from organisations.models import Membership, OrgUnit, Role, UnitType, User
from organisations.services import membership_grant, membership_revoke

_CITY_ADMIN_CACHE = "_is_city_administrator"


def is_city_administrator(user: Any) -> bool:
    """An active staff member holding the administrator role in a root or city-centre unit.

    Cached on the user object, which lives as long as the request.
    """
    if not (user.is_active and user.is_staff):
        return False
    cached = getattr(user, _CITY_ADMIN_CACHE, None)
    if cached is None:
        cached = (
            Membership.objects.filter(user=user, role=Role.ADMINISTRATOR, unit__is_active=True)
            .filter(Q(unit__depth=1) | Q(unit__unit_type=UnitType.CITY_CENTRE))
            .exists()
        )
        setattr(user, _CITY_ADMIN_CACHE, cached)
    return cached


class CityAdministratorPermissions:
    """The city's administrators (by role, see is_city_administrator) may do everything here.

    Everyone else needs Django's model permissions, as usual: the role is what `membership_grant`
    hands out, and it should be enough to administer the city without also managing groups.
    """

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_city_administrator(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_city_administrator(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_city_administrator(request.user) or super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_city_administrator(request.user) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_city_administrator(request.user) or super().has_delete_permission(request, obj)


def _save_memberships(formset: BaseInlineFormSet) -> None:
    """Inline role rows go through the services, so granting "administrator" also opens the admin site."""
    changed = formset.save(commit=False)
    for membership in formset.deleted_objects:
        membership_revoke(user=membership.user, role=membership.role, unit=membership.unit)
    for membership in changed:
        if membership.pk:
            # An edited row is a different grant: take the old one away, then give the new one.
            old = Membership.objects.select_related("user", "unit").get(pk=membership.pk)
            membership_revoke(user=old.user, role=old.role, unit=old.unit)
        membership_grant(user=membership.user, role=membership.role, unit=membership.unit)


class MembershipInlineForUnit(CityAdministratorPermissions, admin.TabularInline):
    model = Membership
    fk_name = "unit"
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0
    verbose_name = _("member")
    verbose_name_plural = _("members")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")


class MembershipInlineForUser(CityAdministratorPermissions, admin.TabularInline):
    model = Membership
    fk_name = "user"
    fields = ("role", "unit", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("unit",)
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("unit")


@admin.register(OrgUnit)
class OrgUnitAdmin(CityAdministratorPermissions, LeafletGeoAdminMixin, TreeAdmin):
    form = movenodeform_factory(
        OrgUnit,
        fields=("name", "code", "unit_type", "district", "street", "community", "phone", "is_active", "area"),
    )
    list_display = ("name", "code", "unit_type", "district", "phone", "is_active")
    list_filter = ("unit_type", "is_active", "district")
    list_select_related = ("district",)
    search_fields = ("name", "^code")
    autocomplete_fields = ("street", "community")
    inlines = (MembershipInlineForUnit,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrgUnit]:
        # A unit's area is often a whole district's polygon: never load it for lists and pickers.
        # The change form reads it back with one small query.
        return super().get_queryset(request).defer("area")

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool) -> None:
        if formset.model is Membership:
            _save_memberships(formset)
        else:
            super().save_formset(request, form, formset, change)


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "full_name", "phone")


class UserChangeForm(DjangoUserChangeForm):
    class Meta(DjangoUserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(CityAdministratorPermissions, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ("username", "full_name", "phone", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "memberships__role")
    search_fields = ("username", "full_name", "phone")
    ordering = ("username",)
    inlines = (MembershipInlineForUser,)
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Person"), {"fields": ("full_name", "phone", "email")}),
        (_("Access"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "date_joined"), "classes": ("collapse",)}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "full_name", "phone", "usable_password", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("last_login", "date_joined")

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        # A city administrator manages people, but only a superuser makes superusers or hands out
        # single permissions: otherwise the role would be a way to more than the role.
        fields = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return fields
        return (*fields, "is_superuser", "user_permissions")

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool) -> None:
        if formset.model is Membership:
            _save_memberships(formset)
        else:
            super().save_formset(request, form, formset, change)


@admin.register(Membership)
class MembershipAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("user", "role", "unit", "unit_type", "created_at")
    list_filter = ("role", "unit__unit_type")
    list_select_related = ("user", "unit")
    search_fields = ("user__username", "user__full_name", "unit__name", "^unit__code")
    autocomplete_fields = ("user", "unit")
    ordering = ("-id",)

    @admin.display(description=_("unit type"), ordering="unit__unit_type")
    def unit_type(self, membership: Membership) -> str:
        return membership.unit.get_unit_type_display() if membership.unit else "-"

    def save_model(self, request: HttpRequest, obj: Membership, form: ModelForm, change: bool) -> None:
        if change and not form.has_changed():
            return
        if change:
            old = Membership.objects.select_related("user", "unit").get(pk=obj.pk)
            membership_revoke(user=old.user, role=old.role, unit=old.unit)
        granted = membership_grant(user=obj.user, role=obj.role, unit=obj.unit)
        obj.pk = granted.pk  # the admin redirects to the row the service created

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_revoke(user=obj.user, role=obj.role, unit=obj.unit)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("user", "unit"):
            membership_revoke(user=membership.user, role=membership.role, unit=membership.unit)
