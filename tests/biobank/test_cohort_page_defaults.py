"""The cohort page shows the defaults it applies to a link that leaves a filter out."""

from __future__ import annotations

import pytest

from biobank.cohorts.query import PairMode


@pytest.mark.parametrize("query", ["?project=demo&window_days=30", "?mode="])
def test_a_link_without_a_mode_shows_the_default_mode_chosen(logged_in, query):
    response = logged_in.get(f"/cohorts/{query}")

    form = response.context["form"]
    assert form["mode"].value() == PairMode.ALL
    checked = [
        option.data["value"]
        for option in form["mode"].subwidgets
        if option.data["selected"]
    ]
    assert checked == [PairMode.ALL]
