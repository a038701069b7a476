"""API routes of accounts, under /api/v1/.

Exact paths only: `organizations/<org>/billing` and `projects/<project>/billing`
belong to invoicing and must not be shadowed here.
"""

from django.urls import path

from accounts import apis, consumer_apis
from accounts.apis import WhoAmIApi


def _route(*operations):
    """One view for operations sharing a path (GET and POST on a collection)."""
    if len(operations) == 1:
        return operations[0].as_view()
    combined = type("".join(op.__name__ for op in operations), operations, {})
    return combined.as_view()


ORG = "organizations/<slug:org_name>"
ACCOUNT = f"{ORG}/billing-accounts/<int:billing_account_id>"
PROJECT = "projects/<slug:project_name>"
BILLING_ACCOUNT = "billing-accounts/<int:billing_account_id>"

urlpatterns = [
    path("whoami", WhoAmIApi.as_view(), name="whoami"),
    path("organizations", _route(apis.OrganizationListApi, apis.OrganizationCreateApi),
         name="organizations"),
    path(ORG, _route(apis.OrganizationDetailApi), name="organization"),
    path(f"{ORG}/billing-accounts",
         _route(apis.BillingAccountListApi, apis.BillingAccountCreateApi),
         name="billing-accounts"),
    path(f"{ACCOUNT}/default", _route(apis.BillingAccountSetDefaultApi),
         name="billing-account-default"),
    path(f"{ACCOUNT}/contacts",
         _route(apis.BillingContactAddApi, apis.BillingContactRemoveApi),
         name="billing-account-contacts"),
    path(f"{ORG}/grants",
         _route(apis.OrganizationGrantListApi, apis.OrganizationGrantCreateApi,
                apis.OrganizationGrantRevokeApi),
         name="organization-grants"),
    path("projects", _route(apis.ProjectListApi, apis.ProjectCreateApi), name="projects"),
    path(PROJECT, _route(apis.ProjectDetailApi), name="project"),
    path(f"{PROJECT}/move", _route(apis.ProjectMoveApi), name="project-move"),
    path(f"{PROJECT}/viewers",
         _route(apis.ProjectViewerListApi, apis.ProjectViewerGrantApi,
                apis.ProjectViewerRevokeApi),
         name="project-viewers"),
    path(f"{BILLING_ACCOUNT}/entitlements",
         _route(consumer_apis.EntitlementListApi, consumer_apis.EntitlementAcceptApi),
         name="billing-account-entitlements"),
    path(f"{BILLING_ACCOUNT}/entitlements/<int:entitlement_id>/end",
         _route(consumer_apis.EntitlementEndApi), name="billing-account-entitlement-end"),
    path(f"{BILLING_ACCOUNT}/upcoming-invoice", _route(consumer_apis.UpcomingInvoiceApi),
         name="billing-account-upcoming-invoice"),
    path("entitlements/check", _route(consumer_apis.EntitlementCheckApi),
         name="entitlements-check"),
    path("entitlements/reserve", _route(consumer_apis.EntitlementReserveApi),
         name="entitlements-reserve"),
    path("entitlements/release", _route(consumer_apis.EntitlementReleaseApi),
         name="entitlements-release"),
]
