"""What the OpenAPI schema says beyond drf-spectacular's reading of the views.

The date modes: every read whose dates follow `dates` documents the parameter, and
the rows it returns are described in each mode (shifted and relative rewrite them,
biobank.exports.dates.Dater). The error answers of reads: 400, 403 and 404.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

from biobank.exports.dates import (
    BIRTH_YEAR,
    DATES_PARAMETER,
    PSEUDONYM_FIELDS,
    REFERENCE_COLUMN,
    RELATIVE_SUFFIX,
    DateMode,
    ReferenceKind,
    is_dated_name,
    is_record_keeping,
)
from biobank.exports.records import honours_dates

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "An error: `detail` says what went wrong as a whole; otherwise "
    "each parameter or field at fault has its messages.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}


class BiobankAutoSchema(AutoSchema):
    """drf-spectacular's schema of a view, with `dates` where the view honours it."""

    def get_override_parameters(self) -> list:
        parameters = super().get_override_parameters()
        if self.method == "GET" and honours_dates(self.view):
            from biobank.api.cohorts import DATES_PARAMETERS

            parameters = [*parameters, *DATES_PARAMETERS]
        return parameters


def describe_dates_and_errors(result: dict, generator, request, public) -> dict:
    """Postprocessing hook: describe the rows of dated reads in every date mode and
    declare the error answers of every read."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_COMPONENT] = ERROR_SCHEMA
    dated: set[str] = set()
    for path, operations in result["paths"].items():
        read = operations.get("get")
        if read is None:
            continue
        names = {p["name"] for p in read.get("parameters", []) if p["in"] == "query"}
        declare_errors(read, path, names)
        if DATES_PARAMETER in names:
            for content in read["responses"].get("200", {}).get("content", {}).values():
                _collect_components(content.get("schema", {}), components, dated)
    for name in dated:
        describe_date_modes(components[name])
    return result


def declare_errors(operation: dict, path: str, parameters: set[str]) -> None:
    """Declare the errors a read answers besides 401: a parameter refused (400, every
    read checks `format` and lists their filters), calendar dates asked by a viewer
    (403), and no such record or page (404)."""
    errors = {400: "A query parameter is unknown or its value is refused."}
    if DATES_PARAMETER in parameters:
        errors[403] = f"{DATES_PARAMETER}={DateMode.CALENDAR} asked by a viewer."
    if "{" in path or parameters & {"page", "cursor"}:
        errors[404] = "No such record, or a page past the last one."
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for code, description in errors.items():
        operation["responses"].setdefault(
            str(code),
            {
                "content": {"application/json": {"schema": reference}},
                "description": description,
            },
        )


def _collect_components(schema: object, components: dict, found: set[str]) -> None:
    """Add to `found` the names of the components `schema` holds, at any depth."""
    if isinstance(schema, list):
        for item in schema:
            _collect_components(item, components, found)
        return
    if not isinstance(schema, dict):
        return
    reference = schema.get("$ref")
    if isinstance(reference, str):
        name = reference.rsplit("/", 1)[-1]
        if name not in found and name in components:
            found.add(name)
            _collect_components(components[name], components, found)
    for value in schema.values():
        _collect_components(value, components, found)


def describe_date_modes(component: dict) -> None:
    """Describe a component's rows in each date mode, as Dater.row rewrites them.

    Shifted and relative dates withhold the birth year and record keeping (null);
    relative dates put `<date>_days` in place of each date (so neither is required)
    and `date_reference` after the pseudonym.
    """
    properties = component.get("properties")
    if not properties or REFERENCE_COLUMN in properties:
        return
    required = component.get("required", [])
    described: dict[str, dict] = {}
    for name, field in properties.items():
        described[name] = field
        if name == BIRTH_YEAR or (is_dated_name(name) and is_record_keeping(name)):
            field["nullable"] = True
        elif is_dated_name(name):
            if name in required:
                required.remove(name)
            described[f"{name}{RELATIVE_SUFFIX}"] = {
                "type": "integer" if field.get("format") == "date" else "number",
                "nullable": True,
                "readOnly": True,
                "description": f"With {DATES_PARAMETER}={DateMode.RELATIVE}, in place "
                f"of {name}: days from the patient's reference date "
                f"({REFERENCE_COLUMN}), a fraction of a day for a moment; null "
                "where there is no date or no reference.",
            }
        if name == next((n for n in PSEUDONYM_FIELDS if n in properties), None):
            described[REFERENCE_COLUMN] = {
                "type": "string",
                "enum": [*ReferenceKind.values, None],
                "nullable": True,
                "readOnly": True,
                "description": f"With {DATES_PARAMETER}={DateMode.RELATIVE} only: "
                "what each patient's day 0 is (null for a patient without one).",
            }
    component["properties"] = described
    if "required" in component and not required:
        del component["required"]
