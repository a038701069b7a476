"""API views of organizations, their billing accounts and the accounts' contacts."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import AccountRefSerializer, paginated, require_manage
from accounts.models import PaymentKind
from accounts.organizations import (
    billing_account_create,
    billing_account_set_default,
    billing_contact_add,
    billing_contact_remove,
    organization_create,
)
from accounts.permissions import request_access
from accounts.selectors import (
    billing_account_get,
    billing_account_list,
    organization_get,
    organization_list,
)
from core.api import StandardPagination
from cycles.clock import clock_now

FLEET_ADMIN_ONLY = "Only a fleet billing admin may create organizations."


CREATED_AT_HELP = ("when it began, for a history import: a past instant in an open cycle, "
                   "from the billing start on; defaults to now")


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


class OrganizationListApi(APIView):
    """Organizations the caller may see."""

    pagination_class = StandardPagination

    @extend_schema(operation_id="organizations_list",
                   responses=OrganizationOutputSerializer(many=True))
    def get(self, request):
        organizations = organization_list(access=request_access(request))
        return paginated(request, self, organizations, OrganizationOutputSerializer,
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
        created_at = serializers.DateTimeField(
            required=False, help_text=CREATED_AT_HELP,
        )

    @extend_schema(operation_id="organizations_create", request=InputSerializer,
                   responses={201: OrganizationOutputSerializer})
    def post(self, request):
        if not request_access(request).fleet_admin:
            raise exceptions.PermissionDenied(FLEET_ADMIN_ONLY)
        data = OrganizationCreateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = organization_create(**data.validated_data, actor=request.user,
                                           now=clock_now())
        return Response(OrganizationOutputSerializer(_organization_data(organization)).data,
                        status=status.HTTP_201_CREATED)


class OrganizationDetailApi(APIView):
    """One organization: its billing accounts and projects (org and fleet roles)."""

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
        return paginated(request, self, accounts, BillingAccountOutputSerializer,
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
        created_at = serializers.DateTimeField(required=False, help_text=CREATED_AT_HELP)

    @extend_schema(operation_id="billing_accounts_create", request=InputSerializer,
                   responses={201: BillingAccountOutputSerializer})
    def post(self, request, org_name: str):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        require_manage(access, organization.pk)
        data = BillingAccountCreateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = billing_account_create(organization=organization, **data.validated_data,
                                         actor=request.user, now=clock_now())
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
        require_manage(access, organization.pk)
        billing_account_set_default(billing_account=account, actor=request.user,
                                    now=clock_now())
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
        require_manage(access, organization.pk)
        data = BillingContactAddApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        billing_contact_add(billing_account=account, **data.validated_data,
                            actor=request.user, now=clock_now())
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
        require_manage(access, organization.pk)
        data = BillingContactRemoveApi.InputSerializer(
            data=request.data or request.query_params
        )
        data.is_valid(raise_exception=True)
        billing_contact_remove(billing_account=account, email=data.validated_data["email"],
                               actor=request.user, now=clock_now())
        return Response(status=status.HTTP_204_NO_CONTENT)
