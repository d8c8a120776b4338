from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SanitationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sanitation"
    verbose_name = _("Sanitation")
