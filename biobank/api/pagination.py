"""Pages of API lists: numbered pages by default, cursors on the tables with millions of rows."""

from __future__ import annotations

import math
import time
from functools import cached_property

from django.conf import settings
from django.core import signing
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from biobank.core.timeouts import within_timeout


def describe_links(schema: dict) -> dict:
    """Replace DRF's sample links (http://api.example.org/accounts/...) in a page schema.

    They point at no server of ours and would be copied from the documentation pages.
    """
    for name, word in (("next", "next"), ("previous", "previous")):
        link = schema["properties"][name]
        link.pop("example", None)
        link["description"] = (
            f"URL of the {word} page with the same parameters; null if none."
        )
    return schema


class CheckedPageSize:
    """A `page_size` that is not a whole number from 1 to `max_page_size` is a 400.

    DRF takes the default size instead (and the maximum for a larger one), which
    hides a mistake: page_size=0 answered the default 100 rows.
    """

    page_size_query_param: str
    max_page_size: int

    def get_page_size(self, request) -> int:
        given = request.query_params.get(self.page_size_query_param, "")
        if not given:  # left out or empty: the default
            return self.page_size
        # Ten digits at most, so that int() never reads a huge number:
        is_number = given.isascii() and given.isdecimal() and len(given) <= 10
        if not (is_number and 1 <= int(given) <= self.max_page_size):
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Give a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return int(given)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] |= {"minimum": 1, "maximum": self.max_page_size}
        return parameters


# No page starts past this row: an OFFSET beyond it would overflow the database's integers.
MAX_OFFSET = 2**62

# A count expected to take less than this when read in the list's own order is read
# so (CappedPaginator.count); as count_pairs' budget, and for the same cohorts
# (biobank.cohorts.query.COUNT_IN_ORDER_SECONDS).
ORDERED_COUNT_SECONDS = 0.2


class CappedPaginator(Paginator):
    """Numbered pages that count at most `limit` rows and read one row past the page.

    Counting every matching row is what made big lists slow (49,130 studies took longer
    to count than to read a page of), so the count stops at `limit`; the row after the
    page tells whether another page follows, and a page that is the last one gives the
    exact count without any count query.
    """

    def __init__(self, object_list, per_page, limit: int) -> None:
        super().__init__(object_list, per_page)
        self.limit = limit
        self.count_exact = True
        self._known_count: int | None = None
        # Seconds per row of the page read, in the list's order (None before a page):
        self._seconds_per_row: float | None = None

    @cached_property
    def count(self) -> int:
        """Rows in the list, exact when `count_exact`; otherwise there are more.

        Counted in the list's own order when its page came fast enough for the
        limit's rows to come within ORDERED_COUNT_SECONDS at the same pace, else in
        no order, as the database likes. The count is the same either way; its
        cost is not. In no order PostgreSQL picks a plan for LIMIT by its guess of
        how many rows match, and misjudges a cohort's pairs: the count of the CT
        cohort of 100,000 patients hashed every consent and took 567 ms, against
        102 ms in the patient order the page had just read (bench/api.py's cases).
        For a sparse list (the KRAS p.G12C pairs, 460 against 842 ms) no order
        serves better: the patient order reads most patients to find the rows.
        """
        if self._known_count is not None:
            return self._known_count
        counted = self._count_in_order() if self._fast_in_order() else None
        if counted is None:
            counted = self.object_list.order_by()[: self.limit + 1].count()
        if counted > self.limit:
            self.count_exact = False
            return self.limit
        return counted

    def _count_in_order(self) -> int | None:
        """Count in the list's order, or None if that ran past the time the page's
        pace promised (PostgreSQL; elsewhere in order, unbounded).

        The pace can mislead: for 1,001 rows PostgreSQL may plan otherwise than for
        a page. The series of one manufacturer and slice thickness, paged in 9 ms
        from an index, were counted by sorting all 178,398 of them (0.5 s). Where
        the pace held, the count came well within it, the first rows paying for
        the start (bench/api.py's cohorts: 39 to 128 ms for 80 to 280 ms promised).
        """
        rows = self.object_list[: self.limit + 1]
        promised = self._seconds_per_row * (self.limit + 1)
        if connections[rows.db].vendor != "postgresql":
            return rows.count()
        return within_timeout(rows.db, promised, rows.count)

    def _fast_in_order(self) -> bool:
        if self._seconds_per_row is None or not getattr(
            self.object_list, "ordered", False
        ):
            return False
        return self._seconds_per_row * (self.limit + 1) < ORDERED_COUNT_SECONDS

    @property
    def num_pages(self) -> int:
        pages = math.ceil(self.count / self.per_page) if self.count else 1
        return pages if self.count_exact else pages + 1

    def validate_number(self, number) -> int:
        # No upper bound: a page past the counted rows may still hold rows.
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer.") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1.")
        if number * self.per_page >= MAX_OFFSET:
            raise EmptyPage("That page contains no results.")
        return number

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        started = time.perf_counter()
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        self._seconds_per_row = (time.perf_counter() - started) / (
            bottom + len(rows) or 1
        )
        more = len(rows) > self.per_page
        rows = rows[: self.per_page]
        if not rows and number > 1:
            raise EmptyPage("That page contains no results.")
        if more:
            self.known_more_than(bottom + self.per_page)
        else:
            self._known_count = bottom + len(rows)
        return CappedPage(rows, number, self, more)

    def known_more_than(self, rows: int) -> None:
        """Note that the list holds more than `rows` rows (a page past the limit)."""
        if rows >= self.limit:
            self.count_exact = False
            self._known_count = rows


