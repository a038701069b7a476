"""API routes of the billing calendar, under /api/v1/."""

from django.urls import path

from cycles.apis import CyclesApi

urlpatterns = [
    path("cycles", CyclesApi.as_view(), name="cycles"),
]
