"""The curators' upload page under the admin: projects, kinds, results, hostile files."""

from __future__ import annotations

import html
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from biobank.core.importing import ImportRejected
from biobank.imports.forms import UploadForm
from liquidbiopsy.importers.variants import draw_of_option, lod_of_option
from liquidbiopsy.models import CfDNAAssay, CTCCount, VariantResult
from patients.models import DataIssue, ImportRun, Patient, Project
from patients.services import find_patient
from radiomics.models import ImageInstance
from tests.conftest import grant
from tests.radiomics.conftest import build_ct, write_part10

URL = "/admin/imports/upload/"
PATIENTS = (
    "patient_id,sex,birth_year,histology\nH-1,F,1960,adenocarcinoma\nH-2,M,1955,\n"
)
CTC = "patient_id,draw_date,count\n"


@pytest.fixture(autouse=True)
def upload_root(settings, tmp_path):
    root = tmp_path / "uploads"
    settings.BIOBANK_UPLOAD_ROOT = root
    return root


@pytest.fixture
def other_project(db):
    return Project.objects.create(code="other", name="Someone else's")


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user("staffer", is_staff=True)


@pytest.fixture
def curating(client, staff, project):
    """The test client signed in as a staff member who curates `project` only."""
    grant(staff, project, "curator")
    client.force_login(staff)
    return client


def upload(client, project, kind, name, content, **options):
    data = {"project": project.pk, "kind": kind, **options}
    data["file"] = SimpleUploadedFile(name, content)
    return client.post(URL, data)


