"""Forms of the case pages: the list's filters, the report and self-handle forms, one small form per workflow
action and the reply to a supervision.

An action form's cleaned data is the shared action table's parsed input (cases.actions): fields named as the
services' arguments, yes/no answers as booleans, references as instances found in the user's scope.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cases.models import Case, Source, Status, Supervision
from cases.selectors import cases_visible_to
from catalogue.models import ClassKind, MinorClass, Urgency
from geography.models import District
from organisations.models import OrgUnit
from workcalendar.units import TimeUnit, extension_unit_choices

YES_NO = [("yes", _("Yes")), ("no", _("No"))]


def _is_yes(value: str) -> bool:
    return value == "yes"


def yes_no_field(label: Any, **kwargs: Any) -> forms.TypedChoiceField:
    """A yes/no radio whose cleaned value is a boolean, as the services (and the API) take it."""
    return forms.TypedChoiceField(label=label, choices=YES_NO, coerce=_is_yes, widget=forms.RadioSelect, **kwargs)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultiplePhotoField(forms.FileField):
    """Several photos in one input; the cases service checks each one's content (photos.services)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = [d for d in data if d] if isinstance(data, (list, tuple)) else ([data] if data else [])
        if not files:
            if self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return []
        return [super(MultiplePhotoField, self).clean(d, initial) for d in files]


class CaseFilterForm(forms.Form):
    FLAGS = [("overdue", _("Overdue")), ("key", _("Key case")), ("difficult", _("Difficult case"))]

    q = forms.CharField(label=_("Case number"), required=False, max_length=32)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("All"))] + Status.choices)
    source = forms.ChoiceField(label=_("Source"), required=False, choices=[("", _("All"))] + Source.choices)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All"))] + ClassKind.choices)
    district = forms.ModelChoiceField(
        label=_("District"), required=False, queryset=District.objects.none(), empty_label=_("All")
    )
    flag = forms.ChoiceField(label=_("Flag"), required=False, choices=[("", _("All")), *FLAGS])

    def __init__(self, *args: Any, districts: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["district"].queryset = districts.order_by("code")


def minor_class_choices(
    *, kind: str | None = None, self_handle: bool = False
) -> list[tuple[str, list[tuple[int, str]]]]:
    """Active minor classes grouped by kind and major class, e.g. "部件 · 01 公用设施" (only those of `kind`, or
    only those inspectors may self-handle, when asked)."""
    groups: dict[str, list[tuple[int, str]]] = {}
    kinds = dict(ClassKind.choices)
    classes = MinorClass.objects.filter(is_active=True)
    if kind is not None:
        classes = classes.filter(major__kind=kind)
    if self_handle:
        classes = classes.filter(self_handle_allowed=True)
    classes = classes.select_related("major").order_by("major__kind", "major__code", "code")
    for minor in classes:
        major = minor.major
        label = f"{kinds.get(major.kind, major.kind)} · {major.code} {major.name}"
        groups.setdefault(label, []).append((minor.pk, f"{major.code}{minor.code} {minor.name}"))
    return list(groups.items())


class CaseReportForm(forms.Form):
    source = forms.ChoiceField(label=_("Source"), choices=Source.choices)
    minor_class = forms.TypedChoiceField(label=_("Class"), coerce=int)
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.NORMAL)
    lon = forms.FloatField(widget=forms.HiddenInput, min_value=-180, max_value=180)
    lat = forms.FloatField(widget=forms.HiddenInput, min_value=-90, max_value=90)
    address = forms.CharField(label=_("Address"), required=False, max_length=255)
    component_code = forms.CharField(label=_("Component code"), required=False, max_length=32)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 4}))
    reporter_name = forms.CharField(label=_("Caller's name"), required=False, max_length=64)
    reporter_phone = forms.CharField(label=_("Caller's phone"), required=False, max_length=32)
    photos = MultiplePhotoField(label=_("Photos"), required=False)

    def __init__(self, *args: Any, sources: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = sources
        self.fields["minor_class"].choices = [("", "—"), *minor_class_choices()]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "lon" in self.errors or "lat" in self.errors or data.get("lon") is None or data.get("lat") is None:
            self.errors.pop("lon", None)
            self.errors.pop("lat", None)
            self.add_error(None, _("Click the map to set the location."))
        return data

    def service_kwargs(self, *, reporter: Any) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "source": d["source"],
            "minor_class": MinorClass.objects.select_related("major").get(pk=d["minor_class"]),
            "location": Point(d["lon"], d["lat"], srid=4326),
            "description": d["description"],
            "reporter": reporter,
            "photos": d["photos"],
            "component_code": d["component_code"] or None,
            "urgency": d["urgency"],
            "address": d["address"],
            "reporter_name": d["reporter_name"],
            "reporter_phone": d["reporter_phone"],
        }


