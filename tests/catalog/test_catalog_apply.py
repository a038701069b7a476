"""Declarative setup: a whole catalog from one file, through `manage.py catalog apply`
and `PUT /api/v1/catalog`; a plan shows the diff and writes nothing; applying twice
changes nothing the second time; a bad file writes nothing."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.entitlements import entitlement_accept
from catalog.management.commands.catalog import NOTHING_TO_CHANGE
from catalog.models import Metric, Offer, OfferVersion, Price, Region
from catalog.services.catalog_apply import UNKNOWN_SECTION
from cycles.clock import clock_now
from tests.accounts.support import Api
from tests.conftest import inside
from tests.offers_world import make_consumer

CATALOG = """
regions:
  - {key: mars, name: Mars}
  - {key: venus, name: Venus}
services:
  - {key: compute, name: Compute}
  - {key: auth, name: Auth, description: Sign-in for apps}
features:
  - {key: auth.sso, service: auth, name: Single sign-on, kind: flag}
  - {key: auth.apps, service: auth, name: Apps, kind: quota, default_limit: 5}
resource_types:
  - key: instance
    name: Instance
    unit: instance
    service: compute
    variants:
      - {key: 4cpu-16gb, description: "4 CPU, 16 GB Memory"}
  - key: disk
    name: Disk
    variants:
      - {key: 500gb, description: 500GB Virtual Disk}
dependencies:
  - {resource_type: disk, depends_on: instance}
metrics:
  - {key: auth.users, name: Active users, aggregation: unique_count,
     unique_attribute: user_id, service: auth, unit: user}
  - {key: auth.logins, name: Sign-ins, aggregation: count, service: auth}
prices:
  - {resource_type: instance, variant: 4cpu-16gb, rate: 0.10, unit: minute}
  - {resource_type: instance, variant: 4cpu-16gb, region: venus, rate: 0.12, unit: minute}
  - {resource_type: disk, rate: 0.05, unit: minute}
usage_prices:
  - {metric: auth.logins, model: per_unit, name: Sign-ins, unit_price: 0.001}
offers:
  - key: team
    name: Team
    services: [auth]
    charges:
      - model: graduated
        name: Active users
        metric: auth.users
        tiers:
          - {up_to: 10, unit_price: 0}
          - {up_to: null, unit_price: 0.50}
      - {model: recurring, name: Team plan, amount: 20.00, service: auth}
    features:
      - {feature: auth.sso}
      - {feature: auth.apps, limit: 20}
