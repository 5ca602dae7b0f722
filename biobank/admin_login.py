"""The admin's sign-in form, which admits whoever the admin site admits."""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm

from biobank.admin_site import admits


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's own sign-in form, open to whoever the admin admits.

    Django's asks for a staff flag, so a curator was told to enter "the correct
    username and password for a staff account" at /admin/login/, although the
    admin let them in after signing in at /accounts/login/. Others get Django's
    messages unchanged.
    """

    def confirm_login_allowed(self, user) -> None:
        if admits(user):
            return
        super().confirm_login_allowed(user)
