"""How each record reads in the API, and how curators write the records kept by hand.

Identifier hashes (source_key, source_uid_hash) and storage paths never leave the server.
Writes apply the importers' own rules (patients.validation, liquidbiopsy.validation), so
a value refused in a file is refused here with the same message, under its field.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.settings import api_settings

from biobank.api.access import CURATE, VIEW, may, visible_to
from biobank.core.importing import Problem
from biobank.core.validation import (
    InvalidValue,
    check_choice,
    check_not_future,
    check_text,
    longer_than_message,
)
from biobank.exports.dates import is_record_keeping
from liquidbiopsy.hgvs import GeneSymbolError, check_gene_symbol, normalise_cdna_change
from liquidbiopsy.importers.common import Draw, RowProblems
from liquidbiopsy.importers.variants import (
    allele_type,
    gene_values,
    read_alteration,
    variant_key,
)
from liquidbiopsy.models import (
    BloodSample,
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    GenomeBuild,
    VariantResult,
    sample_id_taken_message,
)
from liquidbiopsy.services import detected_under, find_sample
from liquidbiopsy.validation import (
    COUNT_REQUIRED,
    DERIVED_VARIANT_FIELDS,
    DRAW_REQUIRED,
    NOT_A_CONCENTRATION,
    READS_DISAGREE,
    WHOLE_CELLS,
    WHOLE_READS,
    check_blood_volume,
    check_call,
    check_cells,
    check_concentration,
    check_draw_after_birth,
    check_enrichment,
    check_fraction,
    check_genome_build,
    check_limit_of_detection,
    check_method,
    check_platform,
    check_reads,
    check_reads_within_depth,
    find_same_platform,
    read_genomic_change,
    reads_disagree,
    resolve_call,
)
from patients.models import (
    CancerType,
    ClinicalEvent,
    Consent,
    DataIssue,
    Patient,
    Project,
    Sex,
    Treatment,
)
from patients.services import BadProjectCode, find_patient, get_project, pseudonymise
from patients.validation import (
    CANCER_TYPES,
    DATE_REQUIRED,
    EMPTY_SOURCE_ID,
    EVENT_KINDS,
    RECIST,
    SEXES,
    TREATMENT_KINDS,
    check_after_birth,
    check_age_at_diagnosis,
    check_birth_year,
    check_diagnosis_after_birth,
    check_end_after_start,
    check_overall_survival_days,
    check_records_after_birth,
    check_source_id,
    check_treatment_line,
    find_same_treatment,
    same_agent_message,
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
    SignatureTerm,
)


def _pseudonym(source: str) -> serializers.CharField:
    return serializers.CharField(source=f"{source}.pseudonym", read_only=True)


def _project(source: str) -> serializers.CharField:
    return serializers.CharField(source=f"{source}.project.code", read_only=True)


# Writing: what curators create and change by hand (docs/api.md, "Writing").

T = TypeVar("T")
NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY
MAX_INTEGER = 2**31 - 1  # PostgreSQL's integer; a larger number is no 500

# Where each related record leads to its project, for visible_to:
PROJECT_PATHS = {
    "patient": "project",
    "bloodsample": "patient__project",
    "cfdnaassay": "sample__patient__project",
}

# The field under which a broken model constraint is reported:
CONSTRAINT_FIELDS = {
    "patient_birth_year_plausible": "birth_year",
    "consent_withdrawn_after_given": "withdrawn_on",
    "treatment_end_after_start": "ended_on",
    "treatment_natural_key": "started_on",
    "event_natural_key": "occurred_on",
    "blood_sample_natural_key": "drawn_at",
    "blood_sample_plasma_volume_positive": "plasma_volume_ml",
    "blood_sample_processing_time_not_negative": "hours_to_processing",
    "ctc_count_per_platform": "platform",
    "ctc_volume_positive": "blood_volume_ml",
    "ctc_volume_plausible": "blood_volume_ml",
    "ctc_count_not_negative": "count",
    "cfdna_assay_natural_key": "panel",
    "cfdna_tumour_fraction_fraction": "tumour_fraction",
    "cfdna_lod_fraction": "limit_of_detection_vaf",
    "cfdna_concentration_not_negative": "cfdna_ng_per_ml",
    "variant_natural_key": "protein_change",
    "variant_vaf_fraction": "vaf",
    "variant_alt_reads_within_depth": "alt_reads",
    "rna_natural_key": "transcript",
}


def apply_rule(check: Callable[[T], T], value: T) -> T:
    """Return check(value); an InvalidValue becomes this field's error, message unchanged."""
    try:
        return check(value)
    except InvalidValue as exc:
        raise serializers.ValidationError(str(exc)) from None


def duplicate_message(other: models.Model, fields: tuple[str, ...] | list[str]) -> str:
    what = other._meta.verbose_name
    return (
        f"is already stored: {what} {other.pk} has the same {', '.join(fields)}; "
        "change that record instead."
    )


def constraint_errors(
    record: models.Model,
    skip: frozenset[str] = frozenset(),
    field_of: Callable[[str, models.Model], str] | None = None,
) -> dict[str, list[str]]:
    """Return the model constraints `record` breaks, as messages by field.

    A unique constraint names the stored record it would repeat; a check constraint
    gives its curator-readable message (liquidbiopsy.models, patients.models).
    `field_of` names the field of a constraint; CONSTRAINT_FIELDS does by default.
    """
    model = type(record)
    errors: dict[str, list[str]] = {}
    for constraint in model._meta.constraints:
        if constraint.name in skip:
            continue
        if field_of is None:
            field = CONSTRAINT_FIELDS.get(constraint.name, NON_FIELD)
        else:
            field = field_of(constraint.name, record)
        if isinstance(constraint, models.UniqueConstraint):
            values = {
                name: getattr(record, model._meta.get_field(name).attname)
                for name in constraint.fields
            }
            other = model._default_manager.filter(**values).exclude(pk=record.pk)
            found = other.first()
            if found is not None:
                message = duplicate_message(found, constraint.fields)
                errors.setdefault(field, []).append(message)
            continue
        try:
            constraint.validate(model, record)
        except DjangoValidationError as exc:
            errors.setdefault(field, []).extend(exc.messages)
    return errors


