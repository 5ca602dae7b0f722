"""Curation admin: every model of the three apps, its pages, history and query counts."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from liquidbiopsy.models import BloodSample, VariantResult
from patients.models import (
    ClinicalEvent,
    Consent,
    DataIssue,
    ImportRun,
    Patient,
    Treatment,
)
from radiomics.models import (
    DeidentifiedAttribute,
    FeatureExtraction,
    FeatureRobustness,
    ImageInstance,
    ImagingStudy,
    RadiomicSignature,
    SignatureScore,
    SignatureTerm,
)
from tests.biobank.conftest import Records
from tests.conftest import grant

CURATED_APPS = ["patients", "radiomics", "liquidbiopsy"]


def curated_models() -> list[type[Model]]:
    """Return every model of the curated apps but simple_history's shadow tables."""
    return [
        model
        for label in CURATED_APPS
        for model in apps.get_app_config(label).get_models()
        if not model.__name__.startswith("Historical")
    ]


def admin_url(model: type[Model], view: str, *args) -> str:
    return reverse(
        f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args
    )


def add_patient_with_everything(records: Records, pseudonym: str) -> Patient:
    """Store one patient with at least one record of every curated model."""
    patient = records.patient(pseudonym)
    records.treatment(patient, dt.date(2024, 2, 1))
    records.consent(patient, dt.date(2024, 1, 2))
    ClinicalEvent.objects.create(
        patient=patient,
        kind=ClinicalEvent.Kind.PROGRESSION,
        occurred_on=dt.date(2024, 6, 1),
    )

    study = records.study(patient, dt.date(2024, 1, 10), modalities="CT,PT")
    series = study.series.order_by("pk").first()
    ImageInstance.objects.create(
        series=series,
        sop_instance_uid=f"{series.series_instance_uid}.1",
        source_uid_hash=f"instance-{series.pk}",
        content_sha256="0" * 64,
        storage_path=f"{pseudonym}/1.dcm",
    )
    value = records.feature(study, "original_glcm_Contrast", 3.5, ibsi_code="ACUI")
    signature, _ = RadiomicSignature.objects.get_or_create(name="contrast signature")
    SignatureTerm.objects.get_or_create(
        signature=signature, feature=value.feature, defaults={"weight": 0.5}
    )
    SignatureScore.objects.create(
        signature=signature, extraction=value.extraction, score=1.75
    )
    FeatureRobustness.objects.get_or_create(
        feature=value.feature,
        design=FeatureRobustness.Design.READERS,
        form="ICC(2,1)",
        defaults={"icc": 0.9, "ci_low": 0.8, "ci_high": 0.95, "threshold": 0.75},
    )

    sample = records.draw(patient, dt.date(2024, 1, 12))
    records.ctc(sample, 6)
    records.variant(sample, "EGFR", "p.T790M")
    records.rna(sample)

    grant(
        get_user_model().objects.get_or_create(username=f"{pseudonym}-viewer")[0],
        records.project,
    )
    run = ImportRun.objects.create(
        project=records.project, importer="clinical-csv", source_name=f"{pseudonym}.csv"
    )
    DeidentifiedAttribute.objects.create(
        import_run=run,
        path="PatientName",
        tag="(0010,0010)",
        profile_action="Z",
        decision=DeidentifiedAttribute.Decision.PSEUDONYM,
        rule=DeidentifiedAttribute.Rule.PROFILE,
        file_count=1,
        element_count=1,
    )
    DataIssue.objects.create(
        import_run=run,
        project=records.project,
        patient=patient,
        severity=DataIssue.Severity.WARNING,
        code="no-usable-date",
        row=2,
        field="study_date",
        message="No usable date; stored undated.",
    )
    return patient


@pytest.fixture
def biobank(project) -> Records:
    records = Records(project)
    add_patient_with_everything(records, "DEMO-00001")
    return records


@pytest.fixture
def curator_client(client, curator):
    client.force_login(curator)
    return client


