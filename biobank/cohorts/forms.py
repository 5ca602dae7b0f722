"""The cohort filters, read from a query string by both the page and the JSON endpoint."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.template.defaultfilters import pluralize
from django.utils.text import Truncator

from biobank.api import vocabulary
from biobank.api.access import ProjectChoicesOfUser, visible_to
from biobank.cohorts.query import (
    IBSI_CODE_IMAGE_FILTER,
    CohortCriteria,
    PairMode,
    detected_variants,
    genome_builds_of,
    pair_queryset,
    stored_genome_builds,
    variants_at_position,
)
from biobank.core.validation import InvalidValue
from liquidbiopsy.hgvs import FusionError, HGVSError, looks_like_fusion
from liquidbiopsy.models import VariantResult
from liquidbiopsy.validation import (
    GENOME_BUILDS,
    genome_build_name,
    looks_like_dbsnp_id,
    looks_like_genomic_change,
    read_dbsnp_id,
    read_shown_genomic_change,
    reference_base,
    split_genome_build,
)
from patients.models import CANCER_SUBTYPES_HELP, CancerType, Project
from radiomics.models import FeatureDefinition, FeatureExtraction

UNKNOWN_PARAMETER = "Unknown parameter; check its spelling."

# Parameters that the patient timeline and report still read under an old name
# (biobank.browse.forms.TimelineForm.renamed), so that links shared before keep
# working; elsewhere the old name is told apart from a misspelling:
OLD_NAMES = {"window": "window_days"}
OLD_NAME_READERS = "the patient timeline and report"

# From a cfDNA variant to its project, as visible_to takes it:
VARIANT_PROJECT = "assay__sample__patient__project"

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 3650

TRUE_WORDS = {"on", "true", "1", "yes"}
FALSE_WORDS = {"", "off", "false", "0", "no"}
# The HTML form's checkbox sends "on"; links and the API write true or false:
FLAG_MESSAGE = "Use true or false (or 1 or 0, on or off, yes or no)."


def _is_checked(value: object) -> bool:
    return value is True or str(value).strip().lower() in TRUE_WORDS


class FlagInput(forms.CheckboxInput):
    """A checkbox that hands its raw text to the field, so "maybe" is an error, not True."""

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs, check_test=_is_checked)

    def value_from_datadict(self, data, files, name):
        return data.get(name, "")


class FlagField(forms.BooleanField):
    widget = FlagInput

    def to_python(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValidationError(FLAG_MESSAGE, code="invalid")


class CodeChoiceField(forms.ChoiceField):
    """A choice given in any case, read as its code (luad is LUAD, NEAREST nearest), as
    the gene and modality filters are read."""

    def to_python(self, value: object) -> str:
        text = super().to_python(value)
        codes = {str(code).lower(): str(code) for code, _ in self.choices}
        return codes.get(text.strip().lower(), text)


class CohortForm(ProjectChoicesOfUser, forms.Form):
    """Filters of a cohort; every one is optional but the window, which defaults to 30."""

    window_days = forms.IntegerField(
        label="Window (days)",
        min_value=0,
        max_value=MAX_WINDOW_DAYS,
        required=False,
        initial=DEFAULT_WINDOW_DAYS,
        # A link without it (?gene=EGFR) leaves the box empty: the placeholder says
        # what the query then uses (trial T25).
        widget=forms.NumberInput(attrs={"placeholder": DEFAULT_WINDOW_DAYS}),
        help_text="Most days between study and draw, either way; the bounds count "
        f"(left empty: {DEFAULT_WINDOW_DAYS}).",
    )
    mode = CodeChoiceField(
        choices=PairMode.choices,
        required=False,
        initial=PairMode.ALL,
        widget=forms.RadioSelect,
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.all(),
        to_field_name="code",
        required=False,
        empty_label="Any project",
    )
    cancer_type = CodeChoiceField(
        choices=[("", "Any cancer type"), *CancerType.choices],
        required=False,
        help_text=CANCER_SUBTYPES_HELP,
    )
    modality = forms.CharField(
        max_length=16,
        required=False,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9]{2,16}$",
                "Give a DICOM modality code such as CT, MR or PT.",
            )
        ],
        help_text="Modality of one of the study's series, e.g. CT, MR, PT.",
    )
    gene = forms.CharField(
        max_length=40,
        required=False,
        help_text="A detected cfDNA variant of this gene, e.g. EGFR.",
    )
    variant = forms.CharField(
        max_length=200,
        required=False,
        help_text="Protein change of the gene (p.T790M, p.Thr790Met), fusion (EML4::ALK) "
        "or genomic change as the pages show it (17:7578263 G>A), gnomAD writes it "
        "(17-7578263-G-A) or HGVS on a chromosome (chr17:g.7578263G>A, or "
        "NC_000017.10:g.7578263G>A, whose accession names the build), which needs no "
        "gene; after it, its genome build (GRCh37 or hg19, GRCh38 or hg38) if several "
        "are stored; or a dbSNP ID (rs121434569) as a MAF or VCF gave it.",
    )
    min_ctc = forms.FloatField(
        label="CTCs per 7.5 mL, at least",
        min_value=0,
        required=False,
    )
    feature = forms.CharField(
        label="Radiomic feature",
        max_length=200,
        required=False,
        help_text="Feature name (original_glcm_Contrast) or IBSI code (ACUI).",
    )
    feature_min = forms.FloatField(label="Feature value from", required=False)
    feature_max = forms.FloatField(label="Feature value to", required=False)
    before_treatment = FlagField(
        label="Only draws before the first treatment",
        required=False,
        help_text="Patients without any treatment qualify.",
    )

    def __init__(self, data=None, *args, **kwargs) -> None:
        # A link without a mode (?project=sts&window_days=30) pairs in the default
        # mode; the radio shows it chosen, as on the unbound page, not neither one:
        if data is not None and not data.get("mode"):
            data = data.copy()
            data["mode"] = self.base_fields["mode"].initial
        super().__init__(data, *args, **kwargs)

    def clean_window_days(self) -> int:
        window = self.cleaned_data["window_days"]
        return DEFAULT_WINDOW_DAYS if window is None else window

    def clean_mode(self) -> str:
        return self.cleaned_data["mode"] or PairMode.ALL

    # An unknown name would select no pair, which reads as "no such cohort" when the
    # name was misspelt, so each is checked against the records the user may read:
    def clean_modality(self) -> str:
        modality = self.cleaned_data["modality"].upper()
        return vocabulary.MODALITIES.check(modality, self.user)

    def clean_gene(self) -> str:
        return vocabulary.GENES.check(self.cleaned_data["gene"], self.user)

    def clean(self) -> dict:
        # Things the researcher should know about a valid query (not errors):
        self.notes: list[str] = []
        cleaned = super().clean()
        self._check_variant(cleaned.get("gene", ""), cleaned.get("variant", ""))
        self._check_feature(
            cleaned.get("feature", ""),
            cleaned.get("feature_min"),
            cleaned.get("feature_max"),
        )
        return cleaned

    def _check_variant(self, gene: str, variant: str) -> None:
        if not variant:
            return
        # A fusion, a genomic change and a dbSNP ID name their variant without a gene:
        if not gene and not (
            looks_like_fusion(variant)
            or looks_like_genomic_change(variant)
            or looks_like_dbsnp_id(variant)
        ):
            if variant.strip()[:2].lower() == "rs":  # a dbSNP ID mistyped (rs12x)
                self.add_error(
                    "variant",
                    f"{variant.strip()} is not a dbSNP ID: give rs and its digits "
                    "(rs121434568).",
                )
                return
            self.add_error(
                "gene",
                "Give the gene of the protein change, e.g. EGFR for p.T790M (a variant "
                "of no gene is asked for by its genomic change, e.g. 17:7578263 G>A).",
            )
            return

        try:
            found = detected_variants(gene, variant)
        except (HGVSError, FusionError, InvalidValue) as error:
            self.add_error("variant", f"{variant} {error}")
            return

        if not (looks_like_dbsnp_id(variant) or looks_like_genomic_change(variant)):
            return
        # NB: the reference base and the dbSNP IDs are checked against every project
        # the user reads, not only the one filtered on: a project that has none of
        # them gives an empty cohort, as for any other variant.
        every = self._readable(VariantResult.objects.all(), VARIANT_PROJECT)
        if looks_like_dbsnp_id(variant):
            refusal = unknown_dbsnp_id_refusal(variant, every)
            if refusal:
                self.add_error("variant", refusal)
        else:
            project = self.cleaned_data.get("project")
            if project is not None:
                found = found.filter(assay__sample__patient__project=project)
            refusals = [
                ambiguous_build_refusal(
                    variant, self._readable(found, VARIANT_PROJECT)
                ),
                unstored_build_refusal(variant),
                wrong_reference_base_refusal(variant, every),
            ]
            for refusal in filter(None, refusals):
                self.add_error("variant", refusal)

    def _readable(self, records: QuerySet, project_path: str) -> QuerySet:
        """The `records` the form's user may read; all of them for a form validated
        on nobody's behalf (user None, as ProjectChoicesOfUser allows)."""
        if self.user is None:
            return records
        return visible_to(self.user, records, project_path)

    def _check_feature(
        self, feature: str, lowest: float | None, highest: float | None
    ) -> None:
        if not feature:
            if lowest is not None or highest is not None:
                self.add_error(
                    "feature", "Name the feature that the value range applies to."
                )
            return
        refused = self.has_error("feature_min") or self.has_error("feature_max")
        if lowest is None and highest is None and not refused:
            # A bound refused (nan) has its own message, which says enough:
            self.add_error("feature_min", "Give a lower or an upper bound, or both.")
        elif lowest is not None and highest is not None and highest < lowest:
            self.add_error(
                "feature_max", "The upper bound must not be below the lower bound."
            )

        known = FeatureDefinition.objects.filter(
            Q(name=feature)
            | Q(ibsi_code=feature.upper(), image_filter=IBSI_CODE_IMAGE_FILTER)
        )
        if not known.exists():
            # Stricter than FEATURES.knows (an IBSI code on the original image only),
            # but the same message, with the closest names:
            self.add_error("feature", vocabulary.FEATURES.refusal(feature, self.user))
            return
        unlinked = FeatureExtraction.objects.filter(
            segmentation__isnull=True, values__feature__in=known
        ).count()
        if unlinked:
            self.notes.append(
                f"{unlinked} extraction{pluralize(unlinked)} of {feature} "
                f"{pluralize(unlinked, 'is,are')} tied to no image series and cannot "
                "be paired with a blood draw; import them with a SeriesInstanceUID "
                "column (docs/pyradiomics_imports.md)."
            )

    def criteria(self) -> CohortCriteria:
        """Return the criteria of a valid form."""
        data = self.cleaned_data
        return CohortCriteria(
            window_days=data["window_days"],
            mode=data["mode"],
            project=data["project"].code if data["project"] else "",
            cancer_type=data["cancer_type"],
            modality=data["modality"],
            gene=data["gene"],
            variant=data["variant"],
            min_ctc_per_7_5ml=data["min_ctc"],
            feature=data["feature"],
            feature_min=data["feature_min"],
            feature_max=data["feature_max"],
            before_first_treatment=data["before_treatment"],
        )

    def pairs(self) -> QuerySet:
        """Return the pairs of a valid form (pair_queryset) that its user may read.

        The project chosen goes to the query as the form read it, so that the query
        does not look it up again.
        """
        pairs = pair_queryset(self.criteria(), project=self.cleaned_data["project"])
        return visible_to(self.user, pairs, "patient__project")

    def stored_query(self) -> dict:
        """Return the filters of a valid form as query parameters of /api/cohort-pairs/.

        Window and mode are always written, so that a default changed later cannot
        change what a saved definition or an export log entry means; empty filters
        are left out.
        """
        stored: dict = {}
        for name, value in self.cleaned_data.items():
            if name == "project":
                value = value.code if value else ""
            # NB: 0 is a filter (min_ctc=0 asks for a CTC count), so compare by identity:
            is_empty = value is None or value is False or value == ""
            if name in ("window_days", "mode") or not is_empty:
                stored[name] = value
        return stored

    @classmethod
    def unknown_parameters(cls, query: QueryDict, allowed: set[str]) -> list[str]:
        """Return the names in `query` that are neither a filter nor in `allowed`."""
        return sorted(set(query) - set(cls.base_fields) - allowed)

    @classmethod
    def read_query(
        cls, query: QueryDict, allowed: set[str], user: AbstractBaseUser | None
    ) -> tuple[CohortForm, dict[str, list[str]]]:
        """Bind the form to `query`; return it with every problem, by parameter.

        A name that is neither a filter nor in `allowed` is a problem too, so that a
        misspelt filter is never silently ignored.
        """
        form = cls(query, user=user)
        errors = {
            name: [unknown_parameter_message(name)]
            for name in cls.unknown_parameters(query, allowed)
        }
        if not form.is_valid():
            errors |= form_messages(form)
        for name, message in repeated_fields(form, query).items():
            errors.setdefault(name, []).insert(0, message)
        return form, errors


