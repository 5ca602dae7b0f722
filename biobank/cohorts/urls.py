from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from biobank.cohorts import views

app_name = "cohorts"

urlpatterns = [
    path(
        "",
        RedirectView.as_view(pattern_name="cohorts:page", permanent=False),
        name="home",
    ),
    path("cohorts/", views.cohort_page, name="page"),
    path("cohorts/query.json", views.cohort_json, name="query-json"),
]
