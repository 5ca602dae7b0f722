"""Forms of the researcher pages: dashboard, patient filters, timeline, study, follow-up rule."""

from __future__ import annotations

from django import forms
from django.db.models import Exists, F, OuterRef, Q
from django.http import QueryDict

from biobank.api import vocabulary
from biobank.api.access import ProjectChoicesOfUser
from biobank.cohorts.stratification import FollowUpRule
from liquidbiopsy.models import VariantResult
from patients.models import (
    CANCER_SUBTYPES_HELP,
    CancerType,
    Project,
    cancer_types_within,
)
from radiomics.models import ImageSeries, RadiomicSignature

SORTS = {
    "pseudonym": ("pseudonym", "Pseudonym"),
    "cancer_type": ("cancer_type", "Cancer type"),
    "stage": ("stage", "Stage"),
    "diagnosis_on": ("diagnosis_on", "Diagnosed"),
    "studies": ("study_count", "Imaging studies"),
    "draws": ("draw_count", "Blood draws"),
}


def project_field(empty_label: str) -> forms.ModelChoiceField:
    """An optional project, chosen by code (ProjectChoicesOfUser narrows the choices)."""
    return forms.ModelChoiceField(
        queryset=Project.objects.all(),
        to_field_name="code",
        required=False,
        empty_label=empty_label,
    )


class DashboardForm(ProjectChoicesOfUser, forms.Form):
    """The project the dashboard counts; every readable project when empty."""

    project = project_field("All projects")


class StudyPageForm(forms.Form):
    """The feature extraction whose features the study page lists; its latest when empty."""

    extraction = forms.IntegerField(min_value=1, required=False)


class PatientBrowserForm(ProjectChoicesOfUser, forms.Form):
    """What the researcher narrows the patient list by; every field is optional."""

    q = forms.CharField(
        label="Pseudonym",
        required=False,
        max_length=40,
        help_text="Part of it is enough.",
    )
    project = project_field("Any project")
    cancer_type = forms.ChoiceField(
        choices=[("", "Any cancer type"), *CancerType.choices],
        required=False,
        help_text=CANCER_SUBTYPES_HELP,
    )
    stage = forms.CharField(
        required=False, max_length=20, help_text="Overall stage, e.g. IV or IIIb."
    )
    modality = forms.CharField(
        required=False,
        max_length=16,
        help_text="Has a series of this modality, e.g. CT.",
    )
    gene = forms.CharField(
        required=False, max_length=40, help_text="Has a cfDNA result for this gene."
    )
    call = forms.ChoiceField(
        label="Call",
        choices=[("", "Any call"), *VariantResult.Call.choices],
        required=False,
        help_text="With a gene: only results with this call.",
    )
    sort = forms.ChoiceField(
        choices=[(key, label) for key, (_, label) in SORTS.items()], required=False
    )
    descending = forms.BooleanField(required=False, label="Descending")

    def clean_modality(self) -> str:
        # As the cohort filters: an unknown modality would list no patient, as if none had it.
        modality = self.cleaned_data["modality"].strip().upper()
        return vocabulary.MODALITIES.check(modality, self.user)

    def clean_gene(self) -> str:
        # As the cohort filters: a misspelt gene would list no patient, as if none had it.
        gene = self.cleaned_data["gene"].strip().upper()
        return vocabulary.GENES.check(gene, self.user)

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("call") and not cleaned.get("gene"):
            self.add_error("call", "Name the gene whose call you filter on.")
        return cleaned

    def refuse_date_sort(self) -> None:
        """Refuse sorting by diagnosis date, for a page without calendar dates.

        Shifted dates move each patient by an offset of its own, and relative ones
        start at the diagnosis: a list in calendar order would show neither, and
        would tell the real order of the diagnoses.
        """
        if self.is_valid() and self.cleaned_data["sort"] == "diagnosis_on":
            self.add_error(
                "sort",
                "Sorting by diagnosis date needs calendar dates; choose another column.",
            )

    def condition(self) -> Q:
        """Return the patients' filter; call only on a valid form."""
        data = self.cleaned_data
        condition = Q()
        if data["q"]:
            condition &= Q(pseudonym__icontains=data["q"].strip())
        if data["project"]:
            condition &= Q(project=data["project"])
        if data["cancer_type"]:
            condition &= Q(cancer_type__in=cancer_types_within(data["cancer_type"]))
        if data["stage"]:
            condition &= Q(stage__iexact=data["stage"].strip())

        # Exists, not joins, so that a patient with many matches is listed once:
        if data["modality"]:
            series = ImageSeries.objects.filter(
                study__patient=OuterRef("pk"), modality=data["modality"]
            )
            condition &= Q(Exists(series))
        if data["gene"]:
            variants = VariantResult.objects.of_gene(data["gene"]).filter(
                assay__sample__patient=OuterRef("pk")
            )
            if data["call"]:
                variants = variants.filter(call=data["call"])
            condition &= Q(Exists(variants))
        return condition

    def reads_records(self) -> bool:
        """Whether a filter looks into the patients' series or variants, which are
        slow to count every match of; call only on a valid form."""
        return bool(self.cleaned_data["modality"] or self.cleaned_data["gene"])

    def ordering(self) -> list:
        field = F(SORTS[self.cleaned_data.get("sort") or "pseudonym"][0])
        # Missing values last both ways and on both databases (they disagree by default):
        if self.cleaned_data.get("descending"):
            first = field.desc(nulls_last=True)
        else:
            first = field.asc(nulls_last=True)
        return [first, "project__code", "pseudonym", "pk"]


