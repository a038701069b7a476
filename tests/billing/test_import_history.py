"""`manage.py import_history`: a provider's history from a .jsonl or .csv file, through the
API's services; a dry run that prints what would be billed per month and keeps nothing;
safe to run again."""

import re
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Organization, Project
from catalog.models import Price, PriceChange
from cycles.models import BillingCycle
from cycles.services import billing_start_set
from invoicing.models import Credit, Invoice, InvoiceStatus
from metering.models import LifecycleEvent, UsageEvent
from tests.conftest import inside

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "october-2020.jsonl"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def counts(output: str, kind: str) -> tuple[int, int, int]:
    found = re.search(rf"  {kind}\s+(\d+) created\s+(\d+) unchanged\s+(\d+) refused", output)
    return tuple(int(n) for n in found.groups())


@pytest.fixture
def fresh(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
    return beta


def test_a_dry_run_prints_what_would_be_billed_per_month_and_keeps_nothing(fresh):
    out, err = run("import_history", str(EXAMPLE), "--provider", "beta", "--dry-run")

    assert counts(out, "event") == (60, 0, 0)
    assert counts(out, "credit") == (1, 0, 0)
    assert "2020-10  USD      99,697.50  (1 invoice(s), cycle open)" in out
    assert "mars-corp / Main: USD 99,697.50 (4 lines)" in out
    assert "100%  70/70 records" in err
    with inside(fresh):
        assert not Organization.objects.filter(name="mars-corp").exists()
        assert not LifecycleEvent.objects.exists() and not Invoice.objects.exists()
        assert not BillingCycle.objects.filter(label="2020-10").exists()


def test_importing_then_closing_bills_the_sample_and_a_second_import_changes_nothing(fresh):
    out, _ = run("import_history", str(EXAMPLE), "--provider", "beta")
    assert counts(out, "event") == (60, 0, 0)
    assert counts(out, "price") == (2, 0, 0)
    assert "Next: python manage.py close_cycles --provider beta  (finalizes" in out

    closed, _ = run("close_cycles", "--provider", "beta")
    assert "beta 2020-10: 1 invoice(s) finalized, cycle closed" in closed
    with inside(fresh):
        invoice = Invoice.objects.get(cycle__label="2020-10")
        assert invoice.status == InvoiceStatus.FINALIZED
        assert invoice.total == Decimal("99697.50")
        changes = PriceChange.objects.count()

    # Again, once October is finalized: everything is already there, nothing moves.
    again, _ = run("import_history", str(EXAMPLE), "--provider", "beta")
    for kind, total in (("region", 1), ("resource_type", 2), ("variant", 2),
                        ("organization", 1), ("project", 1), ("price", 2), ("event", 60),
                        ("credit", 1)):
        assert counts(again, kind) == (0, total, 0), kind
    with inside(fresh):
        assert PriceChange.objects.count() == changes
        assert Credit.objects.count() == 1 and Project.objects.count() >= 1
        assert Invoice.objects.get(cycle__label="2020-10").total == invoice.total


CSV = """record,key,name,resource_type,description,organization,display_name,project,\
rate,unit,effective_from,event_id,resource_id,kind,variant,region,occurred_at
region,mars,Mars,,,,,,,,,,,,,,
resource_type,instance,Instance,,,,,,,,,,,,,,
variant,4cpu-16gb,,instance,4 CPU,,,,,,,,,,,,
organization,,,,,,Mars Corp,,,,,,,,,,
price,,,instance,,,,,0.10,minute,2020-10-01T00:00:00Z,,,,4cpu-16gb,,
event,,,instance,,,,nowhere,,,,e-1,vm-1,created,4cpu-16gb,mars,2020-10-01T00:00:00Z
price,,,instance,,,,,0.20,minute,1999-01-01T00:00:00Z,,,,4cpu-16gb,,
invoice,,,,,,,,,,,,,,,,
"""


def test_a_csv_file_reports_each_refused_record_by_line_and_keeps_the_rest(fresh, tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(CSV)
    with pytest.raises(CommandError) as failed:
        run("import_history", str(path), "--provider", "beta")
    assert "4 record(s) refused" in str(failed.value)
    with inside(fresh):
        assert Price.objects.filter(metric__key="instance", rate="0.10").exists()
        assert not Price.objects.filter(rate="0.20").exists()


def test_the_refusals_name_their_line_and_reason(fresh, tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(CSV)
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("import_history", str(path), "--provider", "beta", stdout=out,
                     stderr=StringIO())
    text = out.getvalue()
    assert "line 5 (organization): organization needs name" in text
    assert "line 7 (event): project: unknown project 'nowhere'" in text
    assert "line 8 (price): effective_from: 1999-01-01T00:00:00+00:00 is before this " \
           "provider's billing start (2000-01" in text
    assert "line 9 (invoice): record must be one of: region, resource_type" in text


def test_history_before_the_billing_start_is_refused_until_it_moves_back(fresh):
    with inside(fresh):
        billing_start_set(month="2021-01")
    with pytest.raises(CommandError) as failed:
        run("import_history", str(EXAMPLE), "--provider", "beta")
    assert "65 record(s) refused" in str(failed.value)  # the dated ones, the organization too
    with inside(fresh):
        billing_start_set(month="2020-10")
    out, _ = run("import_history", str(EXAMPLE), "--provider", "beta")
    assert counts(out, "event") == (60, 0, 0)


def test_unknown_providers_files_and_formats_are_refused_with_what_to_do(fresh, tmp_path):
    with pytest.raises(CommandError, match="no provider with slug 'nowhere'"):
        run("import_history", str(EXAMPLE), "--provider", "nowhere")
    with pytest.raises(CommandError, match="no file"):
        run("import_history", str(tmp_path / "missing.jsonl"), "--provider", "beta")
    other = tmp_path / "history.xlsx"
    other.write_text("x")
    with pytest.raises(CommandError, match="must end in .jsonl or .csv"):
        run("import_history", str(other), "--provider", "beta")


def test_usage_and_its_metric_import_once(fresh, tmp_path):
    path = tmp_path / "usage.jsonl"
    path.write_text(
        '{"record": "metric", "key": "dns.queries", "name": "DNS queries", '
        '"aggregation": "sum"}\n'
        '{"record": "organization", "name": "venus", "display_name": "Venus", '
        '"contacts": ["ops@venus.example", "cfo@venus.example"]}\n'
        '{"record": "project", "name": "probe", "organization": "venus", '
        '"billing_from": "2020-10-01T00:00:00Z"}\n'
        '{"record": "usage", "event_id": "u-1", "metric": "dns.queries", "project": "probe", '
        '"occurred_at": "2020-10-05T10:00:00Z", "value": 1500.25}\n')
    first, _ = run("import_history", str(path), "--provider", "beta")
    assert counts(first, "usage") == (1, 0, 0) and counts(first, "metric") == (1, 0, 0)
    again, _ = run("import_history", str(path), "--provider", "beta")
    assert counts(again, "usage") == (0, 1, 0) and counts(again, "organization") == (0, 1, 0)
    with inside(fresh):
        assert UsageEvent.objects.get(event_id="u-1").value == Decimal("1500.25")
        account = Organization.objects.get(name="venus").billing_accounts.get()
        assert sorted(account.contacts.values_list("email", flat=True)) == [
            "cfo@venus.example", "ops@venus.example"]
        assert BillingCycle.objects.filter(label="2020-10").exists()


def test_imported_events_may_name_their_creator_and_an_unknown_one_is_refused(fresh, tmp_path):
    import json

    from django.contrib.auth import get_user_model

    from accounts.models import Role, RoleGrant
    from metering.models import Resource

    run("import_history", str(EXAMPLE), "--provider", "beta")
    with inside(fresh):
        maker = get_user_model().objects.create_user(username="maker")
        RoleGrant.objects.create(user=maker, role=Role.PROJECT_BILLING_VIEWER,
                                 project=Project.objects.get(name="adventure"))
    base = {"record": "event", "kind": "created", "resource_type": "instance",
            "variant": "4cpu-16gb", "project": "adventure", "region": "mars",
            "occurred_at": "2020-10-20T00:00:00Z"}
    history = tmp_path / "creators.jsonl"
    history.write_text("\n".join(json.dumps({**base, **extra}) for extra in (
        {"event_id": "vm-made-created", "resource_id": "vm-made", "created_by": "maker"},
        {"event_id": "vm-ghost-created", "resource_id": "vm-ghost", "created_by": "ghost"},
    )) + "\n")
    out = StringIO()
    with pytest.raises(CommandError, match="1 record"):
        call_command("import_history", str(history), "--provider", "beta", stdout=out,
                     stderr=StringIO())
    assert counts(out.getvalue(), "event") == (1, 0, 1)
    assert "created_by: unknown user 'ghost'" in out.getvalue()
    with inside(fresh):
        assert Resource.objects.get(resource_id="vm-made").created_by.username == "maker"
        assert not Resource.objects.filter(resource_id="vm-ghost").exists()
