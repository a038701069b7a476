"""API routes of notifications, under /api/v1/."""

from django.urls import path

from core.api import combined_view
from notifications import apis

PREFS = "notification-preferences"

urlpatterns = [
    path(PREFS, combined_view(apis.NotificationPreferenceListApi),
         name="notification-preferences"),
    path(f"{PREFS}/organizations/<slug:org_name>",
         combined_view(apis.OrganizationPreferenceDetailApi, apis.OrganizationPreferenceSetApi),
         name="organization-notification-preference"),
    path(f"{PREFS}/projects/<slug:project_name>",
         combined_view(apis.ProjectPreferenceDetailApi, apis.ProjectPreferenceSetApi),
         name="project-notification-preference"),
]