class TimelineForm(forms.Form):
    """How the timeline is drawn: the pairing window and the VAF axis."""

    DEFAULT_WINDOW = 30
    # The name the timeline and report used before they took the cohorts' window_days;
    # links shared with it still open the window they meant.
    OLD_WINDOW_NAME = "window"

    window_days = forms.IntegerField(
        label="Pairing window (days)",
        min_value=0,
        max_value=3650,
        required=False,
        help_text="A study and a draw this close are linked as a synchronous pair.",
    )
    vaf_scale = forms.ChoiceField(
        label="VAF axis",
        choices=[
            ("linear", "Linear"),
            ("log", "Logarithmic (shows fractions below 1 %)"),
        ],
        required=False,
    )

    @classmethod
    def renamed(cls, query: QueryDict) -> QueryDict:
        """Return `query` with the old `window` read as `window_days`.

        Given both, `window` is left in place, so the page names it as a second value
        of the same setting (name_unknown_parameters with reads_old_names) rather
        than choosing one of two windows silently.
        """
        if cls.OLD_WINDOW_NAME not in query or "window_days" in query:
            return query
        query = query.copy()
        query.setlist("window_days", query.pop(cls.OLD_WINDOW_NAME))
        return query

    def clean_window_days(self) -> int:
        window = self.cleaned_data["window_days"]
        return self.DEFAULT_WINDOW if window is None else window

    def clean_vaf_scale(self) -> str:
        return self.cleaned_data["vaf_scale"] or "linear"


class FollowUpForm(ProjectChoicesOfUser, forms.Form):
    """The follow-up rule, editable; the defaults are the CellSearch prognostic cut-offs."""

    project = project_field("Any project")
    window_days = forms.IntegerField(
        label="Window (days)", min_value=0, max_value=3650, required=False
    )
    signature = forms.ChoiceField(
        label="Signature",
        required=False,
        help_text="Scores at or above its cut-off are high risk.",
    )
    ctc_brca = forms.FloatField(
        label="CTC cut-off, breast (BRCA)",
        min_value=0,
        required=False,
        help_text="CTCs per 7.5 mL; empty: no CTC criterion for this cancer type.",
    )
    ctc_prad = forms.FloatField(
        label="CTC cut-off, prostate (PRAD)", min_value=0, required=False
    )
    ctc_colorectal = forms.FloatField(
        label="CTC cut-off, colorectal (COAD, READ, COADREAD)",
        min_value=0,
        required=False,
    )
    ctc_other = forms.FloatField(
        label="CTC cut-off, other cancer types",
        min_value=0,
        required=False,
        help_text="No established cut-off exists; empty leaves CTCs out for them.",
    )
    use_cfdna = forms.BooleanField(
        label="A detected cfDNA variant counts as positive", required=False
    )
    metastatic_only = forms.BooleanField(
        label="CTC cut-offs apply to metastatic patients only (stage IV or M1)",
        required=False,
        help_text="The CellSearch cut-offs were established in metastatic disease.",
    )

    CUTOFF_FIELDS = {
        "ctc_brca": (CancerType.BRCA,),
        "ctc_prad": (CancerType.PRAD,),
        "ctc_colorectal": (CancerType.COAD, CancerType.READ, CancerType.COADREAD),
    }
    DEFAULTS = {
        "window_days": "30",
        "ctc_brca": "5",
        "ctc_prad": "5",
        "ctc_colorectal": "3",
        "use_cfdna": "on",
        "metastatic_only": "on",
    }

    # Sent by the page's own form only. An unticked checkbox is not sent at all, so
    # only a submitted form reads a missing box as off; a link naming part of the
    # rule (?window_days=7) keeps the defaults of the rest.
    SUBMITTED = "applied"

    def __init__(self, data, *args, **kwargs) -> None:
        submitted = self.SUBMITTED in data
        missing = {
            name: value
            for name, value in self.DEFAULTS.items()
            if name not in data
            and not (
                submitted and isinstance(self.base_fields[name], forms.BooleanField)
            )
        }
        if missing:
            data = {**missing, **data.dict()}
        super().__init__(data, *args, **kwargs)
        names = RadiomicSignature.objects.filter(cutoff__isnull=False).values_list(
            "name", flat=True
        )
        self.fields["signature"].choices = [
            ("", "Any signature with a cut-off"),
            *((n, n) for n in names),
        ]

    def rule(self) -> FollowUpRule:
        data = self.cleaned_data
        cutoffs: dict[str, float] = {}
        if data["ctc_other"] is not None:
            cutoffs |= dict.fromkeys(CancerType.values, data["ctc_other"])
        for name, codes in self.CUTOFF_FIELDS.items():
            for code in codes:
                cutoffs.pop(code, None)
                if data[name] is not None:
                    cutoffs[code] = data[name]
        return FollowUpRule(
            window_days=30 if data["window_days"] is None else data["window_days"],
            signature=data["signature"],
            ctc_cutoffs=cutoffs,
            use_cfdna=data["use_cfdna"],
            metastatic_only=data["metastatic_only"],
        )
