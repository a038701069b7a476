"""API of notification preferences: which emails the caller gets, per scope."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import organization_in_scope, project_in_scope, request_access
from cycles.clock import clock_now
from notifications.selectors import (
    SCOPE_ORGANIZATION,
    SCOPE_PROJECT,
    notification_preference_get,
    notification_preference_list,
)
from notifications.services import notification_preference_set


def _scoped(base: type, kind: str) -> type:
    prefix = "Project" if kind == SCOPE_PROJECT else "Organization"
    return type(f"{prefix}{base.__name__}", (base,), {"scope_kind": kind,
                                                      "__doc__": base.__doc__})


class PreferenceOutputSerializer(serializers.Serializer):
    scope = serializers.CharField(help_text="project or organization")
    organization = serializers.CharField()
    project = serializers.CharField(allow_null=True)
    invoice_email = serializers.BooleanField(
        help_text="The month's invoice email (organizations' billing users)."
    )
    budget_email = serializers.BooleanField(help_text="Budget alert emails.")
    payment_email = serializers.BooleanField(
        help_text="A card payment failed or needs the customer (organizations' admins).")
    credit_email = serializers.BooleanField(
        help_text="A credit was added to the organization or project.")
    budget_min_threshold = serializers.IntegerField(
        help_text="Budget emails only for thresholds at or above this percent (0: all).")
    is_default = serializers.BooleanField(help_text="True until the user chooses.")


class PreferenceInputSerializer(serializers.Serializer):
    invoice_email = serializers.BooleanField(required=False)
    budget_email = serializers.BooleanField(required=False)
    payment_email = serializers.BooleanField(required=False)
    credit_email = serializers.BooleanField(required=False)
    budget_min_threshold = serializers.IntegerField(required=False, min_value=0,
                                                    max_value=1000)


def _preference_data(view) -> dict:
    return {"scope": view.scope, "organization": view.organization, "project": view.project,
            "invoice_email": view.invoice_email, "budget_email": view.budget_email,
            "budget_min_threshold": view.budget_min_threshold, "is_default": view.is_default,
            "payment_email": view.payment_email, "credit_email": view.credit_email}


class NotificationPreferenceListApi(APIView):
    """The caller's own notification preferences: each organization and project they
    hold a billing role on (defaults until they choose), and any they saved."""

    @extend_schema(responses=PreferenceOutputSerializer(many=True))
    def get(self, request):
        views = notification_preference_list(user=request.user, access=request_access(request))
        return Response(PreferenceOutputSerializer(
            [_preference_data(v) for v in views], many=True).data)


class _PreferenceView(APIView):
    scope_kind = SCOPE_PROJECT

    def scope(self, request, kwargs):
        if self.scope_kind == SCOPE_PROJECT:
            return project_in_scope(request, kwargs["project_name"])
        return organization_in_scope(request, kwargs["org_name"])


class NotificationPreferenceDetailApi(_PreferenceView):
    """Which emails the caller gets for this organization or project."""

    @extend_schema(responses=PreferenceOutputSerializer)
    def get(self, request, **kwargs):
        organization, project = self.scope(request, kwargs)
        view = notification_preference_get(user=request.user, organization=organization,
                                           project=project)
        return Response(PreferenceOutputSerializer(_preference_data(view)).data)


class NotificationPreferenceSetApi(_PreferenceView):
    """Choose which emails the caller gets for this organization or project; a field left
    out keeps its current value."""

    @extend_schema(request=PreferenceInputSerializer, responses=PreferenceOutputSerializer)
    def put(self, request, **kwargs):
        organization, project = self.scope(request, kwargs)
        data = PreferenceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notification_preference_set(user=request.user, organization=organization,
                                    project=project, now=clock_now(), **data.validated_data)
        view = notification_preference_get(user=request.user, organization=organization,
                                           project=project)
        return Response(PreferenceOutputSerializer(_preference_data(view)).data)


ProjectPreferenceDetailApi = _scoped(NotificationPreferenceDetailApi, SCOPE_PROJECT)
ProjectPreferenceSetApi = _scoped(NotificationPreferenceSetApi, SCOPE_PROJECT)
OrganizationPreferenceDetailApi = _scoped(NotificationPreferenceDetailApi,
                                          SCOPE_ORGANIZATION)
OrganizationPreferenceSetApi = _scoped(NotificationPreferenceSetApi, SCOPE_ORGANIZATION)
