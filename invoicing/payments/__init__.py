"""Card payments through Stripe (a Stripe-compatible server such as localstripe in tests).

Tally computes and numbers its own invoices; Stripe only holds the customer's card and
collects each finalized invoice of a card account with one PaymentIntent.

- `stripe_api`: the client as Tally calls it (key and host from settings, transient
  errors, amounts in minor units);
- `cards`: the card a billing account's invoices are charged on;
- `collection`: charging a finalized invoice exactly once, retries and their bound;
- `webhooks`: Stripe's signed events, stored once and applied like an API answer.
"""
