"""Pagination of the dashboards' tables and the sizes of their previews."""

from django.core.paginator import Page, Paginator

PAGE_SIZE = 25
PREVIEW_SIZE = 5
TOP_SIZE = 10


def paginate(items, *, page: str | int | None, per_page: int = PAGE_SIZE) -> Page:
    """One page of `items` (two queries: a count and the page). A page number past the
    end shows the last page, a malformed one the first."""
    return Paginator(items, per_page).get_page(page)
