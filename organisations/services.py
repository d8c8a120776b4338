"""Writes on the organisation tree and on people: every change with rules goes through here."""

from __future__ import annotations

from django.contrib.gis.geos import MultiPolygon
from django.core.exceptions import ValidationError
from django.db import transaction

from organisations.models import Membership, OrgUnit, Role, UnitType, User


@transaction.atomic
def unit_create(
    *,
    name: str,
    code: str,
    unit_type: str,
    parent: OrgUnit | None = None,
    district=None,
    street=None,
    community=None,
    area: MultiPolygon | None = None,
    phone: str = "",
) -> OrgUnit:
    """Add a unit under `parent` (or as a root). The area defaults to the jurisdiction's polygon."""
    if unit_type not in UnitType.values:
        raise ValidationError({"unit_type": f"unknown unit type {unit_type!r}"})
    if OrgUnit.objects.filter(code=code).exists():
        raise ValidationError({"code": f"a unit with code {code} already exists"})
    jurisdiction = community or street or district
    if area is None and jurisdiction is not None:
        area = jurisdiction.geom
    fields = {
        "name": name,
        "code": code,
        "unit_type": unit_type,
        "district": district or (street.district if street else None) or (community.district if community else None),
        "street": street or (community.street if community else None),
        "community": community,
        "area": area,
        "phone": phone,
    }
    if parent is None:
        return OrgUnit.objects.add_root(create_kwargs=fields)
    return OrgUnit.objects.add_child(parent, create_kwargs=fields)


@transaction.atomic
def user_create(
    *, username: str, full_name: str = "", password: str | None = None, phone: str = "", is_staff: bool = False
) -> User:
    user = User(username=username, full_name=full_name, phone=phone, is_staff=is_staff)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    return user


@transaction.atomic
def membership_grant(*, user: User, role: str, unit: OrgUnit | None = None) -> Membership:
    """Give `user` the `role` in `unit`; idempotent. Administrators also get admin-site access."""
    if role not in Role.values:
        raise ValidationError({"role": f"unknown role {role!r}"})
    if role != Role.CITIZEN and unit is None:
        raise ValidationError({"unit": "every role but citizen is held in a unit"})
    membership, _ = Membership.objects.get_or_create(user=user, unit=unit, role=role)
    if role == Role.ADMINISTRATOR and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return membership


@transaction.atomic
def membership_revoke(*, user: User, role: str, unit: OrgUnit | None = None) -> bool:
    deleted, _ = Membership.objects.filter(user=user, unit=unit, role=role).delete()
    still_admin = user.memberships.filter(role=Role.ADMINISTRATOR).exists()
    if role == Role.ADMINISTRATOR and not still_admin and user.is_staff and not user.is_superuser:
        user.is_staff = False
        user.save(update_fields=["is_staff"])
    return bool(deleted)
