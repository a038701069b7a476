import pytest
from django.test import Client

from tests.conftest import PASSWORD, host_client, inside
from tests.dashboards.world import build_world


@pytest.fixture
def world(beta):
    with inside(beta):
        return build_world()


def signed_in(provider, username: str) -> Client:
    """A client on the provider's host, signed in through the sign-in page."""
    client = host_client(provider)
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture
def as_user(beta):
    def make(username: str) -> Client:
        return signed_in(beta, username)

    return make