def test_every_model_of_the_curated_apps_is_registered():
    missing = [
        model.__name__
        for model in curated_models()
        if not admin.site.is_registered(model)
    ]

    assert missing == []


@pytest.mark.parametrize("model", curated_models(), ids=lambda model: model.__name__)
def test_changelist_change_and_history_pages_render_for_a_superuser(
    model, biobank, curator_client
):
    record = model.objects.order_by("pk").first()
    assert record is not None, f"the test data hold no {model.__name__}"

    pages = [admin_url(model, "changelist"), admin_url(model, "change", record.pk)]
    if hasattr(model, "history"):
        pages.append(admin_url(model, "history", record.pk))
    for page in pages:
        response = curator_client.get(page)
        assert response.status_code == 200, page


@pytest.mark.parametrize("model", curated_models(), ids=lambda model: model.__name__)
def test_changelist_queries_do_not_grow_with_rows(model, biobank, curator_client):
    url = admin_url(model, "changelist")
    with CaptureQueriesContext(connection) as with_one_patient:
        curator_client.get(url)

    for number in range(2, 6):
        add_patient_with_everything(biobank, f"DEMO-{number:05d}")
    with CaptureQueriesContext(connection) as with_five_patients:
        response = curator_client.get(url)

    assert response.status_code == 200
    assert len(with_five_patients) == len(with_one_patient), [
        query["sql"] for query in with_five_patients.captured_queries
    ]


def test_patient_page_shows_studies_draws_treatments_events_and_consents(
    biobank, curator_client
):
    patient = Patient.objects.get()

    response = curator_client.get(admin_url(Patient, "change", patient.pk))

    inlines = {
        formset.opts.model.__name__
        for formset in response.context["inline_admin_formsets"]
    }
    assert inlines == {
        "ImagingStudy",
        "BloodSample",
        "Treatment",
        "ClinicalEvent",
        "Consent",
    }


def test_study_series_sample_and_assay_pages_show_their_parts(biobank, curator_client):
    sample = BloodSample.objects.get()
    extraction = FeatureExtraction.objects.get()
    series = extraction.segmentation.series
    parents = {
        series.study: ["ImageSeries"],
        series: ["Segmentation"],
        sample: ["CTCCount", "CfDNAAssay", "CirculatingRNAResult"],
        sample.cfdna_assays.get(): ["VariantResult"],
    }

    for parent, parts in parents.items():
        response = curator_client.get(admin_url(type(parent), "change", parent.pk))
        shown = [
            formset.opts.model.__name__
            for formset in response.context["inline_admin_formsets"]
        ]
        assert shown == parts, type(parent).__name__


def test_uids_and_hashes_are_read_only(biobank, curator_client):
    series = FeatureExtraction.objects.get().segmentation.series

    response = curator_client.get(admin_url(type(series), "change", series.pk))

    form = response.context["adminform"].form
    for field in ["series_instance_uid", "source_uid_hash", "frame_of_reference_uid"]:
        assert field not in form.fields, field
        assert series.series_instance_uid in response.content.decode()


def test_import_runs_and_data_issues_can_be_seen_but_not_changed(
    biobank, curator_client
):
    run = ImportRun.objects.get()
    issue = DataIssue.objects.get()

    for model, record in [(ImportRun, run), (DataIssue, issue)]:
        assert curator_client.get(admin_url(model, "add")).status_code == 403
        assert (
            curator_client.get(admin_url(model, "delete", record.pk)).status_code == 403
        )
        page = curator_client.get(admin_url(model, "change", record.pk))
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()

    posted = curator_client.post(
        admin_url(DataIssue, "change", issue.pk), {"code": "changed"}
    )
    assert posted.status_code == 403
    issue.refresh_from_db()
    assert issue.code == "no-usable-date"