"""


def _apply(tmp_path, text: str, *extra: str, capsys) -> str:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    call_command("catalog", "apply", str(path), "--provider", "beta", *extra)
    return capsys.readouterr().out


def test_plan_then_apply_then_apply_again_changes_nothing(beta, tmp_path, capsys):
    planned = _apply(tmp_path, CATALOG, "--plan", capsys=capsys)
    assert "Would change on beta" in planned and "Nothing was written" in planned
    for line in ("+ regions/mars", "+ resource_types/instance", "+ offers/team",
                 "+ prices/instance/4cpu-16gb/venus/*", "+ dependencies/disk->instance",
                 "+ usage_prices/auth.logins"):
        assert line in planned
    with inside(beta):
        assert not Region.objects.exists() and not Metric.objects.exists()

    applied = _apply(tmp_path, CATALOG, capsys=capsys)
    assert "Changed on beta" in applied and "Applied." in applied
    with inside(beta):
        assert Price.objects.filter(superseded_at__isnull=True).count() == 3
        assert Metric.objects.get(key="auth.users").policy.unique_attribute == "user_id"
        before = _event_count()

    assert NOTHING_TO_CHANGE in _apply(tmp_path, CATALOG, capsys=capsys)
    with inside(beta):
        assert _event_count() == before  # not a single write the second time


def _event_count() -> int:
    from audit.models import AuditEvent

    return AuditEvent.objects.count()


def test_a_changed_file_shows_its_diff_and_an_accepted_offer_gets_a_new_version(
        beta, tmp_path, capsys):
    _apply(tmp_path, CATALOG, capsys=capsys)
    with inside(beta):
        consumer = make_consumer("acme")
        entitlement_accept(billing_account=consumer.account, offer_key="team",
                           now=clock_now())
    changed = (CATALOG.replace("{key: mars, name: Mars}", "{key: mars, name: Mars Prime}")
               .replace("region: venus, rate: 0.12", "region: venus, rate: 0.13")
               .replace("unit_price: 0.50", "unit_price: 0.45"))
    planned = _apply(tmp_path, changed, "--plan", capsys=capsys)
    assert "~ regions/mars: name: 'Mars' -> 'Mars Prime'" in planned
    assert "~ prices/instance/4cpu-16gb/venus/*: rate: '0.12' -> '0.13'" in planned
    assert "~ offers/team: version: 1 -> 2; charges:" in planned
    assert "+" not in "".join(line[:3] for line in planned.splitlines() if line.startswith("  "))
    _apply(tmp_path, changed, capsys=capsys)
    with inside(beta):
        assert Region.objects.get(key="mars").name == "Mars Prime"
        assert list(OfferVersion.objects.filter(offer__key="team")
                    .values_list("number", flat=True)) == [2, 1]
        assert consumer.account.entitlements.get().offer_version.number == 1
    assert NOTHING_TO_CHANGE in _apply(tmp_path, changed, capsys=capsys)


def test_leaving_things_out_deletes_nothing(beta, tmp_path, capsys):
    _apply(tmp_path, CATALOG, capsys=capsys)
    assert NOTHING_TO_CHANGE in _apply(tmp_path, "regions:\n  - {key: mars, name: Mars}\n",
                                       capsys=capsys)
    with inside(beta):
        assert Offer.objects.filter(key="team").exists()
        assert Region.objects.count() == 2


def test_a_bad_file_writes_nothing_and_names_every_bad_item(beta, tmp_path, capsys):
    bad = CATALOG.replace("{up_to: null, unit_price: 0.50}", "{up_to: 5, unit_price: 0.50}")
    bad = bad.replace("{key: venus, name: Venus}", "{key: Venus!, name: Venus}")
    with pytest.raises(CommandError) as refused:
        _apply(tmp_path, bad + "planets: []\n", capsys=capsys)
    message = str(refused.value)
    assert "nothing applied" in message
    assert "planets: " + UNKNOWN_SECTION.split(":")[0] in message
    with inside(beta):
        assert not Region.objects.exists()
    with pytest.raises(CommandError):
        _apply(tmp_path, bad, capsys=capsys)
    with inside(beta):
        assert not Region.objects.exists()  # the good items were not kept either


def test_the_api_applies_yaml_and_json_alike(beta):
    api = Api(beta, "bob")
    planned = api.client.put("/api/v1/catalog?plan=1", CATALOG, content_type="application/yaml",
                             **api.headers)
    assert planned.status_code == 200, planned.content
    assert planned.json()["applied"] is False and "+ offers/team" in planned.json()["changes"]
    applied = api.client.put("/api/v1/catalog", CATALOG, content_type="application/yaml",
                             **api.headers)
    assert applied.json()["applied"] is True and len(applied.json()["changes"]) > 10
    exported = api.get("/api/v1/catalog").json()
    assert [r["key"] for r in exported["regions"]] == ["mars", "venus"]
    again = api.put("/api/v1/catalog", exported)  # the export, as JSON, applies as a no-op
    assert again.status_code == 200 and again.json()["changes"] == []
    bad = api.put("/api/v1/catalog", {"offers": [{"key": "x", "name": "X",
                                                  "services": ["nope"]}]})
    assert bad.status_code == 400
    assert "offers[0].services" in bad.json()["error"]["fields"]


def test_the_example_catalog_in_the_docs_applies_once(beta, capsys):
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "catalog.yaml"
    call_command("catalog", "apply", str(example), "--provider", "beta")
    assert "+ dependencies/ip->instance" in capsys.readouterr().out
    call_command("catalog", "apply", str(example), "--provider", "beta")
    assert NOTHING_TO_CHANGE in capsys.readouterr().out
