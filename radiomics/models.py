"""Imaging studies, series with acquisition parameters, segmentations and features."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from biobank.core.storage import clean_storage_path
from biobank.core.validation import clean_dates
from patients.models import ImportRun, Patient


class ImagingStudy(models.Model):
    """A DICOM study, de-identified; `study_date` is null when no usable date exists."""

    class DateSource(models.TextChoices):
        STUDY = "StudyDate", "StudyDate (0008,0020)"
        SERIES = "SeriesDate", "SeriesDate (0008,0021)"
        ACQUISITION = "AcquisitionDate", "AcquisitionDate (0008,0022)"
        CONTENT = "ContentDate", "ContentDate (0008,0023)"
        NONE = "", "No usable date"

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="imaging_studies"
    )
    study_instance_uid = models.CharField(
        max_length=64, unique=True, help_text="De-identified StudyInstanceUID."
    )
    source_uid_hash = models.CharField(max_length=64, unique=True, editable=False)
    study_date = models.DateField(null=True, blank=True)
    study_time = models.TimeField(null=True, blank=True)
    date_source = models.CharField(max_length=20, choices=DateSource, blank=True)
    modalities = models.CharField(
        max_length=100, blank=True, help_text="Modalities of its series, e.g. CT,PT."
    )
    body_part = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=200, blank=True)
    patient_age_raw = models.CharField(max_length=16, blank=True)
    patient_age_value = models.PositiveSmallIntegerField(null=True, blank=True)
    patient_age_unit = models.CharField(
        max_length=1, blank=True, help_text="D, W, M or Y."
    )
    patient_age_years = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True
    )
    is_age_unit_assumed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "imaging studies"
        ordering = ["patient", "study_date"]
        indexes = [models.Index(fields=["patient", "study_date"])]

    def __str__(self) -> str:
        return f"{self.modalities or 'Study'} {self.study_date or 'undated'} of {self.patient}"

    def clean(self) -> None:
        """Refuse in forms a study date the importers refuse (future, before 1880)."""
        super().clean()
        clean_dates(self, {"study_date": "Study date"})


class ImageSeries(models.Model):
    """A series, with the acquisition parameters that radiomic features depend on."""

    study = models.ForeignKey(
        ImagingStudy, on_delete=models.CASCADE, related_name="series"
    )
    series_instance_uid = models.CharField(max_length=64, unique=True)
    source_uid_hash = models.CharField(max_length=64, unique=True, editable=False)
    frame_of_reference_uid = models.CharField(max_length=64, blank=True)
    modality = models.CharField(max_length=16)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)
    series_date = models.DateField(null=True, blank=True)
    manufacturer = models.CharField(max_length=128, blank=True)
    manufacturer_model_name = models.CharField(max_length=128, blank=True)
    convolution_kernel = models.CharField(max_length=128, blank=True)
    slice_thickness_mm = models.FloatField(null=True, blank=True)
    spacing_between_slices_mm = models.FloatField(null=True, blank=True)
    pixel_spacing_row_mm = models.FloatField(null=True, blank=True)
    pixel_spacing_column_mm = models.FloatField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    kvp = models.FloatField(null=True, blank=True, verbose_name="kVp")
    exposure_mas = models.FloatField(
        null=True, blank=True, verbose_name="exposure (mAs)"
    )
    tube_current_ma = models.FloatField(null=True, blank=True)
    ctdi_vol_mgy = models.FloatField(
        null=True,
        blank=True,
        verbose_name="CTDIvol (mGy)",
        help_text="CTDIvol (0018,9345): the CT dose index of the series, in mGy.",
    )
    injected_activity_mbq = models.FloatField(
        null=True,
        blank=True,
        verbose_name="injected activity (MBq)",
        help_text="RadionuclideTotalDose (0018,1074), stored in Bq in the file: the "
        "activity injected, at the radiopharmaceutical start time, in MBq.",
    )
    uptake_time_min = models.FloatField(
        null=True,
        blank=True,
        verbose_name="uptake time (min)",
        help_text="Minutes from the radiopharmaceutical start time (0018,1078 or "
        "0018,1072) to the series' start (SeriesDate, SeriesTime): the time to "
        "decay-correct the injected activity over.",
    )
    contrast_agent = models.CharField(max_length=128, blank=True)
    mr_sequence = models.CharField(max_length=128, blank=True)
    magnetic_field_strength_t = models.FloatField(null=True, blank=True)
    echo_time_ms = models.FloatField(null=True, blank=True)
    repetition_time_ms = models.FloatField(null=True, blank=True)
    pet_units = models.CharField(max_length=16, blank=True)
    radiopharmaceutical = models.CharField(max_length=64, blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    storage_path = models.CharField(
        max_length=500, blank=True, help_text="Folder of its de-identified files."
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "image series"
        ordering = ["study", "series_number"]
        indexes = [
            models.Index(fields=["modality"]),
            models.Index(fields=["frame_of_reference_uid"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(slice_thickness_mm__isnull=True)
                | Q(slice_thickness_mm__gt=0),
                name="series_slice_thickness_positive",
            ),
            models.CheckConstraint(
                condition=Q(ctdi_vol_mgy__isnull=True) | Q(ctdi_vol_mgy__gt=0),
                name="series_ctdi_vol_positive",
            ),
            models.CheckConstraint(
                condition=Q(injected_activity_mbq__isnull=True)
                | Q(injected_activity_mbq__gt=0),
                name="series_injected_activity_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.modality} {self.description}".strip()

    def clean(self) -> None:
        """Refuse in forms a series date the biobank refuses elsewhere (future, before
        1880), and a storage path outside BIOBANK_STORAGE_ROOT."""
        super().clean()
        clean_dates(self, {"series_date": "Series date"})
        clean_storage_path(self)


class ImageInstance(models.Model):
    """One stored, de-identified DICOM instance; duplicates are found by source UID."""

    series = models.ForeignKey(
        ImageSeries, on_delete=models.CASCADE, related_name="instances"
    )
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    source_uid_hash = models.CharField(max_length=64, unique=True, editable=False)
    content_sha256 = models.CharField(
        max_length=64,
        help_text="Hash of the source data set, to tell copies from conflicts.",
    )
    sop_class_uid = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    storage_path = models.CharField(max_length=500)

    class Meta:
        ordering = ["series", "instance_number"]

    def __str__(self) -> str:
        return self.sop_instance_uid

    def clean(self) -> None:
        """Refuse a storage path outside BIOBANK_STORAGE_ROOT: the file is read from it."""
        super().clean()
        clean_storage_path(self)


class Segmentation(models.Model):
    """A region of interest delineated on an image series."""

    class Method(models.TextChoices):
        MANUAL = "manual", "Manual"
        SEMI_AUTOMATIC = "semi-automatic", "Semi-automatic"
        AUTOMATIC = "automatic", "Automatic"
        UNKNOWN = "", "Unknown"

    class SourceKind(models.TextChoices):
        RTSTRUCT = "RTSTRUCT", "DICOM RT Structure Set"
        SEG = "SEG", "DICOM Segmentation"
        MASK = "MASK", "Mask file (NIfTI, NRRD)"

    class Linkage(models.TextChoices):
        INSTANCES = "instances", "Per-image SOP references"
        SERIES = "series", "Series and frame of reference"

    series = models.ForeignKey(
        ImageSeries, on_delete=models.CASCADE, related_name="segmentations"
    )
    roi_name = models.CharField(max_length=200)
    roi_number = models.IntegerField(
        default=1,
        help_text="ROINumber (RTSTRUCT) or SegmentNumber (SEG) or mask label.",
    )
    method = models.CharField(max_length=20, choices=Method, blank=True)
    reader = models.CharField(max_length=100, blank=True)
    roi_type = models.CharField(
        max_length=16,
        blank=True,
        help_text="RTROIInterpretedType (3006,00A4), e.g. GTV, ORGAN.",
    )
    source_kind = models.CharField(max_length=10, choices=SourceKind)
    source_sop_instance_uid = models.CharField(max_length=64, blank=True)
    source_uid_hash = models.CharField(max_length=64, blank=True, editable=False)
    content_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="Hash of the source RTSTRUCT or SEG data set, to tell copies from conflicts.",
    )
    linkage = models.CharField(max_length=10, choices=Linkage, blank=True)
    storage_path = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["series", "roi_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_uid_hash", "roi_number"],
                condition=~Q(source_uid_hash=""),
                name="segmentation_source_roi_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.roi_name} ({self.source_kind})"

    def clean(self) -> None:
        """Refuse a storage path outside BIOBANK_STORAGE_ROOT: extraction reads it."""
        super().clean()
        clean_storage_path(self)


class FeatureDefinition(models.Model):
    """A radiomic feature as an engine names it, with its IBSI code where one exists."""

    class Family(models.TextChoices):
        SHAPE = "shape", "Shape (3D)"
        SHAPE_2D = "shape2D", "Shape (2D)"
        FIRST_ORDER = "firstorder", "First order"
        GLCM = "glcm", "GLCM"
        GLRLM = "glrlm", "GLRLM"
        GLSZM = "glszm", "GLSZM"
        GLDM = "gldm", "GLDM"
        NGTDM = "ngtdm", "NGTDM"
        OTHER = "other", "Other"

    name = models.CharField(
        max_length=200, unique=True, help_text="e.g. original_glcm_Contrast"
    )
    family = models.CharField(max_length=12, choices=Family)
    feature_name = models.CharField(max_length=100, help_text="e.g. Contrast")
    image_filter = models.CharField(max_length=60, default="original")
    ibsi_code = models.CharField(max_length=8, blank=True, db_index=True)
    description = models.CharField(max_length=300, blank=True)
    ibsi_conformant = models.BooleanField(
        null=True,
        blank=True,
        help_text="Whether this engine's value matches the IBSI reference "
        "(unknown when empty); the note says where it departs.",
    )
    conformance_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["family", "name"]

    def __str__(self) -> str:
        return self.name


class FeatureExtraction(models.Model):
    """One run of an engine over one ROI, or one imported row of engine output."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="extractions"
    )
    segmentation = models.ForeignKey(
        Segmentation,
        on_delete=models.CASCADE,
        related_name="extractions",
        null=True,
        blank=True,
    )
    software = models.CharField(max_length=60)
    software_version = models.CharField(max_length=40, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    diagnostics = models.JSONField(
        default=dict,
        blank=True,
        help_text="Engine provenance such as diagnostics_* columns.",
    )
    fingerprint = models.CharField(
        max_length=64,
        unique=True,
        help_text="Identifies the same extraction on re-import.",
    )
    source_name = models.CharField(max_length=500, blank=True)
    image_reference = models.CharField(max_length=500, blank=True)
    mask_reference = models.CharField(max_length=500, blank=True)
    preset = models.CharField(
        max_length=60, blank=True, help_text="Named parameter preset, if one was used."
    )
    label = models.FloatField(
        null=True, blank=True, help_text="Mask value taken as the ROI."
    )
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(
        default=0, help_text="Per cent done, as the running job last reported."
    )
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Times a worker started this extraction."
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "created_at"]

    def __str__(self) -> str:
        return f"{self.software} {self.software_version} on {self.patient}"

    def clean(self) -> None:
        """Refuse in forms an extraction parted from its ROI or from the ROI's patient.

        Its values (or its job) were computed on its segmentation, so once set it is
        neither removed nor replaced: that would leave values of no ROI, or of another
        one. An extraction stored without one (a PyRadiomics CSV row naming no
        series) may be given one, as import_pyradiomics links it later. The patient
        is stored beside the segmentation for the queries; a curator editing one of
        them in the admin (or reverting its history) must not part them.
        """
        super().clean()
        self._keep_segmentation()
        if self.segmentation_id is None or self.patient_id is None:
            return
        owner = (
            Segmentation.objects.filter(pk=self.segmentation_id)
            .values_list("series__study__patient_id", flat=True)
            .first()
        )
        if owner is not None and owner != self.patient_id:
            raise ValidationError(
                {
                    "patient": "The segmentation of this extraction belongs to another "
                    "patient; choose that patient or another segmentation."
                }
            )

    def _keep_segmentation(self) -> None:
        stored = (
            FeatureExtraction.objects.filter(pk=self.pk)
            .values_list("segmentation_id", flat=True)
            .first()
            if self.pk is not None
            else None
        )
        if stored is None or self.segmentation_id == stored:
            return
        if self.segmentation_id is None:
            message = (
                "The segmentation of an extraction cannot be removed: its feature "
                "values were computed on that ROI. Delete the extraction instead if "
                "they are wrong."
            )
        else:
            message = (
                f"The segmentation of an extraction cannot be changed: its feature "
                f"values were computed on segmentation {stored}. Extract features "
                "from the other segmentation as a new extraction."
            )
        raise ValidationError({"segmentation": message})


