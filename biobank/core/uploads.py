"""An upload handler that stops a request body above BIOBANK_MAX_UPLOAD_BYTES as it streams."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

logger = logging.getLogger(__name__)


class LimitedUploadHandler(FileUploadHandler):
    """Count the bytes of every uploaded file as they arrive; stop above the limit.

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE leaves files out, and FILE_UPLOAD_MAX_MEMORY_SIZE
    only chooses memory or a temporary file, so neither bounds an upload. This handler
    runs first: the first chunk of a file is refused when the request announced a body
    above the limit (its form fields, the CSRF token among them, are still read), and
    a file that grows past the limit is stopped at that chunk. Either way
    `request.upload_refused` says why and the file is left out of request.FILES; the
    rest of the body is dropped, never kept.
    """

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.received = 0
        self.announced = 0
        self.limit = settings.BIOBANK_MAX_UPLOAD_BYTES

    def handle_raw_input(
        self, input_data, META, content_length, boundary, encoding=None
    ) -> None:
        self.announced = content_length or 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        # The form's other fields take a few kB at most of the announced body:
        if self.announced > self.limit + (1 << 20):
            self.refuse(self.announced, reset=True)
        if self.received > self.limit:
            self.refuse(self.received, reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def refuse(self, size: int, reset: bool) -> None:
        message = (
            f"The upload is larger than the limit of {self.limit:,} bytes "
            "(BIOBANK_MAX_UPLOAD_BYTES); nothing was stored."
        )
        if self.request is not None:
            self.request.upload_refused = message
        logger.warning("Upload stopped at %s bytes: above the limit", size)
        # A body announced too large is not read on to its end; one that grew past
        # the limit is drained (and dropped) so that the answer reaches the browser:
        raise StopUpload(connection_reset=reset)
