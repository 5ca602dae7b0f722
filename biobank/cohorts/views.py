"""The cohort page with its CSV download, and the JSON endpoint of the same query."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import asdict

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from biobank.cohorts.forms import CohortForm
from biobank.cohorts.query import CohortRow, pair_queryset, rows_of

PAGE_ROWS = 500
CSV_CHUNK_ROWS = 2000


class PageForm(forms.Form):
    """Which slice of the pairs the JSON endpoint returns."""

    limit = forms.IntegerField(min_value=1, max_value=10_000, required=False)
    # Bounded so that offset + limit fits every database's 64-bit integer:
    offset = forms.IntegerField(min_value=0, max_value=2_000_000_000, required=False)

    def clean_limit(self) -> int:
        return self.cleaned_data["limit"] or 1000

    def clean_offset(self) -> int:
        return self.cleaned_data["offset"] or 0


@require_GET
@login_required
def cohort_page(request: HttpRequest) -> HttpResponse:
    """Show the filters and, once asked, the first pairs; ?format=csv downloads them all."""
    wants_csv = request.GET.get("format") == "csv"
    form = CohortForm(request.GET if request.GET else None)
    if not form.is_bound or not form.is_valid():
        status = 400 if wants_csv else 200
        return render(
            request, "cohorts/cohort_page.html", {"form": form}, status=status
        )

    pairs = pair_queryset(form.criteria())
    if wants_csv:
        return _csv_response(pairs)

    # One query: one row more than shown tells whether the table is cut short.
    rows = list(rows_of(pairs[: PAGE_ROWS + 1]))
    csv_query = request.GET.copy()
    csv_query["format"] = "csv"
    context = {
        "form": form,
        "searched": True,
        "rows": rows[:PAGE_ROWS],
        "is_truncated": len(rows) > PAGE_ROWS,
        "page_rows": PAGE_ROWS,
        "csv_url": f"?{csv_query.urlencode()}",
        "notes": form.notes,
    }
    return render(request, "cohorts/cohort_page.html", context)


@require_GET
def cohort_json(request: HttpRequest) -> JsonResponse:
    """Return the pairs for the filters in the query string, `limit` rows from `offset`."""
    if not request.user.is_authenticated:
        return JsonResponse(
            {"detail": "Log in first; cohort queries need an authenticated session."},
            status=403,
        )

    form = CohortForm(request.GET)
    page = PageForm(request.GET)
    errors = {
        name: ["Unknown parameter; check its spelling."]
        for name in CohortForm.unknown_parameters(request.GET, set(page.fields))
    }
    form_valid, page_valid = form.is_valid(), page.is_valid()
    if errors or not form_valid or not page_valid:
        for bound in (form, page):
            errors |= {
                field: [error["message"] for error in messages]
                for field, messages in bound.errors.get_json_data().items()
            }
        return JsonResponse({"errors": errors}, status=400)

    limit, offset = page.cleaned_data["limit"], page.cleaned_data["offset"]
    criteria = form.criteria()
    rows = [
        row.as_dict()
        for row in rows_of(pair_queryset(criteria)[offset : offset + limit + 1])
    ]
    return JsonResponse(
        {
            "criteria": asdict(criteria),
            "offset": offset,
            "limit": limit,
            "next_offset": offset + limit if len(rows) > limit else None,
            "notes": form.notes,
            "rows": rows[:limit],
        }
    )


class _Echo:
    """A file-like object whose write() hands the line back, for streaming CSV."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(pairs) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CohortRow.FIELDS)
    for row in rows_of(pairs.iterator(chunk_size=CSV_CHUNK_ROWS)):
        values = row.as_dict()
        # The same ISO 8601 text as the JSON endpoint (Django's encoder writes UTC as Z):
        values["drawn_at"] = DjangoJSONEncoder().default(row.drawn_at)
        yield writer.writerow(values[name] for name in CohortRow.FIELDS)


def _csv_response(pairs) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        _csv_lines(pairs), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="cohort.csv"'
    return response
