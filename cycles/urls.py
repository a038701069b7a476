"""API routes of the billing calendar, under /api/v1/."""

from django.urls import path

from cycles import clock_apis
from cycles.apis import CyclesApi

urlpatterns = [
    path("cycles", CyclesApi.as_view(), name="cycles"),
    path("test-clock", clock_apis.ClockApi.as_view(), name="test-clock"),
    path("test-clock/advance", clock_apis.ClockAdvanceApi.as_view(), name="test-clock-advance"),
]
