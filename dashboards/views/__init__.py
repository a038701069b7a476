"""Server-rendered dashboards: the operator's fleet view and the consumers' spend.

Every view resolves the caller's roles once (`accounts.permissions.request_access`) and narrows
what it reads to them; anything outside the caller's scope answers 404, never another's
data. Views call selectors (reads) and services (writes) only. Each table offers its
rows as CSV with `?format=csv` (all its pages, the same columns).
"""
