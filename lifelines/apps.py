from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LifelinesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "lifelines"
    verbose_name = _("Lifelines")
