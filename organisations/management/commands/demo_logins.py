"""`manage.py demo_logins`: print the demo login of each role (run by `make run` after seed_demo)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from organisations.demo import demo_login_rows, table_format


class Command(BaseCommand):
    help = "Print one demo login per role: username, password, role and unit."

    def handle(self, *args: object, **options: object) -> None:
        rows = demo_login_rows()
        if not rows:
            self.stdout.write(_("No demo logins yet: run `manage.py seed_demo` first."))
            return
        header = (_("username"), _("password"), _("role"), _("unit"))
        self.stdout.write(_("Demo logins (demo data only; change or remove them on a real deployment):"))
        self.stdout.write(table_format(header, [(r.username, r.password, r.role, r.unit) for r in rows]))
