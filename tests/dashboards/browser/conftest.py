"""Browser tests: Playwright drives Debian's Chromium (headless) against Tally served by a
real threaded WSGI server on the test database.

Why not pytest-django's `live_server`: it needs `transactional_db`, whose flush truncates
every table, the public provider registry included, and the session's committed providers
(alpha, beta) would be gone for the tests after it. Instead this module:
- creates its own provider `gamma` (cloned from the template schema, about a second) and
  commits its data, "now"-based, so prices edited in the admin apply to the open cycle;
- serves the project with `LiveServerThread` (Django's threaded WSGI server, static files
  from the finders) on 127.0.0.1 and a free port; the browser reaches the provider on
  `gamma.localhost:<port>`, which Chromium resolves to 127.0.0.1;
- drops gamma's schema and registry rows when the module's tests are done.

The tests are skipped only when Chromium is not installed (.ci/run installs it).
Screenshots go to .tally/screenshots/ (ignored by git) for a person to look at.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection

CHROMIUM = os.environ.get("TALLY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(settings.DATA_DIR) / "screenshots"
SLUG = "gamma"


def chromium_present() -> bool:
    return Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is not None


def pytest_collection_modifyitems(config, items):
    if chromium_present():
        return
    skip = pytest.mark.skip(reason=f"Chromium is not installed at {CHROMIUM}")
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def browser_context_args():
    # Replaces the plugin's (session-scoped, it needs the session's Playwright for devices).
    return {"viewport": {"width": 1280, "height": 900}, "accept_downloads": True,
            "locale": "en-US", "timezone_id": "UTC"}


@pytest.fixture(scope="module")
def playwright(site):
    """pytest-playwright's Playwright, for this module only (the plugin keeps one for the
    session). Its sync API runs an event loop in this thread while it lives, and Django
    refuses ORM calls next to a running loop; the ORM calls the tests make between browser
    steps are synchronous and safe, so they are allowed for exactly that lifetime, and the
    loop is gone before any other test module runs. `site` comes first: its data is
    written before the loop exists and removed after it stopped."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name or "chromium")


@pytest.fixture(scope="module")
def launch_browser(browser_type_launch_args, browser_type):
    def launch(**kwargs):
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="module")
def browser(launch_browser):
    browser = launch_browser()
    yield browser
    browser.close()


@dataclass
class Site:
    base: str  # http://gamma.localhost:<port>
    provider: object

    def url(self, path: str) -> str:
        return self.base + path


def _drop_provider(slug: str) -> None:
    from tenancy.models import Domain, Provider

    connection.set_schema_to_public()
    provider = Provider.objects.filter(slug=slug).first()
    if provider is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{provider.schema_name}" CASCADE')
    Domain.objects.filter(tenant=provider).delete()
    Provider.objects.filter(pk=provider.pk).delete()


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker):
    """Provider gamma with committed data, served on a real port; removed afterwards."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread
    from django_tenants.utils import tenant_context

    from accounts.onboarding import provider_onboard
    from tests.conftest import PASSWORD
    from tests.dashboards.browser.world import build_browser_world

    with django_db_blocker.unblock():
        _drop_provider(SLUG)  # a run that died before its teardown
        provider = provider_onboard(slug=SLUG, name="Gamma Cloud", admin_username="chief",
                                   admin_password=PASSWORD).provider
        try:
            with tenant_context(provider), mock.patch("invoicing.delivery._queue_pipeline"):
                # No Celery worker here: the PDF is rendered when it is first downloaded.
                build_browser_world()
        finally:
            connection.set_schema_to_public()

        server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait(timeout=30)
        if server.error:
            raise server.error
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            yield Site(base=f"http://{SLUG}.localhost:{server.port}", provider=provider)
        finally:
            server.terminate()
            _drop_provider(SLUG)
            connection.set_schema_to_public()


@pytest.fixture
def db_access(django_db_blocker, site):
    """ORM reads in gamma's schema from a test (committed data, no transaction)."""
    from django_tenants.utils import tenant_context

    class Access:
        def __enter__(self):
            self._unblock = django_db_blocker.unblock()
            self._unblock.__enter__()
            self._tenant = tenant_context(site.provider)
            self._tenant.__enter__()

        def __exit__(self, *exc):
            self._tenant.__exit__(*exc)
            connection.set_schema_to_public()
            self._unblock.__exit__(*exc)

    return Access