def ct_zip(**members_of: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members_of.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def ct_bytes(**attributes) -> bytes:
    buffer = io.BytesIO()
    write_part10(build_ct(**attributes), buffer)
    return buffer.getvalue()


def test_the_page_offers_only_the_projects_the_user_curates(
    curating, staff, other_project, project
):
    third = Project.objects.create(code="third", name="Viewed only")
    grant(staff, third, "viewer")

    response = curating.get(URL)

    assert response.status_code == 200
    choices = list(response.context["form"].fields["project"].queryset)
    assert choices == [project]
    assert b"Upload and import" in response.content


def test_a_clinical_table_is_imported_recorded_with_its_uploader_and_shown(
    curating, staff, project
):
    response = upload(
        curating, project, "clinical-patients", "p.csv", PATIENTS.encode()
    )

    run = ImportRun.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("imports-run", args=[run.pk])
    assert (run.user, run.project, run.status) == (staff, project, "done")
    assert run.source_name == "p.csv"
    assert find_patient(project, "H-1").birth_year == 1960
    page = curating.get(response.url)
    assert page.status_code == 200
    assert "2 patients" in page.content.decode()


def test_uploading_the_same_table_again_stores_nothing_twice(curating, project):
    upload(curating, project, "clinical-patients", "p.csv", PATIENTS.encode())

    upload(curating, project, "clinical-patients", "p.csv", PATIENTS.encode())

    assert Patient.objects.filter(project=project).count() == 2
    second = ImportRun.objects.order_by("pk").last()
    assert not second.summary["created"]


def test_a_rejected_row_is_shown_with_its_file_row_and_field(curating, project):
    content = (CTC + "H-1,2023-05-22,3\nH-2,2023-05-23,many\n").encode()

    response = upload(
        curating, project, "ctc", "counts.csv", content, create_patients="on"
    )
    page = curating.get(response.url)

    assert not CTCCount.objects.exists()
    issue = DataIssue.objects.get(severity="error")
    assert (issue.source_name, issue.row, issue.field) == ("counts.csv", 3, "count")
    assert page.context["run"].status == ImportRun.Status.FAILED
    assert list(page.context["issues"]) == [issue]
    assert "was refused; nothing was stored" in page.content.decode()


def test_the_result_counts_the_patients_a_lab_table_created(curating, project):
    content = (CTC + "H-1,2023-05-22,3\nH-2,2023-05-23,4\n").encode()

    response = upload(
        curating, project, "ctc", "counts.csv", content, create_patients="on"
    )
    page = html.unescape(curating.get(response.url).content.decode())

    assert ImportRun.objects.get().summary["created"]["patients"] == 2
    assert "2 CTC counts, 2 blood samples, 2 patients</td>" in page


def test_a_maf_needs_its_draw_date(curating, project):
    response = upload(curating, project, "maf", "calls.maf", b"Hugo_Symbol\n")

    assert response.status_code == 400
    assert "Drawn on is needed" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_a_dicom_archive_is_ingested_by_its_job_and_its_upload_removed(
    curating, staff, project, upload_root
):
    content = ct_zip(**{"a/1.dcm": ct_bytes(), "a/2.dcm": ct_bytes()})

    response = upload(curating, project, "dicom-zip", "scans.zip", content)

    run = ImportRun.objects.get()
    assert response.url == reverse("imports-run", args=[run.pk])
    assert run.importer == "dicom" and run.status == "done"
    assert run.user == staff
    assert ImageInstance.objects.count() == 2
    study = ImageInstance.objects.first().series.study
    assert study.history.earliest().history_user == staff
    assert not any(upload_root.iterdir())
    page = curating.get(response.url).content.decode()
    assert "2 instances, 1 patient, 2 series, 2 studies</td>" in page


@pytest.fixture
def broker_without_results():
    """Jobs go to a broker (in memory, where no worker takes them) and no result
    backend is set: `dev.sh prod` with the documented default."""
    from biobank.celery import app

    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.update(task_always_eager=False, broker_url="memory://")
    app._pool = app.amqp._producer_pool = None
    assert app.conf.result_backend is None
    yield
    app.conf.update(saved)
    app._pool = app.amqp._producer_pool = None


def test_a_dicom_archive_queued_without_a_result_backend_says_it_is_queued(
    curating, project, upload_root, broker_without_results
):
    # Trial: job.ready() asked Celery's disabled result backend, and the page was a
    # 500 for an archive that was queued and would be ingested.
    content = ct_zip(**{"a/1.dcm": ct_bytes()})

    response = upload(curating, project, "dicom-zip", "scans.zip", content)

    assert response.status_code == 202
    assert "passed the archive checks and waits" in response.content.decode()
    assert not ImportRun.objects.exists()  # no worker has taken it
    assert [path.name for path in upload_root.glob("*/*")] == ["scans.zip"]


@pytest.mark.parametrize("retries", [0, 10])
def test_an_upload_job_that_lost_the_database_is_retried_with_its_archive_kept(
    staff, project, upload_root, broker_without_results, monkeypatch, retries
):
    # Trial: the job failed for good and deleted the archive when the database
    # restarted under it; a run again stores the rest (nothing twice).
    from celery.exceptions import Retry
    from django.db import OperationalError

    from biobank.imports import tasks

    def cut_off(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(tasks, "ingest_dicom", cut_off)
    archive = upload_root / "job" / "scans.zip"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(ct_zip(**{"a/1.dcm": ct_bytes()}))

    # As a worker runs it (a request of the job's own, not called directly):
    args = [str(archive), project.pk, staff.pk]
    job = tasks.ingest_dicom_upload
    job.push_request(
        retries=retries, id="job-1", called_directly=False, args=args, kwargs={}
    )
    try:
        with pytest.raises(Retry if retries == 0 else OperationalError):
            job.run(*args)
    finally:
        job.pop_request()

    # Kept for the retry; gone once the job is out of retries:
    assert archive.exists() == (retries == 0)


@pytest.mark.attack
def test_anonymous_visitors_are_sent_to_sign_in(client, project):
    response = client.post(URL, {"project": project.pk, "kind": "ctc"})

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


@pytest.mark.attack
def test_a_viewer_may_not_open_the_page(client, staff, project):
    grant(staff, project, "viewer")
    client.force_login(staff)

    assert client.get(URL).status_code == 403
    assert upload(client, project, "ctc", "c.csv", b"x").status_code == 403
    assert not ImportRun.objects.exists()


@pytest.mark.attack
@pytest.mark.parametrize("forged", ["other", "999999", "1 OR 1=1", "-1"])
def test_a_forged_project_is_refused_with_403_and_nothing_stored(
    curating, project, other_project, forged
):
    value = other_project.pk if forged == "other" else forged

    response = curating.post(
        URL,
        {
            "project": value,
            "kind": "clinical-patients",
            "file": SimpleUploadedFile("p.csv", PATIENTS.encode()),
        },
    )

    assert response.status_code == 403
    assert not Patient.objects.exists()
    assert not ImportRun.objects.exists()


@pytest.mark.attack
def test_the_result_of_another_projects_run_is_not_found(curating, other_project):
    run = ImportRun.objects.create(
        project=other_project, importer="ctc", source_name="secret-name.csv"
    )

    response = curating.get(reverse("imports-run", args=[run.pk]))

    assert response.status_code == 404
    assert b"secret-name" not in response.content


@pytest.mark.attack
def test_an_upload_above_the_limit_is_stopped_and_nothing_stored(
    curating, project, settings
):
    settings.BIOBANK_MAX_UPLOAD_BYTES = 64 * 1024
    content = (PATIENTS + "H-3,F,1950,x\n" * 20_000).encode()

    response = upload(curating, project, "clinical-patients", "big.csv", content)

    assert response.status_code == 413
    assert "larger than the limit of 65,536 bytes" in response.content.decode()
    assert not Patient.objects.exists()
    assert not ImportRun.objects.exists()


@pytest.mark.attack
def test_an_upload_announced_above_the_limit_is_refused_at_its_first_chunk(
    curating, project, settings
):
    settings.BIOBANK_MAX_UPLOAD_BYTES = 1000
    content = b"patient_id\n" + b"H-1\n" * (400 << 10)

    response = upload(curating, project, "clinical-patients", "big.csv", content)

    assert response.status_code == 413
    assert "larger than the limit of 1,000 bytes" in response.context["errors"][0]
    assert not ImportRun.objects.exists()


@pytest.mark.attack
def test_malformed_utf8_names_the_file_line_and_byte_offset(curating, project):
    content = PATIENTS.encode() + b"H-3,F,19\xff0,\n"

    response = upload(curating, project, "clinical-patients", "p.csv", content)
    page = curating.get(response.url).content.decode()

    assert not Patient.objects.exists()
    issue = DataIssue.objects.get()
    offset = content.index(b"\xff")
    assert (issue.source_name, issue.row) == ("p.csv", 4)
    assert f"byte offset {offset}" in issue.message
    assert issue.message in page


@pytest.mark.attack
@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "is empty"),
        (b"%PDF-1.4\n%binary", "is a PDF document, not a text table"),
        (ct_zip(**{"x.csv": b"a,b\n"}), "is a ZIP archive"),
        (CTC.encode() + b"H-1,2023-05-22,3\x00\n", "holds a NUL character"),
    ],
)
def test_an_empty_binary_or_nul_file_is_refused_by_name(
    curating, project, content, says
):
    response = upload(
        curating, project, "ctc", "counts.csv", content, create_patients="on"
    )

    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.FAILED
    assert says in " ".join(run.issues.values_list("message", flat=True))
    assert response.url == reverse("imports-run", args=[run.pk])
    assert not CTCCount.objects.exists() and not Patient.objects.exists()


