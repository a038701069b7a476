"""API routes of catalog, under /api/v1/."""

urlpatterns: list = []
