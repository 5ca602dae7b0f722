"""manage.py create_project: a project for a collection whose first records are lab tables."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from patients.models import Project, ProjectMembership, Role

pytestmark = pytest.mark.django_db

CFDNA = (
    "patient_id,draw_date,method,gene,protein_change,call,vaf\n"
    "CRC-1,2021-03-04,ddPCR,KRAS,p.G12D,detected,0.05\n"
)


def create(*args: str) -> str:
    out = io.StringIO()
    call_command("create_project", *args, stdout=out)
    return out.getvalue()


def test_creates_a_project_with_its_manager():
    manager = get_user_model().objects.create_user("ana", password="x")

    said = create("CAIRO5", "--name", "CAIRO5 cfDNA", "--manager", "ana")

    project = Project.objects.get(code="CAIRO5")
    assert project.name == "CAIRO5 cfDNA"
    assert ProjectMembership.objects.get(project=project, user=manager).role == (
        Role.MANAGER
    )
    assert said == "Created project 'CAIRO5' with manager ana.\n"


def test_a_lab_table_then_imports_into_it(tmp_path):
    create("crc")
    table = tmp_path / "cfdna.csv"
    table.write_text(CFDNA)

    call_command(
        "import_cfdna",
        str(table),
        "--project",
        "crc",
        "--create-patients",
        stdout=io.StringIO(),
    )

    assert Project.objects.get(code="crc").patients.count() == 1


def test_an_unknown_code_in_a_lab_import_names_the_command(tmp_path):
    table = tmp_path / "cfdna.csv"
    table.write_text(CFDNA)

    with pytest.raises(
        CommandError, match="create one for lab tables alone with create_project"
    ):
        call_command(
            "import_cfdna", str(table), "--project", "crc", "--create-patients"
        )

    assert not Project.objects.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo"], "Project 'demo' exists already; nothing was changed."),
        (["DEMO"], "Project 'demo' exists already; nothing was changed."),
        (["two words"], "is not valid"),
        (
            ["new", "--manager", "nobody"],
            "--manager: no active account is named 'nobody'.",
        ),
    ],
)
def test_refuses_what_it_cannot_create(project, args, message):
    with pytest.raises(CommandError, match=message):
        create(*args)

    assert list(Project.objects.values_list("code", flat=True)) == ["demo"]
