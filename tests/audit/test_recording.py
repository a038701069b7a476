"""Every money-affecting write is in the audit log: one event per row written, with who
(the context), when, and what changed, through the real services and entry points."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from accounts.access import access_for
from accounts.api_keys import api_key_issue
from accounts.entitlements import REPLACED_BY, entitlement_accept
from accounts.grants import role_grant, role_revoke
from accounts.models import (
    BillingAccount,
    Entitlement,
    PaymentKind,
    ProjectAccountAssignment,
    Role,
    RoleGrant,
)
from accounts.organizations import billing_account_update
from accounts.projects import project_move
from audit.tracking import DELETE, INSERT, UPDATE
from catalog.models import Charge, OfferVersion, OfferVersionService, Price, PriceChangeSource
from catalog.services.list_prices import price_set, usage_price_set
from catalog.services.offers import OfferContent, offer_revise
from invoicing.credits import credit_create, credit_withdraw
from invoicing.models import Credit, Invoice, InvoiceStatus
from invoicing.tasks import rate_open_cycles_task
from tests.audit.support import actor_of, context_of, diff_of, events_of, log_of
from tests.catalog.conftest import user_with_role
from tests.conftest import host_client, inside
from tests.factories import make_org, make_project
from tests.invoicing.builders import seed_adventure, seed_prices
from tests.invoicing.delivery.conftest import make_account, make_finalized_invoice
from tests.offers_world import T0, datum_catalog, make_consumer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _iso(value: datetime) -> str:
    """A timestamp as the audit log's JSON holds it."""
    return value.isoformat()


def test_setting_a_price_records_the_new_row_and_the_one_it_replaced(alpha_catalog, alpha):
    with inside(alpha):
        alice = user_with_role(alpha, "pricer", Role.FLEET_ADMIN)
        before = timezone.now()
        first = price_set(metric_key="instance", variant="4cpu-16gb", rate=Decimal("0.10"),
                          time_unit="minute", effective_from=None, now=NOW, actor=alice,
                          source=PriceChangeSource.API)
        second = price_set(metric_key="instance", variant="4cpu-16gb", rate=Decimal("0.12"),
                           time_unit="minute", effective_from=None, now=NOW, actor=alice,
                           source=PriceChangeSource.API)
        [created] = log_of(second)
        assert (created.pgh_label, created.pgh_data["rate"], actor_of(created)) == (
            INSERT, 0.12, "pricer")
        assert before <= created.pgh_created_at <= timezone.now()
        # The price it replaced (same instant: superseded, kept for history).
        inserted, superseded = log_of(first)
        assert (inserted.pgh_label, superseded.pgh_label) == (INSERT, UPDATE)
        assert diff_of(superseded) == {"superseded_at": (None, _iso(NOW))}
        assert context_of(superseded)["user"] == alice.pk


def test_a_list_usage_charge_closed_by_a_new_one_records_both(alpha, no_cycles):
    with inside(alpha):
        datum_catalog()
        old = usage_price_set(metric_key="dns.queries", now=T0, effective_from=T0,
                              charge={"model": "per_unit", "name": "Queries",
                                      "unit_price": "0.01"})
        later = T0 + timedelta(days=40)
        new = usage_price_set(metric_key="dns.queries", now=later, effective_from=later,
                              charge={"model": "per_unit", "name": "Queries",
                                      "unit_price": "0.02"})
        assert [e.pgh_label for e in events_of(Charge, new.pk)] == [INSERT]
        assert [(e.pgh_label, e.valid_to) for e in events_of(Charge, old.pk)] == [
            (INSERT, None), (UPDATE, later)]


def test_revising_an_unaccepted_offer_records_its_content_rows(alpha, no_cycles):
    with inside(alpha):
        datum = datum_catalog()
        version = OfferVersion.objects.get(offer=datum.free)
        revised = offer_revise(offer=datum.free, now=T0, notes="More zones",
                               content=OfferContent(
            services=["dns", "compute"],
            charges=[{"model": "per_unit", "name": "DNS queries", "metric": "dns.queries",
                      "unit_price": "0"}],
            features=[{"feature": "dns.zones", "limit": "2"}]))
        assert revised.pk == version.pk  # edited in place: nobody accepted it
        assert diff_of(log_of(version)[-1]) == {"notes": ("", "More zones")}
        links = OfferVersionService.pgh_event_model.objects.filter(offerversion_id=version.pk)
        assert sorted((e.pgh_label, e.service.key) for e in links) == [
            (INSERT, "compute"), (INSERT, "dns")]
        features = version.features.get()
        assert [e.pgh_label for e in log_of(features)] == [INSERT]
        assert features.limit == Decimal(2)


def test_a_plan_change_records_the_entitlement_it_ended_and_why(alpha, no_cycles):
    with inside(alpha):
        datum_catalog()
        acme = make_consumer()
        carol = user_with_role(alpha, "carol")
        free = entitlement_accept(billing_account=acme.account, offer_key="free", now=T0,
                                  actor=carol)
        ended_at = T0 + timedelta(days=5)
        entitlement_accept(billing_account=acme.account, offer_key="pro", now=ended_at,
                           actor=carol)
        accepted, ended = log_of(Entitlement.objects.get(pk=free.pk))
        assert (accepted.pgh_label, ended.pgh_label) == (INSERT, UPDATE)
        assert diff_of(ended) == {"end": (None, _iso(ended_at))}
        assert context_of(ended)["note"] == REPLACED_BY.format(offer="Pro")
        assert actor_of(ended) == "carol"


