"""One authorization policy for a provider's people: Tally's roles decide, from one
table of role x object x action.

Inside a provider, the roles of PRODUCT.md are the only source of rights: the admin,
the API and the pages all ask them. Django's own flags do not grant anything there:
`is_superuser` is for the platform admin of the public schema (the provider
registry), and `is_staff` is not read at all.

`POLICY[role][object][action]` is how far a role reaches:

- ALL: every such object of the provider;
- SCOPE: those of the organizations or projects the role was granted;
- OWN: those the user created, among the ones the role lets them see;
- absent: none.

Budgets carry their alerts (thresholds and who is told): viewers may set budgets and
alerts on what they see, and change or delete only their own; an organization's admins
change its budgets, whoever set them; fleet admins change all of them. The admin site
asks the same table (`admin_permission_allowed`): only fleet roles sign in there, and
a model absent from the table is the fleet admin's to change and the fleet viewer's to
see. A model admin may still refuse more (finalized invoices and history are
read-only whoever asks).
"""

from dataclasses import dataclass

from accounts.access import Access
from accounts.models import Role

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ACTIONS = (VIEW, ADD, CHANGE, DELETE)
ALL, SCOPE, OWN = "all", "scope", "own"

# The objects of the API and the admin (an admin model maps to one by its name).
BUDGET = "budget"            # budgets, their thresholds and recipients: the alerts
PRICE = "price"              # list prices and their history
CATALOG = "catalog"          # offers, services, metrics as consumers see them
USAGE = "usage"              # lifecycle and usage events, resources
INVOICE = "invoice"          # spend, invoices, their lines, PDFs, exports, payment
CREDIT = "credit"            # credits
ACCOUNT = "account"          # organizations, projects, billing accounts, grants, quota
PREFERENCE = "preference"    # a person's own notification choices
OPERATIONS = "operations"    # cycles, webhooks, the provider's plumbing
CLOCK = "clock"              # a sandbox's test clock: anyone reads it, fleet admins move it
DIRECTORY = "directory"      # the catalog as the operator keeps it: resource types,
                             # regions, services, features, metrics, the catalog file,
                             # who a private offer is for
API_KEY = "api_key"          # API keys: each person's own; fleet admins everyone's

# Every signed-in person of the provider, whatever their roles: the public offers, and
# their own notification choices and identity.
SIGNED_IN = "signed_in"

_EVERYTHING = {VIEW: ALL, ADD: ALL, CHANGE: ALL, DELETE: ALL}
_SEES = {VIEW: ALL}
_OWN_PREFERENCES = {VIEW: OWN, ADD: OWN, CHANGE: OWN, DELETE: OWN}
_OWN = _OWN_PREFERENCES

POLICY: dict[str, dict[str, dict[str, str]]] = {
    SIGNED_IN: {CATALOG: _SEES, PREFERENCE: _OWN_PREFERENCES, CLOCK: _SEES, API_KEY: _OWN},
    Role.FLEET_ADMIN: {
        obj: _EVERYTHING for obj in (BUDGET, PRICE, CATALOG, USAGE, INVOICE, CREDIT,
                                     ACCOUNT, OPERATIONS, CLOCK, DIRECTORY, API_KEY)
    } | {PREFERENCE: _OWN_PREFERENCES},
    Role.FLEET_VIEWER: {
        BUDGET: {VIEW: ALL, ADD: ALL, CHANGE: OWN, DELETE: OWN},
        PRICE: _SEES, CATALOG: _SEES, USAGE: _SEES, INVOICE: _SEES, CREDIT: _SEES,
        ACCOUNT: _SEES, OPERATIONS: _SEES, DIRECTORY: _SEES, PREFERENCE: _OWN_PREFERENCES,
        API_KEY: _OWN,
    },
    Role.ORG_ADMIN: {
        BUDGET: {VIEW: SCOPE, ADD: SCOPE, CHANGE: SCOPE, DELETE: SCOPE},
        CATALOG: _SEES, INVOICE: {VIEW: SCOPE}, CREDIT: {VIEW: SCOPE}, USAGE: {VIEW: SCOPE},
        ACCOUNT: {VIEW: SCOPE, ADD: SCOPE, CHANGE: SCOPE, DELETE: SCOPE},
        PREFERENCE: _OWN_PREFERENCES,
    },
    Role.ORG_BILLING_VIEWER: {
        BUDGET: {VIEW: SCOPE, ADD: SCOPE, CHANGE: OWN, DELETE: OWN},
        CATALOG: _SEES, INVOICE: {VIEW: SCOPE}, CREDIT: {VIEW: SCOPE}, USAGE: {VIEW: SCOPE},
        ACCOUNT: {VIEW: SCOPE}, PREFERENCE: _OWN_PREFERENCES,
    },
    Role.PROJECT_BILLING_VIEWER: {
        BUDGET: {VIEW: SCOPE, ADD: SCOPE, CHANGE: OWN, DELETE: OWN},
        CATALOG: _SEES, INVOICE: {VIEW: SCOPE}, CREDIT: {VIEW: SCOPE}, USAGE: {VIEW: SCOPE},
        # A project's viewers share it with others (its viewer grants).
        ACCOUNT: {VIEW: SCOPE, ADD: SCOPE, DELETE: SCOPE}, PREFERENCE: _OWN_PREFERENCES,
    },
}

