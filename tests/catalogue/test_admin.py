"""The catalogue admin: an administrator browses, searches and filters classes by code and Chinese name."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalogue.models import ClassKind, MajorClass, MinorClass

pytestmark = pytest.mark.django_db

MINOR_CHANGELIST = reverse("admin:catalogue_minorclass_changelist")


def listed(response) -> list[str]:
    return [obj.full_code for obj in response.context["cl"].result_list]


def test_the_minor_class_changelist_lists_every_class_with_its_full_code(
    superuser_client, standard_catalogue, django_assert_max_num_queries
):
    # One page of 115 rows must not cost a query per row (the major class is joined).
    with django_assert_max_num_queries(8):
        response = superuser_client.get(MINOR_CHANGELIST, {"all": ""})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 115
    body = response.content.decode()
    assert "0101" in body and "上水井盖" in body
    assert "0613" in body and "海岸救生设施" in body


def test_searching_a_full_code_finds_exactly_that_class(superuser_client, standard_catalogue):
    response = superuser_client.get(MINOR_CHANGELIST, {"q": "0101"})

    assert response.status_code == 200
    assert listed(response) == ["0101"]
    assert "上水井盖" in response.content.decode()


def test_searching_a_major_code_lists_its_whole_major_class(superuser_client, standard_catalogue):
    response = superuser_client.get(MINOR_CHANGELIST, {"q": "04"})

    assert listed(response) == [f"04{n:02d}" for n in range(1, 15)]


def test_searching_a_chinese_name_finds_the_classes_containing_it(superuser_client, standard_catalogue):
    response = superuser_client.get(MINOR_CHANGELIST, {"q": "雨水"})

    assert listed(response) == ["0103", "0104"]


def test_filtering_by_major_class_and_kind_narrows_the_list(superuser_client, standard_catalogue):
    roads = MajorClass.objects.get(kind=ClassKind.COMPONENT, code="02")

    by_major = superuser_client.get(MINOR_CHANGELIST, {"major__id__exact": roads.pk})
    by_kind = superuser_client.get(MINOR_CHANGELIST, {"major__kind": ClassKind.EVENT})

    assert by_major.context["cl"].result_count == 24
    assert all(code.startswith("02") for code in listed(by_major))
    assert by_kind.context["cl"].result_count == 0


def test_the_major_class_page_shows_its_minor_classes_inline(superuser_client, standard_catalogue):
    public = MajorClass.objects.get(kind=ClassKind.COMPONENT, code="01")

    changelist = superuser_client.get(reverse("admin:catalogue_majorclass_changelist"), {"q": "公用设施"})
    change = superuser_client.get(reverse("admin:catalogue_majorclass_change", args=[public.pk]))

    assert [obj.code for obj in changelist.context["cl"].result_list] == ["01"]
    assert change.status_code == 200
    body = change.content.decode()
    assert "0101" in body and "上水井盖" in body and "0143" in body
    assert change.context["inline_admin_formsets"][0].formset.queryset.count() == 43


def test_an_administrator_can_switch_a_minor_class_off(superuser_client, standard_catalogue):
    booth = MinorClass.objects.get(major__kind=ClassKind.COMPONENT, major__code="01", code="22")

    response = superuser_client.post(
        reverse("admin:catalogue_minorclass_change", args=[booth.pk]), {"is_active": ""}, follow=True
    )

    assert response.status_code == 200
    booth.refresh_from_db()
    assert booth.is_active is False
    assert booth.name == "电话亭"


def test_codes_and_names_cannot_be_changed_in_the_admin(superuser_client, standard_catalogue):
    manhole = MinorClass.objects.get(major__kind=ClassKind.COMPONENT, major__code="01", code="01")

    superuser_client.post(
        reverse("admin:catalogue_minorclass_change", args=[manhole.pk]),
        {"code": "99", "name": "改名", "name_en": "Renamed", "is_active": "on"},
    )

    manhole.refresh_from_db()
    assert (manhole.code, manhole.name, manhole.name_en) == ("01", "上水井盖", "Water supply manhole cover")


def test_classes_cannot_be_added_or_deleted_in_the_admin(superuser_client, standard_catalogue):
    manhole = MinorClass.objects.get(major__kind=ClassKind.COMPONENT, major__code="01", code="01")

    add = superuser_client.post(
        reverse("admin:catalogue_minorclass_add"), {"major": manhole.major_id, "code": "98", "name": "新增"}
    )
    delete = superuser_client.post(reverse("admin:catalogue_minorclass_delete", args=[manhole.pk]), {"post": "yes"})

    assert add.status_code == 403
    assert delete.status_code == 403
    assert MinorClass.objects.count() == 115
    assert MinorClass.objects.filter(pk=manhole.pk).exists()


def test_a_staff_user_without_catalogue_permissions_is_refused(client, standard_catalogue):
    from organisations.services import user_create

    clerk = user_create(username="clerk", password="x-secret-9", is_staff=True)
    client.force_login(clerk)

    response = client.get(MINOR_CHANGELIST)

    assert response.status_code == 403


def test_a_city_administrator_by_role_can_browse_and_switch_classes_but_not_add_them(client, standard_catalogue):
    from organisations.models import Role, UnitType
    from organisations.services import membership_grant, unit_create, user_create

    centre = unit_create(name="市指挥中心", code="QD", unit_type=UnitType.CITY_CENTRE)
    admin_user = user_create(username="city-admin", password="x-secret-9")
    membership_grant(user=admin_user, role=Role.ADMINISTRATOR, unit=centre)
    client.force_login(admin_user)
    manhole = MinorClass.objects.get(major__kind=ClassKind.COMPONENT, major__code="01", code="01")

    listing = client.get(MINOR_CHANGELIST, {"q": "0101"})
    add = client.post(
        reverse("admin:catalogue_minorclass_add"), {"major": manhole.major_id, "code": "98", "name": "新增"}
    )

    assert listing.status_code == 200
    assert "上水井盖" in listing.content.decode()
    assert add.status_code == 403
    assert MinorClass.objects.count() == 115
