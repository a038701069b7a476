"""Page-level reads of the dashboards, one module per page family.

They call the other apps' selectors (spend summaries, invoices, ingestion health,
budgets, offers) and add the aggregations a page needs. Every function runs a fixed
number of queries whatever the data size: sums are computed by PostgreSQL, lists come
back one page at a time, related rows are fetched with select_related/prefetch.

Spend always means `invoicing.selectors.billed_lines`: the lines of the cycle's draft
and finalized invoices (void ones no longer count), credits included.

They only read, so each query names `read_alias()`: the read replica when one is
configured and healthy, else `default` (billing/replica.py). Objects they return carry
that alias, and the related rows a page loads from them follow it. Reads made through
other apps' selectors that take no alias (ingestion health, unentitled usage, offers,
catalog names, roles, unused quota) stay on `default`.
"""