PAGE_NUMBER_MESSAGE = "Give a whole number from 1 (the first page)."


def read_page_number(given: str) -> int | None:
    """Return the page that the `page` parameter `given` names; None if it names none.

    Left out or empty is the first page. Digits only: int() would also take " 2",
    "+2" and "2_0". A number of more than 30 digits is read as MAX_OFFSET, which
    lies past the end of any list, so that int() never reads a huge text.
    """
    if not given:
        return 1
    if given.isascii() and given.isdecimal() and int(given[:30]) >= 1:
        return int(given) if len(given) <= 30 else MAX_OFFSET
    return None


def past_the_end_message(paginator: Paginator, number: int) -> str:
    """Say that page `number` lies past the last page, and how many pages there are.

    A CappedPaginator whose count stopped at its limit knows only a lower bound.
    """
    pages = paginator.num_pages  # a CappedPaginator counts up to its limit only
    size = paginator.per_page
    if getattr(paginator, "count_exact", True):
        extent = (
            f"{_counted(paginator.count, 'row')}, {_counted(pages, 'page')} of {size}"
        )
    else:
        # More than `limit` rows fill at least this many pages (not pages - 1, which
        # is one too many when the limit is no multiple of the page size):
        least = math.ceil((paginator.limit + 1) / size)
        extent = (
            f"more than {_counted(paginator.limit, 'row')} (the count stops there), "
            f"at least {_counted(least, 'page')} of {size}"
        )
    shown = number if number < MAX_OFFSET else f"{MAX_OFFSET} or more"
    return f"Page {shown} is past the last page; the list has {extent}."


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


class CappedPage(Page):
    """A page that knows from the row after it whether another follows."""

    def __init__(self, object_list, number, paginator, more: bool) -> None:
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more


