"""The patient timeline page: chart, pairs, records, calls that are not zeros."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from biobank.browse.dating import PatientDates
from biobank.browse.plots import MAX_NAMED, UNNAMED_COLOUR, timeline_figure
from biobank.browse.timeline import load_timeline
from biobank.exports.dates import DateMode, Dater
from liquidbiopsy.models import CfDNAAssay, VariantResult
from patients.models import CancerType, ClinicalEvent, Patient, Treatment
from tests.biobank.conftest import Records
from tests.conftest import grant

DAY = dt.date(2024, 3, 1)
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def logged_in(logged_in, reader, project):
    """The researcher as a curator of the project: these tests read calendar dates."""
    grant(reader, project, "curator")
    return logged_in


@pytest.fixture
def patient(records: Records) -> Patient:
    """A breast cancer patient: a CT, then three draws, a treatment and a progression."""
    patient = records.patient("BR-001", CancerType.BRCA)
    patient.stage = "IV"
    patient.save()
    records.study(patient, DAY)
    near = records.draw(patient, DAY + dt.timedelta(days=3))
    records.ctc(near, 7)
    records.variant(near, "ESR1", "p.D538G")
    later = records.draw(patient, DAY + dt.timedelta(days=60))
    records.ctc(later, 1)
    records.variant(later, "ESR1", "p.D538G", call=VariantResult.Call.NOT_DETECTED)
    VariantResult.objects.filter(call=VariantResult.Call.DETECTED).update(vaf=0.004)
    below = records.draw(patient, DAY + dt.timedelta(days=90))
    records.variant(below, "PIK3CA", "p.H1047R", call=VariantResult.Call.BELOW_LOD)
    CfDNAAssay.objects.filter(sample=below).update(limit_of_detection_vaf=0.001)
    Treatment.objects.create(
        patient=patient,
        kind=Treatment.Kind.HORMONAL,
        agent="fulvestrant",
        started_on=DAY + dt.timedelta(days=10),
        ended_on=DAY + dt.timedelta(days=50),
    )
    ClinicalEvent.objects.create(
        patient=patient,
        kind=ClinicalEvent.Kind.PROGRESSION,
        occurred_on=DAY + dt.timedelta(days=58),
    )
    return patient


def _svg(response) -> ET.Element:
    html = response.content.decode()
    match = re.search(r"<svg.*?</svg>", html, re.S)
    assert match, "no chart in the page"
    return ET.fromstring(match.group(0))  # noqa: S314 -- our own page


def _titles(svg: ET.Element) -> list[str]:
    return [title.text for title in svg.iter(f"{SVG}title")]


def test_timeline_draws_every_record_with_a_hover_title(logged_in, patient):
    response = logged_in.get(f"/patients/{patient.pk}/")

    titles = _titles(_svg(response))
    assert response.status_code == 200
    assert any(t.startswith("CT study on 2024-03-01") for t in titles)
    assert "7 CTCs in 7.5 mL (CellSearch), 7 per 7.5 mL, drawn 2024-03-04" in titles
    assert "ESR1 p.D538G: VAF 0.4 % (drawn 2024-03-04)" in titles
    assert "ESR1 p.D538G: not detected (drawn 2024-04-30)" in titles
    assert (
        "PIK3CA p.H1047R: below the limit of detection, VAF < 0.1 % (drawn 2024-05-30)"
        in titles
    )
    assert any(
        t.startswith("fulvestrant: Hormonal therapy from 2024-03-11 to 2024-04-20")
        for t in titles
    )
    assert "Progression on 2024-04-28" in titles


def test_points_link_to_their_record_in_the_table(logged_in, patient):
    response = logged_in.get(f"/patients/{patient.pk}/")
    html = response.content.decode()

    links = {
        a.get("{http://www.w3.org/1999/xlink}href")
        for a in _svg(response).iter(f"{SVG}a")
    }
    anchors = set(re.findall(r'<tr id="([a-z]+-\d+)"', html))
    assert links
    assert {link.removeprefix("#") for link in links} <= anchors
    assert 'target="_blank"' not in html


def test_pairs_within_the_window_are_linked_and_listed(logged_in, patient):
    narrow = logged_in.get(f"/patients/{patient.pk}/?window_days=2")
    wide = logged_in.get(f"/patients/{patient.pk}/?window_days=7")

    def pair_titles(response) -> list[str]:
        return [t for t in _titles(_svg(response)) if t.startswith("Synchronous pair")]

    assert pair_titles(narrow) == []
    assert (
        "No imaging study and blood draw of this patient lie within 2 days"
        in narrow.content.decode()
    )
    assert pair_titles(wide) == [
        "Synchronous pair: study of 2024-03-01 and draw of 2024-03-04, 3 days apart"
    ]


def test_ctc_panel_shows_the_cellsearch_cutoff_of_the_cancer_type(logged_in, patient):
    html = logged_in.get(f"/patients/{patient.pk}/").content.decode()

    assert "Prognostic cut-off, metastatic disease (5 per 7.5 mL)" in html
    Patient.objects.filter(pk=patient.pk).update(stage="IIa")
    early = logged_in.get(f"/patients/{patient.pk}/").content.decode()
    assert "Prognostic cut-off" not in early


def test_vaf_axis_can_be_logarithmic(logged_in, patient):
    timeline = load_timeline(patient, window_days=30)
    dates = PatientDates(Dater(DateMode.CALENDAR), ("demo", patient.pseudonym))

    linear, _ = timeline_figure(timeline, dates, "linear")
    log, _ = timeline_figure(timeline, dates, "log")
    page = logged_in.get(f"/patients/{patient.pk}/?vaf_scale=log")

    assert linear.axes[2].get_ylabel() == log.axes[2].get_ylabel() == "VAF (%)"
    assert (linear.axes[2].get_yscale(), log.axes[2].get_yscale()) == ("linear", "log")
    # The limit of detection (0.1 %) and the detected 0.4 % both lie inside the log axis:
    bottom, top = log.axes[2].get_ylim()
    assert bottom < 0.001 < 0.004 < top
    # Every label of the log axis is a per-cent number, none in powers of ten:
    log.canvas.draw()
    labels = [
        t.get_text() for t in log.axes[2].get_yticklabels(which="both") if t.get_text()
    ]
    assert labels and all(label.replace(".", "").isdigit() for label in labels), labels
    assert page.status_code == 200


def test_not_detected_is_not_drawn_as_a_zero_vaf(logged_in, records):
    patient = records.patient("ND-1")
    draw = records.draw(patient, DAY)
    records.variant(draw, "KRAS", "p.G12D", call=VariantResult.Call.NOT_DETECTED)

    response = logged_in.get(f"/patients/{patient.pk}/")
    html = response.content.decode()

    assert "No detected cfDNA variant for this patient" in html
    assert "KRAS p.G12D: not detected (drawn 2024-03-01)" in _titles(_svg(response))


def test_a_patient_without_records_gets_a_message_not_a_chart(logged_in, records):
    patient = records.patient("EMPTY-1")

    html = logged_in.get(f"/patients/{patient.pk}/").content.decode()

    assert "<svg" not in html
    assert "No dated record for this patient yet: nothing to draw." in html


def test_a_single_draw_draws_with_messages_for_the_empty_panels(logged_in, records):
    patient = records.patient("ONE-1")
    records.ctc(records.draw(patient, DAY), 4)

    response = logged_in.get(f"/patients/{patient.pk}/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "No detected cfDNA variant for this patient" in html
    assert "No dated imaging study or event" in html
    assert len(_titles(_svg(response))) == 1


def test_bad_settings_are_refused_with_the_defaults_drawn(logged_in, patient):
    response = logged_in.get(f"/patients/{patient.pk}/?window_days=-4&vaf_scale=cubic")

    html = response.content.decode()
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 0." in html
    assert "Select a valid choice." in html
    assert "<svg" in html


def test_unknown_patient_is_404_and_anonymous_visitors_log_in(logged_in, patient):
    assert logged_in.get("/patients/999999/").status_code == 404
    assert Client().get(f"/patients/{patient.pk}/").status_code == 302


def test_undated_studies_are_counted_apart(logged_in, records):
    patient = records.patient("UND-1")
    records.study(patient, None)
    records.draw(patient, DAY)

    html = logged_in.get(f"/patients/{patient.pk}/").content.decode()

    assert "1 imaging study without a usable date is not on the timeline" in html


def test_timeline_query_count_does_not_grow_with_records(logged_in, records):
    patient = records.patient("Q-1")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get(f"/patients/{patient.pk}/").status_code == 200
        return len(captured)

    draw = records.draw(patient, DAY)
    records.ctc(draw, 2)
    records.variant(draw, "EGFR", "p.T790M")
    records.study(patient, DAY)
    few = queries()
    for day in range(1, 8):
        draw = records.draw(patient, DAY + dt.timedelta(days=day * 7))
        records.ctc(draw, day)
        records.variant(draw, "EGFR", "p.T790M")
        records.variant(draw, "KRAS", "p.G12C", call=VariantResult.Call.NOT_DETECTED)
        records.study(patient, DAY + dt.timedelta(days=day * 7))
    assert queries() == few


def test_two_variants_of_one_gene_keep_lines_of_their_own(logged_in, records):
    """A resistance mutation (EGFR p.T790M) must not hide behind p.L858R."""
    patient = records.patient("EG-1")
    draw = records.draw(patient, DAY)
    records.variant(draw, "EGFR", "p.L858R")
    records.variant(draw, "EGFR", "p.T790M")
    VariantResult.objects.filter(protein_change="p.L858R").update(vaf=0.0045)
    VariantResult.objects.filter(protein_change="p.T790M").update(vaf=0.0149)

    titles = _titles(_svg(logged_in.get(f"/patients/{patient.pk}/")))

    assert "EGFR p.L858R: VAF 0.45 % (drawn 2024-03-01)" in titles
    assert "EGFR p.T790M: VAF 1.49 % (drawn 2024-03-01)" in titles


def test_pairs_of_studies_of_the_same_day_name_their_study(logged_in, records):
    patient = records.patient("SAME-DAY")
    described = ["Brain MRI", "Spine MRI", ""]
    studies = [records.study(patient, DAY, "MR") for _ in described]
    for study, description in zip(studies, described, strict=True):
        study.description = description
        study.save()
    records.draw(patient, DAY - dt.timedelta(days=5))

    page = logged_in.get(f"/patients/{patient.pk}/").content.decode()
    table = re.search(r'id="pairs-heading".*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr>.*?</tr>", table, re.S)[1:]

    assert len(rows) == 3
    assert len(set(rows)) == 3
    for study in studies:
        assert f'href="/studies/{study.pk}/"' in table
    assert "Brain MRI" in table and "Spine MRI" in table


@pytest.mark.parametrize("page", ["timeline", "report"])
def test_a_link_shared_with_the_old_window_name_opens_that_window(
    logged_in, patient, page
):
    study = patient.imaging_studies.get()
    path = {
        "timeline": f"/patients/{patient.pk}/",
        "report": f"/patients/{patient.pk}/report/{study.pk}/",
    }[page]

    old = logged_in.get(f"{path}?window=2")
    new = logged_in.get(f"{path}?window_days=2")

    assert old.status_code == new.status_code == 200
    assert old.context["timeline"].window_days == 2
    assert 'name="window_days" value="2"' in old.content.decode()


def test_both_window_names_at_once_are_refused(logged_in, patient):
    response = logged_in.get(f"/patients/{patient.pk}/?window=2&window_days=7")

    assert response.status_code == 400
    assert (
        "window: window is the old name of window_days, which is given too; they "
        "are one setting, so give only one of them." in response.content.decode()
    )


def test_the_report_opens_with_the_timelines_window(logged_in, patient):
    page = logged_in.get(f"/patients/{patient.pk}/?window_days=7").content.decode()

    assert re.search(r'href="/patients/\d+/report/\d+/\?window_days=7"', page)


def test_one_of_each_is_said_in_the_singular(logged_in, records):
    patient = records.patient("ONE-2")
    records.study(patient, DAY)
    records.ctc(records.draw(patient, DAY + dt.timedelta(days=1)), 4)
    Treatment.objects.create(
        patient=patient, kind=Treatment.Kind.HORMONAL, agent="letrozole",
        started_on=DAY + dt.timedelta(days=5),
    )  # fmt: skip

    one = logged_in.get(f"/patients/{patient.pk}/?window_days=1")
    none = logged_in.get(f"/patients/{patient.pk}/?window_days=0").content.decode()

    assert (
        "1 dated imaging study, 1 blood draw, 1 treatment, 1 synchronous pair "
        "within 1 day." in one.content.decode()
    )
    assert "Synchronous pairs within 1 day</h2>" in one.content.decode()
    assert any(t.endswith(", 1 day apart") for t in _titles(_svg(one)))
    assert "0 synchronous pairs within 0 days." in none
    assert "lie within 0 days of each other" in none


def test_a_draw_given_without_a_time_shows_its_day_alone(logged_in, records):
    """A date-only draw is stored at local midnight with is_time_known False."""
    patient = records.patient("DO-1", CancerType.BRCA)
    patient.stage = "IV"
    patient.save()
    records.study(patient, DAY)
    day_only = records.draw(patient, DAY + dt.timedelta(days=3), at=None)
    records.ctc(day_only, 7)
    # A draw really taken at midnight keeps its time:
    midnight = records.draw(patient, DAY + dt.timedelta(days=5), at=dt.time(0, 0))
    records.ctc(midnight, 2)

    html = logged_in.get(f"/patients/{patient.pk}/").content.decode()
    relative = logged_in.get(f"/patients/{patient.pk}/?dates=relative")

    assert re.search(r"Drawn 2024-03-04\s", html)
    assert "2024-03-04 00:00" not in html
    assert "Drawn 2024-03-06 00:00" in html
    assert re.search(r"Drawn day 3\s", relative.content.decode())
    assert "Drawn day 5 00:00" in relative.content.decode()
    assert str(day_only) == "Draw of DO-1 on 2024-03-04"
    # On the chart the day sits at noon, as every date does; the moment at its time:
    timeline = load_timeline(patient, window_days=30)
    dates = PatientDates(Dater(DateMode.CALENDAR), ("demo", patient.pseudonym))
    figure, _ = timeline_figure(timeline, dates)
    assert list(figure.axes[1].lines[0].get_xdata()) == [
        dt.datetime(2024, 3, 4, 12, 0),
        dt.datetime(2024, 3, 6, 0, 0),
    ]


def _draw_row(page: str, draw) -> str:
    """The text of the draw's row in the table of records, its spaces folded."""
    row = re.search(rf'<tr id="sample-{draw.pk}"[^>]*>(.*?)</tr>', page, re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", row[1])).split())


def test_a_draw_is_named_by_its_lab_sample_id_as_stored_to_a_curator(
    logged_in, records
):
    patient = records.patient("ID-1")
    named = records.draw(patient, DAY, external_sample_id="PL-2024-03-01")
    named.timepoint = "Baseline"
    named.save()
    unnamed = records.draw(patient, DAY + dt.timedelta(days=2))

    page = logged_in.get(f"/patients/{patient.pk}/").content.decode()

    assert "PL-2024-03-01, drawn 2024-03-01 09:00 (Baseline)" in _draw_row(page, named)
    assert "Drawn 2024-03-03 09:00 No result yet" in _draw_row(page, unnamed)


@pytest.mark.parametrize("mode", ["shifted", "relative"])
def test_a_viewer_sees_no_calendar_date_in_a_draw_s_lab_sample_id(
    logged_in, reader, project, records, mode
):
    """As the cohort page's Sample column shows it (cohorts/draw_name.html)."""
    grant(reader, project, "viewer")
    patient = records.patient("ID-1")
    draw = records.draw(patient, DAY, external_sample_id="PL-2024-03-01")
    draw.timepoint = "1 Mar 2024 pre-op"
    draw.save()

    page = logged_in.get(f"/patients/{patient.pk}/?dates={mode}").content.decode()

    row = _draw_row(page, draw)
    assert re.search(r"PL-\[date\], drawn (day )?\S+ 09:00 \(\[date\] pre-op\)", row)
    assert "2024-03-01" not in page
    assert "1 Mar 2024" not in page


@pytest.mark.parametrize("mode", ["calendar", "shifted", "relative"])
def test_a_filler_date_stored_before_writes_refused_it_does_not_break_the_timeline(
    logged_in, patient, mode
):
    """0001-01-01 on a treatment and a diagnosis fell off the calendar when shifted.

    Writes refuse such a date now (tests/test_admin.py); one stored before stays.
    """
    filler = dt.date(1, 1, 1)
    Treatment.objects.filter(patient=patient).update(started_on=filler)
    Patient.objects.filter(pk=patient.pk).update(diagnosis_on=filler)

    page = logged_in.get(f"/patients/{patient.pk}/?dates={mode}")
    api = logged_in.get(f"/api/patients/{patient.pseudonym}/timeline/?dates={mode}")

    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    assert api.status_code == 200


def test_variants_of_no_gene_are_named_by_their_genomic_change(logged_in, records):
    """A VCF without CSQ/ANN annotation stores no gene: each variant keeps a line of its own."""
    patient = records.patient("VCF-1")
    draw = records.draw(patient, DAY)
    for change, vaf in (("1:204429832 C>A", 0.071), ("7:55259515 T>G", 0.13)):
        variant = records.variant(draw, "", "")
        VariantResult.objects.filter(pk=variant.pk).update(
            gene_hgnc="", variant_key=change, genomic_change=change, vaf=vaf
        )

    response = logged_in.get(f"/patients/{patient.pk}/")
    titles = _titles(_svg(response))
    page = response.content.decode()

    assert "1:204429832 C>A: VAF 7.1 % (drawn 2024-03-01)" in titles
    assert "7:55259515 T>G: VAF 13 % (drawn 2024-03-01)" in titles
    assert "1:204429832 C&gt;A detected (VAF 7.1 %)" in page


def test_a_vcf_of_many_variants_names_only_the_highest_and_lists_no_row_twice(records):
    """240 variants of one VCF ran the legend off the figure and filled the call strip."""
    patient = records.patient("VCF-240")
    draw = records.draw(patient, DAY)
    for number in range(40):
        change = f"1:{1000 + number} C>A"
        variant = records.variant(draw, "", "")
        VariantResult.objects.filter(pk=variant.pk).update(
            gene_hgnc="",
            variant_key=change,
            genomic_change=change,
            vaf=0.1 + number / 100,
        )
    # Followed over two draws at a lower VAF: the line a reader follows, named first.
    later = records.draw(patient, DAY + dt.timedelta(days=30))
    for sample in (draw, later):
        records.variant(sample, "KRAS", "p.G12C")
    VariantResult.objects.filter(gene="KRAS").update(vaf=0.01)
    for number, call in enumerate(["not-detected", "below-lod"]):
        change = f"2:{1000 + number} G>T"
        variant = records.variant(draw, "", "", call=call)
        VariantResult.objects.filter(pk=variant.pk).update(
            gene_hgnc="", variant_key=change, genomic_change=change
        )
    timeline = load_timeline(patient, window_days=30)
    dates = PatientDates(Dater(DateMode.CALENDAR), ("demo", patient.pseudonym))

    figure, _ = timeline_figure(timeline, dates)

    vaf, calls = figure.axes[2], figure.axes[3]
    named = [text.get_text() for text in vaf.get_legend().get_texts()]
    assert named[:3] == ["KRAS p.G12C", "1:1039 C>A", "1:1038 C>A"]
    assert len(named) == 12
    assert "12 of 41 variants named" in vaf.get_legend().get_title().get_text()
    # The variants not named are grey, so that no colour stands for two of them:
    colours = [
        line.get_color() for line in vaf.get_lines() if line.get_linestyle() != "None"
    ]
    assert colours.count(UNNAMED_COLOUR) == 41 - 12
    named_colours = [c for c in colours if c != UNNAMED_COLOUR]
    assert len(set(named_colours)) == 12  # each named variant a colour of its own
    # Only the two variants without a VAF get a row of the strip, named:
    assert [label.get_text() for label in calls.get_yticklabels()] == [
        "2:1000 G>T",
        "2:1001 G>T",
    ]
    # In no colour of a named variant (past the twelve colours, all are grey):
    strip = {line.get_color() for line in calls.get_lines()}
    assert strip == {UNNAMED_COLOUR}


def _legend(ax) -> dict[str, str]:
    """Each name of the VAF legend with the marker of its entry (o: line, v: limit)."""
    legend = ax.get_legend()
    return {
        text.get_text(): handle.get_marker()
        for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True)
    }