class FeatureValue(models.Model):
    """One number; sized for tens of millions of rows, written with bulk_create."""

    # NB: no single-column indexes: the unique (extraction, feature) and the
    # (feature, value) indexes serve those look-ups, and each extra index slows the
    # bulk writes of tens of millions of values.
    extraction = models.ForeignKey(
        FeatureExtraction,
        on_delete=models.CASCADE,
        related_name="values",
        db_index=False,
    )
    feature = models.ForeignKey(
        FeatureDefinition,
        on_delete=models.PROTECT,
        related_name="values",
        db_index=False,
    )
    value = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["extraction", "feature"], name="feature_value_unique"
            ),
        ]
        # "feature X between a and b" is an index range scan; with the id in the
        # index, the ids of those values come from the index alone (an index-only
        # scan once VACUUM has marked the table's pages), which is how the API list
        # checks that a value range matches few values (3 ms instead of 0.1 to 0.7 s
        # for 10,001 ids among 54 million values, issue 7):
        indexes = [models.Index(fields=["feature", "value", "id"])]

    # What __str__ reads; the admin's delete confirmation reads it for all values at
    # once (biobank.core.scoped_admin.deleted_objects):
    str_related = ("feature",)

    def __str__(self) -> str:
        return f"{self.feature.name} = {self.value}"

    @classmethod
    def bulk_target(cls) -> tuple[str, str]:
        """Return the quoted table and its (extraction, feature, value) columns.

        For the writers that bypass the ORM (COPY, many rows per INSERT).
        """
        quote = connection.ops.quote_name
        columns = ", ".join(
            quote(cls._meta.get_field(name).column)
            for name in ("extraction", "feature", "value")
        )
        return quote(cls._meta.db_table), columns


