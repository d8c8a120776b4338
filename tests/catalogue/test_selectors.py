"""Catalogue reads: active classes for pickers, and resolving a class from its 4-digit full code."""

from __future__ import annotations

import pytest

from catalogue.models import ClassKind, MinorClass
from catalogue.selectors import major_class_list, minor_class_get_by_full_code, minor_class_list

pytestmark = pytest.mark.django_db


def test_minor_class_list_leaves_out_inactive_classes_unless_asked(standard_catalogue):
    MinorClass.objects.filter(major__code="01", code="22").update(is_active=False)

    active = minor_class_list(kind=ClassKind.COMPONENT)
    everything = minor_class_list(kind=ClassKind.COMPONENT, include_inactive=True)

    assert active.count() == 114
    assert everything.count() == 115
    assert "0122" not in [m.code_full for m in active]
    assert [m.code_full for m in everything][:3] == ["0101", "0102", "0103"]


def test_minor_class_get_by_full_code_resolves_the_class(standard_catalogue):
    found = minor_class_get_by_full_code(kind=ClassKind.COMPONENT, full_code="0301")

    assert (found.full_code, found.name, found.major.name) == ("0301", "公共厕所", "市容环境")


@pytest.mark.parametrize("full_code", ["0199", "01", "01a1", "010101"])
def test_minor_class_get_by_full_code_raises_for_an_unknown_or_malformed_code(standard_catalogue, full_code):
    with pytest.raises(MinorClass.DoesNotExist):
        minor_class_get_by_full_code(kind=ClassKind.COMPONENT, full_code=full_code)


def test_major_class_list_is_in_code_order(standard_catalogue):
    assert [m.code for m in major_class_list(kind=ClassKind.COMPONENT)] == ["01", "02", "03", "04", "05", "06"]
