"""Run the default engine on the IBSI-1 phantoms and write the conformance report."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from radiomics.engines import DEFAULT_ENGINE, get_engine
from radiomics.engines.conformance import (
    CONFIGURATIONS,
    render_report,
    run_configuration,
)


def default_data_folder() -> Path:
    shared = os.environ.get(
        "BIOBANK_SHARED_DIR", str(settings.BASE_DIR.parent / "shared")
    )
    return Path(shared) / "data"


class Command(BaseCommand):
    help = (
        "Compare the default engine with the IBSI-1 reference values (digital phantom, "
        "CT phantom configurations A, C, D) and write a markdown report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--config",
            default=",".join(CONFIGURATIONS),
            help=f"Comma-separated configurations among {', '.join(CONFIGURATIONS)}.",
        )
        parser.add_argument(
            "--engine",
            default=DEFAULT_ENGINE,
            help="Engine to check: mirp (default) or pyradiomics (its IBSI mode).",
        )
        parser.add_argument(
            "--output",
            type=Path,
            default=None,
            help="Report file (default: docs/ibsi_conformance.md for mirp, "
            "docs/ibsi_conformance_<engine>.md for another engine).",
        )
        parser.add_argument(
            "--data",
            type=Path,
            default=None,
            help="Folder holding ibsi1_digital_phantom, ibsi1_ct_phantom and "
            "ibsi1_reference_values (default: ../shared/data or $BIOBANK_SHARED_DIR/data).",
        )

    def handle(
        self,
        *args,
        config: str,
        engine: str,
        output: Path | None,
        data: Path | None,
        **options,
    ) -> None:
        names = [name.strip() for name in config.split(",") if name.strip()]
        unknown = [name for name in names if name not in CONFIGURATIONS]
        if unknown or not names:
            raise CommandError(
                f"Unknown configuration {', '.join(unknown) or '(none given)'}; "
                f"choose among {', '.join(CONFIGURATIONS)}."
            )
        # Every argument is checked before the data folder, so a typo is named as such
        # also on a machine without the IBSI data:
        try:
            extractor = get_engine(engine)
        except ValueError as error:
            raise CommandError(str(error)) from error
        data = data or default_data_folder()
        if not data.is_dir():
            raise CommandError(f"IBSI data folder {data} does not exist; pass --data.")
        results = []
        for name in names:
            result = run_configuration(extractor, CONFIGURATIONS[name], data)
            results.append(result)
            self.stdout.write(
                f"{name}: {result.passed} of {len(result.comparisons)} reference values "
                f"pass ({result.seconds:.1f} s)."
            )

        command = f"python manage.py ibsi_conformance --config {','.join(names)}"
        if engine != DEFAULT_ENGINE:
            command += f" --engine {engine}"
        if output is None:
            output = Path(
                "docs/ibsi_conformance.md"
                if engine == DEFAULT_ENGINE
                else f"docs/ibsi_conformance_{engine}.md"
            )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render_report(results, command), encoding="utf-8")
        self.stdout.write(self.style.SUCCESS(f"Report written to {output}."))
