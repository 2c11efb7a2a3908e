"""WSGI entry point: `gunicorn kronvex.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kronvex.settings")

application = get_wsgi_application()
