"""django-tenants' backend, minus a `SET search_path` on every request.

With TENANT_LIMIT_SET_CALLS django-tenants sets the search_path only when it
believes it changed, but selecting a tenant always makes it forget, even when the
tenant is the one already in effect; the middleware selects public and then the
provider on every request, so each request pays a SET round trip before its first
query. This backend also remembers what the server holds, and when the selected
search_path is that one, skips the SET.

What the server holds is forgotten exactly where django-tenants forgets its own
flag: on rollback, on rollback to a savepoint (both revert a SET issued inside
them) and on close. A SET LOCAL (`set_config(..., true)`) reverts at the end of
its transaction, so it never changes what is remembered here.
"""

from django_tenants.postgresql_backend import base as tenants


class DatabaseWrapper(tenants.DatabaseWrapper):
    _search_path_in_effect: list[str] | None = None

    def set_tenant(self, tenant, include_public=True):
        super().set_tenant(tenant, include_public)
        in_effect = self._search_path_in_effect
        if in_effect is not None and in_effect == self._get_cursor_search_paths():
            self.search_path_set_schemas = in_effect

    def _handle_search_path(self, cursor=None):
        reentered = self._setting_search_path
        super()._handle_search_path(cursor)
        if not reentered:
            self._search_path_in_effect = self.search_path_set_schemas

    def init_connection_state(self):
        self._search_path_in_effect = None  # a new session starts from the server's default
        super().init_connection_state()

    def close(self):
        self._search_path_in_effect = None
        super().close()

    def rollback(self):
        self._search_path_in_effect = None
        super().rollback()

    def savepoint_rollback(self, sid):
        try:
            super().savepoint_rollback(sid)
        finally:
            self._search_path_in_effect = None
