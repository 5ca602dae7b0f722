"""Radiomic signatures: hand-computed scores, labels, completeness, rescoring, import."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.models import Patient
from radiomics.importers.pyradiomics_csv import import_pyradiomics
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureValue,
    RadiomicSignature,
    SignatureScore,
    SignatureTerm,
)
from radiomics.signatures import (
    SignatureError,
    find_feature,
    read_definition,
    rescore_extractions,
    score_signature,
    score_signatures,
)
from tests.conftest import REPO

DONE = FeatureExtraction.Status.DONE
_serial = itertools.count(1)

# Weights and values are sums of powers of two, so every score below is exact in
# floating point and a score equal to the cut-off is exactly equal:
ENERGY = "original_firstorder_Energy"
SPHERICITY = "original_shape_Sphericity"
GLNU = "original_glrlm_GrayLevelNonUniformity"
WAVELET_GLNU = "wavelet-HLH_glrlm_GrayLevelNonUniformity"
WEIGHTS = {ENERGY: 2.0, SPHERICITY: -1.5, GLNU: 0.25}
INTERCEPT = 0.5


@pytest.fixture
def features(db) -> dict[str, FeatureDefinition]:
    specs = [
        (ENERGY, "firstorder", "Energy", "original", "N8CA"),
        (SPHERICITY, "shape", "Sphericity", "original", "QCFX"),
        (GLNU, "glrlm", "GrayLevelNonUniformity", "original", "R5YN"),
        (WAVELET_GLNU, "glrlm", "GrayLevelNonUniformity", "wavelet-HLH", "R5YN"),
    ]
    return {
        name: FeatureDefinition.objects.create(
            name=name,
            family=family,
            feature_name=feature_name,
            image_filter=image_filter,
            ibsi_code=code,
        )
        for name, family, feature_name, image_filter, code in specs
    }


@pytest.fixture
def patient(project) -> Patient:
    return Patient.objects.create(project=project, pseudonym="SIG-001", source_key="k1")


@pytest.fixture
def make_extraction(patient, features):
    """Store an extraction and its values in bulk, as the writers do (no signals)."""

    def make(values: dict[str, float], status: str = DONE) -> FeatureExtraction:
        [extraction] = FeatureExtraction.objects.bulk_create(
            [
                FeatureExtraction(
                    patient=patient,
                    software="PyRadiomics",
                    fingerprint=f"extraction-{next(_serial)}",
                    status=status,
                )
            ]
        )
        FeatureValue.objects.bulk_create(
            FeatureValue(extraction=extraction, feature=features[name], value=value)
            for name, value in values.items()
        )
        return extraction

    return make


@pytest.fixture
def signature(features, django_capture_on_commit_callbacks) -> RadiomicSignature:
    with django_capture_on_commit_callbacks(execute=True):
        signature = RadiomicSignature.objects.create(
            name="test signature",
            intercept=INTERCEPT,
            cutoff=7.75,
            label_below="low",
            label_above="high",
        )
        for name, weight in WEIGHTS.items():
            SignatureTerm.objects.create(
                signature=signature, feature=features[name], weight=weight
            )
    return signature


def score_of(signature: RadiomicSignature, extraction: FeatureExtraction):
    return SignatureScore.objects.filter(
        signature=signature, extraction=extraction
    ).first()


# Scores and labels


def test_score_is_intercept_plus_weighted_values(signature, make_extraction):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})

    result = score_signature(signature)

    # 0.5 + 2 x 3 - 1.5 x 0.5 + 0.25 x 8 = 7.75
    assert score_of(signature, extraction).score == 7.75
    assert result.scored == 1


def test_score_at_the_cutoff_gets_the_label_above(signature, make_extraction):
    at_cutoff = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})
    below = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 7.0})

    score_signature(signature)

    assert score_of(signature, at_cutoff).label == "high"
    # 7.75 - 0.25 x 1 = 7.5:
    assert (score_of(signature, below).score, score_of(signature, below).label) == (
        7.5,
        "low",
    )


def test_signature_without_cutoff_gives_no_label(signature, make_extraction):
    extraction = make_extraction({ENERGY: 1.0, SPHERICITY: 2.0, GLNU: 4.0})
    RadiomicSignature.objects.filter(pk=signature.pk).update(cutoff=None)
    signature.refresh_from_db()

    score_signature(signature)

    # 0.5 + 2 - 3 + 1 = 0.5
    assert (
        score_of(signature, extraction).score,
        score_of(signature, extraction).label,
    ) == (
        0.5,
        "",
    )


def test_extraction_lacking_a_feature_is_not_scored(signature, make_extraction):
    incomplete = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5})
    unrelated = make_extraction({WAVELET_GLNU: 1.0})

    result = score_signature(signature)

    assert score_of(signature, incomplete) is None
    assert result.incomplete == [incomplete.pk]
    assert score_of(signature, unrelated) is None


def test_unfinished_extractions_are_not_scored(signature, make_extraction):
    values = {ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0}
    running = make_extraction(values, status=FeatureExtraction.Status.RUNNING)
    failed = make_extraction(values, status=FeatureExtraction.Status.FAILED)

    score_signature(signature)

    assert score_of(signature, running) is None
    assert score_of(signature, failed) is None


# Rescoring on each kind of change


def test_signature_and_terms_saved_together_are_scored_once_on_commit(
    features, make_extraction, django_capture_on_commit_callbacks
):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            signature = RadiomicSignature.objects.create(name="new", intercept=0.5)
            for name, weight in WEIGHTS.items():
                SignatureTerm.objects.create(
                    signature=signature, feature=features[name], weight=weight
                )

    assert len(callbacks) == 1
    assert score_of(signature, extraction).score == 7.75


def test_rolled_back_change_does_not_hold_back_the_next_rescoring(
    signature, make_extraction, django_capture_on_commit_callbacks
):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            signature.intercept = 10.0
            signature.save()
            raise RuntimeError("rolled back")
        signature.refresh_from_db()
        signature.cutoff = 8.0
        signature.save()

    score = score_of(signature, extraction)
    assert (score.score, score.label) == (7.75, "low")


def test_saved_value_rescores_its_extraction(
    signature, make_extraction, django_capture_on_commit_callbacks
):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})
    score_signature(signature)
    value = extraction.values.get(feature__name=GLNU)

    with django_capture_on_commit_callbacks(execute=True):
        value.value = 12.0
        value.save()

    # 7.75 + 0.25 x 4 = 8.75
    assert score_of(signature, extraction).score == 8.75


def test_value_deleted_in_the_admin_removes_the_score(
    signature, make_extraction, client, curator
):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})
    score_signature(signature)
    value = extraction.values.get(feature__name=GLNU)
    client.force_login(curator)

    response = client.post(
        reverse("admin:radiomics_featurevalue_delete", args=[value.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert score_of(signature, extraction) is None


def test_edited_term_and_removed_term_rescore(
    signature, features, make_extraction, django_capture_on_commit_callbacks
):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})
    score_signature(signature)
    term = signature.terms.get(feature__name=GLNU)

    with django_capture_on_commit_callbacks(execute=True):
        term.weight = 0.5
        term.save()
    # 0.5 + 6 - 0.75 + 0.5 x 8 = 9.75
    assert score_of(signature, extraction).score == 9.75

    with django_capture_on_commit_callbacks(execute=True):
        signature.terms.get(feature__name=SPHERICITY).delete()
    # 0.5 + 6 + 4 = 10.5
    assert score_of(signature, extraction).score == 10.5


def test_edited_intercept_and_cutoff_rescore(
    signature, make_extraction, django_capture_on_commit_callbacks
):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})
    score_signature(signature)

    with django_capture_on_commit_callbacks(execute=True):
        signature.intercept = -1.0
        signature.cutoff = 5.0
        signature.save()

    # 7.75 - 1.5 = 6.25, above the new cut-off 5:
    score = score_of(signature, extraction)
    assert (score.score, score.label) == (6.25, "high")


def test_rerun_extraction_loses_its_score_until_rescored(
    signature, make_extraction, django_capture_on_commit_callbacks
):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})
    score_signature(signature)

    # The job starts again: old values are stale until the new ones are written.
    with django_capture_on_commit_callbacks(execute=True):
        extraction.status = FeatureExtraction.Status.RUNNING
        extraction.save(update_fields=["status"])
    assert score_of(signature, extraction) is None

    # The writer replaces the values in bulk, marks the extraction done, rescores:
    extraction.values.filter(feature__name=ENERGY).update(value=4.0)
    FeatureExtraction.objects.filter(pk=extraction.pk).update(status=DONE)
    rescore_extractions([extraction.pk])
    # 7.75 + 2 x 1 = 9.75
    assert score_of(signature, extraction).score == 9.75


def test_progress_reports_do_not_rescore(
    signature, make_extraction, django_capture_on_commit_callbacks
):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})

    with django_capture_on_commit_callbacks() as callbacks:
        extraction.progress = 40
        extraction.save(update_fields=["progress"])

    assert callbacks == []


def test_deleting_an_extraction_deletes_values_without_loading_them(
    signature, make_extraction
):
    small = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})
    score_signature(signature)
    large = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0, WAVELET_GLNU: 1})
    score_signature(signature)

    with CaptureQueriesContext(connection) as small_delete:
        small.delete()
    with CaptureQueriesContext(connection) as large_delete:
        large.delete()

    value_reads = [
        query["sql"]
        for query in large_delete.captured_queries
        if query["sql"].startswith("SELECT") and "featurevalue" in query["sql"]
    ]
    assert value_reads == []
    assert len(small_delete.captured_queries) == len(large_delete.captured_queries)
    assert not SignatureScore.objects.exists()


def test_pyradiomics_import_scores_the_new_extractions(signature, project, tmp_path):
    path = tmp_path / "features.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "Image", "Mask", ENERGY, SPHERICITY, GLNU])
        writer.writerow(["P1", "p1.nrrd", "p1_mask.nrrd", "3", "0.5", "8"])
        writer.writerow(["P2", "p2.nrrd", "p2_mask.nrrd", "3", "0.5", ""])

    import_pyradiomics(path, project, create_patients=True)

    scores = dict(
        SignatureScore.objects.filter(signature=signature).values_list(
            "extraction__mask_reference", "score"
        )
    )
    # The mask path is stored without the patient ID P1 (docs/pyradiomics_imports.md):
    assert scores == {"[redacted]_mask.nrrd": 7.75}


def test_scoring_queries_do_not_grow_with_extractions(signature, make_extraction):
    values = {ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0}
    few = [make_extraction(values).pk for _ in range(2)]
    with CaptureQueriesContext(connection) as scoring_few:
        score_signatures()
        rescore_extractions(few)

    many = [make_extraction(values).pk for _ in range(30)]
    with CaptureQueriesContext(connection) as scoring_many:
        score_signatures()
        rescore_extractions(many)

    assert len(scoring_many.captured_queries) == len(scoring_few.captured_queries)
    assert SignatureScore.objects.count() == 32


# Definition files and commands


def write_definition(tmp_path: Path, name: str = "sig.json", **changes) -> Path:
    data = {
        "name": "file signature",
        "description": "A test signature.",
        "reference": "Hand-made for the tests.",
        "intercept": 0.5,
        "cutoff": 7.75,
        "labels": {"below": "low", "above": "high"},
        "terms": [
            {"feature": ENERGY, "weight": 2.0},
            {"ibsi_code": "QCFX", "weight": -1.5},
            {"ibsi_code": "R5YN", "image_filter": "original", "weight": 0.25},
        ],
    } | changes
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_import_signature_creates_terms_by_name_and_ibsi_code_and_scores(
    features, make_extraction, tmp_path, capsys, django_capture_on_commit_callbacks
):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})

    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_signature", str(write_definition(tmp_path)))

    signature = RadiomicSignature.objects.get(name="file signature")
    assert dict(signature.terms.values_list("feature__name", "weight")) == WEIGHTS
    assert (signature.label_below, signature.label_above) == ("low", "high")
    assert score_of(signature, extraction).score == 7.75


def test_reimporting_the_same_file_changes_nothing(
    features, make_extraction, tmp_path, capsys, django_capture_on_commit_callbacks
):
    make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})
    path = write_definition(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_signature", str(path))
    signature = RadiomicSignature.objects.get(name="file signature")
    computed_at = SignatureScore.objects.get().computed_at
    capsys.readouterr()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_command("import_signature", str(path))

    assert callbacks == []
    assert signature.history.count() == 1
    assert SignatureScore.objects.get().computed_at == computed_at
    assert "unchanged" in capsys.readouterr().out


def test_changed_file_updates_the_signature_and_rescores(
    features, make_extraction, tmp_path, django_capture_on_commit_callbacks
):
    extraction = make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_signature", str(write_definition(tmp_path)))

    changed = write_definition(
        tmp_path,
        intercept=1.5,
        terms=[{"feature": ENERGY, "weight": 2.0}, {"feature": GLNU, "weight": 0.5}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_signature", str(changed))

    signature = RadiomicSignature.objects.get(name="file signature")
    assert dict(signature.terms.values_list("feature__name", "weight")) == {
        ENERGY: 2.0,
        GLNU: 0.5,
    }
    # 1.5 + 6 + 4 = 11.5
    assert score_of(signature, extraction).score == 11.5


def test_bad_definition_names_file_term_and_field(features, tmp_path):
    path = write_definition(
        tmp_path,
        "bad.json",
        cutoff="high",
        terms=[
            {"feature": ENERGY, "weight": "2"},
            {"ibsi_code": "ZZZZ", "weight": 1.0},
            {"ibsi_code": "R5YN", "image_filter": "wavelet-HLH", "weight": 1.0},
            {"feature": SPHERICITY, "ibsi_code": "QCFX", "weight": 1.0},
        ],
    )

    with pytest.raises(CommandError) as raised:
        call_command("import_signature", str(path))

    message = str(raised.value)
    assert "bad.json: field 'cutoff' must be a number" in message
    assert f"bad.json: term 1 ({ENERGY}): field 'weight' must be a number" in message
    assert "bad.json: term 2 (ZZZZ): field 'ibsi_code': no original feature" in message
    assert "term 4" in message and "not both" in message
    assert not RadiomicSignature.objects.exists()


def test_ambiguous_ibsi_code_asks_for_the_feature_name(features):
    FeatureDefinition.objects.create(
        name="mirp_rlm_glnu",
        family="glrlm",
        feature_name="glnu",
        ibsi_code="R5YN",
    )

    with pytest.raises(SignatureError, match="names several features"):
        from radiomics.signatures import find_feature

        find_feature(ibsi_code="R5YN")


def test_yaml_definition_is_read(features, tmp_path):
    pytest.importorskip("yaml", reason="PyYAML is not installed")
    path = tmp_path / "sig.yaml"
    path.write_text(
        "name: yaml signature\n"
        "intercept: 0.5\n"
        "cutoff: 1\n"
        "labels: {below: low, above: high}\n"
        "terms:\n"
        f"  - feature: {ENERGY}\n"
        "    weight: 2.0\n"
        "  - ibsi_code: QCFX\n"
        "    weight: -1.5\n",
        encoding="utf-8",
    )

    definition = read_definition(path)

    assert [(t.feature.name, t.weight) for t in definition.terms] == [
        (ENERGY, 2.0),
        (SPHERICITY, -1.5),
    ]


def test_example_definition_in_docs_reads_and_imports(
    db, tmp_path, django_capture_on_commit_callbacks
):
    path = REPO / "docs" / "example_signature.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for term in data["terms"]:
        image_filter, family, feature_name = term["feature"].split("_", 2)
        FeatureDefinition.objects.create(
            name=term["feature"],
            family=family,
            feature_name=feature_name,
            image_filter=image_filter,
        )

    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_signature", str(path))

    signature = RadiomicSignature.objects.get(name=data["name"])
    assert signature.terms.count() == len(data["terms"]) == 4


def test_score_signatures_command_reports_each_signature(
    signature, make_extraction, capsys
):
    make_extraction({ENERGY: 3.0, SPHERICITY: 0.5, GLNU: 8.0})
    make_extraction({ENERGY: 3.0})

    call_command("score_signatures", "--signature", "test signature")

    assert capsys.readouterr().out.strip() == (
        "test signature: 1 extractions scored, 1 lack some of its features, "
        "0 old scores removed."
    )


def test_score_signatures_command_rejects_an_unknown_name(db):
    with pytest.raises(CommandError, match="No signature is named 'nope'"):
        call_command("score_signatures", "--signature", "nope")


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("intercept", "Infinity"),
        ("cutoff", "-Infinity"),
        ("weight", "NaN"),
        ("weight", "1e308"),
    ],
)
def test_a_coefficient_that_is_not_finite_or_absurdly_large_rejects_the_file(
    features, tmp_path, field, bad
):
    text = write_definition(tmp_path).read_text(encoding="utf-8")
    if field == "weight":
        text = text.replace('"weight": 2.0', f'"weight": {bad}', 1)
    else:
        text = text.replace(f'"{field}": ', f'"{field}": {bad}, "_{field}": ', 1)
    path = tmp_path / "huge.json"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(CommandError, match="must be a finite number"):
        call_command("import_signature", str(path))

    assert not RadiomicSignature.objects.exists()


def test_a_score_the_database_cannot_sum_finitely_is_listed_not_stored(
    signature, make_extraction
):
    extraction = make_extraction({ENERGY: 1e300, SPHERICITY: 1e300, GLNU: 1e300})
    signature.terms.update(weight=1e12)

    result = score_signature(signature, [extraction.pk])

    assert extraction.pk in result.incomplete
    assert not SignatureScore.objects.filter(extraction=extraction).exists()


def test_a_term_on_a_wavelet_band_never_stored_lists_the_bands_that_were(features):
    with pytest.raises(SignatureError) as refused:
        find_feature("wavelet-HH_glrlm_GrayLevelNonUniformity")

    message = str(refused.value)
    assert "no feature is named 'wavelet-HH_glrlm_GrayLevelNonUniformity'" in message
    assert f"stored on other image filters: {GLNU}, {WAVELET_GLNU}" in message
