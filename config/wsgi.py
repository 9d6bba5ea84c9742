"""WSGI entry point: the HTTP API and web UI in production (see docker-compose.yml)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from config.startup import refuse_insecure_start, warm_up  # noqa: E402  (needs settings loaded)

refuse_insecure_start()
warm_up()
