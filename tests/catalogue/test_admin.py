"""The catalogue admin: an administrator browses, searches and filters classes by code and Chinese name,
and edits a class's case rules and time limits, but never its code or names."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalogue.models import ClassKind, MajorClass, MinorClass

from .admin_forms import minor_class_form_data

pytestmark = pytest.mark.django_db

MINOR_CHANGELIST = reverse("admin:catalogue_minorclass_changelist")


def listed(response) -> list[str]:
    return [obj.full_code for obj in response.context["cl"].result_list]


def test_the_minor_class_changelist_lists_every_class_with_its_full_code(
    superuser_client, standard_catalogue, django_assert_max_num_queries
):
    # One page of 249 rows must not cost a query per row (the major class is joined).
    with django_assert_max_num_queries(8):
        response = superuser_client.get(MINOR_CHANGELIST, {"all": ""})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 249
    body = response.content.decode()
    assert "0101" in body and "上水井盖" in body
    assert "0613" in body and "海岸救生设施" in body
    assert "暴露垃圾" in body and "电梯故障" in body


def test_searching_a_full_code_finds_that_class_in_each_kind(superuser_client, standard_catalogue):
    everywhere = superuser_client.get(MINOR_CHANGELIST, {"q": "0101"})
    components = superuser_client.get(MINOR_CHANGELIST, {"q": "0101", "major__kind": ClassKind.COMPONENT})

    assert everywhere.status_code == 200
    assert sorted((obj.major.kind, obj.name) for obj in everywhere.context["cl"].result_list) == [
        ("component", "上水井盖"),
        ("event", "暴露垃圾"),
        ("service", "停水及水压不足"),
    ]
    assert listed(components) == ["0101"]
    assert "上水井盖" in components.content.decode()


def test_searching_a_major_code_lists_its_whole_major_class(superuser_client, standard_catalogue):
    response = superuser_client.get(MINOR_CHANGELIST, {"q": "04", "major__kind": ClassKind.COMPONENT})

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
    assert by_kind.context["cl"].result_count == 100


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
        reverse("admin:catalogue_minorclass_change", args=[booth.pk]),
        minor_class_form_data(booth, is_active=False),
        follow=True,
    )

    assert response.status_code == 200
    booth.refresh_from_db()
    assert booth.is_active is False
    assert booth.name == "电话亭"


def test_codes_and_names_cannot_be_changed_in_the_admin(superuser_client, standard_catalogue):
    manhole = MinorClass.objects.get(major__kind=ClassKind.COMPONENT, major__code="01", code="01")

    response = superuser_client.post(
        reverse("admin:catalogue_minorclass_change", args=[manhole.pk]),
        minor_class_form_data(manhole, code="99", name="改名", name_en="Renamed", duplicate_radius_m=12),
    )

    assert response.status_code == 302  # the form was valid: the rest of it was saved
    manhole.refresh_from_db()
    assert (manhole.code, manhole.name, manhole.name_en) == ("01", "上水井盖", "Water supply manhole cover")
    assert manhole.duplicate_radius_m == 12


def test_classes_cannot_be_added_or_deleted_in_the_admin(superuser_client, standard_catalogue):
    manhole = MinorClass.objects.get(major__kind=ClassKind.COMPONENT, major__code="01", code="01")

    add = superuser_client.post(
        reverse("admin:catalogue_minorclass_add"), {"major": manhole.major_id, "code": "98", "name": "新增"}
    )
    delete = superuser_client.post(reverse("admin:catalogue_minorclass_delete", args=[manhole.pk]), {"post": "yes"})

    assert add.status_code == 403
    assert delete.status_code == 403
    assert MinorClass.objects.count() == 249
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
    assert MinorClass.objects.count() == 249


# --- the case rules and time limits of a minor class


@pytest.fixture
def city_admin_client(client, standard_catalogue):
    from organisations.models import Role, UnitType
    from organisations.services import membership_grant, unit_create, user_create

    centre = unit_create(name="市指挥中心", code="QD", unit_type=UnitType.CITY_CENTRE)
    admin_user = user_create(username="city-admin", password="x-secret-9")
    membership_grant(user=admin_user, role=Role.ADMINISTRATOR, unit=centre)
    client.force_login(admin_user)
    return client


def event(full_code: str) -> MinorClass:
    return MinorClass.objects.get(major__kind=ClassKind.EVENT, major__code=full_code[:2], code=full_code[2:])


def limits_of(minor: MinorClass) -> list[tuple]:
    return list(minor.time_limits.order_by("pk").values_list("urgency", "stage", "amount", "unit"))


def test_the_change_page_shows_the_rules_and_fifteen_limits_in_workflow_order(city_admin_client):
    leaflets = event("0201")

    response = city_admin_client.get(reverse("admin:catalogue_minorclass_change", args=[leaflets.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    assert leaflets.registration_criteria in body
    forms = response.context["inline_admin_formsets"][0].formset.forms
    assert [(f.instance.urgency, f.instance.stage) for f in forms[:5]] == [
        ("normal", "verify"),
        ("normal", "register"),
        ("normal", "dispatch"),
        ("normal", "handle"),
        ("normal", "check"),
    ]
    assert len(forms) == 15
    assert [f.instance.urgency for f in forms[5::5]] == ["urgent", "emergency"]


def test_a_city_administrator_edits_a_class_s_rules_and_a_time_limit(city_admin_client):
    leaflets = event("0201")
    others = [row for row in limits_of(leaflets) if row[:2] != ("urgent", "handle")]

    response = city_admin_client.post(
        reverse("admin:catalogue_minorclass_change", args=[leaflets.pk]),
        minor_class_form_data(
            leaflets,
            registration_criteria="张贴非法小广告的，予以立案。",
            default_responsible_kind="street_office",
            self_handle_allowed=False,
            duplicate_radius_m=80,
            limits={("urgent", "handle"): (3, "working_hours")},
        ),
    )

    assert response.status_code == 302
    leaflets.refresh_from_db()
    assert leaflets.registration_criteria == "张贴非法小广告的，予以立案。"
    assert (leaflets.default_responsible_kind, leaflets.self_handle_allowed) == ("street_office", False)
    assert leaflets.duplicate_radius_m == 80
    assert leaflets.time_limits.get(urgency="urgent", stage="handle").amount == 3
    assert [row for row in limits_of(leaflets) if row[:2] != ("urgent", "handle")] == others


def test_an_emergency_limit_in_working_hours_is_refused_and_nothing_is_saved(city_admin_client):
    leaflets = event("0201")
    before = limits_of(leaflets)

    response = city_admin_client.post(
        reverse("admin:catalogue_minorclass_change", args=[leaflets.pk]),
        minor_class_form_data(leaflets, duplicate_radius_m=99, limits={("emergency", "handle"): (2, "working_hours")}),
    )

    assert response.status_code == 200  # the form again, with the error
    invalid = [f for f in response.context["inline_admin_formsets"][0].formset.forms if f.errors]
    assert [(f.instance.urgency, f.instance.stage, list(f.errors)) for f in invalid] == [
        ("emergency", "handle", ["unit"])
    ]
    leaflets.refresh_from_db()
    assert leaflets.duplicate_radius_m == 50
    assert limits_of(leaflets) == before


def test_the_change_page_offers_minute_units_and_shows_an_emergency_s_30_minutes(city_admin_client):
    gas_leak = event("0403")

    response = city_admin_client.get(reverse("admin:catalogue_minorclass_change", args=[gas_leak.pk]))

    forms = response.context["inline_admin_formsets"][0].formset.forms
    verify = next(f for f in forms if (f.instance.urgency, f.instance.stage) == ("emergency", "verify"))
    assert (verify["amount"].value(), verify["unit"].value()) == (30, "calendar_minutes")
    assert [value for value, _label in verify.fields["unit"].choices if value] == [
        "working_minutes",
        "working_hours",
        "working_days",
        "calendar_minutes",
        "calendar_hours",
    ]
    assert '<option value="calendar_minutes" selected>' in response.content.decode()


def test_a_city_administrator_gives_an_emergency_a_30_minute_dispatch(city_admin_client):
    gas_leak = event("0403")
    others = [row for row in limits_of(gas_leak) if row[:2] != ("emergency", "dispatch")]

    response = city_admin_client.post(
        reverse("admin:catalogue_minorclass_change", args=[gas_leak.pk]),
        minor_class_form_data(gas_leak, limits={("emergency", "dispatch"): (30, "calendar_minutes")}),
    )

    assert response.status_code == 302
    dispatch = gas_leak.time_limits.get(urgency="emergency", stage="dispatch")
    assert (dispatch.amount, dispatch.unit) == (30, "calendar_minutes")
    assert [row for row in limits_of(gas_leak) if row[:2] != ("emergency", "dispatch")] == others


def test_an_emergency_limit_in_working_minutes_is_refused_and_nothing_is_saved(city_admin_client):
    gas_leak = event("0403")
    before = limits_of(gas_leak)

    response = city_admin_client.post(
        reverse("admin:catalogue_minorclass_change", args=[gas_leak.pk]),
        minor_class_form_data(gas_leak, limits={("emergency", "dispatch"): (30, "working_minutes")}),
    )

    assert response.status_code == 200
    invalid = [f for f in response.context["inline_admin_formsets"][0].formset.forms if f.errors]
    assert [(f.instance.urgency, f.instance.stage, list(f.errors)) for f in invalid] == [
        ("emergency", "dispatch", ["unit"])
    ]
    assert limits_of(gas_leak) == before


def test_criteria_cannot_be_emptied_in_the_admin(city_admin_client):
    leaflets = event("0201")
    criteria = leaflets.registration_criteria

    response = city_admin_client.post(
        reverse("admin:catalogue_minorclass_change", args=[leaflets.pk]),
        minor_class_form_data(leaflets, registration_criteria=""),
    )

    assert response.status_code == 200
    assert "registration_criteria" in response.context["adminform"].form.errors
    leaflets.refresh_from_db()
    assert leaflets.registration_criteria == criteria


def test_time_limits_cannot_be_added_or_deleted_in_the_admin(city_admin_client):
    leaflets = event("0201")
    data = minor_class_form_data(leaflets)
    data["time_limits-0-DELETE"] = "on"
    data |= {
        "time_limits-TOTAL_FORMS": 16,
        "time_limits-15-urgency": "normal",
        "time_limits-15-stage": "handle",
        "time_limits-15-amount": 1,
        "time_limits-15-unit": "working_days",
    }

    city_admin_client.post(reverse("admin:catalogue_minorclass_change", args=[leaflets.pk]), data)

    assert leaflets.time_limits.count() == 15


def test_a_staff_user_without_catalogue_permissions_cannot_edit_a_time_limit(client, standard_catalogue):
    from organisations.services import user_create

    clerk = user_create(username="clerk", password="x-secret-9", is_staff=True)
    client.force_login(clerk)
    leaflets = event("0201")
    before = limits_of(leaflets)

    response = client.post(
        reverse("admin:catalogue_minorclass_change", args=[leaflets.pk]),
        minor_class_form_data(leaflets, limits={("normal", "handle"): (9, "working_days")}),
    )

    assert response.status_code == 403
    assert limits_of(leaflets) == before
