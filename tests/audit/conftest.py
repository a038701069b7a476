"""The catalog's fixtures (alpha's and beta's resource types and regions, no cycles),
shared with the audit tests."""

from tests.catalog.conftest import alpha_catalog, beta_catalog  # noqa: F401
