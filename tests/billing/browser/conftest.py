"""The admin in a real browser: the same served provider (gamma) and Chromium as the
dashboards' browser tests (tests/dashboards/browser/conftest.py explains both), at the
1280 x 800 window an operator's laptop shows."""

import pytest

from tests.dashboards.browser.conftest import (  # noqa: F401  (the shared browser fixtures)
    browser,
    browser_type,
    browser_type_launch_args,
    db_access,
    launch_browser,
    playwright,
    site,
)


@pytest.fixture(scope="module")
def browser_context_args():
    return {"viewport": {"width": 1280, "height": 800}, "locale": "en-US", "timezone_id": "UTC"}
