"""Offers from the consumer's page: a preview before any change (charged now, prorated,
the cycle's fee lines), a confirmation, and a switch back and forth in one cycle that
charges the one-time fee once and leaves no zero-length or 0.00 line on the invoice."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Entitlement, Role, RoleGrant
from cycles.clock import clock_now
from cycles.services import cycles_ensure
from invoicing.models import Invoice
from invoicing.rating_run import rating_run
from tests.conftest import PASSWORD, inside
from tests.dashboards.conftest import signed_in
from tests.offers_world import datum_catalog, make_consumer, sells_offers


@pytest.fixture
def consumer(alpha):
    provider = sells_offers(alpha)
    with inside(provider):
        datum_catalog()
        acme = make_consumer()
        ann = get_user_model().objects.create_user(username="ann", password=PASSWORD,
                                                   email="ann@acme.test")
        RoleGrant.objects.create(user=ann, role=Role.ORG_ADMIN, organization=acme.org)
        cycles_ensure(now=clock_now())
    return provider, acme


def _switch(client, account, offer: str) -> str:
    preview = client.get(f"/orgs/acme/offers/{offer}/preview/", {"billing_account": account.pk})
    assert preview.status_code == 200
    confirmed = client.post(f"/orgs/acme/offers/{offer}/accept/",
                            {"billing_account": account.pk, "confirm": "yes"})
    assert confirmed.status_code == 302
    return preview.content.decode()


def test_preview_then_confirm_and_a_switch_back_never_charges_the_one_time_fee_twice(
        consumer):
    provider, acme = consumer
    client = signed_in(provider, "ann")
    page = client.get("/orgs/acme/offers/").content.decode()
    assert 'data-offer="pro"' in page and 'data-offer="free"' in page
    assert 'data-offer="enterprise"' not in page  # private, not given to acme

    first = _switch(client, acme.account, "pro")
    assert "Charged now" in first and "Onboarding (Pro v1)" in first and "49.00" in first, (
        first[first.find("<main"):first.find("<main") + 3000])
    to_free = _switch(client, acme.account, "free")
    # Pro ends now; seconds of it come to less than a cent, so no line bills it.
    assert "Ends now: Pro v1." in to_free
    assert "Pro plan" not in to_free.split('data-testid="next-invoice"')[1]
    back = _switch(client, acme.account, "pro")
    # Back to Pro in the same cycle: its onboarding fee was charged already.
    charged_now = back.split('data-testid="charged-now"')[1].split("</table>")[0]
    assert "Onboarding" not in charged_now and "no one-time fee" in charged_now, charged_now

    with inside(provider):
        assert [e.offer_version.offer.key for e in Entitlement.objects.order_by("start", "id")
                ] == ["pro", "free", "pro"]
        cycle = cycles_ensure(now=clock_now())
        rating_run(cycle=cycle, now=min(clock_now() + timedelta(days=1), cycle.end))
        lines = list(Invoice.objects.get(billing_account=acme.account, cycle=cycle)
                     .lines.order_by("kind", "period_start"))
    one_time = [line for line in lines if line.kind == "one_time"]
    assert [(line.description, line.amount) for line in one_time] == [
        ("Onboarding (Pro v1)", Decimal("49.00"))]
    assert all(line.period_start < line.period_end for line in lines)
    assert all(line.amount != Decimal("0.00") for line in lines), [
        (line.description, line.amount) for line in lines]


def test_ending_a_plan_shows_its_final_proration_before_it_asks(consumer):
    provider, acme = consumer
    client = signed_in(provider, "ann")
    _switch(client, acme.account, "pro")
    with inside(provider):
        pro = Entitlement.objects.get()
    page = client.get(f"/orgs/acme/entitlements/{pro.pk}/end/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Final proration" in text and "Confirm: end Pro now" in text
    with inside(provider):
        assert Entitlement.objects.get().end is None  # asking changed nothing
    done = client.post(f"/orgs/acme/entitlements/{pro.pk}/end/confirm/", {"confirm": "yes"})
    assert done.status_code == 302
    with inside(provider):
        assert Entitlement.objects.get().end is not None
