"""The unused-quota widget on the consumer dashboard."""

from django.utils import timezone

from accounts.capacity import project_quota_set
from tests.conftest import host_client, inside, sign_in
from tests.factories import make_org, make_price, make_project
from tests.invoicing.builders import at, run_resource, seed_catalog


def test_the_project_page_shows_idle_capacity_and_its_cost(beta):
    with inside(beta):
        instance, _ = seed_catalog()
        make_price(instance, "0.10", "minute", variant="4cpu-16gb")
        project = make_project("adventure", make_org("mars-corp"))
        run_resource("i-1", instance, "4cpu-16gb", project, since=at(2026, 1, 1))
        project_quota_set(project=project, resource_type="instance", variant="4cpu-16gb",
                          region="mars", allocated=3, actor=None, now=timezone.now())
    client = host_client(beta)
    assert sign_in(client, "bob")
    page = client.get("/projects/adventure/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Unused quota" in html
    assert "$288.00" in html  # 2 idle instances x $0.10 x 1440 minutes a day
