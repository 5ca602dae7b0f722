"""Admin forms run the API's write rules, so a value the API refuses is refused in both.

The importers, the API serializers and these forms share one set of rule functions
(patients.validation, liquidbiopsy.validation) through the serializers: an admin form
of a record with a serializer below validates the changed fields as a PATCH of them
would, reports each refusal under its field, and stores what the API would store (a
protein change in its canonical HGVS form with the text as given kept, the current
HGNC symbol, a call and VAF read together).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import messages as admin_messages
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.http import HttpRequest
from django.utils.text import capfirst
from rest_framework import serializers
from simple_history.models import is_historic

from biobank.api.serializers import (
    CALL_FIELDS,
    CONSTRAINT_FIELDS,
    NON_FIELD,
    BloodSampleSerializer,
    CfDNAAssaySerializer,
    CirculatingRNAResultSerializer,
    ClinicalEventSerializer,
    ConsentSerializer,
    CTCCountSerializer,
    CuratedSerializer,
    PatientSerializer,
    TreatmentSerializer,
    VariantResultSerializer,
)
from biobank.core.importing import Problem
from liquidbiopsy.models import (
    BloodSample,
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    VariantResult,
)
from patients.models import ClinicalEvent, Consent, Patient, Treatment

SERIALIZERS: dict[type[models.Model], type[CuratedSerializer]] = {
    Patient: PatientSerializer,
    Consent: ConsentSerializer,
    Treatment: TreatmentSerializer,
    ClinicalEvent: ClinicalEventSerializer,
    BloodSample: BloodSampleSerializer,
    CTCCount: CTCCountSerializer,
    CfDNAAssay: CfDNAAssaySerializer,
    VariantResult: VariantResultSerializer,
    CirculatingRNAResult: CirculatingRNAResultSerializer,
}

# Fields whose rule the admin applies in its own words, for what a form does that a
# PATCH does not: the platforms of several counts saved at once (CTCCountFormSet),
# and a draw's time dropped with its "time known" box (BloodSample.clean).
ADMIN_CHECKED: dict[type[models.Model], frozenset[str]] = {
    CTCCount: frozenset({"platform"}),
    BloodSample: frozenset({"is_time_known"}),
}


# Fields a form shows and the API reads together: changing one of them on the page
# sends all of them as shown, so the page's call is read with its VAF and reads.
# (A PATCH of the VAF alone re-calls the variant from it; the page shows a call.)
READ_TOGETHER: dict[type[models.Model], frozenset[str]] = {
    VariantResult: frozenset(CALL_FIELDS),
}


class ApiRulesForm(forms.ModelForm):
    """A model form that, once Django's own checks pass, applies the API's rules.

    Django's checks come first (the models' clean and constraints), so a field holds
    one message; the API's rules then check the fields that passed.
    """

    serializer_class: ClassVar[type[CuratedSerializer]]
    admin_checked: ClassVar[frozenset[str]] = frozenset()
    read_together: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What the API would store with a warning (a VAF its reads cannot give):
        self.api_warnings: list[Problem] = []
        for name, field in self.fields.items():
            rule = getattr(self.serializer_class, f"validate_{name}", None)
            if (
                rule is not None
                and isinstance(field, forms.IntegerField)
                and is_whole_number(self.instance, name)
            ):
                self.bound_by_rule(name, field)

    def bound_by_rule(self, name: str, field: forms.IntegerField) -> None:
        """Check a whole number by the API's rule instead of the column's range.

        The admin gives integer fields the range of their PostgreSQL column
        (ScopedAdmin.formfield_for_dbfield), whose message ("less than or equal to
        32767") would state a bound other than the rule's, which is narrower (a
        birth year up to this year, a treatment line up to 99); the rule's message
        states the bounds enforced.
        """
        field.validators = [
            validator
            for validator in field.validators
            if not isinstance(validator, MinValueValidator | MaxValueValidator)
        ]
        field.min_value = field.max_value = None
        for attribute in ("min", "max"):
            field.widget.attrs.pop(attribute, None)

        def check(value: int) -> None:
            try:
                getattr(self.serializer_class(), f"validate_{name}")(value)
            except serializers.ValidationError as exc:
                raise forms.ValidationError(
                    [f"{self.label_of(name)} {message}" for message in exc.detail]
                ) from None

        field.validators.append(check)

    def _post_clean(self) -> None:
        super()._post_clean()
        self.name_constraint_fields()
        record = self.instance
        changed = self.changed_fields()
        # A record left as it was is not checked, as an empty PATCH is not:
        if record.pk is not None and not changed:
            return
        if not self.has_relations(record):
            return  # a parent or related record was refused: its field says so

        if self.read_together.intersection(changed):
            changed += sorted(self.read_together.intersection(self.fields))
        serializer = self.serializer_class(
            record, data=self.api_data(changed), partial=True
        )
        if not serializer.is_valid():
            self.add_api_errors(serializer.errors)
            return
        self.api_warnings = getattr(serializer, "warnings", [])
        # What the API would store, canonical forms and derived fields included:
        for name, value in serializer.validated_data.items():
            if is_own_value(record, name):
                setattr(record, name, value)

    @staticmethod
    def has_relations(record: models.Model) -> bool:
        return all(
            getattr(record, field.attname) is not None
            for field in record._meta.concrete_fields
            if field.is_relation and not field.null
        )

    def changed_fields(self) -> list[str]:
        """Return the fields this form changes in the stored record.

        On a change page, those edited on it (every one of a new record). A revert
        from the history page shows an old version as the form's initial values, so
        Django sees nothing changed in a revert that puts the old values back: there
        the changed fields are those whose old value differs from the stored one (a
        deleted record's revert stores it anew: every field).
        """
        record = self.instance
        if record.pk is None:
            return list(self.fields)
        if not is_historic(record):
            return list(self.changed_data)

        stored = type(record)._default_manager.filter(pk=record.pk).first()
        if stored is None:
            return list(self.fields)
        return [
            name
            for name in self.fields
            if name in self.changed_data or differs(record, stored, name)
        ]

    def api_data(self, names: list[str]) -> dict[str, Any]:
        """Return the fields `names` to check, as a PATCH would send them."""
        fields = self.serializer_class().fields
        return {
            name: self.cleaned_data[name]
            for name in names
            if name in self.cleaned_data
            and name in fields
            and not fields[name].read_only
            and name not in self.admin_checked
            and is_own_value(self.instance, name)
        }

    def add_api_errors(self, errors: dict[str, list[str]]) -> None:
        said = {
            str(message) for messages in self.errors.values() for message in messages
        }
        for name, messages in errors.items():
            if name in self.admin_checked or name in self.errors:
                continue
            field = name if name in self.fields else None
            for message in map(str, messages):
                if field is not None and self.take_from_the_form(message):
                    self.add_error(field, message)  # a constraint's, under its field
                    continue
                if message in said:
                    continue
                # The API's messages follow the field's name ("is not ..."):
                if message[:1].islower() and name != NON_FIELD:
                    message = f"{self.label_of(name)} {message}"
                self.add_error(field, message)

    def name_constraint_fields(self) -> None:
        """Move a broken check constraint's message under its field, as the API has it.

        Django reports it for the whole form; the API under the field it concerns
        (CONSTRAINT_FIELDS), whose own rule then need not say it again.
        """
        for constraint in self.instance._meta.constraints:
            field = CONSTRAINT_FIELDS.get(constraint.name)
            message = constraint.get_violation_error_message()
            if field in self.fields and self.take_from_the_form(message):
                self.add_error(field, message)

    def take_from_the_form(self, message: str) -> bool:
        """Remove `message` from the errors of the whole form; return whether it was one.

        A model constraint broken in a form is an error of the whole form; the API
        says which field it concerns (CONSTRAINT_FIELDS), and so does the admin then.
        """
        errors = self._errors.get(NON_FIELD_ERRORS)
        if errors is None or message not in errors:
            return False
        errors.data = [error for error in errors.as_data() if message not in error]
        if not errors:
            del self._errors[NON_FIELD_ERRORS]
        return True

    def label_of(self, name: str) -> str:
        if name in self.fields and self.fields[name].label:
            return str(self.fields[name].label)
        try:
            return capfirst(self.instance._meta.get_field(name).verbose_name)
        except FieldDoesNotExist:
            return name


def show_api_warnings(request: HttpRequest, form: forms.BaseForm) -> None:
    """Show above the page what a saved form stored under the API's warnings."""
    for warning in getattr(form, "api_warnings", ()):
        label = form.label_of(warning.field)
        admin_messages.warning(request, f"{form.instance}: {label} {warning.message}")


def is_own_value(record: models.Model, name: str) -> bool:
    """Return whether `name` is a field of the record's own, not a related record."""
    try:
        field = record._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return field.concrete and not field.is_relation


def is_whole_number(record: models.Model, name: str) -> bool:
    """Return whether `name` is an integer column of the record's own."""
    if not is_own_value(record, name):
        return False
    return isinstance(record._meta.get_field(name), models.IntegerField)


def differs(record: models.Model, stored: models.Model, name: str) -> bool:
    """Return whether the field `name` (a related record's too) differs between them."""
    try:
        field = record._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    if not field.concrete:
        return False
    return getattr(record, field.attname) != getattr(stored, field.attname)


def with_api_rules(form_class: type[forms.ModelForm]) -> type[forms.ModelForm]:
    """Return `form_class` applying the API's rules, if its model is written through one."""
    model = form_class._meta.model
    serializer_class = SERIALIZERS.get(model)
    if serializer_class is None or issubclass(form_class, ApiRulesForm):
        return form_class
    return type(form_class)(
        form_class.__name__,
        (ApiRulesForm, form_class),
        {
            "serializer_class": serializer_class,
            "admin_checked": ADMIN_CHECKED.get(model, frozenset()),
            "read_together": READ_TOGETHER.get(model, frozenset()),
        },
    )
