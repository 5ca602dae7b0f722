"""Create a project, for a collection whose first records are not a patients table."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from patients.importers.runs import active_account, stored_project
from patients.models import Project, ProjectMembership, Role


class Command(BaseCommand):
    help = (
        "Create a project (a lab-only collection such as a cfDNA table, whose imports "
        "do not create projects), optionally with its first manager."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "code", help="Letters, digits, - and _ (for example CAIRO5)."
        )
        parser.add_argument("--name", help="Readable name; the code by default.")
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--manager",
            metavar="USERNAME",
            help="An existing account to make the project's manager.",
        )

    def handle(
        self,
        *args,
        code: str,
        name: str | None,
        description: str,
        manager: str | None,
        **options,
    ) -> None:
        user = active_account("--manager", manager) if manager is not None else None
        existing = stored_project(code)
        if existing is not None:
            # Codes that differ by case only are one project (get_project()):
            raise CommandError(
                f"Project {existing.code!r} exists already; nothing was changed."
            )
        with transaction.atomic():
            project = Project.objects.create(
                code=code, name=name or code, description=description
            )
            if user is not None:
                ProjectMembership.objects.create(
                    project=project, user=user, role=Role.MANAGER
                )
        made = f"Created project {project.code!r}"
        self.stdout.write(made + (f" with manager {user.username}." if user else "."))
