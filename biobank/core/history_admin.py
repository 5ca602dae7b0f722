"""simple-history's admin as the curation admin shows it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin


class HistoryAdmin(SimpleHistoryAdmin):
    """SimpleHistoryAdmin whose list of versions leaves no "None" in the reason column.

    A version saved without a change reason (an admin edit) has none; simple-history's
    template printed it as "None", which reads as a reason given. It shows what the
    admin shows for an empty value ("-"); the reasons given (the importing command and
    its file, "API", the demo's) show as stored.
    """

    def render_history_view(
        self, request: HttpRequest, template: str, context: dict, **kwargs
    ) -> HttpResponse:
        # The listed versions are shown, never saved: the cell reads this attribute.
        for version in context.get("page_obj", ()):
            if not version.history_change_reason:
                version.history_change_reason = self.get_empty_value_display()
        return super().render_history_view(request, template, context, **kwargs)
