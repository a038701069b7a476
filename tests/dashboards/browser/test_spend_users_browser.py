"""Spend per user in a real browser, at 1280x800 and 375x812: an org admin reads what
each user who created resources spends, drills into one user's lines, and the rows add
up to the total; a project viewer sees their project's users only. Every page passes
axe and fits the phone's width (tests/dashboards/browser/pages.py)."""

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.dashboards.browser.pages import Watch, check, money_value

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@pytest.fixture(params=list(VIEWPORTS))
def screen(request, page: Page) -> str:
    page.set_viewport_size(VIEWPORTS[request.param])
    return request.param


@pytest.fixture
def creators(db_access):
    """carol and erin (both of mars-corp) created resources this month; rated to now.
    Idempotent: lifecycle events are unique by id, so a second call adds nothing."""
    with db_access():
        from cycles.services import cycles_ensure
        from invoicing.rating_run import rating_run
        from metering.lifecycle_ingest import lifecycle_events_ingest

        now = timezone.now()
        cycle = cycles_ensure(now=now)
        at = cycle.start.isoformat()
        items = [
            {"event_id": f"spu-{rid}", "resource_id": rid, "kind": "created",
             "resource_type": rtype, "variant": variant, "project": project,
             "region": "mars", "occurred_at": at, "created_by": creator}
            for rid, rtype, variant, project, creator in (
                ("vm-carol", "instance", "4cpu-16gb", "adventure", "carol"),
                ("disk-erin", "disk", "500gb", "adventure", "erin"),
                ("disk-carol-lab", "disk", "500gb", "lab-rat", "carol"))
        ]
        lifecycle_events_ingest(items=items, now=now)
        rating_run(cycle=cycle, now=now)


def _sign_in(page: Page, site, username: str) -> None:
    page.goto(site.url("/login/"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Sign in").click()


def _rows(page: Page) -> dict[str, object]:
    rows = {}
    for row in page.locator("#user-spend tbody tr").all():
        rows[row.get_attribute("data-user")] = money_value(row.locator("td").nth(2).inner_text())
    return rows


def test_an_org_admin_reads_spend_per_user_and_drills_into_the_lines(page: Page, site,
                                                                     creators, screen):
    watch = Watch(page)
    _sign_in(page, site, "carol")
    page.goto(site.url("/spend/"))
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="Spend per user").click()
    check(page, page.goto(page.url.split("#")[0]), f"60-{screen}-spend-per-user", watch,
          key=("#user-spend",))
    rows = _rows(page)
    assert {"carol", "erin", ""} <= set(rows)
    total = money_value(page.get_by_test_id("users-total").inner_text())
    assert sum(rows.values()) == total

    with page.expect_navigation(wait_until="load"):
        page.locator("#user-spend").get_by_role("link", name="carol").click()
    check(page, page.goto(page.url.split("#")[0]), f"61-{screen}-spend-per-user-carol", watch,
          key=("#user-spend", "#lines"))
    expect(page.locator("#lines-title")).to_contain_text("Lines of resources carol created")
    amounts = [money_value(cell.inner_text())
               for cell in page.locator("#lines tbody tr td:last-child").all()]
    assert len(amounts) == 2 and sum(amounts) == rows["carol"]  # adventure and lab-rat


def test_a_project_viewer_sees_their_projects_users_only(page: Page, site, creators, screen):
    watch = Watch(page)
    _sign_in(page, site, "erin")
    check(page, page.goto(site.url("/spend/users/")), f"62-{screen}-spend-per-user-viewer",
          watch, key=("#user-spend",))
    rows = _rows(page)
    assert {"carol", "erin"} <= set(rows)
    with page.expect_navigation(wait_until="load"):
        page.locator("#user-spend").get_by_role("link", name="carol").click()
    # carol's lab-rat disk is another project's: erin sees carol's adventure line only.
    expect(page.locator("#lines tbody tr")).to_have_count(1)
    assert "adventure" in page.locator("#lines tbody").inner_text()
