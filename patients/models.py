"""Projects, pseudonymised patients and their dated clinical facts."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.models import HistoricalRecords

from biobank.core.importing import units_in_words
from biobank.core.validation import clean_dates


class CancerType(models.TextChoices):
    """OncoTree codes used by the biobank's collections."""

    NSCLC = "NSCLC", "Non-small cell lung cancer"
    LUAD = "LUAD", "Lung adenocarcinoma"
    LUSC = "LUSC", "Lung squamous cell carcinoma"
    LCLC = "LCLC", "Large cell lung carcinoma"
    SCLC = "SCLC", "Small cell lung cancer"
    COAD = "COAD", "Colon adenocarcinoma"
    READ = "READ", "Rectal adenocarcinoma"
    COADREAD = "COADREAD", "Colorectal adenocarcinoma"
    PRAD = "PRAD", "Prostate adenocarcinoma"
    BRCA = "BRCA", "Invasive breast carcinoma"
    SKCM = "SKCM", "Cutaneous melanoma"
    PAAD = "PAAD", "Pancreatic adenocarcinoma"
    ESCA = "ESCA", "Esophageal carcinoma"
    HNSC = "HNSC", "Head and neck squamous cell carcinoma"
    STS = "STS", "Soft tissue sarcoma"
    AML = "AML", "Acute myeloid leukemia"
    OTHER = "OTHER", "Other"


# OncoTree's parent types among these codes and their subtypes: a filter on a parent
# type (NSCLC) includes its subtypes (LUAD), as a researcher reading OncoTree expects.
CANCER_SUBTYPES: dict[str, tuple[str, ...]] = {
    CancerType.NSCLC: (CancerType.LUAD, CancerType.LUSC, CancerType.LCLC),
    CancerType.COADREAD: (CancerType.COAD, CancerType.READ),
}


CANCER_SUBTYPES_HELP = "A parent type includes its subtypes (NSCLC: LUAD, LUSC, LCLC; COADREAD: COAD, READ)."


def cancer_types_within(code: str) -> list[str]:
    """Return `code` and the OncoTree subtypes it includes (NSCLC: LUAD, LUSC, LCLC)."""
    return [code, *CANCER_SUBTYPES.get(code, ())]


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    OTHER = "O", "Other"
    UNKNOWN = "U", "Unknown"


class Project(models.Model):
    """A research collection; every patient record belongs to exactly one."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Role(models.TextChoices):
    """A user's role in one project; each role holds the rights of those before it."""

    VIEWER = "viewer", "Viewer (browse, export pseudonymised data)"
    CURATOR = "curator", "Curator (edit, import)"
    MANAGER = "manager", "Project manager (members, consent)"