@pytest.mark.attack
def test_formula_like_cells_are_stored_as_text_never_evaluated(curating, project):
    formula = '=HYPERLINK("http://127.0.0.1/x","click")'
    content = f'patient_id,histology\n=1+1,"{formula.replace(chr(34), chr(34) * 2)}"\n'

    upload(curating, project, "clinical-patients", "p.csv", content.encode())

    patient = find_patient(project, "=1+1")
    assert patient.histology == formula
    assert "=" not in patient.pseudonym


@pytest.mark.attack
@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../../etc/cron.d/evil", "has '..' in its path"),
        ("/var/spool/evil.dcm", "has an absolute path"),
        ("C:/evil.dcm", "has an absolute path"),
        ("nested.zip", "is an archive inside the archive"),
    ],
)
def test_a_hostile_dicom_archive_is_refused_before_it_is_queued(
    curating, project, upload_root, member, reason
):
    content = ct_zip(**{"ok.dcm": ct_bytes(), member: b"PK\x03\x04"})

    response = upload(curating, project, "dicom-zip", "scans.zip", content)

    assert response.status_code == 400
    (error,) = response.context["errors"]
    assert error.startswith(f"scans.zip: archive member '{member}' {reason}")
    assert not ImageInstance.objects.exists() and not ImportRun.objects.exists()
    assert not any(upload_root.iterdir())


