"""One authorization policy for a provider's people: Tally's roles decide.

Inside a provider, the roles of PRODUCT.md are the only source of rights: the admin,
the API and the pages all ask them. Django's own flags do not grant anything there:
`is_superuser` is for the platform admin of the public schema (the provider
registry), and `is_staff` is not read at all.

What each role may do in the admin, per model permission (`<app>.<action>_<model>`):

| role          | view | add, change, delete |
|---------------|------|---------------------|
| fleet admin   | yes  | yes                 |
| fleet viewer  | yes  | no                  |
| anyone else   | no   | no                  |

A model admin may still refuse more (finalized invoices and history are read-only
whoever asks). Object-level rights on the API and pages (an org admin manages their
organization, a project viewer sees their project) are `accounts.access.Access`.
"""

from accounts.access import Access

VIEW = "view"


def admin_site_allowed(access: Access) -> bool:
    """May sign in to the provider's admin at all."""
    return access.sees_fleet


def admin_permission_allowed(access: Access, codename: str) -> bool:
    """May perform `codename` (`view_price`, `change_budget`, a custom action's)."""
    if access.fleet_admin:
        return True
    return access.fleet_viewer and codename.split("_", 1)[0] == VIEW
