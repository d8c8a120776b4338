"""The organisation tree, people, and the roles people hold in units."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _
from treebeard.mp_tree import MP_Node


class User(AbstractUser):
    """A person (or a device account) who signs in. Chinese names are kept whole in full_name."""

    full_name = models.CharField(_("full name"), max_length=64, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    class Meta(AbstractUser.Meta):
        verbose_name = _("person")
        verbose_name_plural = _("people")

    def __str__(self) -> str:
        return self.full_name or self.username


class UnitType(models.TextChoices):
    CITY_CENTRE = "city_centre", _("City command centre")  # 市级指挥中心
    DEPARTMENT = "department", _("City department")  # 市直部门
    COMPANY = "company", _("Utility or service company")  # 专业公司
    DISTRICT_CENTRE = "district_centre", _("District centre")  # 区级中心
    STREET_WORKSTATION = "street_workstation", _("Street workstation")  # 街道工作站
    GRASSROOTS = "grassroots", _("Grassroots unit")  # 基层单位 / 社区
    FIELD_UNIT = "field_unit", _("Field unit")  # 作业单位 / 处置队伍


class OrgUnit(MP_Node):
    """A unit of the city's organisation tree, of any depth.

    The jurisdiction (district / street / community) says which part of the city the unit
    covers; `area` is its polygon, kept for maps and for units (departments, companies)
    whose service area is not an administrative division.
    """

    name = models.CharField(_("name"), max_length=128)
    code = models.CharField(_("code"), max_length=32, unique=True)
    unit_type = models.CharField(_("type"), max_length=32, choices=UnitType.choices)
    district = models.ForeignKey(
        "geography.District",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("district"),
    )
    street = models.ForeignKey(
        "geography.Street", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("street")
    )
    community = models.ForeignKey(
        "geography.Community",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("community"),
    )
    area = models.MultiPolygonField(_("area covered"), srid=4326, null=True, blank=True)
    phone = models.CharField(_("duty phone"), max_length=32, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    node_order_by = ["code"]

    class Meta:
        verbose_name = _("organisation unit")
        verbose_name_plural = _("organisation units")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    INTAKE_CLERK = "intake_clerk", _("Intake clerk / shift leader")  # 受理员/值班长
    DISPATCHER = "dispatcher", _("Dispatcher")  # 派遣员
    INSPECTOR = "inspector", _("Inspector")  # 监督员
    HANDLER = "handler", _("Department handler")  # 处置人员
    LEADER = "leader", _("Leader")  # 领导
    ADMINISTRATOR = "administrator", _("Administrator")  # 系统管理员
    CITIZEN = "citizen", _("Citizen")  # 市民
    DEVICE = "device", _("Device")  # 设备


# Roles whose holders work inside the organisation and see the internal records of their units.
STAFF_ROLES = frozenset(
    {Role.INTAKE_CLERK, Role.DISPATCHER, Role.INSPECTOR, Role.HANDLER, Role.LEADER, Role.ADMINISTRATOR}
)


class Membership(models.Model):
    """A person holds a role in a unit. Citizens hold their role without a unit."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("person"))
    unit = models.ForeignKey(
        OrgUnit, on_delete=models.PROTECT, null=True, blank=True, related_name="memberships", verbose_name=_("unit")
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(_("since"), auto_now_add=True)

    class Meta:
        verbose_name = _("role in a unit")
        verbose_name_plural = _("roles in units")
        constraints = [
            models.UniqueConstraint(fields=["user", "unit", "role"], name="organisations_membership_unique"),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(unit__isnull=True),
                name="organisations_membership_unique_without_unit",
            ),
            models.CheckConstraint(
                condition=models.Q(role="citizen") | models.Q(unit__isnull=False),
                name="organisations_membership_unit_required_for_staff",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.unit or '-'}"