class PageNumberPagination(CheckedPageSize, pagination.PageNumberPagination):
    """Numbered pages of 100 (page_size up to 1000) with a count capped for speed.

    `count` is exact up to BIOBANK_API_COUNT_LIMIT rows; beyond, `count_exact` is false
    and `count` is a number the list exceeds. `next` is null on the last page either way.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    last_page_strings = ()  # "last" is not known without counting every row

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        paginator = CappedPaginator(
            queryset, page_size, settings.BIOBANK_API_COUNT_LIMIT
        )
        number = self.get_page_number(request)
        try:
            self.page = paginator.page(number)
        except EmptyPage:
            raise NotFound(self.past_the_end(paginator, number)) from None
        self.display_page_controls = self.template is not None and (
            paginator.num_pages > 1
        )
        return list(self.page)

    def get_page_number(self, request) -> int:
        """Return the page asked for; one that is not a whole number from 1 is a 400.

        DRF answers it 404 "Invalid page.", which reads as a missing list rather
        than a mistyped parameter; the 400 has the shape of CheckedPageSize's.
        """
        given = request.query_params.get(self.page_query_param, "")
        number = read_page_number(given)
        if number is None:
            hint = " (page=last is not offered: it needs every row counted)"
            message = PAGE_NUMBER_MESSAGE
            if given.strip().lower() == "last":
                message = message.removesuffix(".") + hint + "."
            raise ValidationError({self.page_query_param: [message]})
        return number

    def past_the_end(self, paginator: CappedPaginator, number: int) -> dict:
        """The 404 of a page past the last, naming `page` and the number of pages."""
        return {self.page_query_param: [past_the_end_message(paginator, number)]}

    def get_paginated_response(self, data) -> Response:
        paginator = self.page.paginator
        return Response(
            {
                "count": paginator.count,
                "count_exact": paginator.count_exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        page = describe_links(super().get_paginated_response_schema(schema))
        page["properties"]["count"].pop("example", None)
        page["properties"]["count"]["description"] = (
            "Rows in the whole list when count_exact is true; otherwise the list "
            "holds more rows than this (counting stops at BIOBANK_API_COUNT_LIMIT)."
        )
        page["properties"]["count_exact"] = {
            "type": "boolean",
            "description": "Whether count is the exact number of rows.",
        }
        page["required"] = [*page["required"], "count_exact"]
        return page


class CursorPagination(CheckedPageSize, pagination.CursorPagination):
    """Opaque next/previous links ordered by id: as fast on page 10,000 as on page 1.

    NB: no count and no jumping to a page number; a count and an OFFSET both scan
    every row before the page, which is what makes deep pages slow.
    """

    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000
    ordering = "id"

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return describe_links(super().get_paginated_response_schema(schema))

    def encode_cursor(self, cursor: pagination.Cursor) -> str:
        """Return the link to `cursor`, signed for this list and order.

        DRF writes the position in plain base64, so a made-up one (p=999999) read
        as a real cursor and gave an empty page; a signed one is ours or a 400.
        """
        tokens = [cursor.offset, int(cursor.reverse), cursor.position]
        signed = signing.dumps(tokens, salt=self.cursor_salt())
        return replace_query_param(self.base_url, self.cursor_query_param, signed)

    def decode_cursor(self, request) -> pagination.Cursor | None:
        """Read `cursor`; one the server did not make for this list is a 400 naming it.

        DRF answers a malformed one 404 "Invalid cursor", as if the list were missing.
        """
        signed = request.query_params.get(self.cursor_query_param)
        if signed is None:
            return None
        try:
            offset, reverse, position = signing.loads(signed, salt=self.cursor_salt())
        except (signing.BadSignature, TypeError, ValueError):
            raise ValidationError(
                {
                    self.cursor_query_param: [
                        "Not a cursor of this list; follow the next or previous link "
                        "of a page, or leave cursor out for the first page."
                    ]
                }
            ) from None
        return pagination.Cursor(
            offset=offset, reverse=bool(reverse), position=position
        )

    def cursor_salt(self) -> str:
        # A position is a row of one list in one order: signed for both, a cursor
        # of the variants or of ?ordering=-id is refused on another.
        ordering = ",".join(self.ordering)
        return f"biobank.api.cursor:{self.request.path}:{ordering}"

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list:
        """Find the page's ids first, then read those rows with their related records.

        Joined in one query, PostgreSQL joins every row that passes the filters before
        it sorts and cuts the page (a filter on 20,000 of 200,000 variants took four
        times as long); the ids alone come from the indexes.
        """
        keys = super().paginate_queryset(
            queryset.select_related(None).only("id"), request, view
        )
        if not keys:
            return []

        # The rows by id alone, from the view's class queryset (its related records;
        # get_queryset would read the reader's projects again): the filters and the
        # reader's projects chose the ids already. Beside the page's ids, the ids a
        # filter narrows to made PostgreSQL guess that no row matches and read every
        # value of the project instead (0.46 s for 197 rows, issue 7).
        source = getattr(view, "queryset", None)
        if source is None:
            source = queryset
        rows = source.order_by().in_bulk([key.pk for key in keys])
        return [rows[key.pk] for key in keys]
