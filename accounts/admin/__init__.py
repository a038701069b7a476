"""Admin of accounts: every write goes through a service; its refusals show as form errors.

Forms run the service's checks in `clean()` (the `*_check` functions), then
`save_model` calls the service, which checks again inside its transaction.
"""

# Django's autodiscovery imports this package; each module registers its models.
from accounts.admin import (  # noqa: F401
    api_keys,
    entitlements,
    grants,
    organizations,
    projects,
)
