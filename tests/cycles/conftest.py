"""The metering world (a small chargeback catalog in alpha) and the sandbox's own media
directory, shared with these tests."""

from tests.cycles.sandbox import own_media  # noqa: F401
from tests.metering.conftest import fleet  # noqa: F401
