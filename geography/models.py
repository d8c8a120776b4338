"""Districts, streets, communities, the unit grid and surveyed city components, all in WGS 84."""

from __future__ import annotations

from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _

SRID = 4326


class District(models.Model):
    """区 (county-level division), code = 6-digit administrative code, e.g. 370202."""

    code = models.CharField(_("code"), max_length=6, unique=True)
    name = models.CharField(_("name"), max_length=64)
    geom = models.MultiPolygonField(_("boundary"), srid=SRID)
    center = models.PointField(_("centre"), srid=SRID, null=True, blank=True)

    class Meta:
        verbose_name = _("district")
        verbose_name_plural = _("districts")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(code__regex=r"^[0-9]{6}$"), name="geography_district_code_6"),
        ]

    def __str__(self) -> str:
        return self.name


class Street(models.Model):
    """街道 / 镇, code = district code + 3 digits."""

    code = models.CharField(_("code"), max_length=9, unique=True)
    name = models.CharField(_("name"), max_length=64)
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="streets", verbose_name=_("district"))
    geom = models.MultiPolygonField(_("boundary"), srid=SRID)

    class Meta:
        verbose_name = _("street")
        verbose_name_plural = _("streets")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(code__regex=r"^[0-9]{9}$"), name="geography_street_code_9"),
        ]

    def __str__(self) -> str:
        return self.name


class Community(models.Model):
    """社区 / 村, code = street code + 3 digits."""

    code = models.CharField(_("code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=64)
    street = models.ForeignKey(Street, on_delete=models.PROTECT, related_name="communities", verbose_name=_("street"))
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="+", verbose_name=_("district"))
    geom = models.MultiPolygonField(_("boundary"), srid=SRID)

    class Meta:
        verbose_name = _("community")
        verbose_name_plural = _("communities")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(code__regex=r"^[0-9]{12}$"), name="geography_community_code_12"),
        ]

    def __str__(self) -> str:
        return self.name


class GridCell(models.Model):
    """万米单元网格: about 10,000 m², code = community code + 2-digit serial (GB/T 30428.1)."""

    code = models.CharField(_("code"), max_length=14, unique=True)
    community = models.ForeignKey(
        Community, on_delete=models.PROTECT, related_name="cells", verbose_name=_("community")
    )
    street = models.ForeignKey(Street, on_delete=models.PROTECT, related_name="+", verbose_name=_("street"))
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="+", verbose_name=_("district"))
    geom = models.MultiPolygonField(_("boundary"), srid=SRID)
    area_m2 = models.FloatField(_("area (m²)"), default=0)

    class Meta:
        verbose_name = _("unit grid cell")
        verbose_name_plural = _("unit grid cells")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(code__regex=r"^[0-9]{14}$"), name="geography_gridcell_code_14"),
        ]

    def __str__(self) -> str:
        return self.code


class ComponentStatus(models.TextChoices):
    NORMAL = "normal", _("Normal")  # 完好
    DAMAGED = "damaged", _("Damaged")  # 破损
    LOST = "lost", _("Lost")  # 丢失
    REMOVED = "removed", _("Removed")  # 废弃/拆除


class Component(models.Model):
    """部件: a surveyed point asset. Code = district (6) + major (2) + minor (2) + serial (6)."""

    code = models.CharField(_("code"), max_length=16, unique=True)
    minor_class = models.ForeignKey(
        "catalogue.MinorClass", on_delete=models.PROTECT, related_name="components", verbose_name=_("minor class")
    )
    name = models.CharField(_("name"), max_length=128, blank=True)
    location = models.PointField(_("location"), srid=SRID)
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="+", verbose_name=_("district"))
    street = models.ForeignKey(
        Street, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("street")
    )
    community = models.ForeignKey(
        Community, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("community")
    )
    grid_cell = models.ForeignKey(
        GridCell,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="components",
        verbose_name=_("grid cell"),
    )
    owner_unit = models.ForeignKey(
        "organisations.OrgUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="components",
        verbose_name=_("owner unit"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ComponentStatus.choices, default=ComponentStatus.NORMAL
    )
    address = models.CharField(_("address"), max_length=255, blank=True)
    surveyed_on = models.DateField(_("surveyed on"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("city component")
        verbose_name_plural = _("city components")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(code__regex=r"^[0-9]{16}$"), name="geography_component_code_16"),
        ]

    def __str__(self) -> str:
        return f"{self.code}"


def component_photo_path(instance: ComponentPhoto, filename: str) -> str:
    return f"components/{instance.component.code}/{filename}"


class ComponentPhoto(models.Model):
    component = models.ForeignKey(
        Component, on_delete=models.CASCADE, related_name="photos", verbose_name=_("component")
    )
    image = models.ImageField(_("photo"), upload_to=component_photo_path)
    taken_at = models.DateTimeField(_("taken at"), null=True, blank=True)
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("component photo")
        verbose_name_plural = _("component photos")
        ordering = ["-uploaded_at"]


class _ClusterCounts(models.Model):
    """What a cell of the components' cluster pyramid holds (see geography.tiles): how many components of one
    major class lie in Web Mercator cell (x, y) of zoom level `level` (2^level cells across the world), how many
    of them are damaged, lost or removed, and the sums of their coordinates (the cluster is drawn at the mean).

    Derived data, rebuilt by geography.tiles.component_clusters_rebuild: no foreign-key constraints, so a rebuild
    writes a million rows without a million constraint checks.
    """

    level = models.PositiveSmallIntegerField(_("level"))
    x = models.IntegerField("x")
    y = models.IntegerField("y")
    major_class = models.ForeignKey(
        "catalogue.MajorClass",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        verbose_name=_("major class"),
    )
    count = models.IntegerField(_("components"))
    damaged = models.IntegerField(_("damaged"))
    lost = models.IntegerField(_("lost"))
    removed = models.IntegerField(_("removed"))
    sum_lon = models.FloatField(_("sum of longitudes"))
    sum_lat = models.FloatField(_("sum of latitudes"))

    class Meta:
        abstract = True


def _derived_fk(model: str, label: str) -> models.ForeignKey:
    return models.ForeignKey(
        model,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
        verbose_name=label,
    )


class ComponentCluster(_ClusterCounts):
    """Pyramid cell counts by the keys the scope rule looks at (organisations.selectors.components_visible_to:
    the component's district, street, community and owner unit), for users who see part of the city."""

    district = _derived_fk("geography.District", _("district"))
    street = _derived_fk("geography.Street", _("street"))
    community = _derived_fk("geography.Community", _("community"))
    owner_unit = _derived_fk("organisations.OrgUnit", _("owner unit"))

    class Meta:
        verbose_name = _("component cluster cell")
        verbose_name_plural = _("component cluster cells")
        # A tile is a range of x and y at one level; rows are written in this order, so a tile's rows are
        # also neighbours on disk.
        indexes = [models.Index(fields=["level", "x", "y"], name="geography_cluster_tile")]


class ComponentClusterTotal(_ClusterCounts):
    """Pyramid cell counts for the whole city (city-wide users): ComponentCluster summed over the scope keys."""

    class Meta:
        verbose_name = _("component cluster total")
        verbose_name_plural = _("component cluster totals")
        indexes = [models.Index(fields=["level", "x", "y"], name="geography_cluster_total_tile")]
