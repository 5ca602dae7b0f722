from __future__ import annotations

from django.urls import path

from biobank.cohorts import views

app_name = "cohorts"

urlpatterns = [
    path("cohorts/", views.cohort_page, name="page"),
    path("cohorts/query.json", views.cohort_json, name="query-json"),
]
