"""Filters of the API lists: the questions analysts ask, as query parameters.

Ranges take `<name>_after` / `<name>_before` for dates and moments and `<name>_min` /
`<name>_max` for numbers; both bounds count. Parameters are read strictly: an unknown
name, an ambiguous date, a moment without a zone or a word that is no boolean gets a
400 naming the parameter as typed, rather than a list that silently ignores it.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import ClassVar

from django import forms
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.forms.utils import ErrorDict, ErrorList
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from django_filters.constants import EMPTY_VALUES
from django_filters.fields import (
    ChoiceField,
    DateRangeField,
    IsoDateTimeField,
    MultipleChoiceField,
    RangeField,
)
from django_filters.filterset import FilterSet
from django_filters.rest_framework.filterset import FILTER_FOR_DBFIELD_DEFAULTS
from django_filters.utils import get_model_field
from django_filters.widgets import BooleanWidget, DateRangeWidget
from rest_framework import filters as drf_filters
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.settings import api_settings

from biobank.api import vocabulary
from biobank.api.access import PROJECT_PATHS
from biobank.api.vocabulary import Vocabulary
from biobank.cohorts.forms import (
    UNKNOWN_PARAMETER,
    ambiguous_build_refusal,
    unknown_dbsnp_id_refusal,
    unstored_build_refusal,
    wrong_reference_base_refusal,
)
from biobank.cohorts.query import (
    IBSI_CODE_IMAGE_FILTER,
    feature_ids,
    with_genomic_change_or_dbsnp_id,
)
from biobank.core.datetext import has_dates
from biobank.core.validation import InvalidValue
from biobank.exports.dates import BIRTH_YEAR, is_free_text
from biobank.exports.records import stored_dates_refusal
from liquidbiopsy.hgvs import (
    FusionError,
    HGVSError,
    looks_like_fusion,
    parse_fusion,
    parse_protein_change,
)
from liquidbiopsy.models import (
    BloodSample,
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    VariantResult,
)
from liquidbiopsy.validation import (
    check_call,
    looks_like_dbsnp_id,
    looks_like_genomic_change,
    read_shown_genomic_change,
    split_genome_build,
)
from patients.models import (
    CANCER_SUBTYPES_HELP,
    CancerType,
    ClinicalEvent,
    Consent,
    Patient,
    Project,
    Treatment,
    cancer_types_within,
)
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
    RadiomicSignature,
    Segmentation,
    SignatureScore,
)

# A date parameter in ISO 8601 only: 01/02/2000 means 1 February to some users and
# 2 January to others, so it is refused rather than guessed:
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MOMENT_TIME = re.compile(r"\d[T ]\d")


class IsoDateField(forms.DateField):
    """A day written YYYY-MM-DD, nothing else."""

    default_error_messages = {
        "invalid": "Enter a date as YYYY-MM-DD (ISO 8601), e.g. 2024-03-10.",
    }

    def to_python(self, value):
        if value in self.empty_values or isinstance(value, dt.date):
            return super().to_python(value)
        text = str(value).strip()
        if not ISO_DATE.fullmatch(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise forms.ValidationError(
                self.error_messages["invalid"], code="invalid"
            ) from None


class IsoDateRangeField(DateRangeField):
    """django-filter's range of days (the upper day counts whole), in ISO days only."""

    def __init__(self, *args, **kwargs):
        RangeField.__init__(self, (IsoDateField(), IsoDateField()), *args, **kwargs)


class DateRangeFilter(filters.DateFromToRangeFilter):
    """`<name>_after` / `<name>_before` days, written YYYY-MM-DD."""

    field_class = IsoDateRangeField


class IsoDateFilter(filters.DateFilter):
    field_class = IsoDateField


