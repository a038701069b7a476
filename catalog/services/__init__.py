"""Writes for the catalog. Every function is keyword-only and owns its transaction.

One module per job; import from the module:

- `keys`: the key rule every catalog row shares, and one ValidationError per write
- `resource_types`: resource types (metrics billed by running time), variants, regions
- `list_prices`: the provider's list prices, effective-dated, with their history rows
- `features`: services and their features (flags and quotas)
- `metrics`: usage metrics, and the service a metric belongs to
- `offers`: offers and their versions
"""
