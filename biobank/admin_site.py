"""The admin site curators work in: open to staff and to curators of any project."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


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

    def login(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        """Sign in; land on a safe `next`, else on the admin's index.

        Django's page posts next=/admin/ from its form, but a sign-in posted without
        it (or with an unsafe one, which Django drops) landed on LOGIN_REDIRECT_URL,
        the researchers' dashboard at /.
        """
        response = super().login(request, extra_context)
        asked = request.POST.get(
            REDIRECT_FIELD_NAME, request.GET.get(REDIRECT_FIELD_NAME)
        )
        safe = url_has_allowed_host_and_scheme(
            asked, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        # Only a sign-in that succeeded redirects a POST:
        if request.method == "POST" and response.status_code == 302 and not safe:
            response["Location"] = reverse("admin:index", current_app=self.name)
        return response

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
