"""The catalog in the admin, one module per part:

- `metrics`: resource types with their variants, usage metrics, regions
- `prices`: the fleet's list prices (set through `price_set`) and their history
- `offers`: services with their features, and offers
- `dependencies`: which resource types depend on which (credit cascades)
- `base`: the rights and key checks they share

Django's admin autodiscovery imports `catalog.admin`; importing the modules here is
what registers their ModelAdmins.
"""

from catalog.admin import dependencies, metrics, offers, prices  # noqa: F401  (registers the ModelAdmins)