def test_moving_a_project_records_the_closed_and_the_new_assignment(alpha, no_cycles):
    with inside(alpha):
        org = make_org("mars-corp")
        research = BillingAccount.objects.create(organization=org, name="Research")
        project = make_project("adventure", org)
        current = ProjectAccountAssignment.objects.get(project=project)
        mover = user_with_role(alpha, "mover", Role.FLEET_ADMIN)
        moved = project_move(project=project, billing_account=research,
                             effective_from=NOW, actor=mover, now=NOW)
        assert diff_of(log_of(current)[-1]) == {"valid_to": (None, _iso(NOW))}
        [created] = log_of(moved)
        assert (created.pgh_label, created.pgh_data["billing_account_id"],
                actor_of(created)) == (INSERT, research.pk, "mover")


def test_a_billing_account_paying_by_card_records_the_change(alpha):
    with inside(alpha):
        account = make_org("mars-corp").billing_accounts.get()
        admin = user_with_role(alpha, "payer", Role.FLEET_ADMIN)
        billing_account_update(billing_account=account, name="Main",
                               payment_kind=PaymentKind.CARD, actor=admin)
        changed = log_of(account)[-1]
        assert diff_of(changed) == {"payment_kind": ("chargeback", "card")}
        assert actor_of(changed) == "payer"


def test_granting_and_revoking_a_role_records_both(alpha):
    with inside(alpha):
        granter = user_with_role(alpha, "granter", Role.FLEET_ADMIN)
        viewer = user_with_role(alpha, "newviewer")
        access = access_for(granter)
        grant = role_grant(user=viewer, role=Role.FLEET_VIEWER, granted_by=granter,
                           access=access)
        role_revoke(user=viewer, role=Role.FLEET_VIEWER, revoked_by=granter, access=access)
        assert not RoleGrant.objects.filter(pk=grant.pk).exists()
        events = events_of(RoleGrant, grant.pk)
        assert [(e.pgh_label, e.role, e.user_id, actor_of(e)) for e in events] == [
            (INSERT, Role.FLEET_VIEWER, viewer.pk, "granter"),
            (DELETE, Role.FLEET_VIEWER, viewer.pk, "granter"),
        ]


def test_a_credit_created_then_withdrawn_keeps_both_events(beta, no_cycles):
    with inside(beta):
        org = make_org("mars-corp")
        operator = user_with_role(beta, "operator", Role.FLEET_ADMIN)
        credit = credit_create(name="Dust storm", description="Downgraded", organization=org,
                               window_start=NOW, window_end=NOW + timedelta(hours=2),
                               actor=operator)
        credit_withdraw(credit=credit)
        events = events_of(Credit, credit.pk)
        assert [(e.pgh_label, e.name) for e in events] == [(INSERT, "Dust storm"),
                                                           (DELETE, "Dust storm")]
        assert actor_of(events[0]) == "operator"


def test_a_set_based_update_records_one_event_per_row(beta_catalog, beta):
    with inside(beta):
        prices = [price_set(metric_key="instance", variant=variant, rate=Decimal("0.10"),
                            time_unit="minute", effective_from=NOW, now=NOW,
                            source=PriceChangeSource.API)
                  for variant in ("4cpu-16gb", "8cpu-32gb")]
        # No Python code runs per row: only the trigger sees these writes.
        assert Price.objects.filter(pk__in=[p.pk for p in prices]).update(
            rate=Decimal("0.20")) == 2
        for price in prices:
            assert diff_of(log_of(price)[-1]) == {"rate": (0.1, 0.2)}


def test_an_api_key_write_names_the_key_and_its_user(alpha):
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("void-corp"))
        issued = api_key_issue(username="alice", name="voider")
    client = host_client(alpha)
    response = client.post(f"/api/v1/invoices/{invoice.pk}/void", {"reason": "Duplicate"},
                           content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert response.status_code == 200, response.content
    with inside(alpha):
        voided = log_of(Invoice.objects.get(pk=invoice.pk))[-1]
    diff = diff_of(voided)
    assert diff["status"] == (InvoiceStatus.FINALIZED, InvoiceStatus.VOID)
    assert diff["void_reason"] == ("", "Duplicate")
    context = context_of(voided)
    assert (context["username"], context["api_key"], context["url"]) == (
        "alice", issued.api_key.prefix, f"/api/v1/invoices/{invoice.pk}/void")


def test_a_task_names_itself_and_rating_rewrites_are_not_logged(beta):
    with inside(beta):
        org, _, instance, disk = seed_adventure(instances=1)
        seed_prices(instance, disk)
        rate_open_cycles_task()
        drafts = list(Invoice.objects.filter(billing_account__organization=org))
        assert drafts
        for draft in drafts:
            [created] = events_of(Invoice, draft.pk)
            assert (created.pgh_label, context_of(created)) == (
                INSERT, {"task": "invoicing.tasks.rate_open_cycles"})
        # The next run rewrites the drafts' totals: nothing for the audit log.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM invoicing_invoiceevent")
            events = cursor.fetchone()[0]
        rate_open_cycles_task()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM invoicing_invoiceevent")
            assert cursor.fetchone()[0] == events


def test_a_write_after_a_context_closed_in_the_same_transaction_is_not_attributed_to_it(
        alpha):
    # The whole test is one transaction, where pghistory's variables would outlive the
    # service call's context.
    with inside(alpha):
        org = make_org("mars-corp")
        admin = user_with_role(alpha, "payer", Role.FLEET_ADMIN)
        account = billing_account_update(billing_account=org.billing_accounts.get(),
                                         name="Main", payment_kind=PaymentKind.CARD,
                                         actor=admin)
        BillingAccount.objects.filter(pk=account.pk).update(name="Renamed by hand")
        by_service, by_hand = log_of(account)[-2:]
        assert actor_of(by_service) == "payer"
        assert diff_of(by_hand) == {"name": ("Main", "Renamed by hand")}
        assert context_of(by_hand) == {}
