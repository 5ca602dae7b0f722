"""Server-side SVG charts (matplotlib): each point links to its record and names it on hover."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from html import escape

from django.utils import timezone
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from biobank.browse.dating import PatientDates
from biobank.browse.timeline import GeneResult, Timeline
from biobank.core.importing import counted
from biobank.exports.dates import DateMode
from biobank.templatetags.browse import day_text, percent
from liquidbiopsy.models import VariantResult

# Text stays text in the SVG, so that the page's font and find-in-page work; the
# figures are built without pyplot, whose global state web threads would share:
SVG_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "biobank"}

MODALITY_COLOURS = {"CT": "#1f77b4", "PT": "#d62728", "MR": "#2ca02c"}
# Twelve colours told apart (Okabe-Ito's seven, then five of Paul Tol's), one for each
# variant the VAF legend names (MAX_NAMED), so that no two named share a colour:
GENE_COLOURS = [
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#000000",
    "#882255",
    "#44aa99",
    "#999933",
    "#332288",
    "#aa4499",
]
TREATMENT_COLOUR = "#f0e442"
MARGIN_DAYS = 20
# The cfDNA panels name at most this many variants (a legend entry or a row label each):
MAX_NAMED = 12
# Longer names are cut in the legend (a long allele ran it over half the figure);
# each point's title still names its variant in full:
LEGEND_NAME_LENGTH = 28
UNNAMED_COLOUR = "#9a9a9a"
# A limit of detection a VAF stayed below: an upper bound, not a value.
BELOW_LIMIT_MARKER = {"marker": "v", "markersize": 8, "markerfacecolor": "white"}


class TimeAxis:
    """Where a patient's dates and moments sit on the x axis, and their hover text.

    Both follow the page's date mode (the table's): calendar or shifted dates on a
    date axis, or days from the patient's day 0 on a numeric one. A date sits at noon
    of its day, a moment at its local time, in every mode; a draw given with a date
    only (BloodSample.drawn) is a date, not a moment at midnight.
    """

    def __init__(self, dates: PatientDates) -> None:
        self.dates = dates
        self.is_relative = dates.dater.mode == DateMode.RELATIVE

    def x(self, value: dt.date) -> dt.datetime | float:
        shown = self.dates.value(value)
        if isinstance(shown, dt.datetime):
            return _local(shown)
        if isinstance(shown, dt.date):
            return dt.datetime.combine(shown, dt.time(12, 0))
        if shown is None:
            # NB: not reached from the page, which draws only dated records, and any
            # dated record gives its patient a day 0.
            raise ValueError(f"Patient {self.dates.key[1]} has no day 0 to count from.")
        return shown + 0.5 if isinstance(shown, int) else float(shown)

    def days(self, days: float) -> dt.timedelta | float:
        """Return a length of `days` in the axis' units."""
        return days if self.is_relative else dt.timedelta(days=days)

    def text(self, value: dt.date) -> str:
        """Return a date as the table beside the chart shows it."""
        return day_text(self.dates.value(value))

    def label(self, ax: Axes) -> None:
        if self.is_relative:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel(f"Days from day 0 ({self.dates.reference_label})")
            return
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_xlabel(
            "Shifted date" if self.dates.dater.mode == DateMode.SHIFTED else "Date"
        )


class Tooltips:
    """Collect the hover text of each record's point; added to the SVG after drawing."""

    def __init__(self) -> None:
        self.titles: dict[str, str] = {}
        self.serial = 0

    def gid(self, text: str) -> str:
        self.serial += 1
        gid = f"rec-{self.serial}"
        self.titles[gid] = text
        return gid

    def apply(self, svg: str) -> str:
        def add_title(match: re.Match) -> str:
            return (
                f"{match.group(0)}<title>{escape(self.titles[match.group(1)])}</title>"
            )

        svg = re.sub(r'<g id="(rec-\d+)">', add_title, svg)
        # Links point into this page; matplotlib would open each in a new window:
        return svg.replace(' target="_blank"', "")


