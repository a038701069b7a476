"""API views of accounts."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ORG_ROLES, BillingAccount, PaymentKind, Role
from accounts.permissions import request_access
from accounts.selectors import (
    billing_account_get,
    billing_account_list,
    organization_get,
    organization_grants,
    organization_list,
    project_get,
    project_list,
    project_viewer_grants,
)
from accounts.services import (
    USER_NOT_FOUND,
    billing_account_create,
    billing_account_set_default,
    billing_contact_add,
    billing_contact_remove,
    organization_create,
    project_create,
    project_move,
    role_grant,
    role_revoke,
)
from core.api import StandardPagination


class WhoAmIApi(APIView):
    """Who the caller is, on which provider: the first call a new integration makes."""

    class OutputSerializer(serializers.Serializer):
        provider = serializers.CharField()
        username = serializers.CharField()
        auth = serializers.CharField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        data = {
            "provider": connection.tenant.slug,
            "username": request.user.username,
            "auth": "api_key" if request.auth is not None else "session",
        }
        return Response(self.OutputSerializer(data).data)


# ---------------------------------------------------------------------------
# Organizations, billing accounts, projects and role grants.
#
# One class per operation. Where two operations share a path (GET and POST on
# a collection), `urls.py` serves them through one subclass of both; each
# method names its own serializers, so nothing is shared by accident.
# Reads narrow to what the caller may see (404 outside it); writes the caller
# may see but not do answer 403.
# ---------------------------------------------------------------------------


def _refuse(exc: Exception):
    """Keep a service's refusal message (the envelope's default is generic)."""
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    return exceptions.NotFound()


def _require_manage(access, organization_id: int) -> None:
    if not access.can_manage_org(organization_id):
        raise exceptions.PermissionDenied(NOT_ORG_ADMIN)


def _user_by_name(username: str, field: str = "username"):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({field: [USER_NOT_FOUND.format(username=username)]})
    return user


def _account_in_org(organization, billing_account_id: int, field: str = "billing_account"):
    account = BillingAccount.objects.filter(
        organization=organization, pk=billing_account_id
    ).first()
    if account is None:
        raise ValidationError({field: [NO_SUCH_ACCOUNT.format(
            id=billing_account_id, org=organization.name)]})
    return account


def _paginated(request, view, items, serializer_class, to_data):
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(items, request, view=view)
    return paginator.get_paginated_response(
        serializer_class([to_data(item) for item in page], many=True).data
    )


FLEET_ADMIN_ONLY = "Only a fleet billing admin may create organizations."
NOT_ORG_ADMIN = "Only an admin of this organization (or a fleet admin) may do this."
NO_SUCH_ORG = "no organization {name!r}"
NO_SUCH_ACCOUNT = "no billing account {id} in organization {org!r}"


class AccountRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class OrganizationOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()
    default_billing_account = AccountRefSerializer(allow_null=True)
    created_at = serializers.DateTimeField()


def _organization_data(organization) -> dict:
    defaults = getattr(organization, "default_accounts", None)
    if defaults is None:
        defaults = list(organization.billing_accounts.filter(is_default=True))
    default = defaults[0] if defaults else None
    return {
        "name": organization.name,
        "display_name": organization.display_name,
        "default_billing_account": {"id": default.pk, "name": default.name} if default else None,
        "created_at": organization.created_at,
    }


class ContactSerializer(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField(allow_blank=True)


class BillingAccountOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    organization = serializers.CharField()
    name = serializers.CharField()
    is_default = serializers.BooleanField()
    payment_kind = serializers.ChoiceField(choices=PaymentKind.choices)
    contacts = ContactSerializer(many=True)
    created_at = serializers.DateTimeField()


def _account_data(account) -> dict:
    return {
        "id": account.pk,
        "organization": account.organization.name,
        "name": account.name,
        "is_default": account.is_default,
        "payment_kind": account.payment_kind,
        "contacts": [{"email": c.email, "name": c.name} for c in account.contacts.all()],
        "created_at": account.created_at,
    }


class ProjectOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    organization = serializers.CharField()
    billing_account = AccountRefSerializer(allow_null=True, help_text="where it bills now")
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class AssignmentOutputSerializer(serializers.Serializer):
    billing_account = AccountRefSerializer()
    valid_from = serializers.DateTimeField()
    valid_to = serializers.DateTimeField(allow_null=True, help_text="exclusive; null = open")


class ProjectDetailOutputSerializer(ProjectOutputSerializer):
    assignments = AssignmentOutputSerializer(many=True)


def _project_data(project, *, history: bool = False) -> dict:
    current = getattr(project, "current_assignments", [])
    account = current[0].billing_account if current else None
    data = {
        "name": project.name,
        "organization": project.organization.name,
        "billing_account": {"id": account.pk, "name": account.name} if account else None,
        "created_by": project.created_by.username if project.created_by else None,
        "created_at": project.created_at,
    }
    if history:
        data["assignments"] = [
            {"billing_account": {"id": a.billing_account.pk, "name": a.billing_account.name},
             "valid_from": a.valid_from, "valid_to": a.valid_to}
            for a in project.assignment_history
        ]
    return data


class GrantOutputSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    organization = serializers.CharField(allow_null=True)
    project = serializers.CharField(allow_null=True)
    granted_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


def _grant_data(grant, *, organization=None, project=None) -> dict:
    organization = organization or grant.organization
    project = project or grant.project
    return {
        "username": grant.user.username,
        "role": grant.role,
        "organization": organization.name if organization else None,
        "project": project.name if project else None,
        "granted_by": grant.granted_by.username if grant.granted_by else None,
        "created_at": grant.created_at,
    }


class OrganizationListApi(APIView):
    """Organizations the caller may see."""

    pagination_class = StandardPagination

    @extend_schema(operation_id="organizations_list",
                   responses=OrganizationOutputSerializer(many=True))
    def get(self, request):
        organizations = organization_list(access=request_access(request))
        return _paginated(request, self, organizations, OrganizationOutputSerializer,
                          _organization_data)


class OrganizationCreateApi(APIView):
    """Create an organization and its first (default) billing account: fleet admins only."""

    @extend_schema_serializer(component_name="OrganizationCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(help_text="lowercase letters, digits and '-'")
        display_name = serializers.CharField()
        billing_account_name = serializers.CharField(
            required=False, allow_null=True, default="Main",
            help_text="its first billing account; null creates none yet",
        )
        payment_kind = serializers.ChoiceField(
            choices=PaymentKind.choices, default=PaymentKind.CHARGEBACK
        )

    @extend_schema(operation_id="organizations_create", request=InputSerializer,
                   responses={201: OrganizationOutputSerializer})
    def post(self, request):
        if not request_access(request).fleet_admin:
            raise exceptions.PermissionDenied(FLEET_ADMIN_ONLY)
        data = OrganizationCreateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = organization_create(**data.validated_data, actor=request.user,
                                           now=timezone.now())
        return Response(OrganizationOutputSerializer(_organization_data(organization)).data,
                        status=status.HTTP_201_CREATED)


class OrganizationDetailApi(APIView):
    @extend_schema(responses=OrganizationOutputSerializer)
    def get(self, request, org_name: str):
        organization = organization_get(access=request_access(request), name=org_name)
        return Response(OrganizationOutputSerializer(_organization_data(organization)).data)


class BillingAccountListApi(APIView):
    """An organization's billing accounts with their contacts (org roles, fleet roles)."""

    pagination_class = StandardPagination

    @extend_schema(operation_id="billing_accounts_list",
                   responses=BillingAccountOutputSerializer(many=True))
    def get(self, request, org_name: str):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        accounts = billing_account_list(access=access, organization=organization)
        return _paginated(request, self, accounts, BillingAccountOutputSerializer,
                          _account_data)