@pytest.mark.attack
def test_a_zip_bomb_is_refused_before_it_is_queued(curating, project, upload_root):
    content = ct_zip(**{"zeros.dcm": bytes(16 << 20)})

    response = upload(curating, project, "dicom-zip", "bomb.zip", content)

    assert response.status_code == 400
    assert "(a zip bomb?)" in response.context["errors"][0]
    assert not ImportRun.objects.exists()
    assert not any(upload_root.iterdir())


@pytest.mark.attack
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (PATIENTS.encode(), "pat_good.csv: is not a ZIP archive."),
        (b"", "pat_good.csv: is empty."),
    ],
)
def test_a_table_given_as_a_dicom_archive_is_refused_under_its_uploaded_name(
    curating, project, content, error
):
    response = upload(curating, project, "dicom-zip", "pat_good.csv", content)

    assert response.status_code == 400
    assert response.context["errors"] == [error]


@pytest.mark.attack
def test_a_climbing_upload_name_is_kept_inside_the_upload_folder(
    curating, project, upload_root, tmp_path
):
    content = ct_zip(**{"1.dcm": ct_bytes()})

    response = upload(curating, project, "dicom-zip", "../../evil.zip", content)

    assert response.status_code == 302
    assert not (tmp_path / "evil.zip").exists()
    assert ImportRun.objects.get().source_name == "evil.zip"


@pytest.mark.parametrize(
    "text",
    ["2020-03-12", "2020-03-12T09:30:00Z", "12/03/2020", "03.12.2020", "2020-13-01"],
)
def test_the_draw_date_follows_the_import_commands_rule(curating, staff, project, text):
    try:
        draw_of_option("calls.vcf", text)
        command_takes_it = True
    except ImportRejected:
        command_takes_it = False
    form = UploadForm(
        staff,
        {"project": project.pk, "kind": "maf", "drawn_on": text},
        {"file": SimpleUploadedFile("calls.maf", b"Hugo_Symbol\n")},
    )

    assert form.is_valid() is command_takes_it
    if not command_takes_it:
        assert "is not a date (YYYY-MM-DD)" in form.errors["drawn_on"][0]
        # ... and only that: the date was given, not left out.
        assert len(form.errors["drawn_on"]) == 1


def test_a_future_draw_date_is_refused_once(staff, project):
    form = UploadForm(
        staff,
        {"project": project.pk, "kind": "maf", "drawn_on": "2999-01-01"},
        {"file": SimpleUploadedFile("calls.maf", b"Hugo_Symbol\n")},
    )

    assert not form.is_valid()
    (message,) = form.errors["drawn_on"]
    assert message.startswith("2999-01-01: ") and "future" in message


def test_a_vcf_drawn_on_a_slashed_date_is_refused_not_read_month_first(
    curating, project
):
    response = upload(
        curating,
        project,
        "vcf",
        "calls.vcf",
        b"##fileformat=VCFv4.2\n",
        drawn_on="12/03/2020",
        patient_id="H-1",
    )

    assert response.status_code == 400
    assert "12/03/2020: is not a date (YYYY-MM-DD)" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_a_run_with_many_issues_lists_the_first_ones_and_offers_all_as_csv(
    curating, project
):
    rows = "".join(f"H-{n},2023-05-22,many\n" for n in range(250))
    response = upload(
        curating,
        project,
        "ctc",
        "counts.csv",
        (CTC + rows).encode(),
        create_patients="on",
    )
    run = ImportRun.objects.get()
    total = run.issues.count()
    assert total > 200

    page = curating.get(response.url)
    admin_page = curating.get(reverse("admin:patients_importrun_change", args=[run.pk]))
    download = curating.get(reverse("imports-run-issues", args=[run.pk]))

    assert len(page.context["issues"]) == 200
    assert f"{total - 200} more are not" in page.content.decode()
    assert admin_page.content.decode().count('<td class="field-message">') == 200
    assert f"{total} issues:" in admin_page.content.decode()
    lines = download.content.decode().splitlines()
    assert lines[0] == "severity,code,source_name,row,field,value,message"
    assert len(lines) == total + 1