def post_data(response) -> dict[str, str]:
    """Return the data a browser would post back from an admin change page, unchanged."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.extend(formset.forms)
        for name in formset.management_form.fields:
            value = formset.management_form[name].value()
            data[f"{formset.prefix}-{name}"] = "" if value is None else str(value)
    for form in forms:
        data |= form_data(form)
    return data


def form_data(form) -> dict[str, str]:
    """Return what a browser posts back from one form as shown, unchanged."""
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        if isinstance(value, dt.datetime):
            data[f"{form.add_prefix(name)}_0"] = value.strftime("%Y-%m-%d")
            data[f"{form.add_prefix(name)}_1"] = value.strftime("%H:%M:%S")
            continue
        data[form.add_prefix(name)] = "on" if value is True else str(value)
    return data


def edit_in_admin(client, record: Model, **changes: str):
    """Post the record's change page back with `changes`, as a curator would."""
    url = admin_url(type(record), "change", record.pk)
    data = post_data(client.get(url)) | changes
    return client.post(url, data)


def test_an_admin_edit_records_the_user_and_the_values_before_and_after(
    biobank, curator, curator_client
):
    patient = Patient.objects.get()

    response = edit_in_admin(curator_client, patient, stage="IIIb")

    assert response.status_code == 302, response.context["adminform"].form.errors
    latest, previous = patient.history.order_by("-history_date")[:2]
    assert latest.history_user == curator
    assert latest.history_type == "~"
    changes = {
        change.field: (change.old, change.new)
        for change in latest.diff_against(previous).changes
    }
    assert changes == {"stage": ("", "IIIb")}


def test_history_page_lists_an_admin_edit_with_its_user_and_change(
    biobank, curator_client
):
    sample = BloodSample.objects.get()
    posted = edit_in_admin(curator_client, sample, timepoint="C2D1")
    assert posted.status_code == 302, posted.context["adminform"].form.errors

    response = curator_client.get(admin_url(BloodSample, "history", sample.pk))

    content = response.content.decode()
    assert ">curator</a>" in content
    assert "<strong>Timepoint:</strong>" in content
    assert "C2D1" in content


def change_reasons_listed(content: str) -> list[str]:
    """Return the change reason cell of each version the history page lists."""
    table = content.split('<table id="change-history"', 1)[1].split("</table>", 1)[0]
    header = re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)
    column = [name.strip() for name in header].index("Change reason")
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)
    return [re.findall(r"<td>(.*?)</td>", row, re.S)[column].strip() for row in rows]


def test_history_page_shows_a_dash_for_a_version_without_a_change_reason(
    biobank, curator_client
):
    patient = Patient.objects.get()
    patient._change_reason = "import_clinical a.csv row 2"
    patient.save()
    posted = edit_in_admin(curator_client, patient, stage="IIIb")
    assert posted.status_code == 302, posted.context["adminform"].form.errors

    response = curator_client.get(admin_url(Patient, "history", patient.pk))

    # Newest first: the admin edit, the import, the creation by the test.
    assert change_reasons_listed(response.content.decode()) == [
        "-",
        "import_clinical a.csv row 2",
        "-",
    ]


def test_data_issue_page_links_to_the_record_it_is_about(biobank, curator_client):
    study = Patient.objects.get().imaging_studies.get()
    issue = DataIssue.objects.get()
    issue.record_type, issue.record_id = "ImagingStudy", study.pk
    issue.save()

    response = curator_client.get(admin_url(DataIssue, "change", issue.pk))

    link = f'<a href="/admin/radiomics/imagingstudy/{study.pk}/change/">'
    assert link in response.content.decode()


# As the cfDNA importer's test: 50 of 1,000 reads cannot give a VAF of 0.30; a
# consensus VAF a little off its raw reads (380 of 1,750) is no contradiction.
READS_DISAGREE = (
    "VAF is 0.3, but the reads give 50 of 1000 = 0.05; check the VAF, the reads and "
    "the VAF's unit. The VAF is stored as given."
)