class RadiomicSignature(models.Model):
    """A weighted set of features with intercept, cut-off and labels."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    reference = models.CharField(
        max_length=500, blank=True, help_text="Literature reference."
    )
    intercept = models.FloatField(default=0.0)
    cutoff = models.FloatField(null=True, blank=True)
    label_below = models.CharField(max_length=50, default="low risk")
    label_above = models.CharField(max_length=50, default="high risk")

    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.name


class SignatureTerm(models.Model):
    signature = models.ForeignKey(
        RadiomicSignature, on_delete=models.CASCADE, related_name="terms"
    )
    feature = models.ForeignKey(FeatureDefinition, on_delete=models.PROTECT)
    weight = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["signature", "feature"], name="signature_term_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.weight:+g} x {self.feature}"


class SignatureScore(models.Model):
    signature = models.ForeignKey(
        RadiomicSignature, on_delete=models.CASCADE, related_name="scores"
    )
    extraction = models.ForeignKey(
        FeatureExtraction, on_delete=models.CASCADE, related_name="signature_scores"
    )
    score = models.FloatField()
    label = models.CharField(max_length=50, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["signature", "extraction"], name="signature_score_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.signature}: {self.score:g} ({self.label})"


class FeatureRobustness(models.Model):
    """How repeatable one feature is over repeated extractions of the same lesions.

    `design` says what the repeats are (several readers' segmentations of a lesion,
    or test-retest scans); `selection` names the extractions it was computed from
    (engine, preset) so that results of different settings are kept apart.
    """

    class Design(models.TextChoices):
        READERS = "readers", "Several readers, same series"
        TEST_RETEST = "test-retest", "Test-retest scans"

    feature = models.ForeignKey(
        FeatureDefinition, on_delete=models.CASCADE, related_name="robustness"
    )
    design = models.CharField(max_length=12, choices=Design)
    selection = models.CharField(max_length=200, blank=True)
    form = models.CharField(max_length=10, help_text="ICC form, e.g. ICC(2,1).")
    icc = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    n_subjects = models.PositiveIntegerField(default=0)
    n_raters = models.PositiveIntegerField(default=0)
    threshold = models.FloatField()
    is_robust = models.BooleanField(
        default=False, help_text="The interval's lower bound reaches the threshold."
    )
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["feature", "design"]
        verbose_name_plural = "feature robustness"
        constraints = [
            models.UniqueConstraint(
                fields=["feature", "design", "form", "selection"],
                name="feature_robustness_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.feature} {self.form} {self.design}: {self.icc}"


class DeidentifiedAttribute(models.Model):
    """What DICOM de-identification did to one attribute in one import run.

    One row per attribute path and decision, over all the files the run stored, so
    that a run of thousands of files keeps a few hundred rows. No value is recorded,
    only what was done to it.
    """

    class Decision(models.TextChoices):
        REMOVED = "removed", "Removed"
        DUMMY = "dummy", "Replaced by a dummy value"
        UID = "uid", "Replaced by a new UID"
        PSEUDONYM = "pseudonym", "Replaced by the patient's pseudonym"
        EMPTIED = "emptied", "Emptied"
        CLEANED = "cleaned", "Cleaned: held an identifier, emptied"
        KEPT = "kept", "Kept"

    class Rule(models.TextChoices):
        PRIVATE = (
            "private",
            "Private attribute: removed whatever its VR, since nothing says what a vendor put in it.",
        )
        UNKNOWN = (
            "unknown",
            "Public attribute the data dictionary does not know: removed, since nothing says it is safe.",
        )
        GROUP_LENGTH = (
            "group-length",
            "Group length: removed; it is worked out again when the file is written.",
        )
        PROFILE = (
            "profile",
            "PS3.15 Table E.1-1, Basic Application Confidentiality Profile.",
        )
        UID = (
            "uid",
            "UID replaced by one derived from a keyed hash of the source UID, the same in every "
            "file of the project, so references between objects (an RTSTRUCT or SEG to its "
            "images, a frame of reference) still resolve.",
        )
        PSEUDONYM = (
            "pseudonym",
            "Replaced by the patient's project pseudonym, which links the stored files to the "
            "patient record.",
        )
        DUMMY_SEQUENCE = (
            "dummy-sequence",
            "Inside a sequence that Table E.1-1 replaces by a dummy (an identification code of a "
            "person, institution or procedure step): each value replaced by a dummy, references "
            "and UIDs as for any UID.",
        )
        FULL_DATES = (
            "full-dates",
            "Retain Longitudinal Temporal Information with Full Dates Option: dates and times are "
            "kept so that scans can be set in time against blood draws and treatments.",
        )
        PATIENT_CHARACTERISTICS = (
            "patient-characteristics",
            "Retain Patient Characteristics Option: age, sex, size and weight are kept as cohort "
            "descriptors and for PET SUV; ages above 89 years become 090Y.",
        )
        CLEAN_DESCRIPTORS = (
            "clean-descriptors",
            "Clean Descriptors Option: a descriptor radiomics needs is kept unless it holds an "
            "identifier found in the file (a name, ID, birth date, accession number, "
            "institution); then it is emptied.",
        )
        ACQUISITION = (
            "acquisition",
            "Acquisition parameter (equipment, kernel, slice thickness, pixel spacing, kVp...): "
            "kept because radiomic features depend on it; emptied only if it holds the "
            "patient's own name, ID or birth date.",
        )
        URL = (
            "url",
            "Address (VR UR: Retrieve URL, Retrieve URI, Pixel Data Provider URL...): removed, "
            "since the stored copy stands alone and an address can carry the source's UIDs "
            "and IDs, which the screen does not look for.",
        )
        NOT_LISTED = (
            "not-listed",
            "Not in Table E.1-1: kept; free text is emptied when it holds an identifier found in "
            "the file.",
        )

    import_run = models.ForeignKey(
        ImportRun, on_delete=models.CASCADE, related_name="deidentified_attributes"
    )
    path = models.CharField(
        max_length=500,
        help_text="Attribute keyword, after the sequences it sits in, e.g. "
        "ReferencedStudySequence > ReferencedSOPInstanceUID.",
    )
    tag = models.CharField(max_length=11, help_text="(gggg,eeee) of the attribute.")
    profile_action = models.CharField(
        max_length=8,
        blank=True,
        help_text="The action of PS3.15 Table E.1-1 (X, Z, D, U, X/Z/D...); blank if not listed.",
    )
    decision = models.CharField(max_length=10, choices=Decision)
    rule = models.CharField(max_length=24, choices=Rule)
    file_count = models.PositiveIntegerField(
        help_text="Files of the run where this was done."
    )
    element_count = models.PositiveIntegerField(
        help_text="Elements this was done to, counting every sequence item."
    )

    class Meta:
        ordering = ["import_run", "decision", "path"]
        constraints = [
            models.UniqueConstraint(
                fields=["import_run", "path", "decision"],
                name="deidentified_attribute_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.path}: {self.get_decision_display()}"
