"""API routes of invoicing, under /api/v1/."""

urlpatterns: list = []