def test_the_issues_csv_of_another_projects_run_is_not_found(
    curating, project, other_project
):
    run = ImportRun.objects.create(project=other_project, importer="ctc")

    response = curating.get(reverse("imports-run-issues", args=[run.pk]))

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("kind", "content", "page_says", "command_says"),
    [
        (
            "ctc",
            CTC + "H-9,2023-05-22,3\n",
            "tick 'Create patients'",
            "re-run with --create-patients",
        ),
        (
            "clinical-patients",
            "patient_id,sex,diagnosis_date\nH-1,F,03/04/2021\n",
            "choose a 'Date order'",
            "--date-order",
        ),
    ],
)
def test_upload_messages_name_the_pages_controls_and_commands_their_options(
    curating, project, tmp_path, kind, content, page_says, command_says
):
    response = upload(curating, project, kind, "table.csv", content.encode())
    page = html.unescape(curating.get(response.url).content.decode())
    path = tmp_path / "table.csv"
    path.write_text(content)
    command = {"ctc": "import_ctc", "clinical-patients": "import_clinical"}[kind]
    with pytest.raises(CommandError) as refused:
        call_command(command, str(path), "--project", project.code)

    assert page_says in page
    assert "--create-patients" not in page and "--date-order" not in page
    assert command_says in str(refused.value)


def test_a_ctc_table_uploaded_as_patients_is_said_to_look_like_ctc_counts(
    curating, project
):
    content = CTC + "H-1,2023-05-22,3\nH-1,2023-06-22,5\n"

    response = upload(
        curating, project, "clinical-patients", "ctc.csv", content.encode()
    )

    page = html.unescape(curating.get(response.url).content.decode())
    assert "not those of a Clinical CSV: patients but of a CTC counts (CSV)" in page


def test_a_patients_table_with_a_few_extra_columns_suggests_no_other_kind(
    curating, project
):
    content = "patient_id,sex,birth_year,histology,count\nH-1,F,1960,adenocarcinoma,3\n"

    response = upload(curating, project, "clinical-patients", "p.csv", content.encode())

    assert not DataIssue.objects.filter(code="wrong-kind").exists()
    assert response.status_code == 302


CFDNA = "patient_id,draw_date,gene,protein_change,vaf\n"


def test_a_cfdna_table_whose_every_row_was_refused_says_nothing_was_stored(
    curating, project
):
    content = (
        CFDNA + "H-1,2023-05-22,KRAS,p.G12D,0.1\nH-2,2023-05-22,EGFR,p.L858R,0.2\n"
    ).encode()

    response = upload(curating, project, "cfdna", "cfdna.csv", content)
    page = curating.get(response.url)
    text = html.unescape(page.content.decode())

    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.FAILED
    assert not run.summary["created"]
    assert "Done" not in text
    assert "cfdna.csv was refused; nothing was stored" in text
    assert "2 rows rejected" in text
    issues = list(page.context["issues"])
    assert [(i.source_name, i.row, i.field) for i in issues] == [
        ("cfdna.csv", 2, "patient_id"),
        ("cfdna.csv", 3, "patient_id"),
    ]


def test_a_cfdna_table_with_some_rows_refused_is_shown_as_stored_in_part(
    curating, project
):
    content = (
        CFDNA + "H-1,2023-05-22,KRAS,p.G12D,0.1\nH-2,2023-05-22,KRAS,p.Q61X9,0.2\n"
    ).encode()

    response = upload(
        curating, project, "cfdna", "cfdna.csv", content, create_patients="on"
    )
    text = html.unescape(curating.get(response.url).content.decode())

    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.PARTIAL
    assert "Partly stored" in text and "Done" not in text
    assert "cfdna.csv was imported only in part" in text
    assert "1 row rejected" in text
    assert "the others were stored" in text


