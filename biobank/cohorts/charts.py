"""Server-side SVG charts of a cohort analysis: a correlation heatmap and box plots."""

from __future__ import annotations

import io
import textwrap

import matplotlib
import numpy as np
from matplotlib import rc_context
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from biobank.browse.plots import SVG_SETTINGS, Tooltips
from biobank.cohorts.analysis import FEATURE_PREFIX, Correlation, Groups, Marker

# Diverging, centred on 0 by a symmetric scale; grey marks a cell without rho.
RHO_COLOURS = matplotlib.colormaps["RdBu_r"]
RHO_SCALE = Normalize(vmin=-1, vmax=1)
NO_RHO_COLOUR = "#d9d9d9"
GROUP_COLOURS = ("#d55e00", "#0072b2")
# Beyond this many markers the cells are too narrow to write in; the table has the values.
MOST_ANNOTATED_MARKERS = 12


def feature_label(column: str) -> str:
    return column.removeprefix(FEATURE_PREFIX)


def cell_anchor(index: int) -> str:
    """Id of the table row of the correlation at `index`, which each cell links to."""
    return f"correlation-{index + 1}"


def heatmap_svg(
    cells: list[Correlation], features: list[str], markers: list[Marker]
) -> str:
    """Draw rho of every feature (rows) and marker (columns) as inline SVG.

    Each cell shows rho and n, a star when q < 0.05, and links to its table row.
    """
    tips = Tooltips()
    width = min(4.5 + 1.5 * len(markers), 14)
    height = min(2.8 + 0.55 * len(features), 16)
    figure = Figure(figsize=(width, height), layout="constrained")
    ax = figure.subplots()

    annotated = len(markers) <= MOST_ANNOTATED_MARKERS
    for index, cell in enumerate(cells):
        row, column = features.index(cell.feature), markers.index(cell.marker)
        gid = tips.gid(_describe(cell))
        _draw_cell(ax, row, column, cell, gid, cell_anchor(index), annotated)

    ax.set_xlim(-0.5, len(markers) - 0.5)
    ax.set_ylim(len(features) - 0.5, -0.5)
    ax.set_xticks(
        range(len(markers)), [m.axis_label for m in markers], rotation=25, ha="right"
    )
    ax.set_yticks(range(len(features)), [feature_label(f) for f in features])
    ax.set_xlabel("Liquid-biopsy marker of the paired draw")
    ax.set_ylabel("Radiomic feature")
    ax.set_title(
        "Spearman ρ; * q < 0.05 (Benjamini–Hochberg over the table)",
        loc="left",
        fontsize=10,
    )

    colour_bar = figure.colorbar(
        ScalarMappable(RHO_SCALE, RHO_COLOURS), ax=ax, shrink=0.9
    )
    colour_bar.set_label("Spearman ρ (−1 to 1)")
    figure.legend(
        handles=[Patch(facecolor=NO_RHO_COLOUR, label="No ρ: n < 3 or a constant")],
        loc="outside lower left", fontsize=8, frameon=False,
    )  # fmt: skip
    return _svg(figure, tips)


def _draw_cell(
    ax,
    row: int,
    column: int,
    cell: Correlation,
    gid: str,
    anchor: str,
    annotated: bool,
) -> None:
    colour = NO_RHO_COLOUR if cell.rho is None else RHO_COLOURS(RHO_SCALE(cell.rho))
    ax.add_patch(
        Rectangle(
            (column - 0.5, row - 0.5), 1, 1, facecolor=colour, edgecolor="white",
            gid=gid, url=f"#{anchor}",
        )
    )  # fmt: skip
    if not annotated:
        return

    if cell.rho is None:
        text = f"no ρ\nn = {cell.n}"
    else:
        star = "*" if cell.is_significant else ""
        text = f"{cell.rho:.2f}{star}\nn = {cell.n}"
    dark = cell.rho is not None and abs(cell.rho) > 0.6
    ax.text(column, row, text, ha="center", va="center", fontsize=8,
            color="white" if dark else "#1a1a1a")  # fmt: skip


def _describe(cell: Correlation) -> str:
    name = f"{feature_label(cell.feature)} and {cell.marker.label}"
    if cell.rho is None:
        return f"{name}: {cell.reason}"
    return (
        f"{name}: ρ = {cell.rho:.3f}, p = {cell.p:.3g}, q = {cell.q:.3g}, n = {cell.n}"
    )


def boxplot_svg(groups: Groups) -> str:
    """Draw the feature's values by the gene's call: boxes of two or more, every point shown."""
    tips = Tooltips()
    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = figure.subplots()
    samples = (groups.detected, groups.not_detected)
    names = (groups.detected_names, groups.not_detected_names)

    boxed = [position for position, values in enumerate(samples) if len(values) >= 2]
    if boxed:
        ax.boxplot(
            [samples[position] for position in boxed], positions=boxed, widths=0.5,
            showfliers=False, medianprops={"color": "#1a1a1a"},
        )  # fmt: skip
    for position, values in enumerate(samples):
        # Spread evenly across the box, so points with equal values stay apart:
        offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else [0.0]
        for offset, value, name in zip(offsets, values, names[position], strict=False):
            ax.plot(
                [position + offset], [value], marker="o", markersize=5, alpha=0.8,
                linestyle="none", color=GROUP_COLOURS[position],
                gid=tips.gid(f"{name}: {value:g}"),
            )  # fmt: skip
        if len(values) < 2:
            what = "no value" if not values else "one value, no box"
            ax.annotate(what, (position, 0), xycoords=("data", "axes fraction"),
                        xytext=(0, 6), textcoords="offset points", ha="center", fontsize=8, color="#444")  # fmt: skip

    labels = [
        f"{textwrap.fill(label, 20)}\n(n = {len(values)})"
        for label, values in zip(groups.labels, samples, strict=True)
    ]
    ax.set_xticks([0, 1], labels)
    ax.set_xlim(-0.6, 1.6)
    ax.set_xlabel(f"{groups.gene} call in the paired draw (untested draws left out)")
    ax.set_ylabel(f"{feature_label(groups.feature)}\n(units of the extraction engine)")
    ax.legend(
        handles=[Patch(facecolor="white", edgecolor="#1a1a1a", label="Box: quartiles, whiskers 1.5 IQR")],
        loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False,
    )  # fmt: skip
    return _svg(figure, tips)


def _svg(figure: Figure, tips: Tooltips) -> str:
    buffer = io.StringIO()
    with rc_context(SVG_SETTINGS):
        figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return tips.apply(svg[svg.index("<svg") :])