def ambiguous_build_refusal(variant: str, found: QuerySet[VariantResult]) -> str | None:
    """Return why a genomic change asked for without its build is refused, else None.

    `found` are the variants it matches that the asker may read. The same position
    names different variants in GRCh37 and GRCh38 (CAIRO5 tables are hg19, a MAF or
    VCF gives its own), so when they are stored in several builds the researcher must
    say which one. One query, only for a genomic change asked for without its build.
    """
    change, build = split_genome_build(variant)
    if build:
        return None
    builds = genome_builds_of(found)
    if len(builds) < 2:
        return None

    # NB: a build of another name (hg18) is named but cannot be asked for:
    example = next((b for b in builds if b in GENOME_BUILDS), "GRCh38")
    return (
        f"{variant} is stored in more than one genome build ({', '.join(builds)}); "
        f"add the one you mean after the change, e.g. {change.strip()} {example}."
    )


def unstored_build_refusal(variant: str) -> str | None:
    """Return why a genomic change is refused whose build (written after it or named
    by its accession) no variant is stored in, else None.

    The biobank does not lift positions over from one build to another, so such a
    change would find nothing whatever its position; the refusal names the builds
    that are stored. A build that is stored but has nothing at the position, or
    only in projects the reader may not read, is a valid question (an empty
    answer). The builds are those of every project (stored_genome_builds: a few
    index look-ups); asked among the readable variants alone, the check read all
    14.7 million variants at 100,000 patients when none had the build (7 to 10 s a
    request, review of 637758e).
    """
    _, build = split_genome_build(variant)
    if not build:
        return None
    stored = stored_genome_builds()
    if build in stored:
        return None
    # Only GRCh37 and GRCh38 can be asked for; without a build a change matches
    # variants of any build (hg18) or of none. Those two alone are named: a build
    # stored as free text before migration 0026 that names neither is left as it
    # was, and another project's would be shown to readers of this one (review rv4).
    askable = [name for name in stored if name in GENOME_BUILDS]
    others = len(stored) > len(askable)
    named = ", ".join(askable) or ("others only" if others else "none named")
    if askable and others:
        named += " and others"
    advice = (
        f"give the change in {' or '.join(askable)}"
        if askable
        else "give the change without a genome build"
    )
    return (
        f"No variant is stored in {build}, the genome build of {variant.strip()} "
        f"(stored: {named}); {advice} — positions are not lifted over."
    )