def test_a_table_that_stores_nothing_new_says_so(curating, project):
    upload(curating, project, "clinical-patients", "p.csv", PATIENTS.encode())

    response = upload(
        curating, project, "clinical-patients", "p.csv", PATIENTS.encode()
    )
    text = html.unescape(curating.get(response.url).content.decode())

    assert "Nothing new was stored: 2 records were already present" in text


def test_a_dicom_archive_whose_every_file_was_rejected_says_nothing_was_stored(
    curating, project
):
    content = ct_zip(**{"a/1.dcm": b"not DICOM at all", "a/2.dcm": b"nor this"})

    response = upload(curating, project, "dicom-zip", "scans.zip", content)
    text = html.unescape(curating.get(response.url).content.decode())

    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.FAILED
    assert not ImageInstance.objects.exists()
    assert "was refused; nothing was stored" in text
    assert "2 files rejected" in text


def test_a_rejected_row_beside_rows_already_present_says_nothing_new_was_stored(
    curating, project
):
    good = "H-1,2023-05-22,KRAS,p.G12D,0.1\n"
    upload(
        curating,
        project,
        "cfdna",
        "a.csv",
        (CFDNA + good).encode(),
        create_patients="on",
    )
    content = (CFDNA + good + "H-1,2023-05-22,KRAS,p.Q61X9,0.2\n").encode()

    response = upload(
        curating, project, "cfdna", "b.csv", content, create_patients="on"
    )
    text = html.unescape(curating.get(response.url).content.decode())

    run = ImportRun.objects.order_by("pk").last()
    assert run.status == ImportRun.Status.PARTIAL
    assert "1 row rejected" in text
    assert "the others were already present, so nothing new was stored" in text


PYRADIOMICS = "Image,Mask,original_firstorder_Mean,PatientID\n"


def test_a_pyradiomics_table_whose_every_row_held_no_number_says_no_value_was_stored(
    curating, project
):
    content = (PYRADIOMICS + "/a.nrrd,/b.nrrd,,P-9\n/c.nrrd,/d.nrrd,nan,P-8\n").encode()

    response = upload(
        curating, project, "pyradiomics", "f.csv", content, create_patients="on"
    )
    text = html.unescape(curating.get(response.url).content.decode())

    assert (
        "No feature value was stored: each of the 2 rows of f.csv held no number"
        in (text)
    )


def test_a_pyradiomics_table_with_one_empty_row_says_which_values_were_stored(
    curating, project
):
    content = (PYRADIOMICS + "/a.nrrd,/b.nrrd,2.5,P-9\n/c.nrrd,/d.nrrd,,P-8\n").encode()

    response = upload(
        curating, project, "pyradiomics", "f.csv", content, create_patients="on"
    )
    text = html.unescape(curating.get(response.url).content.decode())

    assert "1 row held no feature value: its extraction is stored as failed" in text
    assert "the other rows' values were stored" in text


def test_a_dicom_series_refused_whole_counts_each_of_its_files(curating, project):
    study, series = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
    content = ct_zip(
        **{
            f"a/{n}.dcm": ct_bytes(
                StudyInstanceUID=study,
                SeriesInstanceUID=series,
                InstanceNumber=n,
                PatientID="SYN-0042" if n == 3 else "SYN-9001",
            )
            for n in (1, 2, 3)
        }
    )

    response = upload(curating, project, "dicom-zip", "scans.zip", content)
    text = html.unescape(curating.get(response.url).content.decode())

    assert "was refused; nothing was stored" in text
    assert "3 files rejected" in text


# The limit of detection: the page's field takes what --lod takes, for a MAF or a VCF.