class MomentField(IsoDateTimeField):
    """An ISO 8601 moment with its zone, turned into UTC before it reaches the database.

    A moment without a zone is refused: the server's zone is not the analyst's.
    PostgreSQL refuses offsets beyond about +-16 hours ("-17:51" is valid ISO 8601 but
    no real zone), so the moment is compared as UTC; one that UTC cannot hold (before
    year 1) is a 400, not a server error.
    """

    default_error_messages = {
        "invalid": "Enter a moment in ISO 8601 with its zone, "
        "e.g. 2024-03-10T09:00:00Z or 2024-03-10T10:00:00+01:00.",
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, dt.datetime):
            moment = value
        else:
            moment = self._parse(str(value).strip())
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError(
                "This moment is out of range once converted to UTC.", code="invalid"
            ) from None

    def _parse(self, text: str) -> dt.datetime:
        try:
            moment = parse_datetime(text)
        except ValueError:
            moment = None  # well formed, but no real day or time
        # A bare day parses too, as its midnight; it is no moment:
        if moment is None or not MOMENT_TIME.search(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if moment.tzinfo is None:
            raise forms.ValidationError(
                f"This moment has no zone; add one, e.g. {text}Z for UTC or "
                f"{text}+01:00.",
                code="naive",
            )
        return moment


class MomentRangeField(RangeField):
    widget = DateRangeWidget

    def __init__(self, *args, **kwargs):
        super().__init__((MomentField(), MomentField()), *args, **kwargs)


class MomentRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    """`<name>_after` / `<name>_before` moments, compared in UTC."""

    field_class = MomentRangeField


class MomentFilter(filters.IsoDateTimeFilter):
    field_class = MomentField


class StrictBooleanWidget(BooleanWidget):
    """django-filter's true/false widget, passing on a word it does not know."""

    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        if value is None:
            return data.get(name)
        return value


class StrictBooleanField(forms.NullBooleanField):
    """true or false (1 or 0); anything else, such as maybe, is a 400."""

    widget = StrictBooleanWidget

    def to_python(self, value):
        if value in (True, False):
            return value
        if value in self.empty_values:
            return None
        raise forms.ValidationError("Enter true or false.", code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", StrictBooleanWidget)
        super().__init__(*args, **kwargs)


class FractionField(forms.DecimalField):
    """A fraction between 0 and 1; a percent typed by mistake (5 for 5 %) is a 400."""

    def __init__(self, *args, quantity: str = "This value", **kwargs):
        self.quantity = quantity
        super().__init__(*args, **kwargs)

    def validate(self, value):
        super().validate(value)
        if value is not None and not 0 <= value <= 1:
            raise forms.ValidationError(
                f"{self.quantity} is a fraction between 0 and 1: write 5 % as 0.05.",
                code="not_a_fraction",
            )


class FractionRangeField(RangeField):
    def __init__(self, *args, quantity: str = "This value", **kwargs):
        bounds = (FractionField(quantity=quantity), FractionField(quantity=quantity))
        super().__init__(bounds, *args, **kwargs)


class FractionRangeFilter(filters.RangeFilter):
    """`<name>_min` / `<name>_max` fractions; `quantity` names them in the error."""

    field_class = FractionRangeField


def feature_condition(feature: str, path: str = "") -> Q:
    """Match a feature by its name, or by IBSI code as computed on the original image."""
    return Q(**{f"{path}name": feature}) | Q(
        **{
            f"{path}ibsi_code": feature.upper(),
            f"{path}image_filter": IBSI_CODE_IMAGE_FILTER,
        }
    )


class VariantChangeField(forms.CharField):
    """A protein change in any HGVS spelling, a fusion, or a genomic change as the
    cohort filter reads it (17:7578263 G>A hg19, NC_000017.10:g.7578263G>A), or a
    dbSNP ID (rs121434569); refused when it is none of them."""

    def clean(self, value: str | None) -> str:
        value = super().clean(value)
        if not value:
            return value
        try:
            if looks_like_dbsnp_id(value):
                return value
            if looks_like_genomic_change(value):
                read_shown_genomic_change(split_genome_build(value)[0])
            elif looks_like_fusion(value):
                parse_fusion(value, annotator_names=True)
            else:
                parse_protein_change(value)
        except (HGVSError, FusionError, InvalidValue) as error:
            raise forms.ValidationError(f"{value} {error}") from error
        return value


class VariantChangeFilter(filters.CharFilter):
    field_class = VariantChangeField


class CallSpellings:
    """A call in any spelling the importers and API writes take (below LOD, <lod, pos).

    "call": "below LOD" is written as below-lod, so ?call=below LOD asks for it.
    """

    def to_python(self, value: object) -> object:
        value = super().to_python(value)  # type: ignore[misc]
        if isinstance(value, list):
            return [_call_of(text) for text in value]
        return _call_of(value)


def _call_of(text: object) -> object:
    try:
        return check_call(str(text))
    except InvalidValue:
        return text  # the choice field refuses it, naming the choices


class CallField(CallSpellings, ChoiceField):
    pass


class CallsField(CallSpellings, MultipleChoiceField):
    pass


CALL_HELP = "Any spelling writes take (below LOD, <LOD, positive, ND)."


class CallFilter(filters.ChoiceFilter):
    field_class = CallField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("choices", VariantResult.Call.choices)
        kwargs.setdefault("help_text", CALL_HELP)
        super().__init__(*args, **kwargs)


class CallsFilter(filters.MultipleChoiceFilter):
    """Calls, any of several, each in any spelling writes take."""

    field_class = CallsField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("choices", VariantResult.Call.choices)
        kwargs.setdefault("help_text", f"{CALL_HELP} Repeat for any of several.")
        super().__init__(*args, **kwargs)


# The largest id a 64-bit primary key holds, and the largest whole number any integer
# column holds:
LARGEST_INTEGER = MAX_ID = 2**63 - 1


class IdFilter(filters.NumberFilter):
    """A record id: a whole number within a primary key's range, else a 400."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


# Filters made from Meta.fields take the strict fields above: ISO days, moments with a
# zone, true or false; a related record, its id.
STRICT_FILTER_DEFAULTS = {
    **FILTER_FOR_DBFIELD_DEFAULTS,
    # A related record by its id, as a number. django-filter's default, a choice
    # among every row of the related table, put each row's name (a draw's or
    # study's calendar date, another project's pseudonym) into the browsable API's
    # filter form for any signed-in account, and told another project's ids
    # (accepted) from unknown ones (refused). Records the caller may not read are
    # left out by the list's own scoping, whatever id is asked for.
    models.ForeignKey: {"filter_class": IdFilter},
    models.OneToOneField: {"filter_class": IdFilter},
    models.ManyToManyField: {"filter_class": IdFilter},
    models.OneToOneRel: {"filter_class": IdFilter},
    models.ManyToOneRel: {"filter_class": IdFilter},
    models.ManyToManyRel: {"filter_class": IdFilter},
    models.DateField: {"filter_class": IsoDateFilter},
    models.DateTimeField: {"filter_class": MomentFilter},
    models.BooleanField: {"filter_class": StrictBooleanFilter},
}


def stored_date_filters(
    model: type[models.Model] | None, found: dict[str, filters.Filter]
) -> list[str]:
    """Return the names of the filters `found` on `model` that compare a patient's
    stored dates.

    Those of a date or moment (the record's own or a related one's, such as a
    draw's day on its variants) and of the birth year, on records of a patient
    only: the API shows them shifted or relative (or hides the birth year), per
    patient, to viewers. Whether a date is set (is_withdrawn) tells no date.
    """
    if model is None or not PROJECT_PATHS.get(model._meta.label_lower):
        return []
    return [
        name
        for name, one in found.items()
        if one.lookup_expr != "isnull" and is_stored_date(model, one.field_name)
    ]


def is_patient_text(model: type[models.Model], path: str) -> bool:
    """Whether `path` from `model` is a patient's free text shown with its dates in
    the mode: any text field of a patient's records but a controlled vocabulary
    (its choices) and the shared ones (biobank.exports.dates.SHARED_TEXT_FIELDS)."""
    field = get_model_field(model, path)
    # The record holding the field decides (a score's signature__name is none's):
    return (
        isinstance(field, models.CharField | models.TextField | models.JSONField)
        and bool(PROJECT_PATHS.get(field.model._meta.label_lower))
        and not field.choices
        and is_free_text(field.name)
    )


# Lookups that match a free text only when the value is that whole text, so that a
# value naming no date can only match a text naming none (not "GTV_2020-01-22"):
WHOLE_TEXT_LOOKUPS = frozenset(("exact", "iexact", "in"))


def is_stored_date(model: type[models.Model], path: str) -> bool:
    """Whether the field at `path` from `model` is a date, a moment or the birth year."""
    field = get_model_field(model, path)
    return isinstance(field, models.DateField) or (
        field is not None and field.name == BIRTH_YEAR
    )


# In the schema's description of each filter on a patient's stored dates:
CALENDAR_NOTE = (
    "Compares the stored (calendar) dates or birth year: refused with a 400 to a "
    "caller shown shifted or relative dates, such as a viewer (docs/api.md#dates)."
)

# In the schema's description of each filter on a patient's free text:
TEXT_NOTE = (
    "A value naming a date (GTV_2021-03-04) is refused with a 400 to a caller shown "
    "shifted or relative dates, as the text's dates are shown in that mode."
)


class BoundedFilterSet(filters.FilterSet):
    """The base of every API FilterSet: each error names the parameter that caused it.

    A range is one form field read from two parameters, so its errors are moved to
    the parameter at fault (diagnosis_on_after, not diagnosis_on). Integers no
    database column can hold are refused too: birth_year_min=4634484785228805046272
    is a valid number, but SQLite and PostgreSQL fail on it (a 500). A parameter
    listed in `vocabularies` must name something stored that the user may read
    (biobank/api/vocabulary.py), else it is a 400 with the closest names.
    """

    FILTER_DEFAULTS = STRICT_FILTER_DEFAULTS
    # Parameter name -> what its value must name; merged along the class's bases:
    vocabularies: ClassVar[dict[str, Vocabulary]] = {}
    # Set on each class by stored_date_parameters:
    _stored_date_parameters: ClassVar[tuple[str, ...]]

    @classmethod
    def all_vocabularies(cls) -> dict[str, Vocabulary]:
        merged: dict[str, Vocabulary] = {}
        for klass in reversed(cls.__mro__):
            merged |= vars(klass).get("vocabularies", {})
        return merged

    @classmethod
    def get_filters(cls) -> dict[str, filters.Filter]:
        # The schema's description of each checked parameter says so:
        found = super().get_filters()
        noted = [
            (name, words.schema_note) for name, words in cls.all_vocabularies().items()
        ]
        noted += [
            (name, CALENDAR_NOTE)
            for name in stored_date_filters(cls._meta.model, found)
        ]
        model = cls._meta.model
        noted += [
            (name, TEXT_NOTE)
            for name, one in found.items()
            if model is not None and is_patient_text(model, one.field_name)
        ]
        for name, note in noted:
            extra = found[name].extra
            described = extra.get("help_text") or ""
            if note not in described:
                extra["help_text"] = f"{described} {note}".strip()
        return found

    def is_valid(self) -> bool:
        self.out_of_range: dict[str, list[forms.ValidationError]] = {}
        self.refused: dict[str, list[forms.ValidationError]] = {}
        valid = super().is_valid()
        # Checked also when another parameter is wrong, to report every problem:
        self.unknown_names = self._unknown_names()
        self.hidden_dates = self._hidden_dates() | self._dates_in_text()
        if self.hidden_dates:
            return False
        if not valid:
            return False

        for name, value in list(self.form.cleaned_data.items()):
            target = self.filters.get(name)
            if target is None or not _is_integer_field(self._meta.model, target):
                continue
            for parameter, bound in _bounds_by_parameter(self.form, name, value):
                if isinstance(bound, int | Decimal) and abs(bound) > LARGEST_INTEGER:
                    self.out_of_range[parameter] = [
                        forms.ValidationError("This number is out of range.")
                    ]
        if self.out_of_range or self.unknown_names:
            return False
        self.refused = self.refusals()
        return not self.refused

    def refusals(self) -> dict[str, list[forms.ValidationError]]:
        """Return what a FilterSet refuses in values each valid alone, by parameter.

        Called once every parameter is valid and names what it should; none here.
        """
        return {}

    def _unknown_names(self) -> dict[str, list[forms.ValidationError]]:
        user = getattr(self.request, "user", None)
        if user is None:
            return {}

        unknown = {}
        for name, words in self.all_vocabularies().items():
            value = self.form.cleaned_data.get(name)
            if value and not words.knows(value, user):
                message = words.refusal(value, user)
                unknown[name] = [forms.ValidationError(message, code="unknown")]
        return unknown

    def stored_date_parameters(self) -> tuple[str, ...]:
        """Return the parameters comparing a patient's stored dates or birth year.

        They follow from the class alone (its model and filters, which no instance
        changes), so the first instance finds them for its class and every later
        request of that class reads them back.
        """
        cls = type(self)
        # Read from the class's own __dict__: a subclass has filters of its own.
        found = cls.__dict__.get("_stored_date_parameters")
        if found is None:
            found = tuple(
                parameter
                for name in stored_date_filters(self._meta.model, self.filters)
                for parameter in parameters_of_field(name, self.form.fields[name])
            )
            cls._stored_date_parameters = found
        return found

    def _hidden_dates(self) -> dict[str, list[forms.ValidationError]]:
        """Refuse each stored date or birth year given, to a caller not shown them."""
        request = self.request
        given = [
            parameter
            for parameter in self.stored_date_parameters()
            if self.data.get(parameter) not in EMPTY_VALUES
        ]
        if not given or request is None:
            return {}

        why = stored_dates_refusal(
            request,
            self.data.get("project"),
            "filtering by calendar dates or the birth year",
        )
        if why is None:
            return {}
        return {
            parameter: [forms.ValidationError(why, code="hidden_dates")]
            for parameter in given
        }

    def _dates_in_text(self) -> dict[str, list[forms.ValidationError]]:
        """Refuse a free-text filter that could test a date hidden in the text.

        A viewer sees the dates in an ROI name or timepoint in the mode
        (GTV_2019-10-23 for GTV_2020-01-22); matching guesses against the stored
        text (roi_name=GTV_2020-01-22, 1 row; GTV_2020-01-23, none) would recover
        the patient's offset. So a whole-text match naming a date, and any partial
        match (whose part of a date no finder can tell), is refused to them.
        """
        model = self._meta.model
        if self.request is None or model is None:
            return {}
        given = {}
        for name, one in self.filters.items():
            value = self.data.get(name)
            if value in EMPTY_VALUES or not is_patient_text(model, one.field_name):
                continue
            if one.lookup_expr not in WHOLE_TEXT_LOOKUPS:
                given[name] = "filtering by a part of free text"
            elif has_dates(str(value)):
                given[name] = f"filtering {name} by text that names a date"
        if not given:
            return {}

        refusals = {}
        for name, what in given.items():
            why = stored_dates_refusal(self.request, self.data.get("project"), what)
            if why is not None:
                refusals[name] = [forms.ValidationError(why, code="hidden_dates")]
        return refusals

    @property
    def errors(self) -> ErrorDict:
        errors = ErrorDict()
        for name, messages in self.form.errors.as_data().items():
            field = self.form.fields.get(name)
            messages = [_naming_the_choices(field, message) for message in messages]
            for parameter, found in self._errors_by_parameter(name, messages).items():
                errors.setdefault(parameter, ErrorList()).extend(found)
        for parameter, found in getattr(self, "out_of_range", {}).items():
            errors.setdefault(parameter, ErrorList()).extend(found)
        for parameter, found in getattr(self, "unknown_names", {}).items():
            errors.setdefault(parameter, ErrorList()).extend(found)
        for parameter, found in getattr(self, "hidden_dates", {}).items():
            errors.setdefault(parameter, ErrorList()).extend(found)
        for parameter, found in getattr(self, "refused", {}).items():
            errors.setdefault(parameter, ErrorList()).extend(found)
        return errors

    def _errors_by_parameter(
        self, name: str, messages: list[forms.ValidationError]
    ) -> dict[str, list[forms.ValidationError]]:
        field = self.form.fields.get(name)
        parameters = parameters_of_field(name, field) if field else [name]
        if len(parameters) == 1:
            return {parameters[0]: messages}

        # Clean each part alone to find the parameter at fault:
        given = {}
        for parameter, part, subwidget in zip(
            parameters, field.fields, field.widget.widgets, strict=True
        ):
            text = subwidget.value_from_datadict(self.form.data, {}, parameter)
            if text in part.empty_values:
                continue
            try:
                part.clean(text)
                given[parameter] = []
            except forms.ValidationError as error:
                given[parameter] = error.error_list
        at_fault = {parameter: found for parameter, found in given.items() if found}
        return at_fault or dict.fromkeys(given or [name], messages)


MOST_CHOICES_LISTED = 40


def _naming_the_choices(
    field: forms.Field | None, error: forms.ValidationError
) -> forms.ValidationError:
    """Say which values a fixed choice takes ("sex=female": F, M, O or U).

    Django's "Select a valid choice" lists none. Choices read from the database
    (a project) are left out: listing them would show what the user may not read.
    """
    if (
        error.code != "invalid_choice"
        or not isinstance(field, forms.ChoiceField)
        or isinstance(field, forms.ModelChoiceField | forms.ModelMultipleChoiceField)
    ):
        return error
    choices = [
        str(value) if str(value) == str(label) else f"{value} ({label})"
        for value, label in field.choices
        if value not in ("", None)
    ]
    if not choices or len(choices) > MOST_CHOICES_LISTED:
        return error
    given = (error.params or {}).get("value", "")
    return forms.ValidationError(
        f"{given} is not one of the choices: {', '.join(choices)}.",
        code="invalid_choice",
    )


def parameters_of_field(name: str, field: forms.Field) -> list[str]:
    """Return the query parameters a filter's form field reads: x, or x_min and x_max."""
    widget = field.widget
    if isinstance(field, forms.MultiValueField) and hasattr(widget, "suffixes"):
        return [widget.suffixed(name, suffix) for suffix in widget.suffixes]
    return [name]


def _bounds_by_parameter(
    form: forms.Form, name: str, value: object
) -> list[tuple[str, object]]:
    if not isinstance(value, slice):
        return [(name, value)]
    parameters = parameters_of_field(name, form.fields[name])
    return list(zip(parameters, [value.start, value.stop], strict=False))


def _is_integer_field(model, target) -> bool:
    field = get_model_field(model, target.field_name) if target.field_name else None
    return isinstance(field, models.IntegerField)


class StrictFilterBackend(filters.DjangoFilterBackend):
    """django-filter's backend, refusing what it would ignore, with a 400 naming it.

    A misspelt parameter (gen=EGFR) would otherwise return every row, as if no
    filter had been asked for. Page, format, ordering and search parameters are
    taken from the view's paginator and backends, so every list accepts its own.
    """

    def filter_queryset(self, request, queryset: QuerySet, view) -> QuerySet:
        filterset = self.get_filterset(request, queryset, view)
        accepted = view_parameters(view)
        if filterset is not None:
            accepted |= filterset_parameters(filterset)
        errors = {
            name: [UNKNOWN_PARAMETER]
            for name in sorted(set(request.query_params) - accepted)
        }

        if filterset is not None and not filterset.is_valid():
            errors |= {
                parameter: [_message(error) for error in found]
                for parameter, found in filterset.errors.as_data().items()
            }
        if errors:
            raise ValidationError(errors)
        return queryset if filterset is None else filterset.qs


def _message(error: forms.ValidationError) -> ErrorDetail:
    # As Django renders it: a message is formatted only when it has parameters, so
    # "5 %" stays as written (django-filter's translate_validation always formats).
    message = error.message % error.params if error.params else error.message
    return ErrorDetail(str(message), code=error.code)


def filterset_parameters(filterset: FilterSet) -> set[str]:
    """Return every query parameter the filters of `filterset` read."""
    return {
        parameter
        for name, field in filterset.form.fields.items()
        for parameter in parameters_of_field(name, field)
    }


def view_parameters(view) -> set[str]:
    """Return the parameters a view reads besides its filters: pages, format, order."""
    names = {api_settings.URL_FORMAT_OVERRIDE}
    paginator = getattr(view, "paginator", None)
    for attribute in (
        "page_query_param",
        "page_size_query_param",
        "cursor_query_param",
        "limit_query_param",
        "offset_query_param",
    ):
        names.add(getattr(paginator, attribute, None))
    for backend in getattr(view, "filter_backends", []):
        names.add(getattr(backend, "ordering_param", None))
        names.add(getattr(backend, "search_param", None))
    names |= set(getattr(view, "extra_query_parameters", ()))
    return names - {None}


class StrictOrderingFilter(drf_filters.OrderingFilter):
    """DRF's ?ordering=, refusing a field the list does not offer instead of ignoring it.

    The schema lists the accepted fields (with -field for descending).
    """

    def get_ordering(self, request, queryset: QuerySet, view) -> list[str] | None:
        text = request.query_params.get(self.ordering_param)
        if text:
            terms = [term.strip() for term in text.split(",")]
            valid = self.remove_invalid_fields(queryset, terms, view, request)
            if len(valid) < len(terms):
                fields = self._field_names(queryset, view, request)
                wrong = ", ".join(
                    term or "(empty)" for term in terms if term not in valid
                )
                raise ValidationError(
                    {
                        self.ordering_param: [
                            f"Cannot order by {wrong}; order by one of "
                            f"{', '.join(fields)} (-field for descending, commas "
                            "between fields)."
                        ]
                    }
                )
            self.refuse_stored_dates(request, queryset, valid)
        return super().get_ordering(request, queryset, view)

    def refuse_stored_dates(
        self, request, queryset: QuerySet, terms: list[str]
    ) -> None:
        """Refuse ordering by a stored date to a caller shown other dates.

        Each patient's shift keeps the order of its own dates, not the order between
        patients, which would tell the real dates apart.
        """
        model = queryset.model
        if not PROJECT_PATHS.get(model._meta.label_lower):
            return
        # So is free text that may spell a date (GTV_2020-01-22), shown in the mode:
        dated = [
            term
            for term in terms
            if is_stored_date(model, term.lstrip("-"))
            or is_patient_text(model, term.lstrip("-"))
        ]
        if not dated:
            return
        why = stored_dates_refusal(
            request,
            request.query_params.get("project"),
            f"ordering by {', '.join(dated)}",
        )
        if why is not None:
            raise ValidationError({self.ordering_param: [why]})

    def _field_names(self, queryset: QuerySet, view, request) -> list[str]:
        return [
            name
            for name, _ in self.get_valid_fields(queryset, view, {"request": request})
        ]

    def get_schema_operation_parameters(self, view) -> list[dict]:
        fields = getattr(view, "ordering_fields", None)
        if not isinstance(fields, list | tuple):
            return super().get_schema_operation_parameters(view)

        names = [field if isinstance(field, str) else field[0] for field in fields]
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": f"Order by {', '.join(names)}; -field for descending, "
                "several fields separated by commas.",
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": [term for name in names for term in (name, f"-{name}")],
                    },
                },
                "style": "form",
                "explode": False,
            }
        ]


