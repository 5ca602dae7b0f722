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


@register.filter
def percent(fraction: float | None) -> str:
    """Show a fraction (VAF 0.0207) as the per cent the charts use (2.07 %)."""
    if fraction is None:
        return "–"
    return f"{float(fraction) * 100:.3g} %"
