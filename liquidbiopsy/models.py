"""Blood draws and what was measured in them: CTCs, cfDNA variants, circulating RNA."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Upper
from django.utils import timezone
from simple_history.models import HistoricalRecords

from biobank.core.validation import clean_dates
from liquidbiopsy.hgvs import (
    current_symbol,
    looks_like_fusion,
    parse_fusion,
    parse_protein_change,
)
from patients.models import Patient

_FRACTION = Q(vaf__isnull=True) | (Q(vaf__gte=0) & Q(vaf__lte=1))

# The most blood a count can be made in, in mL. A CellSearch tube holds 7.5 mL and a
# cfDNA tube 10 mL; a draw of several tubes rarely passes 60 mL. More than 100 mL is
# no draw but a unit slip (7500 for 7.5 mL in µL) or a typo, which would shrink the
# count per 7.5 mL that cohorts compare.
MAX_BLOOD_VOLUME_ML = 100
ABOVE_MAX_BLOOD_VOLUME = (
    f"must not exceed {MAX_BLOOD_VOLUME_ML} mL, more than any draw holds; give the "
    "volume counted in mL."
)

# The most plasma a draw can give, in mL. A 10 mL EDTA or Streck tube gives 4 to 5 mL
# of plasma, a draw of two tubes 8 to 10 mL, a large-volume protocol pooling six
# tubes about 30 mL. 100 mL, plasma of some 200 mL of blood, admits any pool of a
# draw's tubes; more is a unit slip (4000 for 4 mL in µL) or a typo, which would
# distort the cfDNA per mL of plasma that cohorts compare.
MAX_PLASMA_VOLUME_ML = 100
PLASMA_VOLUME_RANGE = (
    f"Plasma volume must be above 0 mL and at most {MAX_PLASMA_VOLUME_ML} mL, more "
    "than any draw gives; give the volume of plasma in mL."
)

# The longest a draw may wait for its plasma to be separated, in hours: 14 days, what
# the longest-keeping cfDNA tubes (Streck Cell-Free DNA BCT) are validated for at room
# temperature; an EDTA tube is processed within hours, other preserving tubes within
# 7 to 10 days. A later draw's cfDNA is diluted by the DNA of lysed blood cells, and
# more is a unit slip (1440 for a day in minutes) or a typo.
MAX_HOURS_TO_PROCESSING = 14 * 24
PROCESSING_TIME_RANGE = (
    f"Hours to processing must lie between 0 and {MAX_HOURS_TO_PROCESSING} "
    f"({MAX_HOURS_TO_PROCESSING // 24} days), longer than any cfDNA tube keeps a draw; "
    "give the hours from the draw to the separation of plasma."
)


class BloodSample(models.Model):
    """One blood draw; `drawn_on` is the local calendar day of `drawn_at`, for cohorts."""

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="blood_samples"
    )
    drawn_at = models.DateTimeField()
    drawn_on = models.DateField(editable=False)
    is_time_known = models.BooleanField(
        default=True, help_text="False when only the draw date was given."
    )
    timepoint = models.CharField(
        max_length=60, blank=True, help_text="e.g. Baseline, C2D1."
    )
    tube_type = models.CharField(
        max_length=60, blank=True, help_text="e.g. CellSave, EDTA, Streck."
    )
    plasma_volume_ml = models.FloatField(
        null=True,
        blank=True,
        help_text=f"Plasma separated, in mL: above 0, at most {MAX_PLASMA_VOLUME_ML} "
        "(the tubes of a draw pooled).",
    )
    hours_to_processing = models.FloatField(
        null=True,
        blank=True,
        help_text="Hours from the draw to the separation of plasma: 0 to "
        f"{MAX_HOURS_TO_PROCESSING} ({MAX_HOURS_TO_PROCESSING // 24} days).",
    )
    external_sample_id = models.CharField(
        max_length=100, blank=True, help_text="Sample ID in the external biorepository."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "drawn_at"]
        indexes = [
            models.Index(fields=["patient", "drawn_on"]),
            # The draws of a lab sample ID, looked up before a draw is stored with
            # one (same_sample_id_draw); only the draws that have one:
            models.Index(
                fields=["external_sample_id"],
                name="blood_sample_lab_id",
                condition=~Q(external_sample_id=""),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "drawn_at", "external_sample_id"],
                name="blood_sample_natural_key",
            ),
            # One rule for both bounds, under the name of the >0 rule it extends: the
            # API and the admin name the field of a broken constraint by its name.
            models.CheckConstraint(
                condition=Q(plasma_volume_ml__isnull=True)
                | (
                    Q(plasma_volume_ml__gt=0)
                    & Q(plasma_volume_ml__lte=MAX_PLASMA_VOLUME_ML)
                ),
                name="blood_sample_plasma_volume_positive",
                violation_error_message=PLASMA_VOLUME_RANGE,
            ),
            # Both bounds under the name of the rule it extends, as the plasma's:
            models.CheckConstraint(
                condition=Q(hours_to_processing__isnull=True)
                | (
                    Q(hours_to_processing__gte=0)
                    & Q(hours_to_processing__lte=MAX_HOURS_TO_PROCESSING)
                ),
                name="blood_sample_processing_time_not_negative",
                violation_error_message=PROCESSING_TIME_RANGE,
            ),
        ]

    def __str__(self) -> str:
        return f"Draw of {self.patient} {self.when_drawn}"

    def save(self, *args, **kwargs) -> None:
        self.drawn_on = timezone.localdate(self.drawn_at)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Refuse in forms the dates the importers and the API refuse.

        A day in the future, or before EARLIEST_DATE (0001-01-01 is a filler, and
        shifting it for a viewer fell off the calendar: a 500).
        """
        super().clean()
        clean_dates(self, {"drawn_at": "Draw date"})
        if self.is_time_known or self.drawn_at is None:
            return
        # As in the API, a time is dropped on purpose only (docs/api.md, "Writing"):
        local = timezone.localtime(self.drawn_at)
        if local.time() != dt.time(0, 0):
            raise ValidationError(
                {
                    "drawn_at": f"The time {local:%H:%M} is given for a draw whose "
                    "time is not known, which is stored at 00:00 of its day: set the "
                    "time to 00:00 to drop it, or mark the time as known (on the "
                    "draw's own page) to keep it."
                }
            )

    def same_sample_id_draw(self) -> BloodSample | None:
        """Return another draw of this draw's project that carries its lab sample ID.

        A lab sample ID names one tube, so two draws of a project carrying it are a
        curation error (sample_id_taken_message). An empty ID names none.
        NB: no database constraint holds this rule: the project is the patient's,
        and a unique index cannot reach through the patient. Two writes of the same
        ID at the same moment may both pass.
        """
        # The patient may be new, on the admin page adding it with its draws:
        if not self.external_sample_id or not (
            self.patient_id or BloodSample.patient.is_cached(self)
        ):
            return None
        return (
            BloodSample.objects.filter(
                external_sample_id=self.external_sample_id,
                patient__project_id=self.patient.project_id,
            )
            .exclude(pk=self.pk)
            .select_related("patient")
            .order_by("drawn_at", "pk")
            .first()
        )

    @property
    def when_drawn(self) -> str:
        """Return "at 2024-03-02 09:30" (local time) or "on 2024-03-02" (time unknown)."""
        drawn = self.drawn
        if isinstance(drawn, dt.datetime):
            return f"at {timezone.localtime(drawn):%Y-%m-%d %H:%M}"
        return f"on {drawn.isoformat()}"

    @property
    def drawn(self) -> dt.datetime | dt.date:
        """When blood was drawn, as pages show it: the moment, or its day alone.

        A draw given with a date only is stored at local midnight of that day with
        `is_time_known` False; that 00:00 is no time of day, so only the day is given.
        """
        if self.is_time_known:
            return self.drawn_at
        return timezone.localdate(self.drawn_at)