class ProjectCodeFilter(filters.CharFilter):
    """A project code, matched through the project's id read first (one small query).

    Joined on the code, PostgreSQL cannot tell how many patients a project has (it
    guessed 498 of 100,000) and joined every record of the project before cutting a
    page (0.62 s for 100 CTC counts, 0.095 s with the id; issue 7).
    `field_name` is the path to the project.
    """

    def filter(self, queryset: QuerySet, value: str) -> QuerySet:
        if value in EMPTY_VALUES:
            return queryset
        # Codes differ by more than case (patients.services.get_project):
        ids = Project.objects.filter(code__iexact=value).values_list("pk", flat=True)
        return queryset.filter(**{f"{self.field_name}__in": list(ids)})


class CancerTypeFilter(filters.MultipleChoiceFilter):
    """OncoTree codes, any of several; a parent type includes its subtypes."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("choices", CancerType.choices)
        kwargs.setdefault(
            "help_text",
            f"OncoTree code; repeat the parameter for any of several. {CANCER_SUBTYPES_HELP}",
        )
        super().__init__(*args, **kwargs)

    def filter(self, queryset: QuerySet, value: list[str]) -> QuerySet:
        within = sorted(
            {code for given in value for code in cancer_types_within(given)}
        )
        return super().filter(queryset, within)


def patient_filters(path: str) -> type[filters.FilterSet]:
    """Return a FilterSet base with the patient filters of records reached by `path`."""

    class PatientFilters(BoundedFilterSet):
        project = ProjectCodeFilter(
            field_name=f"{path}__project", help_text="Project code."
        )
        # NB: `patient` keeps the pseudonym it has always taken, although the rows
        # give the patient's id under that name: a pseudonym may be all digits
        # (typed in the admin), so one parameter could not tell the two apart.
        patient = filters.CharFilter(
            field_name=f"{path}__pseudonym",
            help_text="Patient pseudonym, as a row's patient_pseudonym gives it.",
        )
        patient_id = IdFilter(
            field_name=path, help_text="Patient id, as a row's patient gives it."
        )
        cancer_type = CancerTypeFilter(field_name=f"{path}__cancer_type")

        vocabularies = {
            "project": vocabulary.PROJECTS,
            "patient": vocabulary.PSEUDONYMS,
        }

    return PatientFilters


class ProjectFilter(BoundedFilterSet):
    vocabularies = {"code": vocabulary.PROJECTS}

    class Meta:
        model = Project
        fields = ["code"]


class PatientFilter(BoundedFilterSet):
    project = ProjectCodeFilter(field_name="project", help_text="Project code.")
    pseudonym = filters.CharFilter()
    cancer_type = CancerTypeFilter()
    diagnosis_on = DateRangeFilter()
    birth_year = filters.RangeFilter()

    vocabularies = {"project": vocabulary.PROJECTS}

    class Meta:
        model = Patient
        fields = ["sex", "stage", "is_deceased"]


class ConsentFilter(patient_filters("patient")):
    given_on = DateRangeFilter()
    is_withdrawn = StrictBooleanFilter(
        field_name="withdrawn_on", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Consent
        fields = ["allows_imaging", "allows_genomics", "allows_sharing"]


class TreatmentFilter(patient_filters("patient")):
    started_on = DateRangeFilter()
    agent = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Treatment
        fields = ["kind", "line"]


class ClinicalEventFilter(patient_filters("patient")):
    occurred_on = DateRangeFilter()

    class Meta:
        model = ClinicalEvent
        fields = ["kind", "recist"]


def acquisition_filters(path: str) -> type[filters.FilterSet]:
    """Return a FilterSet base with the acquisition parameters of series at `path`.

    Text matches ignore case; `path` is "" on series and "series__" on studies.
    """

    class AcquisitionFilters(BoundedFilterSet):
        modality = filters.CharFilter(
            field_name=f"{path}modality", lookup_expr="iexact"
        )
        manufacturer = filters.CharFilter(
            field_name=f"{path}manufacturer", lookup_expr="iexact"
        )
        manufacturer_model_name = filters.CharFilter(
            field_name=f"{path}manufacturer_model_name", lookup_expr="iexact"
        )
        convolution_kernel = filters.CharFilter(
            field_name=f"{path}convolution_kernel", lookup_expr="iexact"
        )
        slice_thickness_mm = filters.RangeFilter(field_name=f"{path}slice_thickness_mm")
        kvp = filters.RangeFilter(field_name=f"{path}kvp")
        ctdi_vol_mgy = filters.RangeFilter(field_name=f"{path}ctdi_vol_mgy")
        injected_activity_mbq = filters.RangeFilter(
            field_name=f"{path}injected_activity_mbq"
        )
        uptake_time_min = filters.RangeFilter(field_name=f"{path}uptake_time_min")
        magnetic_field_strength_t = filters.RangeFilter(
            field_name=f"{path}magnetic_field_strength_t"
        )

        vocabularies = {"modality": vocabulary.MODALITIES}

    return AcquisitionFilters


class ImageSeriesFilter(acquisition_filters(""), patient_filters("study__patient")):
    series_date = DateRangeFilter()
    study_date = DateRangeFilter(field_name="study__study_date")

    class Meta:
        model = ImageSeries
        fields = ["study", "contrast_agent", "mr_sequence"]


SERIES_FILTERS = list(acquisition_filters("").base_filters)


class ImagingStudyFilter(acquisition_filters("series__"), patient_filters("patient")):
    """Study filters; the acquisition filters ask for one series that meets them all."""

    study_date = DateRangeFilter()
    feature = filters.CharFilter(
        method="filter_feature",
        help_text="A feature name or IBSI code with a value on one of the study's "
        "segmentations; feature_min and feature_max bound that value.",
    )
    feature_min = filters.NumberFilter(method="filter_nothing")
    feature_max = filters.NumberFilter(method="filter_nothing")

    vocabularies = {"feature": vocabulary.FEATURES}

    class Meta:
        model = ImagingStudy
        fields = ["date_source", "body_part"]

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # Series conditions go into one EXISTS, so that "CT by Siemens" means one
        # series that is both, not a CT series and some other Siemens series:
        series_condition = Q()
        for name in SERIES_FILTERS:
            value = self.form.cleaned_data.get(name)
            if value in (None, ""):
                continue
            series_filter = self.filters[name]
            series_condition &= _condition(series_filter, value)
        if series_condition:
            series = ImageSeries.objects.filter(series_condition, study=OuterRef("pk"))
            queryset = queryset.filter(Exists(series))

        for name, value in list(self.form.cleaned_data.items()):
            if name not in SERIES_FILTERS:
                queryset = self.filters[name].filter(queryset, value)
        return queryset

    def filter_feature(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        values = FeatureValue.objects.filter(
            feature_condition(value, "feature__"),
            extraction__segmentation__series__study=OuterRef("pk"),
        )
        lowest = self.form.cleaned_data.get("feature_min")
        highest = self.form.cleaned_data.get("feature_max")
        if lowest is not None:
            values = values.filter(value__gte=lowest)
        if highest is not None:
            values = values.filter(value__lte=highest)
        return queryset.filter(Exists(values))

    def filter_nothing(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        # The bound is applied by filter_feature, to the same value.
        return queryset


def _condition(series_filter: filters.Filter, value: object) -> Q:
    """Return the Q object a plain or range filter of a study applies to one series."""
    field = series_filter.field_name.removeprefix("series__")
    if isinstance(series_filter, filters.RangeFilter):
        condition = Q()
        if value.start is not None:
            condition &= Q(**{f"{field}__gte": value.start})
        if value.stop is not None:
            condition &= Q(**{f"{field}__lte": value.stop})
        return condition
    return Q(**{f"{field}__{series_filter.lookup_expr}": value})


class SegmentationFilter(patient_filters("series__study__patient")):
    study = IdFilter(field_name="series__study")
    roi_name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Segmentation
        fields = ["series", "roi_type", "source_kind", "method", "reader"]


class FeatureExtractionFilter(patient_filters("patient")):
    study = IdFilter(field_name="segmentation__series__study")
    series = IdFilter(field_name="segmentation__series")
    created_at = MomentRangeFilter()
    finished_at = MomentRangeFilter()

    vocabularies = {"software": vocabulary.SOFTWARE, "preset": vocabulary.PRESETS}

    class Meta:
        model = FeatureExtraction
        fields = ["segmentation", "software", "software_version", "preset", "status"]


class FeatureDefinitionFilter(BoundedFilterSet):
    vocabularies = {
        "name": vocabulary.FEATURES,
        "family": vocabulary.FEATURE_FAMILIES,
        "feature_name": vocabulary.FEATURE_NAMES,
        "image_filter": vocabulary.IMAGE_FILTERS,
        "ibsi_code": vocabulary.IBSI_CODES,
    }

    class Meta:
        model = FeatureDefinition
        fields = [
            "name",
            "family",
            "feature_name",
            "image_filter",
            "ibsi_code",
            "ibsi_conformant",
        ]


class FeatureRobustnessFilter(BoundedFilterSet):
    feature = filters.CharFilter(
        method="filter_feature", help_text="Feature name or IBSI code."
    )

    vocabularies = {"feature": vocabulary.FEATURES}

    class Meta:
        model = FeatureRobustness
        fields = ["design", "form", "selection", "is_robust"]

    def filter_feature(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(feature_condition(value, "feature__"))


class FeatureValueFilter(patient_filters("extraction__patient")):
    feature = filters.CharFilter(
        method="filter_feature", help_text="Feature name or IBSI code."
    )
    value = filters.RangeFilter()
    family = filters.CharFilter(field_name="feature__family")
    software = filters.CharFilter(field_name="extraction__software")
    study = IdFilter(field_name="extraction__segmentation__series__study")
    segmentation = IdFilter(field_name="extraction__segmentation")
    robust = filters.ChoiceFilter(
        choices=FeatureRobustness.Design.choices,
        method="filter_robust",
        help_text="Keep only features marked robust by a stored result of this design "
        "(feature_robustness; any ICC form and extraction selection).",
    )

    vocabularies = {
        "feature": vocabulary.FEATURES,
        "family": vocabulary.FEATURE_FAMILIES,
        "software": vocabulary.SOFTWARE,
    }

    # The most values a feature and value bound may match for a page to be picked
    # from their ids (see filter_queryset). Measured on 54 million values: 6,900 ids
    # took 0.15 s against 0.4 to 2.7 s for the walk, 16,000 as long as the walk,
    # 34,000 twice as long (the ids are joined to their projects one by one).
    narrow_limit = 10_000

    class Meta:
        model = FeatureValue
        fields = ["extraction"]

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # Issue 7: PostgreSQL keeps one histogram for the values of all features, so it
        # guesses that value >= 0.8 of one feature matches hundreds of thousands of
        # rows, and walks the table in id order to fill a page (up to 29 s on 54
        # million values, 2,304 of them matching). No index serves both the range and
        # the id order, and no index mends the guess. So a few matching ids, read
        # first from the (feature, value, id) index, let it fetch just those rows;
        # many, and the walk in id order soon fills the page, so the list is left as
        # it is.
        queryset = super().filter_queryset(queryset)
        ids = self.few_matching_ids()
        if ids is None:
            return queryset
        return queryset.filter(id__in=ids)

    def few_matching_ids(self) -> list[int] | None:
        """Return the ids of the feature's values within the bounds, None if too many.

        Values of every project count: the list is only narrowed by these ids.
        """
        feature = self.form.cleaned_data.get("feature")
        bounds = self.form.cleaned_data.get("value")
        if not feature or not bounds:
            return None
        if bounds.start is None and bounds.stop is None:
            return None

        values = FeatureValue.objects.filter(feature_id__in=feature_ids(feature))
        if bounds.start is not None:
            values = values.filter(value__gte=bounds.start)
        if bounds.stop is not None:
            values = values.filter(value__lte=bounds.stop)
        # In the index's order, so that PostgreSQL reads the index range rather than
        # the table, whatever it guesses the bounds match:
        values = values.order_by("feature_id", "value")
        ids = list(values.values_list("id", flat=True)[: self.narrow_limit + 1])
        return ids if len(ids) <= self.narrow_limit else None

    def filter_feature(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Resolved to ids first, so the database ranges over the (feature, value) index:
        features = FeatureDefinition.objects.filter(feature_condition(value))
        return queryset.filter(feature__in=features)

    def filter_robust(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        robust = FeatureRobustness.objects.filter(design=value, is_robust=True)
        return queryset.filter(feature__in=robust.values("feature"))


class RadiomicSignatureFilter(BoundedFilterSet):
    vocabularies = {"name": vocabulary.SIGNATURES}

    class Meta:
        model = RadiomicSignature
        fields = ["name"]


class SignatureScoreFilter(patient_filters("extraction__patient")):
    signature = filters.CharFilter(
        field_name="signature__name", help_text="Signature name."
    )
    label = filters.CharFilter(help_text="Signature label, e.g. high risk.")
    score = filters.RangeFilter()
    study = IdFilter(field_name="extraction__segmentation__series__study")
    computed_at = MomentRangeFilter()

    vocabularies = {"signature": vocabulary.SIGNATURES}

    class Meta:
        model = SignatureScore
        fields = ["extraction"]


class BloodSampleFilter(patient_filters("patient")):
    drawn_at = MomentRangeFilter()
    drawn_on = DateRangeFilter()

    class Meta:
        model = BloodSample
        fields = ["timepoint", "tube_type", "is_time_known"]


class _SampleRecordFilters(patient_filters("sample__patient")):
    drawn_on = DateRangeFilter(field_name="sample__drawn_on")
    drawn_at = MomentRangeFilter(field_name="sample__drawn_at")


class CTCCountFilter(_SampleRecordFilters):
    count = filters.RangeFilter()
    count_per_7_5ml = filters.RangeFilter()

    class Meta:
        model = CTCCount
        fields = ["sample", "platform", "enrichment"]


class CfDNAAssayFilter(_SampleRecordFilters):
    cfdna_ng_per_ml = filters.RangeFilter()
    tumour_fraction = FractionRangeFilter(quantity="Tumour fraction")

    class Meta:
        model = CfDNAAssay
        fields = ["sample", "method", "panel"]


class CirculatingRNAResultFilter(_SampleRecordFilters):
    transcript = filters.CharFilter(lookup_expr="iexact")
    call = CallFilter()
    value = filters.RangeFilter()

    class Meta:
        model = CirculatingRNAResult
        fields = ["sample", "source", "method", "call"]


class VariantResultFilter(patient_filters("assay__sample__patient")):
    gene = filters.CharFilter(
        method="filter_gene",
        help_text="Gene symbol as stored or its current HGNC symbol (SEPT9 = SEPTIN9).",
    )
    variant = VariantChangeFilter(
        method="filter_variant",
        help_text="Protein change in any HGVS spelling (T790M, p.Thr790Met, "
        "p.(T790M)) of `gene` (of any gene without it), a fusion "
        "(EML4::ALK, partner order kept), or a genomic change (17:7578263 G>A, "
        "chr17:7578263G>A, 17-7578263-G-A, chr17:g.7578263G>A), with its genome "
        "build after it (GRCh37 or hg19, GRCh38 or hg38) if the variants it finds "
        "are stored in several, or an HGVS substitution on a RefSeq chromosome "
        "accession, which names the build (NC_000017.10:g.7578263G>A is GRCh37, "
        "NC_000017.11 GRCh38), or a dbSNP ID (rs121434569) as a MAF (dbSNP_RS) "
        "or VCF (ID) gave it. A change in a build no variant is "
        "stored in (positions are not lifted over), and a dbSNP ID that no "
        "variant you may read carries, are a 400 saying what is stored.",
    )
    call = CallsFilter()
    vaf = FractionRangeFilter(
        quantity="VAF",
        help_text="Variant allele fraction, 0..1 (write 5 % as 0.05).",
    )
    drawn_on = DateRangeFilter(field_name="assay__sample__drawn_on")
    drawn_at = MomentRangeFilter(field_name="assay__sample__drawn_at")
    sample = IdFilter(field_name="assay__sample")

    vocabularies = {"gene": vocabulary.GENES}

    class Meta:
        model = VariantResult
        fields = [
            "assay",
            "variant_type",
            "is_clonal_haematopoiesis",
            "is_germline",
            "is_seen_in_ctc",
        ]

    def filter_gene(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        return queryset.of_gene(value)

    def refusals(self) -> dict[str, list[forms.ValidationError]]:
        """Refuse a genomic change or dbSNP ID as the cohort filter does (CohortForm).

        A genomic change without its build, when the rows the list would give are
        stored in several builds; with a build no variant of any project is stored
        in (stored_genome_builds); and when its reference base is none of those
        stored at its position among the view's queryset, whatever the other
        filters. A dbSNP ID that none of them carries.
        """
        variant = self.form.cleaned_data.get("variant")
        if not variant:
            return {}
        if looks_like_dbsnp_id(variant):
            refusals = [unknown_dbsnp_id_refusal(variant, self.queryset)]
        elif looks_like_genomic_change(variant):
            rows = self.filter_queryset(self.queryset.all())
            refusals = [
                ambiguous_build_refusal(variant, rows),
                unstored_build_refusal(variant),
                wrong_reference_base_refusal(variant, self.queryset),
            ]
        else:
            return {}
        messages = [
            forms.ValidationError(refusal, code="genomic_change")
            for refusal in refusals
            if refusal
        ]
        return {"variant": messages} if messages else {}

    def filter_variant(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        gene = self.form.cleaned_data.get("gene") or ""
        if looks_like_genomic_change(value) or looks_like_dbsnp_id(value):
            # Of any call, as the rest of the list; `call` narrows it as ever:
            found = with_genomic_change_or_dbsnp_id(queryset, value)
            return found.of_gene(gene) if gene else found
        if gene or looks_like_fusion(value):
            return queryset.matching(gene, value)
        return queryset.filter(protein_change=parse_protein_change(value).canonical)
