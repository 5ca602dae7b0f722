"""Import runs record their process (SQLite finds an abandoned one by it); "Failed" alone."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0006_treatment_agent_any_case"),
    ]

    operations = [
        migrations.AddField(
            model_name="importrun",
            name="host",
            field=models.CharField(
                blank=True,
                help_text="Host name of the importing process.",
                max_length=255,
            ),
        ),
        migrations.AddField(
            model_name="importrun",
            name="pid",
            field=models.PositiveIntegerField(
                blank=True, help_text="Process ID of the importing process.", null=True
            ),
        ),
        migrations.AddField(
            model_name="importrun",
            name="process_key",
            field=models.CharField(
                blank=True,
                help_text="What tells the importing process from a later one given its ID: the machine's boot, the PID namespace and the process's start time.",
                max_length=100,
            ),
        ),
        migrations.AlterField(
            model_name="importrun",
            name="status",
            field=models.CharField(
                choices=[
                    ("running", "Running"),
                    ("done", "Done"),
                    ("partial", "Partly stored (some rejected)"),
                    ("failed", "Failed"),
                ],
                default="running",
                max_length=10,
            ),
        ),
    ]
