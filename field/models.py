"""Field inspectors on duty: shifts, positions, verification task assignments."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import BrinIndex
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class InspectorShift(models.Model):
    """An inspector's time on duty (上岗), for one workstation, with the latest position they shared.

    The latest position lives on the open shift, written by the same statement that appends to the history
    (field.services.positions_record): the dispatcher's map and the nearest-inspector search read one small row per
    inspector on duty instead of the newest of millions of history rows.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inspector_shifts", verbose_name=_("inspector")
    )
    # The unit the inspector is on duty for (their first inspector role's unit when the shift started): its
    # jurisdiction says which cases the shift is the nearest candidate for, and which live groups see the marker.
    unit = models.ForeignKey(
        "organisations.OrgUnit", on_delete=models.PROTECT, related_name="+", verbose_name=_("unit")
    )
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    auto_closed = models.BooleanField(_("ended by the system"), default=False)
    shares_position = models.BooleanField(_("shares position"), default=False)  # the inspector's consent
    # No spatial index: the nearest-inspector search first narrows to the few on-duty inspectors of the case's
    # grid (by unit), and sorts that handful by true distance; an index on degrees would not serve it.
    position = models.PointField(_("latest position"), srid=4326, null=True, blank=True, spatial_index=False)
    position_accuracy_m = models.FloatField(_("accuracy (m)"), null=True, blank=True)
    position_at = models.DateTimeField(_("position at"), null=True, blank=True)
    # When the latest position was last published on the live feed (at most every LIVE_EVERY).
    published_at = models.DateTimeField(_("last published"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("inspector shift")
        verbose_name_plural = _("inspector shifts")
        ordering = ["-started_at", "-id"]
        constraints = [
            # One open shift per person; the index also finds a person's open shift.
            models.UniqueConstraint(
                fields=["user"], condition=Q(ended_at__isnull=True), name="field_shift_one_open_per_user"
            ),
        ]
        indexes = [
            # Who is on duty now (the dispatcher's list, the stale-shift sweep): the open shifts only.
            models.Index(fields=["started_at"], condition=Q(ended_at__isnull=True), name="field_shift_open"),
            models.Index(fields=["user", "-started_at"], name="field_shift_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def on_duty(self) -> bool:
        return self.ended_at is None


class InspectorPosition(models.Model):
    """One position an inspector's phone sent while on duty with consent (kept POSITION_RETENTION_DAYS)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("inspector")
    )
    # History only, never searched spatially: no spatial index (one index write fewer per point).
    location = models.PointField(_("location"), srid=4326, spatial_index=False)
    accuracy_m = models.FloatField(_("accuracy (m)"), null=True, blank=True)
    at = models.DateTimeField(_("at"))  # the phone's time of the fix (the server's when the phone gave none)
    received_at = models.DateTimeField(_("received at"))

    class Meta:
        verbose_name = _("inspector position")
        verbose_name_plural = _("inspector positions")
        constraints = [
            # A point sent twice (a retry after a lost answer) is stored once; read backwards, the same index
            # gives a person's latest positions.
            models.UniqueConstraint(fields=["user", "at"], name="field_position_user_at"),
        ]
        indexes = [
            # Rows arrive in received_at order: a BRIN index (a few pages) finds the old ones the purge deletes.
            BrinIndex(fields=["received_at"], name="field_position_received"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.at:%Y-%m-%d %H:%M:%S}"


class VerificationAssignment(models.Model):
    """The inspector a case awaiting verification was offered to first: the nearest one on duty in its grid.

    A preference, not a lock: any inspector of the grid may still verify the case (cases.services).
    """

    case = models.OneToOneField(
        "cases.Case", on_delete=models.CASCADE, related_name="verification_assignment", verbose_name=_("case")
    )
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="verification_assignments",
        verbose_name=_("inspector"),
    )
    assigned_at = models.DateTimeField(_("assigned at"))
    distance_m = models.FloatField(_("distance (m)"))

    class Meta:
        verbose_name = _("verification assignment")
        verbose_name_plural = _("verification assignments")
        ordering = ["-assigned_at", "-id"]

    def __str__(self) -> str:
        return f"{self.case_id} → {self.inspector_id}"