# The most variants carrying one dbSNP ID whose readers are looked up (one query):
MAX_CARRIERS_ASKED = 10_000


def unknown_dbsnp_id_refusal(
    variant: str, readable: QuerySet[VariantResult]
) -> str | None:
    """Return why a dbSNP ID no `readable` variant carries is refused, else None.

    Only the MAF and VCF importers store an ID (not the cfDNA tables, the API or
    variants imported before migration 0023), so an ID nobody carries is more
    likely not stored than a variant nobody has. The carriers are found first by
    the partial (dbsnp_id, call) index among every variant, then only they are
    asked whether the reader may read one: asked among the readable variants at
    once, PostgreSQL read all 14.7 million at 100,000 patients (5 s a request).
    """
    dbsnp_id = read_dbsnp_id(variant)
    with_ids = VariantResult.objects.exclude(dbsnp_id="")
    carriers = with_ids.filter(dbsnp_id=dbsnp_id).values_list("pk", flat=True)
    found = list(carriers[: MAX_CARRIERS_ASKED + 1])
    # So many carriers are hardly all unreadable: not asked, the answer is then an
    # empty one rather than this refusal for a reader of none of them.
    if len(found) > MAX_CARRIERS_ASKED:
        return None
    if found and readable.filter(pk__in=found).exists():
        return None

    # The first ID in the index's order, not EXISTS: until the table's statistics
    # know the new column empty, PostgreSQL read every variant to find none (2 s).
    first_id = with_ids.order_by("dbsnp_id").values_list("dbsnp_id", flat=True).first()
    carried = "none is stored" if first_id is None else "others are stored"
    return (
        f"No variant you may read has the dbSNP ID {dbsnp_id} stored ({carried}). "
        "IDs are stored from a MAF's dbSNP_RS or a VCF's ID column only; ask by gene "
        "and protein change (e.g. gene=EGFR&variant=L858R) or by genomic change "
        "(e.g. 7:55259515 T>G GRCh37) instead."
    )


