"""Build (or top up) the demo biobank and print how to sign in."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand

from biobank import demo

# dev.sh serves on BIOBANK_ADDR (runserver's addrport: "host:port" or a port alone).
DEFAULT_ADDR = "127.0.0.1:8000"


def served_url() -> str:
    """Return the address `bash dev.sh run` serves the demo on, as a URL."""
    addr = os.environ.get("BIOBANK_ADDR", "").strip() or DEFAULT_ADDR
    if addr.isdigit():
        addr = f"127.0.0.1:{addr}"
    return f"http://{addr}/"


class Command(BaseCommand):
    help = "Ingest pydicom's real DICOM test files and generate lab records for a demo."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--seed", type=int, default=7, help="Seed of the generated records."
        )

    def handle(self, *args, seed: int, **options) -> None:
        build = demo.build_demo(seed=seed)

        self.stdout.write(f"Demo biobank: {build.summary()}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Sign in at {served_url()} as {demo.DEMO_USERNAME!r} "
                f"with password {demo.DEMO_PASSWORD!r}."
            )
        )
