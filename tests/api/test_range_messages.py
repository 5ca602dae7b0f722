"""A number out of range is refused with a message stating the bounds enforced.

The importers, API writes and the admin check a birth year, a treatment line or
survival against a rule narrower than their column; a number beyond the column
must get the rule's bounds too, not the column's (32767, 2147483647) nor a
placeholder (9999). A limit of detection and a cfDNA concentration likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.models import LOD_OUT_OF_RANGE
from patients.importers.clinical import import_clinical
from tests import test_admin
from tests.api import test_writes
from tests.api.test_admin_rules import Case, admin_post, form_of
from tests.liquidbiopsy.conftest import register, rejection

curator_api = test_writes.curator_api
curator_client = test_admin.curator_client
write = test_writes.write


def this_year() -> int:
    return timezone.localdate().year


def birth_years() -> str:
    return f"must lie between 1880 and {this_year()} (this year)."


@dataclass(frozen=True)
class Rule:
    """A field of the record `side` (tests/api/conftest.Side) and its form label."""

    side: str
    endpoint: str
    field: str
    label: str
    message: str  # BIRTH_YEARS: read at each use

    def refusal(self) -> str:
        return birth_years() if self.message == "BIRTH_YEARS" else self.message


BIRTH_YEAR = Rule("patient", "patients", "birth_year", "Birth year", "BIRTH_YEARS")
LINE = Rule("treatment", "treatments", "line", "Line", "must lie between 1 and 99.")
SURVIVAL = Rule(
    "patient",
    "patients",
    "overall_survival_days",
    "Overall survival days",
    "must lie between 0 and 36600.",
)
# Numbers out of range: below, above, beyond the column (smallint, integer):
CASES = [
    pytest.param(rule, number, id=f"{rule.field} {number}")
    for rule, numbers in [
        (BIRTH_YEAR, [1879, "NEXT_YEAR", 40000, 99999999999]),
        (LINE, [0, 100, 40000, 99999999999]),
        (SURVIVAL, [-1, 36601, 99999999999]),
    ]
    for number in numbers
]


def resolved(number: int | str) -> int:
    # Read at each use, so that a run crossing New Year stays right:
    return this_year() + 1 if number == "NEXT_YEAR" else int(number)


@pytest.mark.parametrize("number", [1879, "NEXT_YEAR", 99999999999])
def test_the_clinical_importer_states_the_birth_years_it_accepts(
    project, tmp_path, number
):
    number = resolved(number)
    path = write(tmp_path, f"patient_id,birth_year\nP1,{number}\n")

    problems = rejection(lambda: import_clinical(path, project))

    assert [(p.row, p.field, p.message) for p in problems] == [
        (2, "birth_year", birth_years())
    ]
    assert problems[0].code == ("future-date" if number > this_year() else "")


def test_the_birth_years_from_1880_to_this_year_are_accepted(project, tmp_path):
    path = write(tmp_path, f"patient_id,birth_year\nP1,1880\nP2,{this_year()}\n")

    report = import_clinical(path, project)

    assert report.rejected == []


@pytest.mark.parametrize(("rule", "number"), CASES)
def test_an_api_write_states_the_bounds_of_the_rule(biobank, curator_api, rule, number):
    record = getattr(biobank.a, rule.side)

    response = curator_api.patch(
        f"/api/{rule.endpoint}/{record.pk}/",
        {rule.field: resolved(number)},
        format="json",
    )

    assert response.status_code == 400, response.content[:300]
    assert response.json() == {rule.field: [rule.refusal()]}


@pytest.mark.parametrize(("rule", "number"), CASES)
def test_the_admin_states_the_bounds_of_the_rule(biobank, curator_client, rule, number):
    record = getattr(biobank.a, rule.side)
    before = type(record).objects.filter(pk=record.pk).values().get()
    posted = {rule.field: str(resolved(number))}

    page = admin_post(
        curator_client, record, None, Case(rule.side, rule.endpoint, {}, "", posted)
    )

    assert page.status_code == 200, f"the admin stored {posted}"
    assert form_of(page, record).errors[rule.field] == [
        f"{rule.label} {rule.refusal()}"
    ]
    assert type(record).objects.filter(pk=record.pk).values().get() == before


@pytest.mark.parametrize("limit", [1.2, -0.1, 150])
def test_an_api_write_states_the_bounds_of_a_limit_of_detection(
    biobank, curator_api, limit
):
    assay = biobank.a.assay

    response = curator_api.patch(
        f"/api/cfdna-assays/{assay.pk}/",
        {"limit_of_detection_vaf": limit},
        format="json",
    )

    assert response.status_code == 400, response.content[:300]
    assert response.json() == {"limit_of_detection_vaf": [LOD_OUT_OF_RANGE]}


CFDNA = (
    "patient_id,draw_date,gene,protein_change,vaf,limit_of_detection,cfdna_ng_per_ml\n"
)


@pytest.mark.parametrize("limit", ["-0.1", "150%"])
def test_a_cfdna_table_states_the_bounds_of_a_limit_of_detection(
    project, tmp_path, limit
):
    register(project, "P1")
    path = write(tmp_path, CFDNA + f"P1,2022-01-03,EGFR,L858R,0.02,{limit},\n")

    problems = rejection(lambda: import_cfdna(path, project))

    assert [(p.field, p.message, p.code) for p in problems] == [
        ("limit_of_detection", LOD_OUT_OF_RANGE, "lod-out-of-range")
    ]


def test_a_limit_above_1_without_a_unit_is_asked_for_its_unit(project, tmp_path):
    register(project, "P1")
    path = write(tmp_path, CFDNA + "P1,2022-01-03,EGFR,L858R,0.02,5,\n")

    problems = rejection(lambda: import_cfdna(path, project))

    assert [p.field for p in problems] == ["limit_of_detection"]
    assert "declares no unit" in problems[0].message


def test_a_negative_cfdna_concentration_is_told_the_bounds(project, tmp_path):
    register(project, "P1")
    path = write(tmp_path, CFDNA + "P1,2022-01-03,EGFR,L858R,0.02,,-1\n")

    report = import_cfdna(path, project)

    assert [(p.field, p.message) for p in report.rejected] == [
        ("cfdna_ng_per_ml", "is not a concentration from 0 to 100,000 ng/mL of plasma.")
    ]