def wrong_reference_base_refusal(
    variant: str, readable: QuerySet[VariantResult]
) -> str | None:
    """Return why a genomic change is refused whose reference base no stored change at
    its position has (17:7579312 G>A where those stored there are C>A), else None.

    With no reference genome at hand, the `readable` changes at the position (the
    variants the asker may read, in the build asked for, else in any) stand for it;
    a change of the same reference base that nobody carries (C>T there) is a valid
    question whose answer is empty. One query, on the index of genomic changes.
    """
    change, build = split_genome_build(variant)
    asked = read_shown_genomic_change(change)
    base = reference_base(asked)
    if not base:
        return None

    stored = variants_at_position(asked, build, within=readable)
    found = set(
        stored.order_by().values_list("genomic_change", "genome_build").distinct()
    )
    changes = {stored_change for stored_change, _ in found}
    if not changes or asked in changes:
        return None
    if base in {reference_base(stored_change) for stored_change in changes}:
        return None

    position, _, _ = asked.partition(" ")
    named = sorted(
        {
            (genome_build_name(stored_build), stored_change.partition(" ")[2])
            for stored_change, stored_build in found
        }
    )
    listed = ", ".join(
        f"{alleles} ({stored_build or 'no genome build'})"
        for stored_build, alleles in named
    )
    return (
        f"No variant you may read is {variant.strip()}; the changes stored at "
        f"{position} are {listed}, none of reference base {base}. Check the "
        "reference base and the genome build of the change."
    )


