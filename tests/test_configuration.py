"""Every environment variable the code reads is listed in .env.example and the README."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV_READERS = {"env_str", "env_bool", "env_int", "env_float", "env_list", "env_secret"}


def settings_variables() -> set[str]:
    """Return the names biobank/settings.py passes to the typed environment readers."""
    tree = ast.parse((REPO / "biobank" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ENV_READERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(node.args[0].value)
    return names


def dev_sh_variables() -> set[str]:
    """Return the names dev.sh and deploy/serve.sh read as ${NAME:-...}, not NAME_FILE."""
    text = (REPO / "dev.sh").read_text() + (REPO / "deploy" / "serve.sh").read_text()
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):-", text))
    # A secret's NAME_FILE form is documented with NAME (biobank.core.env.env_secret):
    return {name for name in names if not name.endswith("_FILE")}


def env_example_variables() -> set[str]:
    """Return the names .env.example assigns, commented out or not."""
    text = (REPO / ".env.example").read_text()
    return set(re.findall(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def readme_table_variables() -> set[str]:
    """Return the names in the first column of the README's configuration table."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def test_settings_read_the_variables_this_test_expects():
    # Guards the parser: if settings stopped using the typed readers, every other
    # test here would pass on an empty set.
    assert {"DATABASE_URL", "SECRET_KEY", "LOG_FORMAT"} <= settings_variables()


@pytest.mark.parametrize(
    "listed", [env_example_variables, readme_table_variables], ids=lambda f: f.__name__
)
def test_every_variable_the_code_reads_is_listed(listed):
    read = settings_variables() | dev_sh_variables()

    missing = read - listed()

    assert not missing, f"Add {', '.join(sorted(missing))} to {listed.__name__}."


def test_every_example_value_is_accepted_by_the_settings(tmp_path):
    # Uncommented, as a user would, and exported by the shell as the README says:
    lines = (REPO / ".env.example").read_text().splitlines()
    uncommented = [re.sub(r"^#\s*(?=[A-Z][A-Z0-9_]*=)", "", line) for line in lines]
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(uncommented) + "\n")
    script = (
        f'set -a; . "{env_file}"; set +a; '
        f'"{sys.executable}" -c "import django.conf as c, os; '
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'biobank.settings'; "
        "print(c.settings.BIOBANK_MAX_UPLOAD_BYTES, '|', *c.settings.ALLOWED_HOSTS)\""
    )

    done = subprocess.run(  # noqa: S603 -- our own file, sourced as the README says
        ["/bin/sh", "-c", script],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    example = dict(
        line.split("#")[0].strip().split("=", 1)
        for line in uncommented
        if re.match(r"[A-Z][A-Z0-9_]*=", line)
    )
    hosts = example["ALLOWED_HOSTS"].split(",")
    assert done.stdout.split() == [example["BIOBANK_MAX_UPLOAD_BYTES"], "|", *hosts]