def sample_id_taken_message(other: BloodSample) -> str:
    """Return why a lab sample ID carried by `other` is refused for another draw.

    The draw is named by its patient's pseudonym and its day (and time, when known)
    in TIME_ZONE, as the pages show it to the curators who may write draws; never
    by a source identifier.
    """
    return (
        "is the lab sample ID of another draw of this project: the draw of patient "
        f"{other.patient.pseudonym} {other.when_drawn} (blood sample {other.pk}). "
        "A lab sample ID names one tube: correct the ID of one of the draws, or, if "
        "both are the same draw, give that draw's patient and date."
    )


CTC_PLATFORM_TAKEN = (
    "This draw has a CTC count from this platform already (in capitals or not); "
    "change that count instead."
)


class CTCCount(models.Model):
    class Enrichment(models.TextChoices):
        EPCAM = "epcam-immunomagnetic", "EpCAM immunomagnetic"
        SIZE = "size-filtration", "Size / filtration"
        DENSITY = "density", "Density gradient"
        DEP = "dielectrophoresis", "Dielectrophoresis"
        OTHER = "other", "Other"

    sample = models.ForeignKey(
        BloodSample, on_delete=models.CASCADE, related_name="ctc_counts"
    )
    platform = models.CharField(max_length=60, default="CellSearch")
    enrichment = models.CharField(
        max_length=25, choices=Enrichment, default=Enrichment.EPCAM
    )
    blood_volume_ml = models.FloatField(
        default=7.5,
        help_text=f"Blood counted, in mL: above 0, at most {MAX_BLOOD_VOLUME_ML} "
        "(a CellSearch tube holds 7.5).",
    )
    count = models.PositiveIntegerField()
    count_per_7_5ml = models.FloatField(editable=False)
    clusters = models.PositiveIntegerField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "CTC count"
        constraints = [
            # One count per platform of a draw, however the platform is spelled:
            models.UniqueConstraint(
                "sample",
                Lower("platform"),
                name="ctc_count_per_platform",
                violation_error_message=CTC_PLATFORM_TAKEN,
            ),
            models.CheckConstraint(
                condition=Q(blood_volume_ml__gt=0),
                name="ctc_volume_positive",
                violation_error_message="Blood volume must be above 0 mL.",
            ),
            models.CheckConstraint(
                condition=Q(blood_volume_ml__lte=MAX_BLOOD_VOLUME_ML),
                name="ctc_volume_plausible",
                violation_error_message=f"Blood volume {ABOVE_MAX_BLOOD_VOLUME}",
            ),
            models.CheckConstraint(
                condition=Q(count__gte=0), name="ctc_count_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["count_per_7_5ml"])]

    def __str__(self) -> str:
        return f"{self.count} CTC in {self.blood_volume_ml} mL ({self.platform})"

    def save(self, *args, **kwargs) -> None:
        self.count_per_7_5ml = self.count * 7.5 / self.blood_volume_ml
        super().save(*args, **kwargs)


# The one rule of a limit of detection: the API's, the admin's and the importers'
# (validation.check_limit_of_detection), the database's (cfdna_lod_fraction).
LOD_OUT_OF_RANGE = (
    "must lie above 0 and under 1 (100 %): a limit of 0 calls nothing below LOD and "
    "one of 1 every variant; give the assay's limit, such as 0.005 for 0.5 %."
)


class CfDNAAssay(models.Model):
    class Method(models.TextChoices):
        DDPCR = "ddPCR", "Droplet digital PCR"
        BEAMING = "BEAMing", "BEAMing"
        TARGETED_NGS = "targeted-NGS", "Targeted NGS"
        WGS = "WGS", "Whole-genome sequencing"
        WES = "WES", "Whole-exome sequencing"
        OTHER = "other", "Other"

    sample = models.ForeignKey(
        BloodSample, on_delete=models.CASCADE, related_name="cfdna_assays"
    )
    method = models.CharField(max_length=20, choices=Method)
    panel = models.CharField(max_length=100, blank=True)
    cfdna_ng_per_ml = models.FloatField(
        null=True, blank=True, verbose_name="cfDNA (ng/mL plasma)"
    )
    tumour_fraction = models.FloatField(null=True, blank=True)
    limit_of_detection_vaf = models.FloatField(
        "limit of detection (VAF)",
        null=True,
        blank=True,
        help_text="Lowest VAF (fraction) the assay reports.",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = "cfDNA assay"
        constraints = [
            models.UniqueConstraint(
                fields=["sample", "method", "panel"], name="cfdna_assay_natural_key"
            ),
            models.CheckConstraint(
                condition=Q(tumour_fraction__isnull=True)
                | (Q(tumour_fraction__gte=0) & Q(tumour_fraction__lte=1)),
                name="cfdna_tumour_fraction_fraction",
                violation_error_message="Tumour fraction is a fraction between 0 and 1 (write 12 %% as 0.12).",
            ),
            models.CheckConstraint(
                condition=Q(limit_of_detection_vaf__isnull=True)
                | (Q(limit_of_detection_vaf__gt=0) & Q(limit_of_detection_vaf__lt=1)),
                name="cfdna_lod_fraction",
                # In the admin's words for the field (a constraint's message is
                # %-formatted, hence %%):
                violation_error_message="Limit of detection (VAF) "
                + LOD_OUT_OF_RANGE.replace("%", "%%"),
            ),
            models.CheckConstraint(
                condition=Q(cfdna_ng_per_ml__isnull=True) | Q(cfdna_ng_per_ml__gte=0),
                name="cfdna_concentration_not_negative",
                violation_error_message="cfDNA concentration cannot be negative.",
            ),
        ]
        # A variant's assay gives its draw from this index alone (with the detected
        # variants' index, VariantResult's): the cohort filters look up one assay per
        # variant found.
        indexes = [models.Index(fields=["id", "sample"], name="cfdna_assay_sample")]

    def __str__(self) -> str:
        return f"{self.method} {self.panel}".strip()


class GenomeBuild(models.TextChoices):
    """The genome builds a variant's genomic change is stored in, by name.

    Files spell them otherwise (validation.GENOME_BUILDS): those spellings are
    stored under these names (validation.check_genome_build, migration 0026).
    """

    GRCH37 = "GRCh37", "GRCh37 (hg19)"
    GRCH38 = "GRCh38", "GRCh38 (hg38)"


class VariantQuerySet(models.QuerySet):
    def detected(self) -> VariantQuerySet:
        return self.filter(call=VariantResult.Call.DETECTED)

    def of_gene(self, gene: str) -> VariantQuerySet:
        """Return the variants of a gene given by its current or a former symbol, any case.

        Compared with gene_hgnc alone: every path that stores a variant puts the
        current symbol there (importers.variants.gene_values, migrations 0009 and
        0012), and one condition is what the index and the planner's statistics of
        migration 0010 cover. Or-ed with the symbol as given, PostgreSQL read the
        whole KRAS p.G12C cohort twice as slowly as the same question asked of
        gene_hgnc alone (BENCHMARKS.md, "At 100,000 patients").
        """
        # NB: a symbol that the alias table (hgvs._ALIASES) comes to rename needs a
        # migration that renames it in gene_hgnc too, as 0012 fills the empty ones.
        return self.filter(gene_hgnc__iexact=current_symbol(gene))

    def matching(self, gene: str, change: str) -> VariantQuerySet:
        """Return the variants of `gene` with `change` in any accepted spelling.

        `change` is a protein change (T790M, p.Thr790Met, p.(Thr790Met), ...) or a
        fusion (EML4::ALK, EML4-ALK fusion, eml4::alk: exact partner order, any case).

        Raises
        ------
        HGVSError
            When `change` is neither.
        """
        if looks_like_fusion(change):
            # Partners as MAF and VCF imports may store them (AC004943.1) are found too:
            fusion = parse_fusion(change, gene, annotator_names=True)
            if fusion.five_prime and fusion.three_prime:
                return self.fusion(fusion.five_prime, fusion.three_prime)
            return self.fusions(fusion.five_prime or fusion.three_prime)
        canonical = parse_protein_change(change).canonical
        return self.of_gene(gene).filter(protein_change=canonical)

    def fusion(self, five_prime: str, three_prime: str) -> VariantQuerySet:
        """Return fusions of these partners in this order (ALK::EML4 is not EML4::ALK)."""
        return self.filter(
            variant_type=VariantResult.Type.FUSION,
            fusion_5prime__iexact=five_prime,
            fusion_3prime__iexact=three_prime,
        )

    def fusions(self, gene: str) -> VariantQuerySet:
        """Return every fusion or rearrangement involving `gene`, on either side."""
        return self.filter(variant_type=VariantResult.Type.FUSION).filter(
            Q(fusion_5prime__iexact=gene)
            | Q(fusion_3prime__iexact=gene)
            | Q(gene__iexact=gene)
        )


class VariantResult(models.Model):
    """A variant tested in cfDNA; `protein_change` is one canonical one-letter HGVS form."""

    class Call(models.TextChoices):
        DETECTED = "detected", "Detected"
        NOT_DETECTED = "not-detected", "Not detected"
        BELOW_LOD = "below-lod", "Below limit of detection"
        FAILED = "failed", "Failed"

    class Type(models.TextChoices):
        SNV = "SNV", "Single nucleotide variant"
        MNV = "MNV", "Multi-nucleotide variant"
        INDEL = "indel", "Insertion / deletion"
        FUSION = "fusion", "Fusion / rearrangement"
        CNV = "CNV", "Copy-number variant"
        OTHER = "other", "Other"

    assay = models.ForeignKey(
        CfDNAAssay, on_delete=models.CASCADE, related_name="variants"
    )
    # Empty for a VCF record without CSQ/ANN annotation, as imported: no gene is
    # guessed from a position. Writes by hand (API, admin) name one (check_gene_symbol).
    gene = models.CharField(
        max_length=40, blank=True, help_text="HGNC symbol as given."
    )
    gene_hgnc = models.CharField(
        max_length=40,
        blank=True,
        help_text="Current HGNC symbol, in HGNC's case (KRAS, C9orf72).",
    )
    variant_key = models.CharField(
        max_length=200, editable=False, help_text="Canonical identity within an assay."
    )
    variant_type = models.CharField(max_length=10, choices=Type)
    protein_change = models.CharField(max_length=100, blank=True, db_index=True)
    protein_change_raw = models.CharField(max_length=200, blank=True)
    is_protein_change_predicted = models.BooleanField(default=False)
    protein_accession = models.CharField(max_length=40, blank=True)
    cdna_change = models.CharField(max_length=100, blank=True)
    genomic_change = models.CharField(
        max_length=100, blank=True, help_text="chrom:pos ref>alt"
    )
    genome_build = models.CharField(
        max_length=10,
        blank=True,
        choices=GenomeBuild,
        help_text="GRCh37 or GRCh38; the importers and the API read hg19, b37, "
        "hs37d5 and patches (GRCh37.p13) as GRCh37, hg38 as GRCh38.",
    )
    dbsnp_id = models.CharField(
        "dbSNP ID",
        max_length=20,
        blank=True,
        help_text="The dbSNP reference SNP ID a MAF (dbSNP_RS) or VCF (ID) gave, e.g. "
        "rs121434569; empty when it gave none, or several.",
    )
    fusion_5prime = models.CharField(max_length=40, blank=True)
    fusion_3prime = models.CharField(max_length=40, blank=True)
    fusion_note = models.CharField(max_length=200, blank=True)
    vaf = models.FloatField(
        "VAF", null=True, blank=True, help_text="Variant allele fraction, 0..1."
    )
    alt_reads = models.PositiveIntegerField(null=True, blank=True)
    depth = models.PositiveIntegerField(null=True, blank=True)
    supporting_reads = models.PositiveIntegerField(
        null=True, blank=True, help_text="Reads supporting a fusion or rearrangement."
    )
    call = models.CharField(max_length=15, choices=Call)
    is_clonal_haematopoiesis = models.BooleanField(default=False)
    is_germline = models.BooleanField(default=False)
    is_seen_in_ctc = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True)

    history = HistoricalRecords()
    objects = VariantQuerySet.as_manager()

    class Meta:
        ordering = ["assay", "gene", "protein_change"]
        constraints = [
            models.UniqueConstraint(
                fields=["assay", "variant_key"], name="variant_natural_key"
            ),
            models.CheckConstraint(
                condition=_FRACTION,
                name="variant_vaf_fraction",
                violation_error_message="VAF is a fraction between 0 and 1 (write 12.5 %% as 0.125).",
            ),
            models.CheckConstraint(
                condition=Q(alt_reads__isnull=True)
                | Q(depth__isnull=True)
                | Q(alt_reads__lte=models.F("depth")),
                name="variant_alt_reads_within_depth",
                violation_error_message="Alternate-allele reads cannot exceed the read depth.",
            ),
        ]
        indexes = [
            models.Index(fields=["gene", "protein_change", "call"]),
            # of_gene matches the current symbol in any case, and fusions() the
            # gene as given: without these, a cohort filtered by gene read all 13
            # million variants of a 100,000-patient biobank (BENCHMARKS.md).
            # The protein change last, for a variant asked for with its gene (KRAS
            # p.G12C): without it, the change's own index was intersected with
            # these, reading every p.G12C of any gene (1.84x the hand-written SQL).
            models.Index(
                Upper("gene"), "call", "protein_change", name="variant_gene_call_change"
            ),
            models.Index(
                Upper("gene_hgnc"),
                "call",
                "protein_change",
                name="variant_hgnc_call_change",
            ),
            # The detected variants of a gene with their assays, from this index
            # alone (an index-only scan once VACUUM has marked the table's pages):
            # read from the table, the 61,793 KRAS p.G12C variants of a
            # 100,000-patient biobank made the cohort's count 420 ms, not 143 ms.
            # The symbol as stored is a key too, since PostgreSQL scans an
            # expression's index only when the column itself is in it; keys, not
            # INCLUDE columns, which SQLite lacks. Detected ones only (5 % of the
            # variants there): with the assay every key differs, so that the index
            # of every call took 866 MB against 101 MB for the one above.
            models.Index(
                Upper("gene_hgnc"),
                "protein_change",
                "gene_hgnc",
                "assay",
                name="variant_detected_gene_assay",
                condition=Q(call="detected"),
            ),
            # A variant of no gene is asked for by its genomic change (the cohort
            # filter's detected_variants): without it, read from every variant.
            models.Index(
                fields=["genomic_change", "call"], name="variant_genomic_call"
            ),
            # A variant asked for by its dbSNP ID; only the variants that have one:
            models.Index(
                fields=["dbsnp_id", "call"],
                name="variant_dbsnp_call",
                condition=~Q(dbsnp_id=""),
            ),
            # The builds stored, read one by one from it (stored_genome_builds), so
            # that a change asked in a build none is stored in is refused at once:
            models.Index(
                fields=["genome_build"],
                name="variant_genome_build",
                condition=~Q(genome_build=""),
            ),
        ]

    def __str__(self) -> str:
        # A VCF without CSQ/ANN annotation gives no gene: its genomic change names it.
        return f"{self.gene} {self.protein_change or self.fusion_note or self.genomic_change}".strip()


class CirculatingRNAResult(models.Model):
    """A transcript measured in blood, e.g. AR-V7 on CTCs."""

    class Source(models.TextChoices):
        CTC = "CTC", "Circulating tumour cells"
        EXOSOME = "exosome", "Exosomes / extracellular vesicles"
        PLASMA = "plasma", "Cell-free plasma RNA"

    sample = models.ForeignKey(
        BloodSample, on_delete=models.CASCADE, related_name="rna_results"
    )
    transcript = models.CharField(max_length=60, help_text="e.g. AR-V7")
    source = models.CharField(max_length=10, choices=Source)
    method = models.CharField(
        max_length=60, blank=True, help_text="e.g. AdnaTest, RT-qPCR."
    )
    call = models.CharField(max_length=15, choices=VariantResult.Call)
    value = models.FloatField(null=True, blank=True)
    unit = models.CharField(max_length=30, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "circulating RNA result"
        constraints = [
            models.UniqueConstraint(
                fields=["sample", "transcript", "source", "method"],
                name="rna_natural_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.transcript} {self.get_call_display()}"