LOD_VCF = (
    b"##fileformat=VCFv4.2\n"
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\n"
    b"12\t25398284\t.\tC\tT\t.\tPASS\t.\tGT:AD\t0/1:997,3\n"
    b"17\t7577120\t.\tC\tT\t.\tPASS\t.\tGT:AD\t0/1:950,50\n"
)
LOD_MAF = (
    b"Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position"
    b"\tReference_Allele\tTumor_Seq_Allele2\tt_alt_count\tt_depth\n"
    b"KRAS\tH-1\t12\t25398284\tC\tT\t3\t1000\n"
    b"TP53\tH-1\t17\t7577120\tC\tT\t50\t1000\n"
)


def upload_calls(client, project, kind: str, lod: str):
    content, name = (LOD_VCF, "calls.vcf") if kind == "vcf" else (LOD_MAF, "calls.maf")
    return upload(
        client,
        project,
        kind,
        name,
        content,
        drawn_on="2023-05-22",
        patient_id="H-1",
        create_patients="on",
        lod=lod,
    )


@pytest.mark.parametrize("kind", ["vcf", "maf"])
@pytest.mark.parametrize("lod", ["0.005", "0.5%"])
def test_the_limit_of_detection_given_calls_the_variants_under_it_below_lod(
    curating, project, kind, lod
):
    response = upload_calls(curating, project, kind, lod)

    assert response.status_code == 302
    assert CfDNAAssay.objects.get().limit_of_detection_vaf == 0.005
    calls = VariantResult.objects.values_list("genomic_change", "call", "vaf")
    assert sorted(calls) == [
        ("12:25398284 C>T", "below-lod", None),
        ("17:7577120 C>T", "detected", 0.05),
    ]


def test_without_a_limit_of_detection_nothing_is_below_lod(curating, project):
    page = curating.get(URL).content.decode()
    upload_calls(curating, project, "vcf", "")

    assert 'name="lod"' in page
    assert CfDNAAssay.objects.get().limit_of_detection_vaf is None
    assert not VariantResult.objects.filter(call="below-lod").exists()


@pytest.mark.parametrize("text", ["0.005", "0.5%", "0.2", "0", "1", "100%", "1.5", "x"])
def test_the_limit_of_detection_follows_the_import_commands_rule(
    curating, staff, project, text
):
    try:
        lod_of_option("calls.vcf", text, [])
        command_takes_it = True
    except ImportRejected as exc:
        command_takes_it = False
        (command_says,) = exc.problems
    form = UploadForm(
        staff,
        {
            "project": project.pk,
            "kind": "vcf",
            "drawn_on": "2023-05-22",
            "patient_id": "H-1",
            "lod": text,
        },
        {"file": SimpleUploadedFile("calls.vcf", LOD_VCF)},
    )

    assert form.is_valid() is command_takes_it
    if not command_takes_it:
        assert form.errors["lod"] == [f"{text}: {command_says.message}"]


def test_a_limit_of_detection_for_a_cfdna_table_is_refused_not_ignored(
    curating, project
):
    content = (CFDNA + "H-1,2023-05-22,KRAS,p.G12D,0.1\n").encode()

    response = upload(
        curating,
        project,
        "cfdna",
        "cfdna.csv",
        content,
        create_patients="on",
        lod="0.01",
    )

    assert response.status_code == 400
    assert (
        "Limit of detection is for a MAF or a VCF, not a cfDNA variant table (CSV); a "
        "cfDNA table gives it in its limit_of_detection column."
    ) in html.unescape(response.content.decode())
    assert not ImportRun.objects.exists()


def test_another_limit_than_the_stored_one_is_one_error_on_the_result_page(
    curating, project
):
    upload_calls(curating, project, "vcf", "0.005")

    response = upload_calls(curating, project, "vcf", "0.01")
    page = curating.get(response.url)

    run = ImportRun.objects.latest("pk")
    assert run.status == ImportRun.Status.FAILED
    issues = [(i.severity, i.field, i.value) for i in page.context["issues"]]
    assert issues == [("error", "limit_of_detection", "0.01")]
    assert "stored with the limit 0.005" in html.unescape(page.content.decode())
    assert CfDNAAssay.objects.get().limit_of_detection_vaf == 0.005
