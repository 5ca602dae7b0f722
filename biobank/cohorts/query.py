"""Pair imaging studies with blood draws of the same patient, in one database query."""

from __future__ import annotations

import datetime as dt
import functools
import operator
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import NotSupportedError, OperationalError, connections, transaction
from django.db.models import (
    Count,
    DateField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    TextChoices,
)
from django.db.models.functions import Abs
from django.utils import timezone

from biobank.core.timeouts import (
    is_timeout,
    restore_statement_timeout,
    tighten_statement_timeout,
)
from liquidbiopsy.models import BloodSample, CTCCount, VariantResult
from liquidbiopsy.validation import (
    GENOME_BUILDS,
    genome_build_name,
    looks_like_dbsnp_id,
    looks_like_genomic_change,
    read_dbsnp_id,
    read_shown_genomic_change,
    single_base_changes_at,
    split_genome_build,
)
from patients.consent import COHORT_SCOPES, consent_allows
from patients.models import Project, Treatment, cancer_types_within
from radiomics.models import (
    FeatureDefinition,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
)

# NB: a filtered image (wavelet, LoG) gives another value for the same IBSI code, so a
# feature asked for by its code means the one computed on the original image.
IBSI_CODE_IMAGE_FILTER = "original"


class PairMode(TextChoices):
    ALL = "all", "Every draw within the window"
    NEAREST = (
        "nearest",
        "Only the nearest draw per study among those that pass the filters",
    )


