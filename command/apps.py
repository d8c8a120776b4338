from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommandConfig(AppConfig):
    """The command centre (指挥中心): the dispatcher's live map and queues, the live feed over WebSockets,
    the operating mode switch and today's figures."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "command"
    verbose_name = _("Command centre")
