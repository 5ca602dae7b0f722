"""Content negotiation that answers an unknown `?format=` with a 400 naming it."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer


class FormatNamingNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, but `?format=xyz` lists the formats the endpoint offers.

    DRF raises Http404 for a format no renderer has, which reads as a missing
    record or list; the 400 has the shape of every other refused parameter and is
    JSON, whatever the endpoint's first renderer (the schema's is YAML).
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except ValidationError:
            # Kept by APIView.finalize_response, which renders the error with it:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
            raise

    def filter_renderers(self, renderers, format):
        chosen = [renderer for renderer in renderers if renderer.format == format]
        if not chosen:
            offered = ", ".join(
                dict.fromkeys(renderer.format for renderer in renderers)
            )
            raise ValidationError(
                {
                    self.settings.URL_FORMAT_OVERRIDE: [
                        f"Format must be one of {offered}."
                    ]
                }
            )
        return chosen