class DaysBetween(Func):
    """Whole days from the first date expression to the second (second minus first)."""

    arity = 2
    output_field = IntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(
            f"DaysBetween has no SQL for the {connection.vendor} database."
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # julianday() of a plain date is midnight, so the difference is whole:
        return super().as_sql(
            compiler,
            connection,
            template="CAST(julianday(%(expressions)s) AS INTEGER)",
            arg_joiner=") - julianday(",
            **extra_context,
        )

    def as_postgresql(self, compiler, connection, **extra_context):
        # date - date is an integer number of days in PostgreSQL:
        return super().as_sql(
            compiler,
            connection,
            template="(%(expressions)s)",
            arg_joiner=" - ",
            **extra_context,
        )

    def __init__(self, start, end, **extra):
        # Stored as (end, start) so that the SQL reads "end - start":
        super().__init__(end, start, **extra)


class DaysAfter(Func):
    """The date `days` whole days after a date expression (before it if negative)."""

    arity = 1
    output_field = DateField()

    def __init__(self, date, days: int, **extra):
        super().__init__(date, **extra)
        self.days = int(days)

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(
            f"DaysAfter has no SQL for the {connection.vendor} database."
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"date({sql}, %s)", [*params, f"{self.days:+d} days"]

    def as_postgresql(self, compiler, connection, **extra_context):
        # date + integer is a date in PostgreSQL, comparable with a date column's index:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} + %s)", [*params, self.days]


@dataclass(frozen=True)
class CohortCriteria:
    """What a cohort asks for; empty values mean "any".

    `variant` is a protein change (p.T790M, p.Thr790Met, ...) of `gene`, a fusion
    (EML4::ALK) or a genomic change (17:7578263 G>A, with its build: 17:7578263 G>A hg19); `feature` is a FeatureDefinition name or an IBSI code.
    """

    window_days: int = 30
    mode: str = PairMode.ALL
    project: str = ""
    cancer_type: str = ""
    modality: str = ""
    gene: str = ""
    variant: str = ""
    min_ctc_per_7_5ml: float | None = None
    feature: str = ""
    feature_min: float | None = None
    feature_max: float | None = None
    before_first_treatment: bool = False

    def __post_init__(self) -> None:
        if self.mode not in PairMode.values:
            raise ValueError(
                f"Mode must be one of {', '.join(PairMode.values)}, not {self.mode!r}."
            )
        if self.window_days < 0:
            raise ValueError(
                f"The window must not be negative ({self.window_days} days)."
            )


@dataclass(frozen=True)
class CohortRow:
    """One imaging study paired with one blood draw; `days_apart` is draw minus study."""

    project_code: str
    patient_pseudonym: str
    study_id: int
    study_instance_uid: str
    study_date: dt.date
    modalities: str
    sample_id: int
    drawn_at: dt.datetime
    drawn_on: dt.date
    days_apart: int
    abs_days_apart: int

    FIELDS = (
        "project_code",
        "patient_pseudonym",
        "study_id",
        "study_instance_uid",
        "study_date",
        "modalities",
        "sample_id",
        "drawn_at",
        "drawn_on",
        "days_apart",
        "abs_days_apart",
    )

    @classmethod
    def from_values(cls, values: dict) -> CohortRow:
        """Build a row from one dict of `pair_queryset`, with `drawn_at` in local time."""
        return cls(**{**values, "drawn_at": timezone.localtime(values["drawn_at"])})

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}


def detected_variants(gene: str, variant: str) -> QuerySet[VariantResult]:
    """Return the detected variants of `gene`, or of this change or fusion if given.

    Spelling rules (p.Thr790Met is p.T790M, SEPT9 is SEPTIN9) live in
    liquidbiopsy.hgvs and liquidbiopsy.validation; this is the one place the cohort
    query calls them. A genomic change (17:7578263 G>A) names a variant of no gene
    as the pages name it, optionally followed by its build (GRCh38, hg38), or in
    HGVS on a chromosome, whose RefSeq accession names the build
    (NC_000007.13:g.55249071C>T); a dbSNP ID (rs121434569) names a variant of no
    gene as its MAF or VCF did. With a gene, the variant must be of that gene too.

    Raises
    ------
    HGVSError, FusionError, InvalidValue
        When `variant` is no protein change, fusion, genomic change or dbSNP ID.
    """
    detected = VariantResult.objects.detected()
    if looks_like_genomic_change(variant) or looks_like_dbsnp_id(variant):
        found = with_genomic_change_or_dbsnp_id(detected, variant)
        return found.of_gene(gene) if gene else found
    if variant:
        return detected.matching(gene, variant)
    return detected.of_gene(gene)


def with_genomic_change(
    variants: QuerySet[VariantResult], variant: str
) -> QuerySet[VariantResult]:
    """Return the `variants` stored as the genomic change asked for in `variant`.

    The change as the pages show it or a lab writes it (17:7578263 G>A,
    17-7578263-G-A), optionally followed by its build (7:55249071 C>T hg38), which
    keeps the variants stored in it, or in HGVS on a chromosome, whose RefSeq
    accession names the build (NC_000007.14:g.55181378C>T is GRCh38); without a
    build, genome_builds_of tells whether that is ambiguous. The cohort filter and
    /api/variants/ read it here.

    Raises
    ------
    InvalidValue
        When `variant` is no genomic change.
    """
    change, build = split_genome_build(variant)
    # Read by the (genomic_change, call) index (migration 0016):
    found = variants.filter(genomic_change=read_shown_genomic_change(change))
    return found.filter(stored_in_build(build)) if build else found


def with_genomic_change_or_dbsnp_id(
    variants: QuerySet[VariantResult], variant: str
) -> QuerySet[VariantResult]:
    """Return the `variants` of the dbSNP ID asked for (rs121434569), or of the
    genomic change (with_genomic_change).

    The MAF and VCF importers store the ID their file gives (dbSNP_RS, ID). NB: a
    variant imported before they did (migration 0023) has none until its file is
    imported again.
    """
    if looks_like_dbsnp_id(variant):
        # Read by the partial (dbsnp_id, call) index:
        return variants.filter(dbsnp_id=read_dbsnp_id(variant))
    return with_genomic_change(variants, variant)


def stored_in_build(build: str) -> Q:
    """Match the variants stored in `build` (a key of GENOME_BUILDS) by any spelling."""
    spellings = [Q(genome_build__istartswith=s) for s in GENOME_BUILDS[build]]
    return functools.reduce(operator.or_, spellings)


def variants_at_position(
    change: str, build: str = "", within: QuerySet[VariantResult] | None = None
) -> QuerySet[VariantResult]:
    """Return the variants of any call stored as `change` (in the stored form,
    17:7578263 G>A) or as a single-base change at its position, in `build` if given,
    among `within` (every variant by default).

    Read by the (genomic_change, call) index, one exact change each: the position
    alone would need a prefix search, which that index serves only under the C
    collation. NB: so an insertion or deletion stored at the position is not among
    them.
    """
    changes = {change, *single_base_changes_at(change)}
    variants = VariantResult.objects.all() if within is None else within
    found = variants.filter(genomic_change__in=sorted(changes))
    return found.filter(stored_in_build(build)) if build else found


def stored_genome_builds() -> list[str]:
    """Return the builds any variant is stored in, by name (hg19 is GRCh37), sorted.

    Whoever may read them: for a refusal that names builds, not patients. On
    PostgreSQL read from the partial index of the builds one value after another
    (a handful of index look-ups, where DISTINCT would read every variant: about 7 s
    for 14.7 million at 100,000 patients); elsewhere by DISTINCT.
    """
    connection = connections[VariantResult.objects.db]
    if connection.vendor != "postgresql":
        return genome_builds_of(VariantResult.objects.all())
    table = connection.ops.quote_name(VariantResult._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE builds(build) AS (
                (SELECT genome_build FROM {table} WHERE genome_build <> ''
                 ORDER BY genome_build LIMIT 1)
                UNION ALL
                SELECT (SELECT v.genome_build FROM {table} v
                        WHERE v.genome_build <> '' AND v.genome_build > b.build
                        ORDER BY v.genome_build LIMIT 1)
                FROM builds b WHERE b.build IS NOT NULL
            )
            SELECT build FROM builds WHERE build IS NOT NULL
            """  # noqa: S608 - the table's own name, quoted
        )
        stored = [build for (build,) in cursor.fetchall()]
    return sorted({genome_build_name(build) for build in stored})


def genome_builds_of(variants: QuerySet[VariantResult]) -> list[str]:
    """Return the builds the `variants` are stored in, by name (hg19 is GRCh37), sorted.

    One query. NB: a variant stored without a build (a cfDNA table or the API may
    give none) counts for no build, so it is matched by a change asked for without
    one, beside those of a single build, and by none asked with a build.
    """
    stored = variants.exclude(genome_build="").values_list("genome_build", flat=True)
    return sorted({genome_build_name(build) for build in stored.distinct()})


def pair_queryset(
    criteria: CohortCriteria, *, project: Project | None = None
) -> QuerySet:
    """Return the study-draw pairs matching `criteria`, as a lazy queryset of dicts.

    Each dict holds the fields of CohortRow. One SQL query runs when it is evaluated,
    whatever the number of patients; building it reads the ids of the project and
    feature asked for (one small query each, so that PostgreSQL can plan with them),
    unless the caller gives the `project` it read already (a form's choice), which
    must be the one criteria.project names. A study without date never pairs; a draw pairs
    by its local calendar day (BloodSample.drawn_on). In nearest mode, filters pick
    the candidate draws first and the nearest of those is kept; ties go to the
    earlier draw, then the lower sample id.
    """
    studies = ImagingStudy.objects.filter(
        _patient_filter(criteria, project),
        _study_filter(criteria),
        study_date__isnull=False,
    )

    pairs = (
        studies.annotate(
            sample_id=F("patient__blood_samples__id"),
            sample_patient_id=F("patient__blood_samples__patient_id"),
            drawn_at=F("patient__blood_samples__drawn_at"),
            drawn_on=F("patient__blood_samples__drawn_on"),
        )
        .annotate(days_apart=DaysBetween(F("study_date"), F("drawn_on")))
        .annotate(abs_days_apart=Abs(F("days_apart")))
        .filter(
            # The same window as a date range too, so that the draws come from the
            # (patient, drawn_on) index instead of every draw of the patient:
            drawn_on__gte=DaysAfter(F("study_date"), -criteria.window_days),
            drawn_on__lte=DaysAfter(F("study_date"), criteria.window_days),
            abs_days_apart__lte=criteria.window_days,
        )
        .filter(
            _sample_filter(criteria, sample="sample_id", patient="sample_patient_id")
        )
    )

    if criteria.mode == PairMode.NEAREST:
        pairs = _keep_nearest(pairs, criteria)

    return pairs.values(
        "sample_id",
        "drawn_at",
        "drawn_on",
        "days_apart",
        "abs_days_apart",
        "study_instance_uid",
        "study_date",
        "modalities",
        project_code=F("patient__project__code"),
        patient_pseudonym=F("patient__pseudonym"),
        study_id=F("pk"),
    ).order_by(
        "project_code",
        "patient_pseudonym",
        "study_date",
        "study_id",
        "drawn_at",
        "sample_id",
    )


def with_lab_sample_ids(pairs: QuerySet) -> QuerySet:
    """Return `pairs` (pair_queryset's) with each draw's lab sample ID, `lab_sample_id`.

    Read in the pairs' own query from the draw it joins already (an annotation
    reuses the joins before it), rather than by a query of its own per page. Only
    /api/cohort-pairs/ asks for it: the pairs' other readers (the cohort page, its
    CSV, the live count, the matrix, saved cohorts) keep the fields of CohortRow.
    As stored: the API's Dater hides the dates in it outside calendar mode (free
    text, not in SHARED_TEXT_FIELDS).
    """
    return pairs.annotate(lab_sample_id=F("patient__blood_samples__external_sample_id"))


@dataclass(frozen=True)
class CohortCount:
    """How many pairs a cohort holds, exact up to a limit, and of how many patients.

    Past the limit (`exact` false) `pairs` is the limit, the cohort holds more, and
    its patients are not counted (None).
    """

    pairs: int
    patients: int | None
    exact: bool


# How long count_pairs may count a cohort in its own order (PostgreSQL only). About
# what a cohort costs counted in no order: since the detected variants' index
# (liquidbiopsy 0020) a gene's cohort counts so in 40 to 140 ms at 100,000 patients,
# others in 145 to 230 ms. At 0.25 s the EGFR cohort, whose first 100 pairs come in
# 30 to 36 ms, went either way, and in order took 128 ms against 50 ms; sphericity's
# come in 12 ms and take 77 ms in order, against 145 ms in none.
COUNT_IN_ORDER_SECONDS = 0.2
# Pairs read in order first, to see the pace at which the limit would come:
COUNT_PROBE_ROWS = 100


def count_pairs(pairs: QuerySet, limit: int, *, in_order: bool = False) -> CohortCount:
    """Count `pairs` (a pair_queryset) up to `limit`, with their patients.

    Counting a whole cohort took seconds over 100,000 patients (all 495,101 pairs of
    a 30-day window: 2.3 s), so counting stops past `limit`, as the API's pages do.
    Past it the patients are not counted: those of the pairs counted are not the
    cohort's, and counting them to a limit of their own took a second query as long
    as the first or longer (1.8 s for the KRAS p.G12C cohort).

    With `in_order` (a cohort of one project, whose patients come in pseudonym order
    from the (project, pseudonym) index; across projects PostgreSQL sorts them all
    before the first), on PostgreSQL, the count is in the pairs' own order when their
    first COUNT_PROBE_ROWS come at a pace that brings the limit within
    COUNT_IN_ORDER_SECONDS; else, and on other databases, in no order, as the
    database likes. The count is the same either way; the cost is not. In no order
    PostgreSQL misjudges a dense cohort: the CT cohort of bench/api.py took 478 ms
    against 159 ms in order (100,000 patients, loaded machine). In order a sparse one
    reads most patients to find its pairs (EGFR: 1,533 against 568 ms), which the
    first rows' pace shows.
    """
    counted = _count_in_order(pairs, limit) if in_order else None
    if counted is None:
        counted = _counted(pairs.order_by(), limit)
    if counted["pairs"] > limit:
        return CohortCount(limit, None, exact=False)
    return CohortCount(counted["pairs"], counted["patients"], exact=True)


def _counted(pairs: QuerySet, rows: int) -> dict[str, int]:
    """Count at most `rows` + 1 of `pairs`, and their patients, in one query."""
    return pairs[: rows + 1].aggregate(
        pairs=Count("pk"), patients=Count("patient", distinct=True)
    )


def _count_in_order(pairs: QuerySet, limit: int) -> dict[str, int] | None:
    """Count up to `limit` + 1 pairs in their order; None when that looks too slow.

    PostgreSQL only: SQLite sorts the whole cohort before its first row and has no
    statement timeout to stop it. Two statements at most, each under a timeout: the
    first COUNT_PROBE_ROWS pairs, then, if their pace allows, the limit's.
    """
    using = pairs.db
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    probe = min(COUNT_PROBE_ROWS, limit)
    # The probe's share of the budget. The pace quickens after the first rows (the
    # CT cohort: 23 ms for 100 pairs, 102 ms for 1,001), so a probe within its share
    # promises the limit well within the budget; twice the share let the EGFR cohort
    # through (47 ms for 100 pairs, 750 ms for 1,001), which then took 798 ms in all.
    probe_seconds = COUNT_IN_ORDER_SECONDS * (probe + 1) / (limit + 1)
    try:
        with transaction.atomic(using=using):
            # Set for this transaction (a savepoint's rollback undoes it too):
            previous = tighten_statement_timeout(connection, probe_seconds)
            started = time.perf_counter()
            counted = _counted(pairs, probe)
            spent = time.perf_counter() - started
            # More pairs than the probe read, short of the limit: counted to the
            # limit in order if they came fast enough, else in no order.
            if counted["pairs"] > probe and probe < limit:
                counted = None
                if spent <= probe_seconds:
                    tighten_statement_timeout(connection, 2 * COUNT_IN_ORDER_SECONDS)
                    counted = _counted(pairs, limit)
            restore_statement_timeout(connection, previous)
    except OperationalError as error:
        if not is_timeout(error):
            raise
        return None  # a timeout set above
    return counted


def find_pairs(criteria: CohortCriteria) -> list[CohortRow]:
    return list(rows_of(pair_queryset(criteria)))


def rows_of(values: Iterable[dict]) -> Iterator[CohortRow]:
    for row in values:
        yield CohortRow.from_values(row)


def _patient_filter(criteria: CohortCriteria, project: Project | None) -> Q:
    # Withdrawn consent, or consent without imaging and genomics, leaves a patient out
    # of every cohort, matrix and analysis from the withdrawal date on:
    condition = consent_allows(COHORT_SCOPES, patient_ref="patient_id")
    if project is not None and project.code != criteria.project:
        raise ValueError(
            f"The project given ({project.code}) is not the one asked for "
            f"({criteria.project or 'none'})."
        )
    if criteria.project:
        # The project's id as a number too (one small query, unless the caller read
        # the project): PostgreSQL then knows how many patients pass and reads them
        # in pseudonym order from the (project, pseudonym) index, so that a first
        # page stops early.
        if project is not None:
            ids = [project.pk]
        else:
            found = Project.objects.filter(code=criteria.project)
            ids = list(found.values_list("pk", flat=True))
        condition &= Q(patient__project__code=criteria.project) & Q(
            patient__project_id__in=ids
        )
    if criteria.cancer_type:
        condition &= Q(
            patient__cancer_type__in=cancer_types_within(criteria.cancer_type)
        )
    return condition


def _study_filter(criteria: CohortCriteria) -> Q:
    condition = Q()
    if criteria.modality:
        condition &= Q(
            Exists(
                ImageSeries.objects.filter(
                    study=OuterRef("pk"), modality=criteria.modality
                )
            )
        )
    if criteria.feature:
        values = FeatureValue.objects.filter(
            feature_id__in=feature_ids(criteria.feature),
            extraction__segmentation__series__study=OuterRef("pk"),
        )
        if criteria.modality:
            # A PET value must not admit a study asked for by its CT (docs/api.md):
            values = values.filter(
                extraction__segmentation__series__modality=criteria.modality
            )
        if criteria.feature_min is not None:
            values = values.filter(value__gte=criteria.feature_min)
        if criteria.feature_max is not None:
            values = values.filter(value__lte=criteria.feature_max)
        condition &= Q(Exists(values))
    return condition


def feature_ids(feature: str) -> list[int]:
    """Return the ids of the definitions `feature` names (by name or IBSI code).

    Read first (one small query) so that the values are found by the (feature, value)
    index with a number PostgreSQL can estimate, not through a join it cannot.
    """
    definitions = FeatureDefinition.objects.filter(
        Q(name=feature)
        | Q(ibsi_code=feature.upper(), image_filter=IBSI_CODE_IMAGE_FILTER)
    )
    return list(definitions.values_list("pk", flat=True))


def _keep_nearest(pairs: QuerySet, criteria: CohortCriteria) -> QuerySet:
    """Keep of `pairs` the nearest draw of each study: a pair stays unless another
    draw that passes the filters is nearer the study, or as near and earlier, or
    at the same moment with a lower sample id.

    Asked per pair on the (patient, drawn_on) index rather than by ranking every
    pair with a window function, so that a first page in patient order stops early
    (the ranking paired the whole cohort before its first row).
    """
    study_date = OuterRef("study_date")
    distance = OuterRef("abs_days_apart")
    nearer = (
        BloodSample.objects.filter(
            _sample_filter(criteria, sample="pk", patient="patient_id"),
            patient_id=OuterRef("patient_id"),
            drawn_on__gte=DaysAfter(study_date, -criteria.window_days),
            drawn_on__lte=DaysAfter(study_date, criteria.window_days),
        )
        .annotate(distance=Abs(DaysBetween(study_date, F("drawn_on"))))
        .filter(
            Q(distance__lt=distance)
            | Q(distance=distance, drawn_at__lt=OuterRef("drawn_at"))
            | Q(
                distance=distance,
                drawn_at=OuterRef("drawn_at"),
                pk__lt=OuterRef("sample_id"),
            )
        )
    )
    return pairs.filter(~Exists(nearer))


def _sample_filter(criteria: CohortCriteria, *, sample: str, patient: str) -> Q:
    """The draw filters, on the draw whose id and patient are the fields named.

    The patient is the draw's own (the same as the study's in a pair): correlated
    with the study's, PostgreSQL could only look for treatments after pairing the
    draws with studies (34,000 pairs for 5,645 kept in a 100,000-patient KRAS cohort),
    not on the draws first.
    """
    condition = Q()
    if criteria.gene or criteria.variant:
        variants = detected_variants(criteria.gene, criteria.variant)
        condition &= Q(Exists(variants.filter(assay__sample=OuterRef(sample))))
    if criteria.min_ctc_per_7_5ml is not None:
        counts = CTCCount.objects.filter(
            sample=OuterRef(sample),
            count_per_7_5ml__gte=criteria.min_ctc_per_7_5ml,
        )
        condition &= Q(Exists(counts))
    if criteria.before_first_treatment:
        # A draw on the day treatment starts is not before it; no treatment qualifies:
        treated = Treatment.objects.filter(
            patient=OuterRef(patient), started_on__lte=OuterRef("drawn_on")
        )
        condition &= ~Q(Exists(treated))
    return condition
