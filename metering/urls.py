"""API routes of metering, under /api/v1/."""

urlpatterns: list = []