class ProjectMembership(models.Model):
    """What one user may do in one project; site administrators are superusers."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="project_memberships",
    )
    role = models.CharField(max_length=10, choices=Role)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["project__code", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user"],
                name="one_role_per_user_and_project",
                violation_error_message="This user already has a role in this project.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class Patient(models.Model):
    """A pseudonymised patient; the source identifier is kept only as a keyed hash."""

    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="patients"
    )
    pseudonym = models.CharField(max_length=40)
    source_key = models.CharField(
        max_length=64,
        editable=False,
        help_text="HMAC-SHA256 of the source patient identifier; links later imports.",
    )
    sex = models.CharField(max_length=1, choices=Sex, default=Sex.UNKNOWN)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    cancer_type = models.CharField(max_length=10, choices=CancerType, blank=True)
    histology = models.CharField(max_length=200, blank=True)
    stage = models.CharField(
        max_length=20, blank=True, help_text="Overall stage, e.g. IIIb."
    )
    t_stage = models.CharField(max_length=10, blank=True)
    n_stage = models.CharField(max_length=10, blank=True)
    m_stage = models.CharField(max_length=10, blank=True)
    diagnosis_on = models.DateField(null=True, blank=True)
    age_at_diagnosis_years = models.DecimalField(
        max_digits=6, decimal_places=3, null=True, blank=True
    )
    overall_survival_days = models.PositiveIntegerField(null=True, blank=True)
    is_deceased = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        # By project id, not code: with one project asked for, PostgreSQL then walks
        # the (project, pseudonym) index and the records' patient index in order and
        # stops after a page, where a sort by the joined code read every record of
        # the project first (0.6 s for 491,475 studies; issue 7).
        ordering = ["project_id", "pseudonym"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "pseudonym"], name="patient_pseudonym_unique"
            ),
            models.UniqueConstraint(
                fields=["project", "source_key"], name="patient_source_key_unique"
            ),
            models.CheckConstraint(
                condition=Q(birth_year__isnull=True) | Q(birth_year__gte=1880),
                name="patient_birth_year_plausible",
                violation_error_message="Birth year must be 1880 or later.",
            ),
        ]

    def __str__(self) -> str:
        return self.pseudonym

    def clean(self) -> None:
        """Refuse in forms what the clinical importer refuses: implausible dates.

        A birth year or diagnosis in the future, a diagnosis before EARLIEST_DATE
        (0001-01-01 made the patient's timeline a 500 for viewers).
        """
        super().clean()
        errors = {}
        if self.birth_year is not None and self.birth_year > timezone.localdate().year:
            errors["birth_year"] = "Birth year is in the future."
        try:
            clean_dates(self, {"diagnosis_on": "Diagnosis date"})
        except ValidationError as error:
            errors |= error.message_dict
        if errors:
            raise ValidationError(errors)


class Consent(models.Model):
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="consents"
    )
    allows_imaging = models.BooleanField(default=True)
    allows_genomics = models.BooleanField(default=True)
    allows_sharing = models.BooleanField(default=False)
    given_on = models.DateField()
    withdrawn_on = models.DateField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "given_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(withdrawn_on__isnull=True)
                | Q(withdrawn_on__gte=F("given_on")),
                name="consent_withdrawn_after_given",
                violation_error_message="Consent cannot be withdrawn before it was given.",
            ),
        ]
        indexes = [models.Index(fields=["patient", "given_on"])]

    def __str__(self) -> str:
        return f"Consent of {self.patient} on {self.given_on}"

    def clean(self) -> None:
        """Refuse in forms the dates the API refuses (future, before 1880)."""
        super().clean()
        clean_dates(
            self, {"given_on": "Consent date", "withdrawn_on": "Withdrawal date"}
        )


TREATMENT_REPEATED = (
    "This patient has a treatment of this kind with this agent (in capitals or not) "
    "started on this day already; change that treatment instead."
)


class Treatment(models.Model):
    class Kind(models.TextChoices):
        SURGERY = "surgery", "Surgery"
        CHEMOTHERAPY = "chemotherapy", "Chemotherapy"
        RADIOTHERAPY = "radiotherapy", "Radiotherapy"
        CHEMORADIOTHERAPY = "chemoradiotherapy", "Chemoradiotherapy"
        TARGETED = "targeted", "Targeted therapy"
        IMMUNOTHERAPY = "immunotherapy", "Immunotherapy"
        HORMONAL = "hormonal", "Hormonal therapy"
        OTHER = "other", "Other"

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="treatments"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    agent = models.CharField(max_length=200, blank=True)
    line = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Line of therapy."
    )
    started_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "started_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="treatment_end_after_start",
                violation_error_message="A treatment cannot end before it starts.",
            ),
            # Agents differing only in capitals (doxorubicin, Doxorubicin) are one
            # drug, as find_same_treatment says. NB: SQLite's LOWER folds ASCII
            # letters only; PostgreSQL's folds every letter.
            models.UniqueConstraint(
                "patient",
                "kind",
                Lower("agent"),
                "started_on",
                name="treatment_natural_key",
                violation_error_message=TREATMENT_REPEATED,
            ),
        ]
        indexes = [models.Index(fields=["patient", "started_on"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.agent} from {self.started_on}".strip()

    def clean(self) -> None:
        """Refuse in forms the dates the importer and the API refuse (future, before 1880)."""
        super().clean()
        clean_dates(self, {"started_on": "Start date", "ended_on": "End date"})


class ClinicalEvent(models.Model):
    class Kind(models.TextChoices):
        RESPONSE = "response", "RECIST response assessment"
        PROGRESSION = "progression", "Progression"
        RECURRENCE = "recurrence", "Recurrence"
        METASTASIS = "metastasis", "Metastasis"
        DEATH = "death", "Death"

    class Recist(models.TextChoices):
        CR = "CR", "Complete response"
        PR = "PR", "Partial response"
        SD = "SD", "Stable disease"
        PD = "PD", "Progressive disease"
        NE = "NE", "Not evaluable"

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    recist = models.CharField(max_length=2, choices=Recist, blank=True)
    occurred_on = models.DateField()
    note = models.CharField(max_length=500, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "occurred_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "kind", "occurred_on"], name="event_natural_key"
            ),
        ]
        indexes = [models.Index(fields=["patient", "occurred_on"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.occurred_on}"

    def clean(self) -> None:
        """Refuse in forms the dates the importer and the API refuse (future, before 1880)."""
        super().clean()
        clean_dates(self, {"occurred_on": "Event date"})


class ImportRun(models.Model):
    """One run of an importer over one file or folder, with its summary."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        # Rows or files rejected one by one while the others were stored:
        PARTIAL = "partial", "Partly stored (some rejected)"
        # Nothing stored, but for a DICOM run cut off after some units (status_label):
        FAILED = "failed", "Failed"

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="import_runs", null=True
    )
    importer = models.CharField(max_length=50)
    source_name = models.CharField(
        max_length=500, help_text="File or folder name as given."
    )
    source_sha256 = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.RUNNING)
    summary = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    # The process running the import, by which one left running is found ended
    # where the database holds no lock for it (SQLite: fail_abandoned_runs):
    host = models.CharField(
        max_length=255, blank=True, help_text="Host name of the importing process."
    )
    pid = models.PositiveIntegerField(
        null=True, blank=True, help_text="Process ID of the importing process."
    )
    process_key = models.CharField(
        max_length=100,
        blank=True,
        help_text="What tells the importing process from a later one given its ID: "
        "the machine's boot, the PID namespace and the process's start time.",
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.importer} {self.source_name} ({self.status_label()})"

    def status_label(self) -> str:
        """Return the status in words; a failed run's says what it stored before.

        A table import is stored whole or not at all, but a DICOM import commits
        each image series and segmentation object on its own (`stored_units` in
        its summary, recorded with each unit's commit), so one cut off (a killed
        process, the database lost) keeps the units committed before.
        """
        if self.status != self.Status.FAILED:
            return self.get_status_display()
        summary = self.summary or {}
        units = summary.get("stored_units") or {}
        if any(units.values()):
            return f"Failed after storing {units_in_words(units)}"
        # A run recorded before its units were counted:
        if any((summary.get("created") or {}).values()):
            return "Failed (partly stored)"
        return "Failed (nothing stored)"


class DataIssue(models.Model):
    """A data-quality finding: accepted under an assumption, or rejected."""

    class Severity(models.TextChoices):
        WARNING = "warning", "Warning (accepted)"
        ERROR = "error", "Error (rejected)"

    import_run = models.ForeignKey(
        ImportRun,
        on_delete=models.CASCADE,
        related_name="issues",
        null=True,
        blank=True,
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="data_issues", null=True
    )
    patient = models.ForeignKey(
        Patient,
        on_delete=models.CASCADE,
        related_name="data_issues",
        null=True,
        blank=True,
    )
    severity = models.CharField(max_length=10, choices=Severity)
    code = models.SlugField(
        max_length=60, help_text="Machine-readable kind, e.g. no-usable-date."
    )
    source_name = models.CharField(max_length=500, blank=True)
    row = models.PositiveIntegerField(
        null=True, blank=True, help_text="Line number in the file."
    )
    field = models.CharField(max_length=100, blank=True)
    value = models.CharField(max_length=200, blank=True)
    message = models.TextField()
    record_type = models.CharField(max_length=50, blank=True)
    record_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["record_type", "record_id"])]

    def __str__(self) -> str:
        return self.message
