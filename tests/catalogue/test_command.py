"""`manage.py load_catalogue`: prints what it did, and nothing at -v 0 (the demo seed calls it quietly)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from catalogue.models import MinorClass

pytestmark = pytest.mark.django_db


def test_it_loads_the_catalogue_and_prints_the_counts():
    out = StringIO()

    call_command("load_catalogue", stdout=out)

    assert out.getvalue().strip() == (
        "catalogue (component, event, service): created 265, updated 0, unchanged 0, deleted 0, deactivated 0"
    )
    assert MinorClass.objects.count() == 249


def test_a_second_run_reports_nothing_created_or_updated():
    call_command("load_catalogue", verbosity=0)
    out = StringIO()

    call_command("load_catalogue", "--kind", "component", stdout=out)

    assert "catalogue (component): created 0, updated 0, unchanged 121," in out.getvalue()
    assert MinorClass.objects.count() == 249


def test_it_is_silent_at_verbosity_0():
    out, err = StringIO(), StringIO()

    call_command("load_catalogue", verbosity=0, stdout=out, stderr=err)

    assert out.getvalue() == "" and err.getvalue() == ""
    assert MinorClass.objects.count() == 249
