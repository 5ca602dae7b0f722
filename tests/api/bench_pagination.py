"""Time first and deep pages of the API's big lists, cursor against numbered pages.

Run on a database of your own, e.g.
DATABASE_URL=postgres://postgres@127.0.0.1:5432/biobank_api \
    .venv/bin/python -m tests.api.bench_pagination --values 2000000 --variants 200000

It migrates that database, adds synthetic rows until the counts are reached (in a
project "bench"), then prints the median time of each request over five runs.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import statistics
import sys
import time
from urllib.parse import urlencode

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from liquidbiopsy.models import BloodSample, CfDNAAssay, VariantResult  # noqa: E402
from patients.models import Patient, Project  # noqa: E402
from radiomics.models import (  # noqa: E402
    FeatureDefinition,
    FeatureExtraction,
    FeatureValue,
)

FEATURES = 100


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


BATCH = 20_000


def fill_values(project: Project, wanted: int) -> None:
    definitions = list(FeatureDefinition.objects.filter(name__startswith="bench_"))
    if not definitions:
        definitions = FeatureDefinition.objects.bulk_create(
            FeatureDefinition(
                name=f"bench_firstorder_F{n}",
                family="firstorder",
                feature_name=f"F{n}",
                ibsi_code=f"B{n:03d}",
            )
            for n in range(FEATURES)
        )
    have = FeatureValue.objects.count()
    while have < wanted:
        serial = Patient.objects.filter(project=project).count()
        patients = Patient.objects.bulk_create(
            Patient(
                project=project,
                pseudonym=f"BENCH-{serial + n}",
                source_key=f"b{serial + n}",
            )
            for n in range(BATCH // FEATURES)
        )
        extractions = FeatureExtraction.objects.bulk_create(
            FeatureExtraction(
                patient=patient, software="bench", fingerprint=f"bench-{patient.pk}"
            )
            for patient in patients
        )
        FeatureValue.objects.bulk_create(
            (
                FeatureValue(
                    extraction=extraction,
                    feature=feature,
                    value=(extraction.pk * 7919 + i) % 1000,
                )
                for extraction in extractions
                for i, feature in enumerate(definitions)
            ),
            batch_size=5000,
        )
        have += len(extractions) * FEATURES
        say(f"  {have} feature values")


def fill_variants(project: Project, wanted: int) -> None:
    have = VariantResult.objects.count()
    patients = list(Patient.objects.filter(project=project)[:1000])
    drawn = timezone.make_aware(dt.datetime(2024, 1, 1, 9))
    while have < wanted:
        samples = BloodSample.objects.bulk_create(
            BloodSample(
                patient=patients[(have // 10 + n) % len(patients)],
                drawn_at=drawn + dt.timedelta(minutes=have // 10 + n),
                drawn_on=drawn.date(),
            )
            for n in range(BATCH // 10)
        )
        assays = CfDNAAssay.objects.bulk_create(
            CfDNAAssay(sample=sample, method="targeted-NGS") for sample in samples
        )
        genes = ["EGFR", "KRAS", "TP53", "PIK3CA", "BRAF"]
        VariantResult.objects.bulk_create(
            (
                VariantResult(
                    assay=assay,
                    gene=genes[i % 5],
                    variant_key=f"{genes[i % 5]}:p.X{i}Y",
                    variant_type="SNV",
                    protein_change=f"p.T{790 + i}M",
                    vaf=0.01 * (i + 1),
                    call="detected",
                )
                for assay in assays
                for i in range(10)
            ),
            batch_size=5000,
        )
        have += len(assays) * 10
        say(f"  {have} variants")


def median_ms(client: Client, url: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.content[:300]
    return statistics.median(times)


def median_query_ms(run, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def cursor_after(last_id: int) -> str:
    return base64.b64encode(urlencode({"p": last_id}).encode()).decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--variants", type=int, default=100_000)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    project, _ = Project.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    fill_values(project, args.values)
    fill_variants(project, args.variants)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    user, _ = get_user_model().objects.get_or_create(username="bench")
    token, _ = Token.objects.get_or_create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    size = 500

    say(f"database: {connection.vendor}")
    for model, endpoint in (
        (FeatureValue, "feature-values"),
        (VariantResult, "variants"),
    ):
        ids = model.objects.order_by("id").values_list("id", flat=True)
        total = model.objects.count()
        deep = ids[total - size - 1]
        say(f"{endpoint}: {total} rows, pages of {size}")
        first = median_ms(client, f"/api/{endpoint}/?page_size={size}")
        last = median_ms(
            client, f"/api/{endpoint}/?page_size={size}&cursor={cursor_after(deep)}"
        )
        say(f"  cursor page 1:         {first:8.1f} ms")
        say(f"  cursor last page:      {last:8.1f} ms")

        # What a numbered page would cost the database at the same depths:
        queryset = model.objects.order_by("id")
        offset_first = median_query_ms(
            lambda queryset=queryset: (queryset.count(), list(queryset[:size]))
        )
        offset_last = median_query_ms(
            lambda queryset=queryset, end=total: (
                queryset.count(),
                list(queryset[end - size : end]),
            )
        )
        say(f"  COUNT + OFFSET page 1: {offset_first:8.1f} ms (queries only)")
        say(f"  COUNT + OFFSET last:   {offset_last:8.1f} ms (queries only)")

    filtered = median_ms(
        client,
        f"/api/feature-values/?feature=B042&value_min=100&value_max=200&page_size={size}",
    )
    say(f"feature-values?feature=B042&value 100..200, page 1: {filtered:.1f} ms")
    variant = median_ms(
        client, f"/api/variants/?gene=EGFR&variant=p.Thr790Met&page_size={size}"
    )
    say(f"variants?gene=EGFR&variant=p.Thr790Met, page 1: {variant:.1f} ms")


if __name__ == "__main__":
    main()