def test_a_variant_only_ever_below_the_limit_is_named_with_its_triangle(patient):
    """The chart draws PIK3CA's ▽ in a colour of its own, so the legend names it."""
    timeline = load_timeline(patient, window_days=30)
    dates = PatientDates(Dater(DateMode.CALENDAR), ("demo", patient.pseudonym))

    figure, _ = timeline_figure(timeline, dates)

    vaf = figure.axes[2]
    assert _legend(vaf) == {"ESR1 p.D538G": "o", "PIK3CA p.H1047R": "v"}
    title = vaf.get_legend().get_title().get_text()
    assert title == "● detected, at its VAF\n▽ below the limit of detection"


def test_the_legend_counts_every_variant_the_vaf_panel_draws(records):
    patient = records.patient("VCF-15")
    draw = records.draw(patient, DAY)
    for number in range(MAX_NAMED + 1):
        variant = records.variant(draw, "", "")
        change = f"1:{1000 + number} C>A"
        VariantResult.objects.filter(pk=variant.pk).update(
            gene_hgnc="", variant_key=change, genomic_change=change, vaf=0.1
        )
    for number in range(2):
        variant = records.variant(draw, "", "", call=VariantResult.Call.BELOW_LOD)
        change = f"2:{1000 + number} G>T"
        VariantResult.objects.filter(pk=variant.pk).update(
            gene_hgnc="", variant_key=change, genomic_change=change
        )
    CfDNAAssay.objects.filter(sample=draw).update(limit_of_detection_vaf=0.005)
    timeline = load_timeline(patient, window_days=30)
    dates = PatientDates(Dater(DateMode.CALENDAR), ("demo", patient.pseudonym))

    figure, _ = timeline_figure(timeline, dates)

    vaf = figure.axes[2]
    drawn = MAX_NAMED + 3
    title = vaf.get_legend().get_title().get_text()
    assert f"{MAX_NAMED} of {drawn} variants named" in title
    assert f"the other {drawn - MAX_NAMED} in grey" in title
    assert len(_legend(vaf)) == MAX_NAMED
    # Every point the legend leaves unnamed is grey, the two limits among them:
    marks = [line for line in vaf.get_lines() if line.get_linestyle() == "None"]
    grey = [line.get_marker() for line in marks if line.get_color() == UNNAMED_COLOUR]
    assert sorted(grey) == ["o", "v", "v"]