def integrity_errors(exc: IntegrityError, model: type[models.Model]) -> dict:
    """Return the field errors a database refusal means; the constraint is named in it.

    Validation catches every constraint first; this covers a write that raced another.
    """
    text = str(exc)
    for constraint in model._meta.constraints:
        columns = [
            f"{model._meta.db_table}.{model._meta.get_field(name).column}"
            for name in getattr(constraint, "fields", ())
        ]
        # PostgreSQL names the constraint; SQLite names a unique one's columns:
        if constraint.name in text or (columns and ", ".join(columns) in text):
            field = CONSTRAINT_FIELDS.get(constraint.name, NON_FIELD)
            message = (
                constraint.get_violation_error_message()
                if isinstance(constraint, models.CheckConstraint)
                else "is already stored (another request stored the same record "
                "meanwhile); change that record instead."
            )
            return {field: [message]}
    return {NON_FIELD: [f"The database refused the record: {text}"]}


def write_action(context: dict[str, Any]) -> str:
    """The role action a write through this serializer needs (the view's write_action)."""
    return getattr(context.get("view"), "write_action", CURATE)


class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """A related record by id, only among those the requesting user may read."""

    def to_internal_value(self, data: Any) -> models.Model:
        # An id beyond any key column is no record (PostgreSQL would refuse the query):
        if isinstance(data, int | str) and str(data).lstrip("-").isdigit():
            if not 0 < int(data) <= 2**63 - 1:
                self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)

    def get_queryset(self) -> models.QuerySet:
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None:
            return queryset
        path = PROJECT_PATHS.get(queryset.model._meta.model_name)
        return visible_to(request.user, queryset, path, write_action(self.context))


class RuleChoiceField(serializers.ChoiceField):
    """A choice given by its value or any word the importers take for it, any case."""

    def __init__(self, check: Callable[[str], str], **kwargs: Any) -> None:
        self.check = check
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if data == "" and self.allow_blank:
            return ""
        return apply_rule(self.check, str(data))


def words(choices: dict[str, str]) -> Callable[[str], str]:
    return lambda text: check_choice(text, choices)


class ProjectCodeField(serializers.CharField):
    """A project by its code, checked as patients.services.get_project checks it."""

    def to_internal_value(self, data: Any) -> Project:
        code = super().to_internal_value(data)
        try:
            project = get_project(code, create=False)
        except BadProjectCode as exc:
            raise serializers.ValidationError(str(exc)) from None
        except Project.DoesNotExist:
            project = None
        user = self.context["request"].user
        if project is None or not may(user, VIEW, project):
            raise serializers.ValidationError(
                f"names no project {code!r}; an administrator creates projects."
            )
        if not may(user, write_action(self.context), project):
            raise serializers.ValidationError(
                f"is a project in which you may only read; a curator of {code!r} "
                "writes its records."
            )
        return project

    def to_representation(self, value: Project) -> str:
        return value.code


UNKNOWN_FIELD = "Unknown field; check its spelling."


class RefusesUnknownFields:
    """A write serializer answering 400 for a field it does not have.

    DRF drops unknown keys silently, so a misspelt field ("birth_yaer") would store
    the record without the value the caller meant to give. Read-only fields a client
    sends back from a read (id, pseudonym) stay ignored. `field_hints` gives a field's
    own message where a better one than "unknown" exists.
    """

    field_hints: ClassVar[dict[str, str]] = {}

    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [self.field_hints.get(name, UNKNOWN_FIELD)]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


# In the schema's description of each moment of record keeping of a patient's records:
WITHHELD_NOTE = (
    "Null for a caller shown shifted or relative dates, such as a viewer: the wall "
    "clock of an import or a job would tell the patient's date offset "
    "(docs/api.md#dates)."
)


class WithholdsRecordKeeping:
    """A serializer of a patient's records whose moments of record keeping (created_at,
    an extraction's started_at...) a caller shown shifted or relative dates gets as
    null (biobank.exports.dates.is_record_keeping); the schema says so."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()  # type: ignore[misc]
        for name, field in fields.items():
            if is_record_keeping(name):
                field.allow_null = True
                field.help_text = f"{field.help_text or ''} {WITHHELD_NOTE}".strip()
        return fields


class CuratedSerializer(RefusesUnknownFields, serializers.ModelSerializer):
    """A record curators write; every value passes the importers' rule for its field.

    Model constraints are checked before saving and reported under a field, so a
    duplicate or an impossible combination is a 400, never a 500.
    """

    serializer_related_field = VisibleRelatedField
    # Constraints the serializer checks in its own words, or that cannot apply:
    unchecked_constraints: ClassVar[frozenset[str]] = frozenset()

    def get_validators(self) -> list:
        # NB: DRF's unique-together validators answer under non_field_errors;
        # constraint_errors names the field instead.
        return []

    def build_standard_field(self, field_name: str, model_field: models.Field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if "max_length" in kwargs:
            messages = kwargs.setdefault("error_messages", {})
            messages["max_length"] = longer_than_message(kwargs["max_length"])
        return field_class, kwargs

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        # Control characters are refused in text as the importers refuse them in cells:
        for name, value in attrs.items():
            if isinstance(value, str):
                field_rule(name, lambda value=value: check_text(value))
        record = self.record_with(attrs)
        self.check_record(record)
        errors = constraint_errors(
            record, self.unchecked_constraints, self.field_of_constraint
        )
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def field_of_constraint(self, name: str, record: models.Model) -> str:
        return CONSTRAINT_FIELDS.get(name, NON_FIELD)

    def record_with(self, attrs: dict) -> models.Model:
        """Return the record as it would be saved: a copy of the stored one, changed."""
        model = self.Meta.model
        record = copy.copy(self.instance) if self.instance else model()
        names = {field.name for field in model._meta.concrete_fields}
        for name, value in attrs.items():
            if name in names:
                setattr(record, name, value)
        return record

    def check_record(self, record: models.Model) -> None:
        """Raise ValidationError for rules that join several fields; none by default."""

    def create(self, validated_data: dict) -> models.Model:
        record = self.Meta.model(**validated_data)
        record._change_reason = "API"
        record.save()
        return record

    def update(self, instance: models.Model, validated_data: dict) -> models.Model:
        instance._change_reason = "API"
        return super().update(instance, validated_data)


def record_warnings(
    record: models.Model,
    patient: Patient,
    codes: Collection[str],
    warnings: list[Problem],
) -> None:
    """Keep a write's warnings among the data issues, as an import keeps its own.

    The API's answer has no place for them: curators find them in the admin's data
    issues (source "API"), linked to the record. `codes` are those the write
    checked: the record's earlier API issues of them go first, so a write that
    fixes a value leaves no stale warning and one repeating a warning no second.
    An importer's issues stay with their runs.
    """
    linked = DataIssue.objects.filter(
        record_type=type(record).__name__, record_id=record.pk, source_name="API"
    )
    linked.filter(code__in=codes).delete()
    DataIssue.objects.bulk_create(
        DataIssue(
            record_type=type(record).__name__,
            record_id=record.pk,
            code=warning.code,
            message=warning.message,
            project_id=patient.project_id,
            patient=patient,
            severity=DataIssue.Severity.WARNING,
            source_name=warning.source,
            field=warning.field,
            value=warning.value[:200],
        )
        for warning in {(w.code, w.message): w for w in warnings}.values()
    )


def field_rule(field: str, check: Callable[[], object]) -> None:
    """Run a rule that joins several fields; its InvalidValue becomes `field`'s error."""
    try:
        check()
    except InvalidValue as exc:
        raise serializers.ValidationError({field: [str(exc)]}) from None


