"""URLs of the upload page, under /admin/imports/ and behind the admin's sign-in."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from biobank.imports import views

urlpatterns = [
    path("upload/", admin.site.admin_view(views.upload), name="imports-upload"),
    path("runs/<int:pk>/", admin.site.admin_view(views.run_result), name="imports-run"),
    path(
        "runs/<int:pk>/issues.csv",
        admin.site.admin_view(views.run_issues_csv),
        name="imports-run-issues",
    ),
]
