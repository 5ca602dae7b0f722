"""One CTC count per platform of a draw, however the platform is spelled."""

import django.db.models.functions.text
from django.db import migrations, models
from django.db.models.functions import Lower


def refuse_case_duplicates(apps, schema_editor):
    """Stop, naming them, if counts of one draw differ only in the platform's case.

    Nothing is merged or deleted here: a curator decides which count is right.
    """
    CTCCount = apps.get_model("liquidbiopsy", "CTCCount")
    seen: dict[tuple[int, str], int] = {}
    clashes = []
    for pk, sample_id, platform in CTCCount.objects.annotate(
        key=Lower("platform")
    ).values_list("pk", "sample_id", "key"):
        other = seen.setdefault((sample_id, platform), pk)
        if other != pk:
            clashes.append(f"{other} and {pk}")
    if clashes:
        raise RuntimeError(
            "CTC counts of one draw differ only in the platform's case (ids "
            + "; ".join(clashes)
            + "); delete or correct one of each pair in the admin, then migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0002_constraint_messages"),
    ]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="ctccount",
            name="ctc_count_per_platform",
        ),
        migrations.AddConstraint(
            model_name="ctccount",
            constraint=models.UniqueConstraint(
                models.F("sample"),
                django.db.models.functions.text.Lower("platform"),
                name="ctc_count_per_platform",
            ),
        ),
    ]