def whole_number(
    message: str,
    required_message: str = "",
    max_value: int | None = MAX_INTEGER,
    **kwargs: Any,
) -> serializers.IntegerField:
    """An integer field whose malformed input gets the importers' message.

    With `required_message` the field is required and that message says so.
    `max_value` None leaves the bounds to the field's validate_<name> rule, for a
    rule narrower than the column (a birth year, a treatment line): DRF's check of
    the column's largest number comes first, and its message would state a bound
    that is not the one enforced.
    """
    messages = {"invalid": message}
    if required_message:
        messages |= {"required": required_message, "null": required_message}
    return serializers.IntegerField(
        max_value=max_value,
        required=bool(required_message),
        allow_null=not required_message,
        error_messages=messages,
        **kwargs,
    )


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "code", "name", "description", "created_at"]


def required_date(**kwargs: Any) -> serializers.DateField:
    message = DATE_REQUIRED
    return serializers.DateField(
        error_messages={"required": message, "null": message}, **kwargs
    )


def optional_date() -> serializers.DateField:
    return serializers.DateField(required=False, allow_null=True)


class PatientSerializer(WithholdsRecordKeeping, CuratedSerializer):
    """A patient; created from a source identifier that is kept only as a keyed hash.

    The pseudonym is given by the project's next number, as the importers give it;
    project and source identifier cannot change afterwards.
    """

    project = ProjectCodeField()
    source_id = serializers.CharField(
        write_only=True,
        required=False,
        max_length=200,
        error_messages={"blank": EMPTY_SOURCE_ID},
        help_text="Source patient identifier (create only); only its keyed hash is kept.",
    )
    sex = RuleChoiceField(words(SEXES), choices=Sex.choices, required=False)
    birth_year = whole_number("is not a whole number.", max_value=None)
    cancer_type = RuleChoiceField(
        words(CANCER_TYPES),
        choices=CancerType.choices,
        required=False,
        allow_blank=True,
    )
    diagnosis_on = optional_date()
    age_at_diagnosis_years = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        required=False,
        allow_null=True,
        error_messages={"invalid": "is not a number of years."},
    )
    overall_survival_days = whole_number("is not a whole number.", max_value=None)

    unchecked_constraints = frozenset(
        {"patient_pseudonym_unique", "patient_source_key_unique"}
    )

    class Meta:
        model = Patient
        fields = [
            "id",
            "project",
            "source_id",
            "pseudonym",
            "sex",
            "birth_year",
            "cancer_type",
            "histology",
            "stage",
            "t_stage",
            "n_stage",
            "m_stage",
            "diagnosis_on",
            "age_at_diagnosis_years",
            "overall_survival_days",
            "is_deceased",
            "created_at",
        ]
        read_only_fields = ["pseudonym"]

    def validate_birth_year(self, year: int | None) -> int | None:
        return None if year is None else apply_rule(check_birth_year, year)

    def validate_diagnosis_on(self, day: dt.date | None) -> dt.date | None:
        return apply_rule(check_not_future, day)

    def validate_age_at_diagnosis_years(self, years: Decimal | None) -> Decimal | None:
        return None if years is None else apply_rule(check_age_at_diagnosis, years)

    def validate_overall_survival_days(self, days: int | None) -> int | None:
        return None if days is None else apply_rule(check_overall_survival_days, days)

    def validate_source_id(self, text: str) -> str:
        return apply_rule(check_source_id, text)

    def validate(self, attrs: dict) -> dict:
        if self.instance is None:
            self.check_new_patient(attrs)
        else:
            self.check_fixed(attrs)
        # A birth year given for a stored patient, against the records it has:
        if self.instance is not None and "birth_year" in attrs:
            field_rule(
                "birth_year",
                lambda: check_records_after_birth(
                    self.instance.pk, attrs["birth_year"]
                ),
            )
        return super().validate(attrs)

    def check_new_patient(self, attrs: dict) -> None:
        errors = {
            name: [serializers.Field.default_error_messages["required"]]
            for name in ("project", "source_id")
            if name not in attrs
        }
        if errors:
            raise serializers.ValidationError(errors)
        stored = find_patient(attrs["project"], attrs["source_id"])
        if stored is not None:
            raise serializers.ValidationError(
                {
                    "source_id": [
                        f"is already stored as patient {stored.pseudonym} of project "
                        f"{stored.project.code}; change that patient instead."
                    ]
                }
            )

    def check_fixed(self, attrs: dict) -> None:
        if "source_id" in attrs:
            raise serializers.ValidationError(
                {"source_id": ["cannot change; a source identifier names one patient."]}
            )
        if "project" in attrs and attrs["project"] != self.instance.project:
            raise serializers.ValidationError(
                {"project": ["cannot change; a patient stays in its project."]}
            )

    def check_record(self, record: Patient) -> None:
        field_rule(
            "diagnosis_on",
            lambda: check_diagnosis_after_birth(record.birth_year, record.diagnosis_on),
        )

    def create(self, validated_data: dict) -> Patient:
        project = validated_data.pop("project")
        source_id = validated_data.pop("source_id")
        patient, created = pseudonymise(project, source_id, **validated_data)
        if not created:  # stored by another request since validation
            raise serializers.ValidationError(
                {"source_id": ["is already stored; change that patient instead."]}
            )
        return patient