# Admin models that are one of the table's objects (the others: OPERATIONS).
ADMIN_MODEL_OBJECTS = {
    "budget": BUDGET, "budgetrecipient": BUDGET, "budgetalert": BUDGET,
    "price": PRICE, "pricelist": PRICE,
}


# The object of an API operation: a few paths say, else the area its schema tag names
# (core.api_schema.operation_tag, the tags of settings.TALLY_API_TAGS).
OBJECT_OF_PATH = (("notification-preferences", PREFERENCE), ("/whoami", PREFERENCE),
                  ("/budgets", BUDGET), ("/payment-method", ACCOUNT), ("/test-clock", CLOCK),
                  ("/api/v1/catalog", DIRECTORY), ("/consumers", DIRECTORY),
                  ("/api-keys", API_KEY))
# POSTs that only ask (may this project use that feature?): views, not writes.
QUESTIONS = ("/entitlements/check",)
OBJECT_OF_TAG = {"Prices": PRICE, "Catalog": CATALOG, "Usage": USAGE, "Invoices": INVOICE,
                 "Exports": INVOICE, "Credits": CREDIT, "Accounts": ACCOUNT,
                 "Budgets": BUDGET, "Admin": OPERATIONS}
ACTION_OF_METHOD = {"GET": VIEW, "HEAD": VIEW, "OPTIONS": VIEW, "POST": ADD, "PUT": CHANGE,
                    "PATCH": CHANGE, "DELETE": DELETE}


def operation_action(path: str, method: str) -> str:
    if any(path.endswith(question) for question in QUESTIONS):
        return VIEW
    return ACTION_OF_METHOD.get(method.upper(), VIEW)


def operation_object(path: str, tag: str | None) -> str:
    for fragment, obj in OBJECT_OF_PATH:
        if fragment in path:
            return obj
    return OBJECT_OF_TAG.get(tag or "", OPERATIONS)


@dataclass(frozen=True)
class Target:
    """What a check is about: the organization and project it belongs to (a project's
    organization too), and who created it."""

    organization_id: int | None = None
    project_id: int | None = None
    owner_id: int | None = None


def _role_scopes(access: Access) -> list[tuple[str, frozenset[int], str]]:
    """(role, ids it was granted on, what the ids are) for each role the user holds."""
    roles = [(SIGNED_IN, frozenset(), "")] if access.user_id is not None else []
    if access.fleet_admin:
        roles.append((Role.FLEET_ADMIN, frozenset(), ""))
    if access.fleet_viewer:
        roles.append((Role.FLEET_VIEWER, frozenset(), ""))
    if access.admin_org_ids:
        roles.append((Role.ORG_ADMIN, access.admin_org_ids, "organization"))
    if access.viewer_org_ids:
        roles.append((Role.ORG_BILLING_VIEWER, access.viewer_org_ids, "organization"))
    if access.viewer_project_ids:
        roles.append((Role.PROJECT_BILLING_VIEWER, access.viewer_project_ids, "project"))
    return roles


def reach(role: str, obj: str, action: str) -> str | None:
    """How far `role` reaches for `action` on `obj` (ALL, SCOPE, OWN), None if not at all."""
    return POLICY.get(role, {}).get(obj, {}).get(action)


def _in_scope(ids: frozenset[int], kind: str, target: Target) -> bool:
    if kind == "organization":
        return target.organization_id in ids
    if kind == "project":
        return target.project_id is not None and target.project_id in ids
    return True  # fleet roles: the whole provider


def policy_allows(access: Access, obj: str, action: str, target: Target | None = None) -> bool:
    """May the user do `action` on `obj`? Without a target: on at least one such object
    (the question before there is one, e.g. may they create any)."""
    for role, ids, kind in _role_scopes(access):
        how_far = reach(role, obj, action)
        if how_far is None:
            continue
        if target is None or how_far == ALL:
            return True
        if not _in_scope(ids, kind, target):
            continue
        if how_far == SCOPE or (how_far == OWN and target.owner_id == access.user_id):
            return True
    return False


def admin_site_allowed(access: Access) -> bool:
    """May sign in to the provider's admin at all."""
    return access.sees_fleet


def admin_permission_allowed(access: Access, codename: str, target: Target | None = None
                             ) -> bool:
    """May perform `codename` (`view_price`, `change_budget`, a custom action's), on
    `target` if given: the table's answer for the model's object."""
    if not admin_site_allowed(access):
        return False  # model permissions are the admin's, and the admin is fleet roles'
    action, _, model = codename.partition("_")
    if action not in ACTIONS:
        # A custom action's permission: the fleet admin's.
        return access.fleet_admin
    return policy_allows(access, ADMIN_MODEL_OBJECTS.get(model, OPERATIONS), action, target)
