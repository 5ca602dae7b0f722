"""The upload form: a project the user may curate, a kind of file, the file, options."""

from __future__ import annotations

from django import forms

from biobank.api.access import CURATE, projects_for
from biobank.core.dates import ORDERS
from biobank.core.importing import ImportRejected
from biobank.imports.kinds import KINDS
from liquidbiopsy.importers.variants import draw_of_option, lod_of_option


class UploadForm(forms.Form):
    project = forms.ModelChoiceField(queryset=None, empty_label=None)
    kind = forms.ChoiceField(
        label="Kind of file",
        choices=[(key, kind.label) for key, kind in KINDS.items()],
    )
    file = forms.FileField(allow_empty_file=True)
    create_patients = forms.BooleanField(
        required=False,
        help_text="Create a patient for an unknown patient ID instead of rejecting it.",
    )
    date_order = forms.ChoiceField(
        required=False,
        choices=[("", "from the file")] + [(order, order) for order in ORDERS],
        help_text="Order of slashed dates such as 03/04/2021 (clinical and lab tables).",
    )
    # Text checked by the import commands' own rule (draw_of_option), so the page
    # takes what --drawn-on takes (a date or a date and time) and nothing more:
    drawn_on = forms.CharField(
        required=False,
        max_length=40,
        label="Drawn on",
        help_text="Blood draw date (YYYY-MM-DD); needed for a MAF or a VCF.",
    )
    patient_id = forms.CharField(
        required=False,
        max_length=100,
        label="Source patient ID",
        help_text="Needed for a VCF; it is pseudonymised, never stored.",
    )
    # Text checked by --lod's own rule (lod_of_option), as drawn_on is by --drawn-on's:
    lod = forms.CharField(
        required=False,
        max_length=40,
        label="Limit of detection",
        help_text="For a MAF or a VCF: the assay's limit as a VAF fraction (0.005) or "
        "a percent (0.5%), above 0 and under 1. Left empty, the calls are made "
        "against the limit stored on the draw's assay, if any.",
    )

    def __init__(self, user, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects_for(user, CURATE).order_by("code")

    def clean_drawn_on(self) -> str:
        text = self.cleaned_data["drawn_on"].strip()
        if text:
            try:
                draw_of_option(self.fields["drawn_on"].label, text)
            except ImportRejected as exc:
                raise forms.ValidationError(
                    [f"{text}: {problem.message}" for problem in exc.problems]
                ) from None
        return text

    def clean_lod(self) -> str:
        text = self.cleaned_data["lod"].strip()
        if text:
            try:
                lod_of_option(self.fields["lod"].label, text, warnings=[])
            except ImportRejected as exc:
                raise forms.ValidationError(
                    [f"{text}: {problem.message}" for problem in exc.problems]
                ) from None
        return text

    def clean(self) -> dict:
        data = super().clean()
        kind = KINDS.get(data.get("kind", ""))
        if data.get("lod") and kind and "lod" not in kind.takes:
            # Not ignored: a limit the import dropped would call nothing below LOD.
            self.add_error(
                "lod",
                f"Limit of detection is for a MAF or a VCF, not a {kind.label}; a "
                "cfDNA table gives it in its limit_of_detection column.",
            )
        for name in kind.needs if kind else ():
            # A value refused by its own check is not also missing:
            if not data.get(name) and name not in self.errors:
                label = self.fields[name].label
                self.add_error(name, f"{label} is needed for a {kind.label}.")
        return data