@pytest.mark.parametrize(
    ("vaf", "alt_reads", "depth", "warning"),
    [("0.30", "50", "1000", READS_DISAGREE), ("0.2257", "380", "1750", None)],
)
def test_the_admin_warns_of_a_vaf_its_reads_cannot_give_and_stores_it(
    biobank, curator_client, vaf, alt_reads, depth, warning
):
    variant = VariantResult.objects.get()

    response = edit_in_admin(
        curator_client, variant, vaf=vaf, alt_reads=alt_reads, depth=depth
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    variant.refresh_from_db()
    assert (variant.vaf, variant.alt_reads, variant.depth) == (
        float(vaf),
        int(alt_reads),
        int(depth),
    )
    warned = [
        str(message)
        for message in get_messages(response.wsgi_request)
        if message.level_tag == "warning"
    ]
    assert warned == ([f"{variant}: {warning}"] if warning else [])


def test_the_admin_refuses_a_future_birth_year_and_diagnosis_as_the_importer_does(
    biobank, curator_client
):
    patient = Patient.objects.get()

    response = edit_in_admin(
        curator_client, patient, birth_year="2090", diagnosis_on="2099-01-01"
    )

    errors = response.context["adminform"].form.errors
    this_year = timezone.localdate().year
    assert errors["birth_year"] == [
        f"Birth year must lie between 1880 and {this_year} (this year)."
    ]
    assert errors["diagnosis_on"][0].startswith("Diagnosis date is in the future")
    patient.refresh_from_db()
    assert patient.birth_year != 2090


# Every date a curator edits on a patient's records, with the form field it posts:
EDITED_DATES = [
    (Patient, "diagnosis_on", "diagnosis_on"),
    (Consent, "given_on", "given_on"),
    (Consent, "withdrawn_on", "withdrawn_on"),
    (Treatment, "started_on", "started_on"),
    (Treatment, "ended_on", "ended_on"),
    (ClinicalEvent, "occurred_on", "occurred_on"),
    (ImagingStudy, "study_date", "study_date"),
    (BloodSample, "drawn_at", "drawn_at_0"),
]
# (A series' date is its files', never edited: tests/test_admin_computed.py.)


@pytest.mark.parametrize(("model", "field", "posted"), EDITED_DATES)
@pytest.mark.parametrize("day", ["0001-01-01", "1879-12-31", "2999-01-01"])
def test_the_admin_refuses_every_patient_record_date_the_importers_refuse(
    biobank, curator_client, model, field, posted, day
):
    """0001-01-01 saved on a treatment made the patient's timeline a 500."""
    record = model.objects.order_by("pk").first()

    response = edit_in_admin(curator_client, record, **{posted: day})

    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors[field]
    assert "in the future" in message or "the earliest date the biobank" in message
    record.refresh_from_db()
    stored = getattr(record, field)
    assert stored is None or stored.isoformat()[:10] != day


def test_the_admin_drops_a_draws_time_only_when_the_curator_sets_it_to_midnight(
    biobank, curator_client
):
    """Unticking "is time known" alone kept 09:00 on a draw said to have no time."""
    sample = BloodSample.objects.get()
    url = admin_url(BloodSample, "change", sample.pk)
    data = post_data(curator_client.get(url))
    del data["is_time_known"]  # unticked

    kept = curator_client.post(url, data)
    dropped = curator_client.post(url, data | {"drawn_at_1": "00:00:00"})

    (message,) = kept.context["adminform"].form.errors["drawn_at"]
    assert message.startswith("The time 09:00 is given for a draw whose time is not")
    assert dropped.status_code == 302
    sample.refresh_from_db()
    assert not sample.is_time_known
    assert timezone.localtime(sample.drawn_at).time() == dt.time(0, 0)


def test_a_vaf_given_in_percent_gets_a_message_saying_vaf_is_a_fraction(
    biobank, curator_client
):
    variant = VariantResult.objects.get()

    response = edit_in_admin(curator_client, variant, vaf="50")

    assert response.status_code == 200
    assert "VAF is a fraction between 0 and 1" in response.content.decode()
    assert "variant_vaf_fraction" not in response.content.decode()


@pytest.mark.parametrize(
    "term", ["p.T790M", "p.Thr790Met", "T790M", "EGFR p.Thr790Met", "egfr T790M"]
)
def test_admin_search_finds_a_variant_by_any_hgvs_spelling(
    biobank, curator_client, term
):
    response = curator_client.get(admin_url(VariantResult, "changelist"), {"q": term})

    assert list(response.context["cl"].result_list) == [VariantResult.objects.get()]


def test_admin_search_finds_a_variant_by_genomic_change_and_lab_sample_id(
    biobank, curator_client
):
    variant = VariantResult.objects.get()
    variant.genomic_change = "7:55249071 C>T"
    variant.save()
    sample = variant.assay.sample
    sample.external_sample_id = "LB-5521-02"
    sample.save()

    found = {
        term: list(
            curator_client.get(admin_url(VariantResult, "changelist"), {"q": term})
            .context["cl"]
            .result_list
        )
        for term in ("7:55249071", "LB-5521-02", "lb-5521")
    }

    assert found == dict.fromkeys(found, [variant])


def test_admin_search_by_another_gene_and_the_same_change_finds_nothing(
    biobank, curator_client
):
    response = curator_client.get(
        admin_url(VariantResult, "changelist"), {"q": "KRAS p.Thr790Met"}
    )

    assert list(response.context["cl"].result_list) == []


def test_the_admin_refuses_a_slashed_date_as_the_import_commands_do(
    biobank, curator_client
):
    patient, sample = Patient.objects.get(), BloodSample.objects.get()

    patient_page = edit_in_admin(curator_client, patient, diagnosis_on="12/03/2020")
    sample_page = edit_in_admin(curator_client, sample, drawn_at_0="12/03/2020")

    for page, name in ((patient_page, "diagnosis_on"), (sample_page, "drawn_at")):
        errors = page.context["adminform"].form.errors
        assert "is not a date (YYYY-MM-DD)" in errors[name][0]
    patient.refresh_from_db()
    assert patient.diagnosis_on != dt.date(2020, 12, 3)


def test_an_import_run_shows_its_user_as_text_a_curator_can_read(
    biobank, client, django_user_model
):
    run = ImportRun.objects.get()
    staff = django_user_model.objects.create_user("staffer", is_staff=True)
    grant(staff, run.project, "curator")
    run.user = staff
    run.save(update_fields=["user"])
    client.force_login(staff)

    page = client.get(admin_url(ImportRun, "change", run.pk)).content.decode()

    assert f"/admin/auth/user/{staff.pk}/" not in page
    assert '<div class="readonly">staffer</div>' in page


def test_counts_of_one_are_said_in_the_singular(biobank, curator_client):
    """The run of the fixture holds one data issue and one de-identified attribute."""
    run = ImportRun.objects.get()

    page = curator_client.get(admin_url(ImportRun, "change", run.pk)).content.decode()
    report = curator_client.get(
        reverse("admin:radiomics_deidentifiedattribute_report", args=[run.pk])
    ).content.decode()

    assert "1 issue: <a href=" in page
    assert "1 issues" not in page
    assert "Replaced by the patient&#x27;s pseudonym (1 attribute)</h2>" in report
    assert "1 attributes" not in report


def refusals(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "django.request"]


def test_a_page_refused_to_a_curator_logs_one_line_without_traceback(
    biobank, curator_client, caplog
):
    url = admin_url(DataIssue, "add")

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = curator_client.get(url)

    assert response.status_code == 403
    (record,) = refusals(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == f"Forbidden (Permission denied): {url}"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_the_upload_page_refused_to_a_viewer_logs_one_line_without_traceback(
    client, django_user_model, project, caplog
):
    viewer = grant(
        django_user_model.objects.create_user("staffer", is_staff=True), project
    )
    client.force_login(viewer)

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("imports-upload"))

    assert response.status_code == 403
    (record,) = refusals(caplog)
    assert record.getMessage().startswith("Forbidden (Permission denied): /admin/")
    assert record.exc_info is None
    assert "Traceback" not in caplog.text
