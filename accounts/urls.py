"""API routes of accounts, under /api/v1/.

Exact paths only: `organizations/<org>/billing` and `projects/<project>/billing`
belong to invoicing and must not be shadowed here.
"""

from django.urls import path

from accounts import (
    api_key_apis,
    consumer_apis,
    grant_apis,
    organization_apis,
    private_offer_apis,
    project_apis,
    user_apis,
)
from accounts.apis import WhoAmIApi
from core.api import combined_view

ORG = "organizations/<slug:org_name>"
ACCOUNT = f"{ORG}/billing-accounts/<int:billing_account_id>"
PROJECT = "projects/<slug:project_name>"
BILLING_ACCOUNT = "billing-accounts/<int:billing_account_id>"

urlpatterns = [
    path("whoami", WhoAmIApi.as_view(), name="whoami"),
    path("api-keys", combined_view(api_key_apis.ApiKeyListApi, api_key_apis.ApiKeyIssueApi),
         name="api-keys"),
    path("api-keys/<int:key_id>", combined_view(api_key_apis.ApiKeyDetailApi), name="api-key"),
    path("api-keys/<int:key_id>/revoke", combined_view(api_key_apis.ApiKeyRevokeApi),
         name="api-key-revoke"),
    path("users", combined_view(user_apis.UserListApi, user_apis.UserCreateApi), name="users"),
    path("users/<str:username>", combined_view(user_apis.UserDetailApi), name="user"),
    path("users/<str:username>/roles",
         combined_view(user_apis.UserRoleGrantApi, user_apis.UserRoleRevokeApi),
         name="user-roles"),
    path("organizations",
         combined_view(organization_apis.OrganizationListApi,
                       organization_apis.OrganizationCreateApi),
         name="organizations"),
    path(ORG, combined_view(organization_apis.OrganizationDetailApi), name="organization"),
    path(f"{ORG}/billing-accounts",
         combined_view(organization_apis.BillingAccountListApi,
                       organization_apis.BillingAccountCreateApi),
         name="billing-accounts"),
    path(f"{ACCOUNT}/default", combined_view(organization_apis.BillingAccountSetDefaultApi),
         name="billing-account-default"),
    path(f"{ACCOUNT}/contacts",
         combined_view(organization_apis.BillingContactAddApi,
                       organization_apis.BillingContactRemoveApi),
         name="billing-account-contacts"),
    path(f"{ORG}/grants",
         combined_view(grant_apis.OrganizationGrantListApi, grant_apis.OrganizationGrantCreateApi,
                       grant_apis.OrganizationGrantRevokeApi),
         name="organization-grants"),
    path("projects", combined_view(project_apis.ProjectListApi, project_apis.ProjectCreateApi),
         name="projects"),
    path(PROJECT, combined_view(project_apis.ProjectDetailApi), name="project"),
    path(f"{PROJECT}/move", combined_view(project_apis.ProjectMoveApi), name="project-move"),
    path(f"{PROJECT}/viewers",
         combined_view(grant_apis.ProjectViewerListApi, grant_apis.ProjectViewerGrantApi,
                       grant_apis.ProjectViewerRevokeApi),
         name="project-viewers"),
    path("offers/<slug:offer_key>/consumers",
         combined_view(private_offer_apis.OfferConsumersApi), name="offer-consumers"),
    path(f"{BILLING_ACCOUNT}/offers", combined_view(private_offer_apis.BillingAccountOffersApi),
         name="billing-account-offers"),
    path(f"{BILLING_ACCOUNT}/entitlements",
         combined_view(consumer_apis.EntitlementListApi, consumer_apis.EntitlementAcceptApi),
         name="billing-account-entitlements"),
    path(f"{BILLING_ACCOUNT}/entitlements/<int:entitlement_id>/end",
         combined_view(consumer_apis.EntitlementEndApi), name="billing-account-entitlement-end"),
    path("entitlements/check", combined_view(consumer_apis.EntitlementCheckApi),
         name="entitlements-check"),
    path("entitlements/reserve", combined_view(consumer_apis.EntitlementReserveApi),
         name="entitlements-reserve"),
    path("entitlements/release", combined_view(consumer_apis.EntitlementReleaseApi),
         name="entitlements-release"),
]
