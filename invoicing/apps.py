from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    name = "invoicing"

    def ready(self):
        # The catalog asks for the impact of a price change before it is saved; rating
        # (here) answers it (catalog/previews.py).
        from catalog.previews import previews_register
        from invoicing.price_preview import impact_preview, offer_version_impact

        previews_register(price_change=impact_preview, offer_version=offer_version_impact)
