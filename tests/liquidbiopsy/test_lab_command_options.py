"""Options the variant import commands offer: --date-order, and what --project says."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command, load_command_class

from liquidbiopsy.models import BloodSample
from tests.conftest import shared_path
from tests.liquidbiopsy.conftest import register, write

# A slashed date whose order no day above 12 proves:
SLASHED = "10/03/2024"
BY_ORDER = {"day-first": dt.date(2024, 3, 10), "month-first": dt.date(2024, 10, 3)}


@pytest.mark.parametrize("order", BY_ORDER)
def test_import_vcf_reads_a_slashed_draw_date_in_the_order_given(project, order):
    path = shared_path("genomics_vcf_somatic", "test.vcf")
    register(project, "SYN-V1")

    call_command(
        "import_vcf", str(path), "--project", project.code, "--patient", "SYN-V1",
        "--drawn-on", SLASHED, "--date-order", order,
    )  # fmt: skip

    assert BloodSample.objects.get().drawn_on == BY_ORDER[order]


def test_import_vcf_refuses_a_slashed_draw_date_without_its_order(project):
    path = shared_path("genomics_vcf_somatic", "test.vcf")
    register(project, "SYN-V1")

    with pytest.raises(CommandError, match="drawn_on"):
        call_command(
            "import_vcf", str(path), "--project", project.code, "--patient", "SYN-V1",
            "--drawn-on", SLASHED,
        )  # fmt: skip

    assert not BloodSample.objects.exists()


@pytest.mark.parametrize("order", BY_ORDER)
def test_import_maf_reads_slashed_dates_of_the_option_and_the_sample_map(
    project, tmp_path, order
):
    path = shared_path("genomics_vcf_somatic", "test.maf")
    register(project, "SYN-4001")
    sample_map = write(
        tmp_path,
        "map.csv",
        f"Tumor_Sample_Barcode,patient_id,draw_date\nTUMOR,SYN-4001,{SLASHED}\n",
    )

    call_command(
        "import_maf", str(path), "--project", project.code, "--drawn-on", SLASHED,
        "--sample-map", str(sample_map), "--date-order", order,
    )  # fmt: skip

    assert BloodSample.objects.get().drawn_on == BY_ORDER[order]


@pytest.mark.parametrize("command", ["import_vcf", "import_maf", "import_cfdna"])
def test_the_project_help_of_a_lab_import_says_it_makes_no_project(command):
    parser = load_command_class("liquidbiopsy", command).create_parser(
        "manage.py", command
    )

    help_text = " ".join(parser.format_help().split())

    assert "only a clinical patients table (import_clinical)" in help_text
    assert "creates patients" not in help_text
