from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FieldConfig(AppConfig):
    """Field inspectors (监督员) at work: their shift and position, their verification and check tasks, and the
    phone-first web app at /m/ that reports, verifies and self-handles even offline."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "field"
    verbose_name = _("Field inspection")
