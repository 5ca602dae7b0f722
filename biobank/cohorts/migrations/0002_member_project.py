"""Keep on every frozen cohort member the id of its project, not only the code it had.

The members' projects decide the dates a version is shown in. Matched by code, a
version whose project had been renamed since, or whose reader had lost the role,
matched no project at all and was shown in calendar dates.
"""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import OuterRef, Subquery


def fill_member_projects(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Give each member the project of its patient, else the project of its code now.

    A patient never changes project, so a member whose patient is still stored takes
    the patient's project even after a rename. A member whose patient was deleted
    takes the project that has its frozen code today; one whose code no project
    has now stays empty, and is shown in calendar dates to site administrators only.
    """
    CohortMember = apps.get_model("cohorts", "CohortMember")
    Patient = apps.get_model("patients", "Patient")
    Project = apps.get_model("patients", "Project")

    CohortMember.objects.filter(patient__isnull=False).update(
        project=Subquery(
            Patient.objects.filter(pk=OuterRef("patient_id")).values("project")[:1]
        )
    )
    for pk, code in Project.objects.values_list("pk", "code"):
        CohortMember.objects.filter(project__isnull=True, project_code=code).update(
            project=pk
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cohorts", "0001_initial"),
        ("patients", "0006_treatment_agent_any_case"),
    ]

    operations = [
        migrations.AddField(
            model_name="cohortmember",
            name="project",
            field=models.ForeignKey(
                blank=True,
                help_text="The patient's project when frozen.",
                null=True,
                on_delete=models.deletion.PROTECT,
                related_name="+",
                to="patients.project",
            ),
        ),
        migrations.RunPython(fill_member_projects, migrations.RunPython.noop),
    ]
