from __future__ import annotations

from django.urls import path

from biobank.cohorts import views

app_name = "cohorts"

urlpatterns = [
    path("cohorts/", views.cohort_page, name="page"),
    path("cohorts/query.json", views.cohort_json, name="query-json"),
    path("cohorts/count.json", views.cohort_count, name="count-json"),
    path("cohorts/save/", views.save_cohort, name="save"),
    path("cohorts/saved/<int:pk>/rerun/", views.rerun_cohort, name="rerun"),
    path(
        "cohorts/saved/<int:pk>/versions/<int:number>/",
        views.saved_version_page,
        name="version",
    ),
    path(
        "cohorts/saved/<int:pk>/versions/<int:number>/analysis/",
        views.version_analysis_page,
        name="version-analysis",
    ),
    path("cohorts/analysis/", views.analysis_page, name="analysis"),
]
