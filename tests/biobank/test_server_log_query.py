"""The development server's request lines leave out query strings (dev.sh run)."""

from __future__ import annotations

import logging


def test_the_development_server_logs_a_request_line_without_its_query(caplog):
    caplog.set_level(logging.INFO, logger="django.server")
    server = logging.getLogger("django.server")

    # As django.core.servers.basehttp.WSGIRequestHandler.log_message() logs it:
    server.info(
        '"%s" %s %s',
        "GET /admin/patients/patient/?q=MRN77654033 HTTP/1.1",
        "200",
        "29867",
    )
    server.warning(
        '"%s" %s %s', "GET /cohorts/?gene=KRAS&q=a%20b HTTP/1.1", "404", "10"
    )

    assert [record.getMessage() for record in caplog.records] == [
        '"GET /admin/patients/patient/ HTTP/1.1" 200 29867',
        '"GET /cohorts/ HTTP/1.1" 404 10',
    ]
    assert "77654033" not in caplog.text
