"""Operator admin for invoicing. Django imports this package to register the app's
admins; each module registers its own:

- `invoices`: invoices (read-only once issued, voided with a reason), rating runs;
- `delivery`: delivery steps, cards, payment attempts, Stripe webhooks (read-only);
- `credits`: SLA credits, created and withdrawn through the service;
- `credit_notes`: credit notes (issued from an invoice's page) and document settings.
"""

from invoicing.admin import credit_notes, credits, delivery, invoices  # noqa: F401