def form_messages(form: forms.Form) -> dict[str, list[str]]:
    """Return a bound form's error messages by field, as the JSON answers give them."""
    return {
        field: [error["message"] for error in messages]
        for field, messages in form.errors.get_json_data().items()
    }


def unknown_parameter_message(name: str, reads_old_names: bool = False) -> str:
    """Return why the parameter `name` is refused: unknown, or an old name (OLD_NAMES).

    `reads_old_names`: the page reads an old name alone as its new one, so it is
    refused only beside the new one, as a second value of the same setting.
    """
    new = OLD_NAMES.get(name)
    if new is None:
        return UNKNOWN_PARAMETER
    if reads_old_names:
        return (
            f"{name} is the old name of {new}, which is given too; they are one "
            "setting, so give only one of them."
        )
    return (
        f"Unknown parameter here; give {new} ({name}, its old name, is read by "
        f"{OLD_NAME_READERS} only)."
    )


def name_unknown_parameters(
    form: forms.Form,
    query: QueryDict,
    known: Iterable[str],
    reads_old_names: bool = False,
) -> None:
    """Add to a bound `form` an error naming each parameter of `query` not `known`.

    The researcher pages show it above their form, and like any invalid filter it
    withholds the result, so a misspelt filter never silently widens what a page
    lists (the API answers 400 with UNKNOWN_PARAMETER by name). An old name of a
    parameter (OLD_NAMES) gets unknown_parameter_message's own words.
    """
    for name in sorted(set(query) - set(known)):
        message = unknown_parameter_message(name, reads_old_names)
        form.add_error(None, f"{Truncator(name).chars(60)}: {message}")
    for name, message in repeated_fields(form, query).items():
        form.add_error(None, f"{name}: {message}")


def repeated_fields(form: forms.Form, query: QueryDict) -> dict[str, str]:
    """Name each field of `form` that `query` gives more than once, with why it is refused.

    Django reads such a field as its last value without a word (?project=a&project=b
    is project b); no field of these forms takes several values in one query.
    """
    return {
        name: f"given {len(query.getlist(name))} times; give it once."
        for name in sorted(set(query) & set(form.fields))
        if len(query.getlist(name)) > 1
        and not isinstance(form.fields[name], forms.MultipleChoiceField)
    }
