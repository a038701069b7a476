"""Helpers for the accounts tests: users of a provider and API clients acting as them."""

from django.contrib.auth import get_user_model

from accounts.api_keys import api_key_issue
from tests.conftest import PASSWORD, host_client, inside


def make_user(username: str):
    return get_user_model().objects.create_user(username=username, password=PASSWORD)


class Api:
    """An HTTP client on the provider's host, authenticated with an API key of `username`."""

    def __init__(self, provider, username: str):
        with inside(provider):
            self.secret = api_key_issue(username=username, name="tests").secret
        self.client = host_client(provider)
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}

    def get(self, path, **params):
        return self.client.get(path, params, **self.headers)

    def post(self, path, body=None):
        return self.client.post(path, body or {}, content_type="application/json", **self.headers)

    def put(self, path, body=None):
        return self.client.put(path, body or {}, content_type="application/json", **self.headers)

    def delete(self, path, body=None):
        return self.client.delete(path, body or {}, content_type="application/json",
                                  **self.headers)
