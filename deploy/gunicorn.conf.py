"""gunicorn's settings in `dev.sh prod`: its own log lines in the biobank's format."""

import os

from biobank.core.logs import console_logging

# The application (and with it every view module, see biobank/wsgi.py) is loaded once
# in the master and shared by the workers it forks: a new or restarted worker answers
# at once. Django opens no database connection while loading, so none is shared.
preload_app = True

# No control socket for `gunicornc` unless GUNICORN_CONTROL_SOCKET names one: gunicorn
# (25.1 on) puts it at one path per user, $XDG_RUNTIME_DIR/gunicorn.ctl or
# ~/.gunicorn/gunicorn.ctl, so a second instance on the host takes it over and deletes
# it when it stops, and `gunicornc` reaches the wrong server. Nothing of the biobank
# uses it; signals (TERM, HUP, TTIN) control the server as before.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

# No access lines from gunicorn: the biobank logs every request itself
# (ACCESS_LOG_LEVEL=INFO, biobank.requests) with its request ID, which gunicorn's
# line would lack.
accesslog = None

# Start-up, worker and error lines (gunicorn.error) as JSON with LOG_FORMAT=json; gunicorn
# applies this after its own handlers, so it replaces them.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    **console_logging(os.environ.get("LOG_FORMAT", "text")),
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
        },
        "gunicorn.access": {"handlers": [], "propagate": False},
    },
}
