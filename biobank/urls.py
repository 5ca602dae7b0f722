"""URL map of the biobank."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from biobank import errors, health, icons

handler403 = errors.permission_denied
handler500 = health.server_error

urlpatterns = [
    path("admin/imports/", include("biobank.imports.urls")),
    path("admin/", admin.site.urls),
    # Answered by biobank.health.ProbeMiddleware before routing; named here for reverse():
    path("health/", health.health, name="health"),
    path("ready/", health.ready, name="ready"),
    path("api/", include("biobank.api.urls")),
    path("favicon.ico", icons.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("biobank.browse.urls")),
    path("", include("biobank.cohorts.urls")),
]