class SelfHandleForm(forms.Form):
    """自行处置: what an inspector fixed on the spot, where, with photos from before and after."""

    minor_class = forms.TypedChoiceField(label=_("Class"), coerce=int)
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.NORMAL)
    lon = forms.FloatField(widget=forms.HiddenInput, min_value=-180, max_value=180)
    lat = forms.FloatField(widget=forms.HiddenInput, min_value=-90, max_value=90)
    address = forms.CharField(label=_("Address"), required=False, max_length=255)
    component_code = forms.CharField(label=_("Component code"), required=False, max_length=32)
    description = forms.CharField(label=_("What was found and done"), widget=forms.Textarea(attrs={"rows": 4}))
    before_photos = MultiplePhotoField(label=_("Photos before handling"))
    after_photos = MultiplePhotoField(label=_("Photos after handling"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["minor_class"].choices = [("", "—"), *minor_class_choices(self_handle=True)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "lon" in self.errors or "lat" in self.errors or data.get("lon") is None or data.get("lat") is None:
            self.errors.pop("lon", None)
            self.errors.pop("lat", None)
            self.add_error(None, _("Click the map to set the location."))
        return data

    def service_kwargs(self, *, inspector: Any) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "inspector": inspector,
            "minor_class": MinorClass.objects.select_related("major").get(pk=d["minor_class"]),
            "location": Point(d["lon"], d["lat"], srid=4326),
            "description": d["description"],
            "before_photos": d["before_photos"],
            "after_photos": d["after_photos"],
            "urgency": d["urgency"],
            "address": d["address"],
            "component_code": d["component_code"] or None,
        }


class SupervisionReplyForm(forms.Form):
    """A unit's reply to one supervision or urging, on the list of those addressed to it."""

    text = forms.CharField(label=_("Reply"), widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, supervision: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", f"reply-{supervision.pk}")
        super().__init__(*args, **kwargs)
        self.supervision = supervision


# --- one form per workflow action (fields named as the services' arguments where possible)


def _reason(required: bool = False) -> forms.CharField:
    return forms.CharField(
        label=_("Reason") if required else _("Note"),
        required=required,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ActionForm(forms.Form):
    """Base: most actions take only a reason (required where the workflow says so)."""

    def __init__(self, *args: Any, reason_required: bool = False, case: Any = None, user: Any = None, **kw: Any):
        super().__init__(*args, **kw)
        self.case, self.user = case, user
        if "reason" in self.fields:
            self.fields["reason"] = _reason(reason_required)


class ReasonForm(ActionForm):
    reason = _reason()


class NoInputForm(ActionForm):
    pass


class VerifyForm(ActionForm):
    confirmed = yes_no_field(_("Problem confirmed on site"))
    reason = _reason()
    photos = MultiplePhotoField(label=_("Photos"), required=False)


class RegisterForm(ActionForm):
    """Register (立案), correcting the class (same kind) or the urgency when the report had them wrong; the
    time limits follow the new class and urgency."""

    minor_class = forms.TypedChoiceField(label=_("Reclassify as"), coerce=int, required=False, empty_value=None)
    urgency = forms.ChoiceField(label=_("Urgency"), required=False)
    reason = _reason()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self.case.kind if self.case is not None else None
        self.fields["minor_class"].choices = [("", _("Keep the class")), *minor_class_choices(kind=kind)]
        self.fields["urgency"].choices = [("", _("Keep the urgency")), *Urgency.choices]

    def clean_minor_class(self) -> MinorClass | None:
        pk = self.cleaned_data["minor_class"]
        return MinorClass.objects.select_related("major").get(pk=pk) if pk else None


class MergeForm(ActionForm):
    master = forms.CharField(label=_("Number of the case it duplicates"), max_length=32)
    reason = _reason()

    def clean_master(self) -> Case:
        number = self.cleaned_data["master"].strip()
        master = cases_visible_to(self.user).filter(number=number).first() if self.user is not None else None
        if master is None:
            raise ValidationError(_("No case you may see has this number."), code="unknown_master")
        return master


class DispatchForm(ActionForm):
    lead_unit = forms.ModelChoiceField(
        label=_("Lead unit"),
        required=False,
        queryset=OrgUnit.objects.none(),
        empty_label=_("By the routing table"),
    )
    supporting_units = forms.ModelMultipleChoiceField(
        label=_("Supporting units"),
        required=False,
        queryset=OrgUnit.objects.none(),
        help_text=_("None chosen: those of the routing rule, when the lead unit is the rule's."),
    )
    reason = _reason()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        units = OrgUnit.objects.filter(is_active=True).order_by("path")
        self.fields["lead_unit"].queryset = units
        self.fields["supporting_units"].queryset = units

    def clean_supporting_units(self) -> list[OrgUnit] | None:
        # None chosen is "not given", as in the API: the routing rule's supporting units, not "none at all".
        return list(self.cleaned_data["supporting_units"]) or None


class ExtensionRequestForm(ActionForm):
    amount = forms.IntegerField(label=_("Extra time"), min_value=1, max_value=999)
    unit = forms.ChoiceField(label=_("Unit"), choices=extension_unit_choices, initial=TimeUnit.WORKING_DAYS)
    reason = _reason()


class ExtensionDecisionForm(ActionForm):
    approved = yes_no_field(_("Approve the extension"))
    reason = _reason()


class FeedbackForm(ActionForm):
    description = forms.CharField(label=_("What was done"), widget=forms.Textarea(attrs={"rows": 2}))
    after_photos = MultiplePhotoField(label=_("Photos after handling"))
    before_photos = MultiplePhotoField(label=_("Photos before handling"), required=False)


class CheckForm(ActionForm):
    passed = yes_no_field(_("Handled properly"))
    reason = _reason()
    photos = MultiplePhotoField(label=_("Photos"), required=False)


class FlagKeyForm(ActionForm):
    key = yes_no_field(_("Key case"), initial="yes")
    reason = _reason()


class SupervisionForm(ActionForm):
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 2}))


class ReplyForm(ActionForm):
    """A reply on the case page, to one of the case's supervisions still waiting for one."""

    supervision = forms.TypedChoiceField(label=_("Supervision"), coerce=int)
    text = forms.CharField(label=_("Reply"), widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, supervisions: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records = {s.pk: s for s in supervisions}
        self.fields["supervision"].choices = [
            (s.pk, f"{s.get_kind_display()}: {s.text[:40]}") for s in self.records.values()
        ]

    def clean_supervision(self) -> Supervision:
        return self.records[self.cleaned_data["supervision"]]


ACTION_FORMS: dict[str, type[ActionForm]] = {
    "verify": VerifyForm,
    "register": RegisterForm,
    "reject": ReasonForm,
    "merge": MergeForm,
    "dispatch": DispatchForm,
    "accept": NoInputForm,
    "return": ReasonForm,
    "request_extension": ExtensionRequestForm,
    "decide_extension": ExtensionDecisionForm,
    "hold": ReasonForm,
    "resume": ReasonForm,
    "feedback": FeedbackForm,
    "check": CheckForm,
    "cancel": ReasonForm,
    "reopen": ReasonForm,
    "flag_key": FlagKeyForm,
    "supervise": SupervisionForm,
    "urge": SupervisionForm,
    "reply": ReplyForm,
}
