"""The admin site curators work in: open to staff and to curators of any project."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


def admits(user) -> bool:
    """Return whether `user` may enter the admin: staff, and curators and project
    managers without a staff flag of their own.

    What each sees inside is narrowed by biobank.core.scoped_admin; viewers browse
    the web pages and the API instead.
    """
    from biobank.api.access import CURATE, may  # models load after this module

    return user.is_active and (user.is_staff or may(user, CURATE, None))


class BiobankAdminSite(admin.AdminSite):
    site_header = "Imaging biobank curation"
    site_title = "Imaging biobank"

    @property
    def login_form(self):
        from biobank.admin_login import AdminLoginForm  # auth's forms need the models

        return AdminLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        return admits(request.user)

    def get_urls(self):
        from django.urls import path

        from biobank.audit import changes_view

        return [
            path(
                "audit/changes/",
                self.admin_view(lambda request: changes_view(request, self)),
                name="audit-changes",
            ),
            *super().get_urls(),
        ]


class BiobankAdminConfig(AdminConfig):
    default_site = "biobank.admin_site.BiobankAdminSite"
