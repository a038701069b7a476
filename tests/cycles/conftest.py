"""The metering world (a small chargeback catalog in alpha), shared with these tests."""

from tests.metering.conftest import fleet  # noqa: F401
