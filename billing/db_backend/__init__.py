"""django-tenants' PostgreSQL backend with one round trip less per request (see base.py)."""
