"""Template filters of the researcher pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def significant(value: float | None, digits: int = 6) -> str:
    """Format a measurement with `digits` significant digits (12.5, 0.000123, 1.5e+06)."""
    if value is None:
        return "–"
    return f"{float(value):.{int(digits)}g}"