class BillingAccountCreateApi(APIView):
    """Add a billing account; an organization's first becomes its default."""

    @extend_schema_serializer(component_name="BillingAccountCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField()
        payment_kind = serializers.ChoiceField(
            choices=PaymentKind.choices, default=PaymentKind.CHARGEBACK
        )
        contacts = serializers.ListField(child=serializers.EmailField(), default=list)

    @extend_schema(operation_id="billing_accounts_create", request=InputSerializer,
                   responses={201: BillingAccountOutputSerializer})
    def post(self, request, org_name: str):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        _require_manage(access, organization.pk)
        data = BillingAccountCreateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = billing_account_create(organization=organization, **data.validated_data,
                                         actor=request.user, now=timezone.now())
        account = billing_account_get(access=access, organization=organization,
                                      billing_account_id=account.pk)
        return Response(BillingAccountOutputSerializer(_account_data(account)).data,
                        status=status.HTTP_201_CREATED)


class BillingAccountSetDefaultApi(APIView):
    """Make this the organization's default account: new projects bill to it."""

    @extend_schema(request=None, responses=BillingAccountOutputSerializer)
    def put(self, request, org_name: str, billing_account_id: int):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        account = billing_account_get(access=access, organization=organization,
                                      billing_account_id=billing_account_id)
        _require_manage(access, organization.pk)
        billing_account_set_default(billing_account=account, actor=request.user,
                                    now=timezone.now())
        account = billing_account_get(access=access, organization=organization,
                                      billing_account_id=account.pk)
        return Response(BillingAccountOutputSerializer(_account_data(account)).data)


class BillingContactAddApi(APIView):
    """Add who receives the account's invoices; adding an address twice changes nothing."""

    @extend_schema_serializer(component_name="BillingContactAddInput")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        name = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(operation_id="billing_contacts_add", request=InputSerializer,
                   responses=BillingAccountOutputSerializer)
    def post(self, request, org_name: str, billing_account_id: int):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        account = billing_account_get(access=access, organization=organization,
                                      billing_account_id=billing_account_id)
        _require_manage(access, organization.pk)
        data = BillingContactAddApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        billing_contact_add(billing_account=account, **data.validated_data,
                            actor=request.user, now=timezone.now())
        account = billing_account_get(access=access, organization=organization,
                                      billing_account_id=account.pk)
        return Response(BillingAccountOutputSerializer(_account_data(account)).data)


class BillingContactRemoveApi(APIView):
    """Remove a contact (JSON body or `?email=`); removing an absent one is a no-op."""

    @extend_schema_serializer(component_name="BillingContactRemoveInput")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()

    @extend_schema(operation_id="billing_contacts_remove", request=InputSerializer,
                   parameters=[OpenApiParameter("email", str, required=False)],
                   responses={204: None})
    def delete(self, request, org_name: str, billing_account_id: int):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        account = billing_account_get(access=access, organization=organization,
                                      billing_account_id=billing_account_id)
        _require_manage(access, organization.pk)
        data = BillingContactRemoveApi.InputSerializer(
            data=request.data or request.query_params
        )
        data.is_valid(raise_exception=True)
        billing_contact_remove(billing_account=account, email=data.validated_data["email"],
                               actor=request.user, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectListApi(APIView):
    """Projects the caller may see, with the account each bills to now."""

    pagination_class = StandardPagination

    @extend_schema(operation_id="projects_list",
                   parameters=[OpenApiParameter("organization", str, required=False)],
                   responses=ProjectOutputSerializer(many=True))
    def get(self, request):
        access = request_access(request)
        organization = None
        if request.query_params.get("organization"):
            organization = organization_get(
                access=access, name=request.query_params["organization"]
            )
        projects = project_list(access=access, organization=organization, at=timezone.now())
        return _paginated(request, self, projects, ProjectOutputSerializer, _project_data)


class ProjectCreateApi(APIView):
    """Create a project (org admins of its organization, fleet admins). It bills to the
    organization's default account unless another of its accounts is given."""

    @extend_schema_serializer(component_name="ProjectCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(help_text="lowercase letters, digits and '-'")
        organization = serializers.CharField()
        billing_account = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(operation_id="projects_create", request=InputSerializer,
                   responses={201: ProjectDetailOutputSerializer})
    def post(self, request):
        access = request_access(request)
        data = ProjectCreateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        org_name = data.validated_data["organization"]
        try:
            organization = organization_get(access=access, name=org_name)
        except Http404:
            raise ValidationError({"organization": [NO_SUCH_ORG.format(name=org_name)]}) from None
        _require_manage(access, organization.pk)
        account = None
        if data.validated_data.get("billing_account") is not None:
            account = _account_in_org(organization, data.validated_data["billing_account"])
        now = timezone.now()
        project = project_create(name=data.validated_data["name"], organization=organization,
                                 billing_account=account, actor=request.user, now=now)
        project = project_get(access=access, name=project.name, at=now)
        return Response(ProjectDetailOutputSerializer(_project_data(project, history=True)).data,
                        status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectDetailOutputSerializer)
    def get(self, request, project_name: str):
        project = project_get(access=request_access(request), name=project_name,
                              at=timezone.now())
        return Response(ProjectDetailOutputSerializer(_project_data(project, history=True)).data)


class ProjectMoveApi(APIView):
    """Bill the project to another account of its organization from an instant
    (default now): org admins of the organization, fleet admins."""

    @extend_schema_serializer(component_name="ProjectMoveInput")
    class InputSerializer(serializers.Serializer):
        billing_account = serializers.IntegerField()
        effective_from = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema(request=InputSerializer, responses=ProjectDetailOutputSerializer)
    def post(self, request, project_name: str):
        access = request_access(request)
        project = project_get(access=access, name=project_name)
        _require_manage(access, project.organization_id)
        data = ProjectMoveApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = _account_in_org(project.organization, data.validated_data["billing_account"])
        now = timezone.now()
        project_move(project=project, billing_account=account,
                     effective_from=data.validated_data.get("effective_from"),
                     actor=request.user, now=now)
        project = project_get(access=access, name=project.name, at=now)
        return Response(ProjectDetailOutputSerializer(_project_data(project, history=True)).data)


class ProjectViewerListApi(APIView):
    """Who may see the project's spend through a project grant."""

    pagination_class = StandardPagination

    @extend_schema(operation_id="project_viewers_list",
                   responses=GrantOutputSerializer(many=True))
    def get(self, request, project_name: str):
        project = project_get(access=request_access(request), name=project_name)
        grants = project_viewer_grants(project=project)
        return _paginated(request, self, grants, GrantOutputSerializer,
                          lambda g: _grant_data(g, project=project))


class ProjectViewerGrantApi(APIView):
    """Let a user see the project's spend (its viewers, org admins, fleet admins may)."""

    @extend_schema_serializer(component_name="ProjectViewerInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()

    @extend_schema(operation_id="project_viewers_grant", request=InputSerializer,
                   responses={201: GrantOutputSerializer})
    def post(self, request, project_name: str):
        access = request_access(request)
        project = project_get(access=access, name=project_name)
        data = ProjectViewerGrantApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _user_by_name(data.validated_data["username"])
        try:
            grant = role_grant(user=user, role=Role.PROJECT_BILLING_VIEWER, project=project,
                               granted_by=request.user, access=access)
        except (DjangoPermissionDenied, Http404) as exc:
            raise _refuse(exc) from None
        return Response(GrantOutputSerializer(_grant_data(grant, project=project)).data,
                        status=status.HTTP_201_CREATED)


class ProjectViewerRevokeApi(APIView):
    """Take a project grant away (JSON body or `?username=`); a missing one is a no-op."""

    @extend_schema_serializer(component_name="ProjectViewerRevokeInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()

    @extend_schema(operation_id="project_viewers_revoke", request=InputSerializer,
                   parameters=[OpenApiParameter("username", str, required=False)],
                   responses={204: None})
    def delete(self, request, project_name: str):
        access = request_access(request)
        project = project_get(access=access, name=project_name)
        data = ProjectViewerRevokeApi.InputSerializer(data=request.data or request.query_params)
        data.is_valid(raise_exception=True)
        user = _user_by_name(data.validated_data["username"])
        try:
            role_revoke(user=user, role=Role.PROJECT_BILLING_VIEWER, project=project,
                        revoked_by=request.user, access=access)
        except (DjangoPermissionDenied, Http404) as exc:
            raise _refuse(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrganizationGrantListApi(APIView):
    """Who holds an organization role (org roles, fleet roles may see)."""

    pagination_class = StandardPagination

    @extend_schema(operation_id="organization_grants_list",
                   responses=GrantOutputSerializer(many=True))
    def get(self, request, org_name: str):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        if not access.can_view_org(organization.pk):
            raise exceptions.NotFound()
        grants = organization_grants(organization=organization)
        return _paginated(request, self, grants, GrantOutputSerializer,
                          lambda g: _grant_data(g, organization=organization))


class OrganizationGrantCreateApi(APIView):
    """Give a user an organization role (org admins of it, fleet admins)."""

    @extend_schema_serializer(component_name="OrganizationGrantInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(choices=[(r.value, r.label) for r in ORG_ROLES])

    @extend_schema(operation_id="organization_grants_create", request=InputSerializer,
                   responses={201: GrantOutputSerializer})
    def post(self, request, org_name: str):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        data = OrganizationGrantCreateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _user_by_name(data.validated_data["username"])
        try:
            grant = role_grant(user=user, role=data.validated_data["role"],
                               organization=organization, granted_by=request.user,
                               access=access)
        except (DjangoPermissionDenied, Http404) as exc:
            raise _refuse(exc) from None
        return Response(GrantOutputSerializer(_grant_data(grant, organization=organization)).data,
                        status=status.HTTP_201_CREATED)


class OrganizationGrantRevokeApi(APIView):
    """Take an organization role away (JSON body or query); a missing one is a no-op."""

    @extend_schema_serializer(component_name="OrganizationGrantRevokeInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(choices=[(r.value, r.label) for r in ORG_ROLES])

    @extend_schema(operation_id="organization_grants_revoke", request=InputSerializer,
                   parameters=[OpenApiParameter("username", str, required=False),
                               OpenApiParameter("role", str, required=False)],
                   responses={204: None})
    def delete(self, request, org_name: str):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        data = OrganizationGrantRevokeApi.InputSerializer(
            data=request.data or request.query_params
        )
        data.is_valid(raise_exception=True)
        user = _user_by_name(data.validated_data["username"])
        try:
            role_revoke(user=user, role=data.validated_data["role"], organization=organization,
                        revoked_by=request.user, access=access)
        except (DjangoPermissionDenied, Http404) as exc:
            raise _refuse(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

