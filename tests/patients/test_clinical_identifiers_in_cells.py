"""Source patient IDs in the free-text cells of clinical tables (patients.importers.cells)."""

from __future__ import annotations

import pytest

from biobank.core.importing import ImportRejected
from patients.importers.clinical import PATIENTS, TREATMENTS, import_clinical
from patients.models import Patient, Treatment
from tests.liquidbiopsy.conftest import write

MRN = "MRN0048213"


def test_an_id_in_the_histology_is_stored_redacted_with_a_warning(project, tmp_path):
    path = write(
        tmp_path,
        "p.csv",
        f"patient_id,histology\n{MRN},adenocarcinoma (path {MRN} Jansen)\n",
    )

    report = import_clinical(path, project, PATIENTS)

    histology = Patient.objects.get().histology
    assert histology == "adenocarcinoma (path [redacted] Jansen)"
    (warning,) = [w for w in report.warnings if w.code == "identifier-in-text"]
    assert (warning.row, warning.field) == (2, "histology")
    assert MRN not in str(warning)


def test_another_patients_id_of_the_file_is_redacted_too(project, tmp_path):
    path = write(
        tmp_path,
        "p.csv",
        "patient_id,histology,stage\n"
        "MRN0048213,adenocarcinoma,IIIA\n"
        "MRN0099177,as MRN0048213,IV\n",
    )

    import_clinical(path, project, PATIENTS)

    assert sorted(Patient.objects.values_list("histology", flat=True)) == [
        "adenocarcinoma",
        "as [redacted]",
    ]


def test_a_treatment_whose_agent_held_an_id_is_found_again_on_a_rerun(
    project, tmp_path
):
    import_clinical(write(tmp_path, "p.csv", f"patient_id\n{MRN}\n"), project)
    path = write(
        tmp_path,
        "t.csv",
        f"patient_id,kind,start_date,agent\n{MRN},chemotherapy,2020-02-01,carboplatin {MRN}\n",
    )

    import_clinical(path, project, TREATMENTS)
    again = import_clinical(path, project, TREATMENTS)

    assert list(Treatment.objects.values_list("agent", flat=True)) == [
        "carboplatin [redacted]"
    ]
    assert again.duplicates == 1


def test_a_short_numeric_id_leaves_the_numbers_of_other_cells_alone(project, tmp_path):
    path = write(tmp_path, "p.csv", "patient_id,histology\n12,tumour of 12 mm\n7,12\n")

    report = import_clinical(path, project, PATIENTS)

    assert sorted(Patient.objects.values_list("histology", flat=True)) == [
        "12",
        "tumour of 12 mm",
    ]
    assert not [w for w in report.warnings if w.code == "identifier-in-text"]


def test_a_short_id_filling_its_own_cell_rejects_the_file(project, tmp_path):
    path = write(tmp_path, "p.csv", "patient_id,stage\n12,12\n")

    with pytest.raises(ImportRejected) as caught:
        import_clinical(path, project, PATIENTS)

    (problem,) = caught.value.problems
    assert (problem.row, problem.field, problem.code) == (
        2,
        "stage",
        "identifier-in-text",
    )
    assert not Patient.objects.exists()


def test_the_id_of_a_stored_patient_not_in_the_file_rejects_the_file(project, tmp_path):
    import_clinical(write(tmp_path, "a.csv", f"patient_id\n{MRN}\n"), project)
    path = write(
        tmp_path, "b.csv", f"patient_id,histology\nMRN0099177,as seen in {MRN}\n"
    )

    with pytest.raises(ImportRejected) as caught:
        import_clinical(path, project, PATIENTS)

    (problem,) = caught.value.problems
    assert (problem.row, problem.field) == (2, "histology")
    assert MRN not in str(problem)
    assert Patient.objects.count() == 1