def check_dates_after_birth(record: models.Model, *names: str) -> None:
    """Refuse, under its field, a date of a patient's record in a year before the birth year.

    The rule of blood draws (BloodSampleSerializer) for the patient's other records.
    """
    birth_year = record.patient.birth_year
    for name in names:
        day = getattr(record, name)
        field_rule(name, lambda day=day: check_after_birth(birth_year, day))


class _PatientRecordSerializer(WithholdsRecordKeeping, CuratedSerializer):
    """A record of one patient, with the patient's pseudonym and project."""

    project = _project("patient")
    patient_pseudonym = _pseudonym("patient")

    PATIENT_PREFIX = ["id", "project", "patient", "patient_pseudonym"]


class ConsentSerializer(_PatientRecordSerializer):
    # NB: no importer reads consents; dates follow the clinical importer's rule.
    given_on = required_date()
    withdrawn_on = optional_date()

    class Meta:
        model = Consent
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "allows_imaging",
            "allows_genomics",
            "allows_sharing",
            "given_on",
            "withdrawn_on",
        ]

    def validate_given_on(self, day: dt.date) -> dt.date:
        return apply_rule(check_not_future, day)

    def validate_withdrawn_on(self, day: dt.date | None) -> dt.date | None:
        return apply_rule(check_not_future, day)

    def check_record(self, record: Consent) -> None:
        check_dates_after_birth(record, "given_on", "withdrawn_on")


class TreatmentSerializer(_PatientRecordSerializer):
    kind = RuleChoiceField(words(TREATMENT_KINDS), choices=Treatment.Kind.choices)
    line = whole_number("is not a whole number.", max_value=None)
    started_on = required_date()
    ended_on = optional_date()

    # find_same_treatment says what repeats a stored treatment, its agent in any case:
    unchecked_constraints = frozenset({"treatment_natural_key"})

    class Meta:
        model = Treatment
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "kind",
            "agent",
            "line",
            "started_on",
            "ended_on",
        ]

    def validate_line(self, line: int | None) -> int | None:
        return None if line is None else apply_rule(check_treatment_line, line)

    def validate_started_on(self, day: dt.date) -> dt.date:
        return apply_rule(check_not_future, day)

    def validate_ended_on(self, day: dt.date | None) -> dt.date | None:
        return apply_rule(check_not_future, day)

    def check_record(self, record: Treatment) -> None:
        check_dates_after_birth(record, "started_on")
        field_rule(
            "ended_on",
            lambda: check_end_after_start(record.started_on, record.ended_on),
        )
        # The same agent spelled alike is a repeat, under started_on as the
        # constraint's; in other capitals it is named under agent:
        stored = find_same_treatment(record)
        if stored is not None and stored.agent != record.agent:
            raise serializers.ValidationError({"agent": [same_agent_message(stored)]})
        if stored is not None:
            message = duplicate_message(
                stored, ["patient", "kind", "agent", "started_on"]
            )
            raise serializers.ValidationError({"started_on": [message]})


class ClinicalEventSerializer(_PatientRecordSerializer):
    kind = RuleChoiceField(words(EVENT_KINDS), choices=ClinicalEvent.Kind.choices)
    recist = RuleChoiceField(
        words(RECIST),
        choices=ClinicalEvent.Recist.choices,
        required=False,
        allow_blank=True,
    )
    occurred_on = required_date()

    class Meta:
        model = ClinicalEvent
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "kind",
            "recist",
            "occurred_on",
            "note",
        ]

    def validate_occurred_on(self, day: dt.date) -> dt.date:
        return apply_rule(check_not_future, day)

    def check_record(self, record: ClinicalEvent) -> None:
        check_dates_after_birth(record, "occurred_on")


class ImagingStudySerializer(_PatientRecordSerializer):
    class Meta:
        model = ImagingStudy
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "study_instance_uid",
            "study_date",
            "study_time",
            "date_source",
            "modalities",
            "body_part",
            "description",
            "patient_age_raw",
            "patient_age_value",
            "patient_age_unit",
            "patient_age_years",
            "is_age_unit_assumed",
            "created_at",
        ]


ACQUISITION_FIELDS = [
    "series_instance_uid",
    "frame_of_reference_uid",
    "modality",
    "sop_class_uid",
    "series_number",
    "description",
    "series_date",
    "manufacturer",
    "manufacturer_model_name",
    "convolution_kernel",
    "slice_thickness_mm",
    "spacing_between_slices_mm",
    "pixel_spacing_row_mm",
    "pixel_spacing_column_mm",
    "rows",
    "columns",
    "kvp",
    "exposure_mas",
    "tube_current_ma",
    "ctdi_vol_mgy",
    "injected_activity_mbq",
    "uptake_time_min",
    "contrast_agent",
    "mr_sequence",
    "magnetic_field_strength_t",
    "echo_time_ms",
    "repetition_time_ms",
    "pet_units",
    "radiopharmaceutical",
    "instance_count",
]


