from __future__ import annotations

from django.urls import path

from biobank.browse import views

app_name = "browse"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("patients/", views.patient_list, name="patients"),
    path("patients/<int:pk>/", views.patient_timeline, name="patient"),
    path(
        "patients/<int:pk>/report/<int:study_pk>/",
        views.structured_report,
        name="report",
    ),
    path("studies/<int:pk>/", views.study_page, name="study"),
    path("follow-up/", views.follow_up, name="follow-up"),
]
