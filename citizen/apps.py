from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CitizenConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "citizen"
    verbose_name = _("Citizen services")
