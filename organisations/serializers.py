"""API shapes of units, people and roles; read-only, and never a password or a token."""

from __future__ import annotations

from rest_framework import serializers

from organisations.models import Membership, OrgUnit, User


class UnitBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrgUnit
        fields = ["id", "code", "name", "unit_type"]
        read_only_fields = fields


class UnitSerializer(serializers.ModelSerializer):
    """A unit with its place in the tree; `parent` comes from selectors.with_parent_id."""

    parent = serializers.IntegerField(source="parent_id", read_only=True, allow_null=True)
    unit_type_display = serializers.CharField(source="get_unit_type_display", read_only=True)

    class Meta:
        model = OrgUnit
        fields = [
            "id",
            "code",
            "name",
            "unit_type",
            "unit_type_display",
            "parent",
            "depth",
            "district",
            "street",
            "community",
            "phone",
            "is_active",
        ]
        read_only_fields = fields


class RoleSerializer(serializers.ModelSerializer):
    """One role a person holds, and the unit they hold it in (none for citizens)."""

    role_display = serializers.CharField(source="get_role_display", read_only=True)
    unit = UnitBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Membership
        fields = ["role", "role_display", "unit"]
        read_only_fields = fields


class PersonSerializer(serializers.ModelSerializer):
    """A person as another user sees them: only the roles held in units the viewer may see."""

    roles = RoleSerializer(source="visible_memberships", many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "phone", "email", "is_active", "roles"]
        read_only_fields = fields


class MeSerializer(serializers.ModelSerializer):
    """The signed-in user (or device), all of their roles, and whether they see the whole city."""

    roles = RoleSerializer(source="memberships", many=True, read_only=True)
    sees_whole_city = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "phone", "email", "is_superuser", "sees_whole_city", "roles"]
        read_only_fields = fields