class ImageSeriesSerializer(serializers.ModelSerializer):
    project = _project("study.patient")
    patient = serializers.IntegerField(source="study.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("study.patient")

    class Meta:
        model = ImageSeries
        fields = ["id", "project", "patient", "patient_pseudonym", "study"]
        fields += ACQUISITION_FIELDS


SEGMENTATION_FIELDS = [
    "roi_name",
    "roi_number",
    "method",
    "reader",
    "roi_type",
    "source_kind",
    "source_sop_instance_uid",
    "linkage",
    "created_at",
]


class SegmentationSerializer(WithholdsRecordKeeping, serializers.ModelSerializer):
    project = _project("series.study.patient")
    patient = serializers.IntegerField(source="series.study.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("series.study.patient")
    study = serializers.IntegerField(source="series.study_id", read_only=True)

    class Meta:
        model = Segmentation
        fields = ["id", "project", "patient", "patient_pseudonym", "study", "series"]
        fields += SEGMENTATION_FIELDS


# NB: source_name, image_reference and mask_reference stay out: an imported engine
# CSV gives them as the lab's file paths, which often hold source patient IDs.
EXTRACTION_FIELDS = [
    "software",
    "software_version",
    "parameters",
    "diagnostics",
    "fingerprint",
    "preset",
    "label",
    "status",
    "progress",
    "attempts",
    "error",
    "created_at",
    "started_at",
    "finished_at",
]


class FeatureExtractionSerializer(_PatientRecordSerializer):
    class Meta:
        model = FeatureExtraction
        fields = _PatientRecordSerializer.PATIENT_PREFIX + ["segmentation"]
        fields += EXTRACTION_FIELDS


class FeatureDefinitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = FeatureDefinition
        fields = [
            "id",
            "name",
            "family",
            "feature_name",
            "image_filter",
            "ibsi_code",
            "description",
            "ibsi_conformant",
            "conformance_note",
        ]


class FeatureRobustnessSerializer(serializers.ModelSerializer):
    feature_name = serializers.CharField(source="feature.name", read_only=True)

    class Meta:
        model = FeatureRobustness
        fields = [
            "id",
            "feature",
            "feature_name",
            "design",
            "selection",
            "form",
            "icc",
            "ci_low",
            "ci_high",
            "n_subjects",
            "n_raters",
            "threshold",
            "is_robust",
            "computed_at",
        ]


class FeatureValueSerializer(serializers.ModelSerializer):
    project = _project("extraction.patient")
    patient = serializers.IntegerField(source="extraction.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("extraction.patient")
    segmentation = serializers.IntegerField(
        source="extraction.segmentation_id", read_only=True, allow_null=True
    )
    feature_name = serializers.CharField(source="feature.name", read_only=True)
    ibsi_code = serializers.CharField(source="feature.ibsi_code", read_only=True)

    class Meta:
        model = FeatureValue
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "extraction",
            "segmentation",
            "feature",
            "feature_name",
            "ibsi_code",
            "value",
        ]


class SignatureTermSerializer(serializers.ModelSerializer):
    feature_name = serializers.CharField(source="feature.name", read_only=True)

    class Meta:
        model = SignatureTerm
        fields = ["feature", "feature_name", "weight"]


class RadiomicSignatureSerializer(serializers.ModelSerializer):
    terms = SignatureTermSerializer(many=True, read_only=True)

    class Meta:
        model = RadiomicSignature
        fields = [
            "id",
            "name",
            "description",
            "reference",
            "intercept",
            "cutoff",
            "label_below",
            "label_above",
            "terms",
        ]


class SignatureScoreSerializer(WithholdsRecordKeeping, serializers.ModelSerializer):
    project = _project("extraction.patient")
    patient = serializers.IntegerField(source="extraction.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("extraction.patient")
    signature_name = serializers.CharField(source="signature.name", read_only=True)

    class Meta:
        model = SignatureScore
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "signature",
            "signature_name",
            "extraction",
            "score",
            "label",
            "computed_at",
        ]


SAMPLE_FIELDS = [
    "drawn_at",
    "drawn_on",
    "is_time_known",
    "timepoint",
    "tube_type",
    "plasma_volume_ml",
    "hours_to_processing",
    "external_sample_id",
    "created_at",
]


class ZonedMomentField(serializers.DateTimeField):
    """A moment with its zone, as the API filters ask: the server's zone is not the curator's.

    A zone-less moment passes only when the record says `is_time_known: false`,
    since then only its day is kept.
    """

    def to_internal_value(self, value: Any) -> dt.datetime:
        text = value.strip() if isinstance(value, str) else None
        if text and self.time_is_known():
            try:
                moment = parse_datetime(text)
            except ValueError:
                moment = None  # well formed but no real day: the parent says so
            if moment is not None and moment.tzinfo is None:
                raise serializers.ValidationError(
                    f"This moment has no zone; add one, e.g. {text}Z for UTC or "
                    f"{text}+01:00 (or give is_time_known: false for a day alone).",
                    code="naive",
                )
        return super().to_internal_value(value)

    def time_is_known(self) -> bool:
        data = getattr(self.parent, "initial_data", None)
        given = data.get("is_time_known") if hasattr(data, "get") else None
        if given is None:
            return getattr(self.parent.instance, "is_time_known", True)
        if not isinstance(given, str | bool | int):
            # A list or an object: is_time_known's own field refuses it by name.
            return True
        return given not in serializers.BooleanField.FALSE_VALUES


class BloodSampleSerializer(_PatientRecordSerializer):
    """A blood draw; a draw whose time is not known is stored at 00:00 of its day."""

    drawn_at = ZonedMomentField(
        error_messages={"required": DRAW_REQUIRED, "null": DRAW_REQUIRED}
    )

    # find_sample says what repeats a stored draw, as the lab importers decide it:
    unchecked_constraints = frozenset({"blood_sample_natural_key"})

    class Meta:
        model = BloodSample
        fields = _PatientRecordSerializer.PATIENT_PREFIX + SAMPLE_FIELDS

    def validate_drawn_at(self, moment: dt.datetime) -> dt.datetime:
        try:
            day = timezone.localdate(moment)
        except OverflowError:
            raise serializers.ValidationError(
                "lies beyond the dates the biobank can store."
            ) from None
        apply_rule(check_not_future, day)
        return moment

    def validate(self, attrs: dict) -> dict:
        stored = self.instance
        if stored is not None and "drawn_at" not in attrs:
            self.check_time_kept(stored, attrs.get("is_time_known"))
        # Only a drawn_at given now moves to 00:00: a stored one is left as it is.
        is_time_known = attrs.get(
            "is_time_known", getattr(stored, "is_time_known", True)
        )
        if "drawn_at" in attrs and not is_time_known:
            day = timezone.localdate(attrs["drawn_at"])
            attrs["drawn_at"] = Draw.on(day).drawn_at
        return super().validate(attrs)

    @staticmethod
    def check_time_kept(stored: BloodSample, is_time_known: bool | None) -> None:
        """Refuse to flip `is_time_known` of a stored draw without its `drawn_at`.

        A draw whose time is not known is stored at 00:00 of its day: marked so
        alone, a timed draw would lose its time silently; marked timed alone, a
        day-only draw would get 00:00 as its time. Given with drawn_at, it is meant.
        """
        if is_time_known is None or is_time_known == stored.is_time_known:
            return
        local = timezone.localtime(stored.drawn_at)
        if not is_time_known and local.time() == dt.time(0, 0):
            return  # stored at 00:00 already: nothing is dropped
        if not is_time_known:
            message = (
                f"would drop the time of day stored for this draw ({local:%H:%M} on "
                f"{local:%Y-%m-%d}, {local:%Z}): a draw whose time is not known is "
                "stored at 00:00 of its day. To keep the day alone on purpose, send "
                f'the day with it: {{"drawn_at": "{local:%Y-%m-%d}", '
                '"is_time_known": false}; to keep the time, leave is_time_known true.'
            )
        else:
            message = (
                f"would make 00:00 the time of a draw stored with its day alone "
                f"({local:%Y-%m-%d}); give drawn_at with the time of day the blood "
                f'was drawn: {{"drawn_at": "{local:%Y-%m-%d}T09:30:00Z", '
                '"is_time_known": true}.'
            )
        raise serializers.ValidationError({"is_time_known": [message]})

    def check_record(self, record: BloodSample) -> None:
        # As the lab importers: no draw in a year before the patient's birth.
        field_rule(
            "drawn_at",
            lambda: check_draw_after_birth(
                record.patient.birth_year, timezone.localdate(record.drawn_at)
            ),
        )
        stored = find_sample(
            record.patient,
            record.drawn_at,
            record.is_time_known,
            record.external_sample_id,
            exclude_pk=record.pk,
        )
        if stored is not None:
            message = duplicate_message(
                stored, ["patient", "draw", "external_sample_id"]
            )
            raise serializers.ValidationError({"drawn_at": [message]})
        # A lab sample ID names one tube: another draw of the project carrying it is
        # a curation error (the importers' rule too; the admin's through this one).
        # Checked when the ID or its patient is written, so that a draw stored with
        # a taken ID before this rule can still be changed otherwise:
        written = set(getattr(self, "initial_data", {}))
        if record.pk is not None and not written & {"external_sample_id", "patient"}:
            return
        other = record.same_sample_id_draw()
        if other is not None:
            message = sample_id_taken_message(other)
            raise serializers.ValidationError({"external_sample_id": [message]})


class _SampleRecordSerializer(CuratedSerializer):
    """A measurement in a blood draw, with the draw's patient and day."""

    project = _project("sample.patient")
    patient = serializers.IntegerField(source="sample.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("sample.patient")
    drawn_on = serializers.DateField(source="sample.drawn_on", read_only=True)

    SAMPLE_PREFIX = _PatientRecordSerializer.PATIENT_PREFIX + ["sample"]


class CTCCountSerializer(_SampleRecordSerializer):
    enrichment = RuleChoiceField(
        check_enrichment, choices=CTCCount.Enrichment.choices, required=False
    )
    blood_volume_ml = serializers.FloatField(required=False)
    count = whole_number(
        WHOLE_CELLS, COUNT_REQUIRED, help_text="Cells counted in the blood volume."
    )
    clusters = whole_number(WHOLE_CELLS)

    class Meta:
        model = CTCCount
        fields = _SampleRecordSerializer.SAMPLE_PREFIX + [
            "drawn_on",
            "platform",
            "enrichment",
            "blood_volume_ml",
            "count",
            "count_per_7_5ml",
            "clusters",
        ]

    # find_same_platform says what repeats a stored count, as import_ctc decides it:
    unchecked_constraints = frozenset({"ctc_count_per_platform"})

    def validate_platform(self, platform: str) -> str:
        return apply_rule(check_platform, platform)

    def validate_blood_volume_ml(self, ml: float) -> float:
        return apply_rule(check_blood_volume, ml)

    def check_record(self, record: CTCCount) -> None:
        stored = find_same_platform(record.sample_id, record.platform, record.pk)
        if stored is not None:
            message = duplicate_message(stored, ["sample", "platform"])
            raise serializers.ValidationError({"platform": [message]})

    def validate_count(self, count: int) -> int:
        return apply_rule(check_cells, count)

    def validate_clusters(self, clusters: int | None) -> int | None:
        return None if clusters is None else apply_rule(check_cells, clusters)


class CfDNAAssaySerializer(_SampleRecordSerializer):
    method = RuleChoiceField(check_method, choices=CfDNAAssay.Method.choices)
    cfdna_ng_per_ml = serializers.FloatField(
        required=False,
        allow_null=True,
        error_messages={"invalid": NOT_A_CONCENTRATION},
    )

    class Meta:
        model = CfDNAAssay
        fields = _SampleRecordSerializer.SAMPLE_PREFIX + [
            "drawn_on",
            "method",
            "panel",
            "cfdna_ng_per_ml",
            "tumour_fraction",
            "limit_of_detection_vaf",
        ]

    def validate_cfdna_ng_per_ml(self, ng: float | None) -> float | None:
        return None if ng is None else apply_rule(check_concentration, ng)

    def validate_tumour_fraction(self, value: float | None) -> float | None:
        return None if value is None else apply_rule(check_fraction, value)

    def validate_limit_of_detection_vaf(self, value: float | None) -> float | None:
        return None if value is None else apply_rule(check_limit_of_detection, value)

    def check_record(self, record: CfDNAAssay) -> None:
        """Refuse a changed limit of detection that stored calls of detected lie under.

        Compared with the stored limit, not the instance: the admin's form has set
        the new one on it already. A limit left as it was is not checked again.
        """
        limit = record.limit_of_detection_vaf
        if record.pk is None or limit is None:
            return
        stored = CfDNAAssay.objects.filter(pk=record.pk)
        if stored.values_list("limit_of_detection_vaf", flat=True).get() == limit:
            return
        under = detected_under(record, limit)
        if under:
            message = contradicted_limit_message(under)
            raise serializers.ValidationError({"limit_of_detection_vaf": [message]})


# The stored calls a refused limit of detection names, at most:
CALLS_NAMED = 5


def contradicted_limit_message(under: list[VariantResult]) -> str:
    """Say how many stored calls of detected a limit contradicts, naming the first ones."""
    named = "; ".join(
        f"variant {variant.pk} {str(variant).strip()} at VAF {variant.vaf:g}"
        for variant in under[:CALLS_NAMED]
    )
    if len(under) > CALLS_NAMED:
        named += f" and {len(under) - CALLS_NAMED} more"
    calls = "call" if len(under) == 1 else "calls"
    return (
        f"is above the VAF of {len(under)} {calls} of detected of this assay ({named}); "
        "a call of detected under its assay's limit contradicts it, as imports and "
        "variant writes refuse. Change those calls first (to below-lod), or give a "
        f"limit of at most {under[0].vaf:g}."
    )


class CirculatingRNAResultSerializer(_SampleRecordSerializer):
    # NB: no importer reads RNA results; the call takes the variant importers' words.
    call = RuleChoiceField(check_call, choices=VariantResult.Call.choices)

    class Meta:
        model = CirculatingRNAResult
        fields = _SampleRecordSerializer.SAMPLE_PREFIX + [
            "drawn_on",
            "transcript",
            "source",
            "method",
            "call",
            "value",
            "unit",
        ]


VARIANT_FIELDS = [
    "gene",
    "gene_hgnc",
    "variant_type",
    "protein_change",
    "protein_change_raw",
    "is_protein_change_predicted",
    "protein_accession",
    "cdna_change",
    "genomic_change",
    "genome_build",
    "fusion_5prime",
    "fusion_3prime",
    "fusion_note",
    "vaf",
    "alt_reads",
    "depth",
    "supporting_reads",
    "call",
    "is_clonal_haematopoiesis",
    "is_germline",
    "is_seen_in_ctc",
    "note",
]

IDENTITY_FIELDS = {
    "gene",
    "protein_change",
    "variant_type",
    "cdna_change",
    "genomic_change",
}
CALL_FIELDS = {"call", "vaf", "alt_reads", "depth"}
# The importers' column names where the API's differ:
_ALTERATION_FIELDS = {"alteration_type": "variant_type"}


class VariantResultSerializer(CuratedSerializer):
    """A variant tested in a cfDNA assay, read as the cfDNA importer reads a row.

    The protein change is taken in any HGVS spelling (T790M, p.Thr790Met, a fusion
    such as EML4::ALK, a CNV word) and stored in its canonical form; without a call,
    the VAF and depth give it; without a VAF, alt_reads / depth.
    """

    project = _project("assay.sample.patient")
    patient = serializers.IntegerField(source="assay.sample.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("assay.sample.patient")
    sample = serializers.IntegerField(source="assay.sample_id", read_only=True)
    drawn_on = serializers.DateField(source="assay.sample.drawn_on", read_only=True)
    protein_change = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Protein change in any HGVS spelling, a fusion or a CNV; "
        "stored in its canonical one-letter form.",
    )
    # read_alteration checks the type, as the importers' alteration_type column:
    variant_type = RuleChoiceField(
        str.strip,
        choices=VariantResult.Type.choices,
        required=False,
        allow_blank=True,
        help_text="SNV, MNV, indel, fusion, CNV or other (or a word the importers take "
        "for one); left out, the alteration gives it.",
    )
    genome_build = RuleChoiceField(
        check_genome_build,
        choices=GenomeBuild.choices,
        required=False,
        allow_blank=True,
        help_text="GRCh37 or GRCh38, the build of genomic_change; hg19, b37, hs37d5, "
        "37 and patches (GRCh37.p13) are stored as GRCh37, hg38 and 38 as GRCh38.",
    )
    vaf = serializers.FloatField(required=False, allow_null=True)
    alt_reads = whole_number(WHOLE_READS)
    depth = whole_number(WHOLE_READS)
    supporting_reads = whole_number(WHOLE_READS)
    call = RuleChoiceField(
        check_call,
        choices=VariantResult.Call.choices,
        required=False,
        help_text="Left out, the VAF and depth give it.",
    )

    # Only the MAF and VCF importers store it (dbSNP_RS, ID), so a write giving it is
    # ignored, as for any read-only field, rather than storing an ID no file gave; a
    # write that makes it another variant (its key) empties it (validate).
    dbsnp_id = serializers.CharField(
        read_only=True,
        help_text="The dbSNP ID (rs121434569) the MAF (dbSNP_RS) or VCF (ID) gave; "
        "empty when it gave none or several, or the variant was imported before the "
        "importers stored it. Read-only: a write giving it leaves it unchanged; a "
        "write that makes it another variant (its genomic or protein change) empties it.",
    )

    class Meta:
        model = VariantResult
        fields = (
            _PatientRecordSerializer.PATIENT_PREFIX
            + ["sample", "drawn_on", "assay"]
            + VARIANT_FIELDS
            + ["dbsnp_id"]
        )
        read_only_fields = DERIVED_VARIANT_FIELDS
        # The model's gene may be empty, as a VCF without annotation stores it; a
        # write names one, and an empty one gets the importers' message:
        extra_kwargs = {"gene": {"required": True, "allow_blank": True}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What the write stores under a doubt, as an importer's warnings (read_call):
        self.warnings: list[Problem] = []

    def save(self, **kwargs: Any) -> VariantResult:
        variant = super().save(**kwargs)
        record_warnings(
            variant, variant.assay.sample.patient, [READS_DISAGREE], self.warnings
        )
        return variant

    def validate_gene(self, text: str) -> str:
        try:
            return check_gene_symbol(text)
        except GeneSymbolError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_vaf(self, vaf: float | None) -> float | None:
        return None if vaf is None else apply_rule(check_fraction, vaf)

    def validate_alt_reads(self, reads: int | None) -> int | None:
        return None if reads is None else apply_rule(check_reads, reads)

    def validate_depth(self, reads: int | None) -> int | None:
        return None if reads is None else apply_rule(check_reads, reads)

    def validate_supporting_reads(self, reads: int | None) -> int | None:
        return None if reads is None else apply_rule(check_reads, reads)

    def validate_cdna_change(self, text: str) -> str:
        return normalise_cdna_change(text)

    def validate_genomic_change(self, text: str) -> str:
        return apply_rule(read_genomic_change, text) if text.strip() else ""

    def validate(self, attrs: dict) -> dict:
        stored = self.instance
        if stored is None and "gene" not in attrs:
            raise serializers.ValidationError(
                {"gene": [serializers.Field.default_error_messages["required"]]}
            )
        if stored is None or CALL_FIELDS & attrs.keys():
            attrs |= self.read_call(attrs)
        if stored is None or IDENTITY_FIELDS & attrs.keys():
            attrs |= self.read_identity(attrs)
            values = {
                field.name: attrs.get(field.name, getattr(stored, field.name, None))
                for field in VariantResult._meta.concrete_fields
            }
            attrs["variant_key"] = variant_key(values)
            if stored is not None and attrs["variant_key"] != stored.variant_key:
                # The ID the file gave named the variant before the write (review rv4):
                attrs["dbsnp_id"] = ""
        return super().validate(attrs)

    def read_identity(self, attrs: dict) -> dict:
        """Return the variant fields the gene and alteration give, as the importer reads them."""
        stored = self.instance
        gene = attrs.get("gene") or stored.gene
        text = attrs.get("protein_change")
        if text is None:
            text = stored.protein_change_raw or stored.protein_change if stored else ""
        declared = attrs.get("variant_type", "")

        problems = RowProblems("API")
        warnings: list = []
        values = read_alteration(problems, warnings, 0, gene, text, declared)
        if values is None:
            raise serializers.ValidationError(
                {
                    _ALTERATION_FIELDS.get(problem.field, problem.field): [
                        problem.message
                    ]
                    for problem in problems.problems
                }
            )
        values = dict.fromkeys(DERIVED_VARIANT_FIELDS, "") | values
        values["is_protein_change_predicted"] = bool(
            values["is_protein_change_predicted"]
        )
        values.setdefault("protein_change", "")
        values |= gene_values(gene)

        genomic = attrs.get("genomic_change", getattr(stored, "genomic_change", ""))
        if values["variant_type"] == VariantResult.Type.OTHER and genomic:
            values["variant_type"] = allele_type(genomic)
        if attrs.get("cdna_change"):
            values["cdna_change"] = attrs["cdna_change"]
        return values

    def read_call(self, attrs: dict) -> dict:
        stored = self.instance

        def current(name: str) -> Any:
            return attrs[name] if name in attrs else getattr(stored, name, None)

        alt_reads, depth = current("alt_reads"), current("depth")
        field_rule("alt_reads", lambda: check_reads_within_depth(alt_reads, depth))
        # A call changed alone keeps the stored VAF; a VAF changed alone is re-called:
        call = attrs.get("call") or (
            stored.call if stored and "vaf" not in attrs else None
        )
        assay = current("assay")
        lod = assay.limit_of_detection_vaf if assay is not None else None
        try:
            call, vaf = resolve_call(call, current("vaf"), alt_reads, depth, lod)
        except InvalidValue as exc:
            raise serializers.ValidationError({"vaf": [str(exc)]}) from None

        # As in a cfDNA table, a VAF its reads cannot give is stored with a warning:
        given = current("vaf")
        disagreement = reads_disagree(given, alt_reads, depth)
        if disagreement:
            self.warnings = [
                Problem(
                    "API",
                    disagreement,
                    field="vaf",
                    value=f"{given:g}",
                    code=READS_DISAGREE,
                )
            ]
        return {"call": call, "vaf": vaf}

    def field_of_constraint(self, name: str, record: VariantResult) -> str:
        if name == "variant_natural_key" and record.genomic_change:
            return "genomic_change"
        return super().field_of_constraint(name, record)


# A study with everything measured on it:


class StudyFeatureValueSerializer(serializers.ModelSerializer):
    feature_name = serializers.CharField(source="feature.name", read_only=True)
    ibsi_code = serializers.CharField(source="feature.ibsi_code", read_only=True)

    class Meta:
        model = FeatureValue
        fields = ["feature", "feature_name", "ibsi_code", "value"]


class StudyExtractionSerializer(WithholdsRecordKeeping, serializers.ModelSerializer):
    values = StudyFeatureValueSerializer(many=True, read_only=True)

    class Meta:
        model = FeatureExtraction
        fields = ["id"] + EXTRACTION_FIELDS + ["values"]


class StudySegmentationSerializer(WithholdsRecordKeeping, serializers.ModelSerializer):
    extractions = StudyExtractionSerializer(many=True, read_only=True)

    class Meta:
        model = Segmentation
        fields = ["id"] + SEGMENTATION_FIELDS + ["extractions"]


class StudySeriesSerializer(serializers.ModelSerializer):
    segmentations = StudySegmentationSerializer(many=True, read_only=True)

    class Meta:
        model = ImageSeries
        fields = ["id"] + ACQUISITION_FIELDS + ["segmentations"]


class ImagingStudyDetailSerializer(ImagingStudySerializer):
    series = StudySeriesSerializer(many=True, read_only=True)

    class Meta(ImagingStudySerializer.Meta):
        fields = ImagingStudySerializer.Meta.fields + ["series"]


# A patient's timeline:


class TimelineEntrySerializer(serializers.Serializer):
    """One dated record of a patient; `at` is set where the moment is known."""

    kind = serializers.ChoiceField(
        choices=[
            "diagnosis",
            "consent",
            "consent-withdrawal",
            "treatment",
            "clinical-event",
            "imaging-study",
            "blood-sample",
        ]
    )
    on = serializers.DateField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)
    id = serializers.IntegerField(allow_null=True)
    summary = serializers.CharField()
    record = serializers.DictField()


class TimelineSerializer(serializers.Serializer):
    patient = PatientSerializer()
    entries = TimelineEntrySerializer(many=True)
    undated = TimelineEntrySerializer(many=True)