def timeline_svg(
    timeline: Timeline, dates: PatientDates, vaf_scale: str = "linear"
) -> str:
    """Return the timeline chart as inline SVG, each point titled and linked."""
    figure, tips = timeline_figure(timeline, dates, vaf_scale)
    buffer = io.StringIO()
    with rc_context(SVG_SETTINGS):
        figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    return tips.apply(svg)


def timeline_figure(
    timeline: Timeline, dates: PatientDates, vaf_scale: str = "linear"
) -> tuple[Figure, Tooltips]:
    """Draw imaging, CTC counts and cfDNA of one patient on one time axis.

    Dates are placed and named in the mode of `dates`, as the page's tables show them.
    `vaf_scale` is "linear" or "log": fractions below 1 % vanish on a linear axis.
    Draws where a gene was tested but not detected (or below the assay's limit with
    no value) go in their own strip, never on the VAF axis as zero.
    """
    tips, time = Tooltips(), TimeAxis(dates)
    figure = Figure(figsize=(11, 7.5), layout="constrained")
    axes = figure.subplots(
        4, 1, sharex=True, gridspec_kw={"height_ratios": [1.3, 1.4, 1.6, 0.8]}
    )
    imaging, ctc, vaf, untested = axes

    _draw_imaging(imaging, timeline, tips, time)
    _draw_ctc(ctc, timeline, tips, time)
    _draw_vaf(vaf, timeline, tips, time, vaf_scale)
    _draw_calls(untested, timeline, tips, time)
    for ax in axes:
        _draw_treatments(ax, timeline, tips, time, labelled=ax is imaging)

    start, end = _time_span(timeline, time)
    time.label(untested)
    margin = time.days(MARGIN_DAYS)
    try:
        untested.set_xlim(start - margin, end + margin)
    except OverflowError:
        # NB: a filler such as 0001-01-01, refused by every write now but perhaps
        # stored before, leaves no room for a margin before the calendar's start:
        untested.set_xlim(start, end)
    return figure, tips


def _local(moment: dt.datetime) -> dt.datetime:
    return timezone.localtime(moment).replace(tzinfo=None)


def _time_span(timeline: Timeline, time: TimeAxis) -> tuple:
    moments = [study.study_date for study in timeline.studies]
    moments += [sample.drawn for sample in timeline.samples]
    moments += [t.started_on for t in timeline.treatments]
    moments += [t.ended_on for t in timeline.treatments if t.ended_on]
    moments += [event.occurred_on for event in timeline.events]
    xs = [time.x(moment) for moment in moments]
    return min(xs), max(xs)


def _point(ax: Axes, x, y, tips: Tooltips, title: str, anchor: str, **style) -> None:
    ax.plot([x], [y], gid=tips.gid(title), url=f"#{anchor}", linestyle="none", **style)


def _empty(ax: Axes, message: str) -> None:
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="#444",
    )
    ax.set_yticks([])


