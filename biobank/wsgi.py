"""The WSGI application of the biobank, for gunicorn or any other WSGI server.

https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")

application = get_wsgi_application()

# Every view module is imported now, when the server starts, not in a worker's first
# request: the views bring pandas, SciPy and the plotting code, about 5 s on two
# cores, which a health check or a user would otherwise wait for.
get_resolver().url_patterns  # noqa: B018 -- reading it imports the URLconf
