"""The audit log page of the provider's admin: fleet roles read it, nobody edits it, each
provider sees its own events only, and an audited object's History leads to it."""

from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.admin.utils import quote

from accounts.models import Role
from audit.models import AuditEvent
from catalog.models import Price, PriceChangeSource
from catalog.services.list_prices import price_set
from tests.catalog.conftest import user_with_role
from tests.conftest import host_client, inside, sign_in

LOG = "/admin/audit/auditevent/"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _price(provider, rate: str, actor) -> Price:
    with inside(provider):
        return price_set(metric_key="instance", variant="4cpu-16gb", rate=Decimal(rate),
                         time_unit="minute", effective_from=None, now=NOW, actor=actor,
                         source=PriceChangeSource.API)


def _viewer(provider, username: str = "watcher"):
    user_with_role(provider, username, Role.FLEET_VIEWER)
    client = host_client(provider)
    assert sign_in(client, username)
    return client


def test_a_fleet_viewer_reads_the_log_newest_first_and_cannot_change_it(alpha_catalog, alpha):
    with inside(alpha):
        pricer = user_with_role(alpha, "pricer", Role.FLEET_ADMIN)
    first, second = _price(alpha, "0.1234", pricer), _price(alpha, "0.5678", pricer)
    client = _viewer(alpha)

    page = client.get(LOG)
    assert page.status_code == 200
    html = page.content.decode()
    assert "pricer (#" in html and "Price #" in html
    assert html.index("0.5678") < html.index("0.1234")  # newest first
    assert "superseded at: — → 2026-11-23T12:00:00+00:00" in html  # before → after
    assert f'{LOG}add/' not in html  # no add button
    assert 'name="action"' not in html  # no bulk actions

    with inside(alpha):
        event = AuditEvent.objects.tracks(second).get()
    detail = client.get(f"{LOG}{quote(event.pk)}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()  # read-only: no save button
    assert "0.5678" in detail.content.decode()
    assert client.post(f"{LOG}{quote(event.pk)}/change/", {}).status_code == 403
    assert client.get(f"{LOG}{quote(event.pk)}/delete/").status_code == 403
    assert client.get(f"{LOG}add/").status_code == 403
    assert first.pk != second.pk


def test_the_log_filters_by_model_and_by_object(alpha_catalog, alpha):
    first, second = _price(alpha, "0.1111", None), _price(alpha, "0.2222", None)
    metric = alpha_catalog.instance  # a resource type: its own events, no price's
    client = _viewer(alpha)

    prices = client.get(LOG, {"model": "catalog.price"}).content.decode()
    assert "0.1111" in prices and "0.2222" in prices
    grants = client.get(LOG, {"model": "accounts.rolegrant"}).content.decode()
    assert "0.1111" not in grants and "Role grant #" in grants  # the viewer's own grant
    one = client.get(LOG, {"object": f"catalog.price:{second.pk}"}).content.decode()
    assert "0.2222" in one and "0.1111" not in one
    # Something that is not audited, or not a row, shows nothing (and no error).
    for bad in (f"catalog.metric:{metric.pk}", "catalog.price:x", "nothing"):
        response = client.get(LOG, {"object": bad})
        assert response.status_code == 200 and "0.2222" not in response.content.decode()
    assert first.pk != second.pk


def test_an_audited_objects_history_opens_its_audit_log(alpha_catalog, alpha):
    price = _price(alpha, "0.3333", None)
    with inside(alpha):
        user_with_role(alpha, "boss", Role.FLEET_ADMIN)
    client = host_client(alpha)
    assert sign_in(client, "boss")
    history = client.get(f"/admin/catalog/price/{price.pk}/history/")
    assert history.status_code == 302
    assert history["Location"] == f"{LOG}?object=catalog.price%3A{price.pk}"
    assert "0.3333" in client.get(history["Location"]).content.decode()


def test_a_provider_never_sees_another_providers_events(alpha_catalog, beta_catalog, alpha,
                                                        beta):
    _price(alpha, "0.4444", None)
    _price(beta, "0.9999", None)
    alpha_page = _viewer(alpha).get(LOG).content.decode()
    beta_page = _viewer(beta).get(LOG).content.decode()
    assert "0.4444" in alpha_page and "0.9999" not in alpha_page
    assert "0.9999" in beta_page and "0.4444" not in beta_page


def test_people_without_a_fleet_role_do_not_see_the_log(alpha):
    user_with_role(alpha, "orgy", Role.ORG_ADMIN)
    client = host_client(alpha)
    assert not sign_in(client, "orgy")  # the admin's door is the fleet roles
    assert client.get(LOG).status_code == 302