def _draw_imaging(ax: Axes, timeline: Timeline, tips: Tooltips, time: TimeAxis) -> None:
    modalities = sorted(
        {s.modality for st in timeline.studies for s in st.series.all()}
    )
    rows = {name: index for index, name in enumerate(["Pairs", "Events", *modalities])}
    for study in timeline.studies:
        for modality in sorted({series.modality for series in study.series.all()}):
            _point(
                ax, time.x(study.study_date), rows[modality], tips,
                f"{time.dates.text(modality)} study on {time.text(study.study_date)}: {time.dates.text(study.description) or 'no description'}",
                f"study-{study.pk}",
                marker="s", markersize=9, color=MODALITY_COLOURS.get(modality, "#555"),
            )  # fmt: skip
    for event in timeline.events:
        label = f"{event.get_kind_display()} on {time.text(event.occurred_on)}"
        if event.recist:
            label += f" (RECIST {event.recist})"
        _point(
            ax, time.x(event.occurred_on), rows["Events"], tips, label, f"event-{event.pk}",
            marker="D", markersize=8, color="#7f3c8d",
        )  # fmt: skip
    drawn = {sample.pk: sample.drawn for sample in timeline.samples}
    for pair in timeline.pairs:
        # The link between a study and a draw close enough to be analysed together:
        ax.plot(
            [time.x(pair["study_date"]), time.x(drawn[pair["sample_id"]])], [rows["Pairs"]] * 2,
            color="#333", linewidth=2, marker="|", markersize=12,
            gid=tips.gid(
                f"Synchronous pair: study of {time.text(pair['study_date'])} and draw of "
                f"{time.text(pair['drawn_on'])}, {counted(pair['abs_days_apart'], 'days')} apart"
            ),
            url=f"#sample-{pair['sample_id']}",
        )  # fmt: skip
    # A modality is the series' text (DICOM CS), shown as the patient's free text:
    ax.set_yticks(list(rows.values()), [time.dates.text(name) for name in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_title(
        f"Imaging, clinical events and study–draw pairs within {counted(timeline.window_days, 'days')}",
        loc="left", fontsize=10,
    )  # fmt: skip
    if not timeline.studies and not timeline.events:
        ax.text(0.5, 0.9, "No dated imaging study or event", transform=ax.transAxes, ha="center", color="#444")  # fmt: skip


def _draw_ctc(ax: Axes, timeline: Timeline, tips: Tooltips, time: TimeAxis) -> None:
    points = [
        (time.x(sample.drawn), count, sample)
        for sample in timeline.samples
        for count in sample.ctc_counts.all()
    ]
    ax.set_ylabel("CTCs per 7.5 mL")
    if not points:
        _empty(ax, "No CTC count for this patient")
        return

    points.sort(key=lambda point: point[0])
    ax.plot(
        [p[0] for p in points],
        [p[1].count_per_7_5ml for p in points],
        color="#0072b2",
        linewidth=1.5,
    )
    for drawn, count, sample in points:
        _point(
            ax, drawn, count.count_per_7_5ml, tips,
            f"{count.count} CTCs in {count.blood_volume_ml:g} mL ({time.dates.text(count.platform)}), "
            f"{count.count_per_7_5ml:g} per 7.5 mL, drawn {time.text(timezone.localdate(sample.drawn_at))}",
            f"sample-{sample.pk}",
            marker="o", markersize=7, color="#0072b2",
        )  # fmt: skip
    if timeline.ctc_cutoff is not None:
        ax.axhline(timeline.ctc_cutoff, color="#d55e00", linestyle="--", linewidth=1,
                   label=f"Prognostic cut-off, metastatic disease ({timeline.ctc_cutoff:g} per 7.5 mL)")  # fmt: skip
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_ylim(bottom=0)


def _draw_vaf(
    ax: Axes, timeline: Timeline, tips: Tooltips, time: TimeAxis, scale: str
) -> None:
    ax.set_ylabel("VAF (%)")
    detected = [r for r in timeline.gene_results if r.vaf is not None]
    bounded = [
        r for r in timeline.gene_results
        if r.call == VariantResult.Call.BELOW_LOD and r.limit_of_detection
    ]  # fmt: skip
    if not detected and not bounded:
        _empty(ax, "No detected cfDNA variant for this patient")
        return

    by_gene = {
        gene: sorted((r for r in detected if r.gene == gene), key=lambda r: r.drawn_at)
        for gene in timeline.genes()
    }
    ranked = _ranked_variants(timeline)
    named = ranked[:MAX_NAMED]
    # The named get the first colours; every other variant drawn here, grey:
    colours = _gene_colours(timeline, ranked)
    for gene, mine in by_gene.items():
        if mine:
            ax.plot([time.x(r.drawn) for r in mine], [r.vaf for r in mine],
                    color=colours[gene], linewidth=1.5 if gene in named else 0.8)  # fmt: skip
        for result in mine:
            _point(ax, time.x(result.drawn), result.vaf, tips, _describe(result, time),
                   f"sample-{result.sample_id}", marker="o", markersize=7 if gene in named else 4,
                   color=colours[result.gene], clip_on=False, zorder=3)  # fmt: skip
    for result in bounded:
        # The limit is an upper bound, not a value: an open triangle pointing down,
        # under the detected points (a limit of 50 % hid a VAF of 52 % behind it).
        _point(ax, time.x(result.drawn), result.limit_of_detection, tips, _describe(result, time),
               f"sample-{result.sample_id}", **BELOW_LIMIT_MARKER, color=colours[result.gene],
               zorder=1.5)  # fmt: skip

    if scale == "log":
        ax.set_yscale("log")
        # Labels at 1, 2 and 5 of each decade, in per cent like the linear axis; the
        # other minor ticks stay unlabelled (matplotlib would write them as 4x10^-2):
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value * 100:g}"))
    ax.legend(
        [_legend_mark(bool(by_gene[gene]), colours[gene]) for gene in named],
        [_legend_name(gene) for gene in named],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
        title=_vaf_legend_title(len(named), len(ranked)),
        title_fontsize=8,
    )


def _vaf_legend_title(named: int, drawn: int) -> str:
    """Say what the marks mean and, when some variants go unnamed, which are named."""
    title = "● detected, at its VAF\n▽ below the limit of detection"
    if drawn > named:
        title += (
            f"\n{named} of {drawn} variants named:"
            "\nthose detected in the most"
            "\ndraws, then at the highest VAF,"
            "\nthen those below the limit;"
            f"\nthe other {drawn - named} in grey"
        )
    return title


def _legend_name(name: str) -> str:
    if len(name) <= LEGEND_NAME_LENGTH:
        return name
    return name[: LEGEND_NAME_LENGTH - 1] + "…"


def _ranked_variants(timeline: Timeline) -> list[str]:
    """The variants the VAF panel draws, in the order the legend names them.

    A VCF of hundreds of variants would run the legend off the figure: MAX_NAMED of
    them are named and coloured, those detected in the most draws first (the lines a
    reader follows), then the highest VAF, then those only ever below the limit
    (their ▽ are drawn too, so they count alike); the others are grey, named by the
    title of each point and in the table.
    """
    detected = Counter(r.gene for r in timeline.gene_results if r.vaf is not None)
    highest: dict[str, float] = {}
    for r in timeline.gene_results:
        if r.vaf is not None:
            highest[r.gene] = max(highest.get(r.gene, 0), r.vaf)
    below = Counter(
        r.gene for r in timeline.gene_results
        if r.call == VariantResult.Call.BELOW_LOD and r.limit_of_detection
    )  # fmt: skip
    return sorted(
        set(detected) | set(below),
        key=lambda gene: (
            -detected[gene],
            -highest.get(gene, 0),
            -below[gene],
            gene,
        ),
    )


def _legend_mark(has_line: bool, colour: str) -> Line2D:
    """A legend entry: the line of a detected variant, else the ▽ of one below the limit."""
    if has_line:
        return Line2D([], [], color=colour, linewidth=1.5, marker="o", markersize=5)
    return Line2D([], [], linestyle="none", color=colour, **BELOW_LIMIT_MARKER)


def _draw_calls(ax: Axes, timeline: Timeline, tips: Tooltips, time: TimeAxis) -> None:
    """One row per gene for draws without a VAF: not detected, below limit, failed."""
    genes = timeline.genes()
    without = [
        r for r in timeline.gene_results
        if r.vaf is None and not (r.call == VariantResult.Call.BELOW_LOD and r.limit_of_detection)
    ]  # fmt: skip
    if not without:
        _empty(
            ax,
            "Every tested gene has a value"
            if genes
            else "No cfDNA test for this patient",
        )
        return

    markers = {
        VariantResult.Call.NOT_DETECTED: ("x", "not detected"),
        VariantResult.Call.BELOW_LOD: ("v", "below limit of detection"),
        VariantResult.Call.FAILED: ("$?$", "test failed"),
        VariantResult.Call.DETECTED: ("o", "detected, no VAF reported"),
    }
    colours = _gene_colours(timeline)
    # A row for each variant with a result here, not for every variant tested:
    rows = {
        gene: index
        for index, gene in enumerate(sorted({result.gene for result in without}))
    }
    for result in without:
        marker, _ = markers[result.call]
        _point(ax, time.x(result.drawn), rows[result.gene], tips, _describe(result, time),
               f"sample-{result.sample_id}", marker=marker, markersize=8,
               markerfacecolor="white", color=colours[result.gene])  # fmt: skip
    title = "cfDNA tests without a VAF: × not detected, ▽ below limit, ? failed"
    if len(rows) <= MAX_NAMED:
        ax.set_yticks(list(rows.values()), list(rows.keys()), fontsize=8)
    else:
        # Too many rows to name in the strip: each point's title names its variant.
        ax.set_yticks([])
        title += f" ({len(rows)} variants, named by each point)"
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_title(title, loc="left", fontsize=9)


def _draw_treatments(
    ax: Axes, timeline: Timeline, tips: Tooltips, time: TimeAxis, labelled: bool
) -> None:
    for treatment in timeline.treatments:
        end = treatment.ended_on or treatment.started_on
        ax.axvspan(
            time.x(treatment.started_on) - time.days(0.5),
            time.x(end) + time.days(0.5),
            color=TREATMENT_COLOUR, alpha=0.35, linewidth=0, zorder=0,
            gid=tips.gid(_treatment_text(treatment, time)), url=f"#treatment-{treatment.pk}",
        )  # fmt: skip
        if labelled:
            ax.annotate(
                time.dates.text(treatment.agent) or treatment.get_kind_display(),
                (time.x(treatment.started_on), 1), xycoords=("data", "axes fraction"),
                xytext=(3, -3), textcoords="offset points", fontsize=8, va="top",
            )  # fmt: skip


def _treatment_text(treatment, time: TimeAxis) -> str:
    until = (
        f" to {time.text(treatment.ended_on)}"
        if treatment.ended_on
        else " (one day or ongoing)"
    )
    what = time.dates.text(treatment.agent) or treatment.get_kind_display()
    started = time.text(treatment.started_on)
    return f"{what}: {treatment.get_kind_display()} from {started}{until}"


def _describe(result: GeneResult, time: TimeAxis) -> str:
    drawn = time.text(timezone.localdate(result.drawn_at))
    if result.vaf is not None:
        return f"{result.label}: VAF {percent(result.vaf)} (drawn {drawn})"
    if result.call == VariantResult.Call.BELOW_LOD and result.limit_of_detection:
        return (
            f"{result.gene}: below the limit of detection, VAF < "
            f"{percent(result.limit_of_detection)} (drawn {drawn})"
        )
    call = VariantResult.Call(result.call).label.lower()
    return f"{result.gene}: {call} (drawn {drawn})"


def _gene_colours(
    timeline: Timeline, ranked: list[str] | None = None
) -> dict[str, str]:
    """A colour per variant, the same in every panel; the named ones each their own.

    `ranked` is _ranked_variants(timeline), when the caller has it already.
    """
    if ranked is None:
        ranked = _ranked_variants(timeline)
    order = ranked + sorted(set(timeline.genes()) - set(ranked))
    # Past the twelve colours, grey: a colour used twice would stand for two variants.
    return {
        gene: GENE_COLOURS[i] if i < len(GENE_COLOURS) else UNNAMED_COLOUR
        for i, gene in enumerate(order)
    }
