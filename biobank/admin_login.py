"""The admin's sign-in form, which admits whoever the admin site admits."""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from biobank.admin_site import admits


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's own sign-in form, open to whoever the admin admits.

    Django's asks for a staff flag, so a curator was told to enter "the correct
    username and password for a staff account" at /admin/login/, although the
    admin let them in after signing in at /accounts/login/. A viewer or an account
    without a role, whose password was right, is told that the admin is not for
    them and where to go instead (a viewer took Django's message for a wrong
    password, trial tcu); a wrong password gets Django's message unchanged.
    """

    def confirm_login_allowed(self, user) -> None:
        if admits(user):
            return
        if user.is_active:
            raise ValidationError(NOT_FOR_THIS_ACCOUNT, code="not_curator")
        super().confirm_login_allowed(user)


NOT_FOR_THIS_ACCOUNT = (
    "This account is signed in correctly but may not curate: the admin is for the "
    "curators and managers of a project. Browse the biobank's pages and the API from "
    "the start page (/) instead, or ask a project manager for the curator role."
)