def test_a_long_name_is_cut_in_the_legend_and_a_limit_lies_under_the_values(records):
    """A 60-letter allele took half the figure; a 50 % limit hid a 52 % VAF."""
    patient = records.patient("VCF-LONG")
    draw = records.draw(patient, DAY)
    change = "13:28608242 A>" + "ACGT" * 15
    variant = records.variant(draw, "", "")
    VariantResult.objects.filter(pk=variant.pk).update(
        gene_hgnc="", variant_key=change, genomic_change=change, vaf=0.52
    )
    below = records.variant(draw, "", "", call=VariantResult.Call.BELOW_LOD)
    VariantResult.objects.filter(pk=below.pk).update(
        gene_hgnc="", variant_key="2:1000 G>T", genomic_change="2:1000 G>T"
    )
    CfDNAAssay.objects.filter(sample=draw).update(limit_of_detection_vaf=0.5)
    timeline = load_timeline(patient, window_days=30)
    dates = PatientDates(Dater(DateMode.CALENDAR), ("demo", patient.pseudonym))

    figure, _ = timeline_figure(timeline, dates)

    vaf = figure.axes[2]
    (long_name, _limit) = _legend(vaf)
    assert long_name == change[:27] + "…"
    marks = [line for line in vaf.get_lines() if line.get_linestyle() == "None"]
    value = next(line for line in marks if line.get_marker() == "o")
    limit = next(line for line in marks if line.get_marker() == "v")
    assert value.get_zorder() > limit.get_zorder()
    assert not value.get_clip_on()  # a value at the top of the axis is drawn whole
