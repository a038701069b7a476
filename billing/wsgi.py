import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings.local")
django_application = get_wsgi_application()

# After Django is set up: the check's hot path imports models.
from billing.hot_check import HotCheckApplication  # noqa: E402

application = HotCheckApplication(django_application)
