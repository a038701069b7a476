"""Not-found pages render for people (a page) and for programs (the API envelope)."""

from django.test import Client

from tests.conftest import host_client


def test_a_missing_page_on_a_provider_host_is_a_friendly_404(alpha):
    response = host_client(alpha).get("/no/such/page/")
    assert response.status_code == 404
    assert b"Nothing here" in response.content


def test_a_missing_page_on_the_platform_host_is_a_404_not_a_500(db):
    response = Client(HTTP_HOST="localhost").get("/no/such/page/")
    assert response.status_code == 404
    assert b"Nothing here" in response.content
