"""Card payments through Stripe, with dj-stripe's models as the record (a
Stripe-compatible server such as localstripe in tests).

Tally computes and numbers its own invoices; Stripe holds the customer's card and
collects each finalized invoice of a card account with one PaymentIntent per attempt.

- `stripe_api`: the provider's own keys (dj-stripe `APIKey`s of its `Account`), transient
  errors, amounts in minor units, Stripe's answers recorded in dj-stripe's models;
- `stripe_account`: connecting a provider to its Stripe account and webhook endpoint;
- `cards`: the customer and the card a billing account is charged on (SetupIntents);
- `collection`: charging a finalized invoice exactly once, retries and their bound;
- `on_session`: "pay now" from the dashboard, 3-D Secure confirmed with Stripe.js;
- `refunds`: refunding a paid invoice once;
- `webhooks`: Stripe's events verified and recorded by dj-stripe, applied like an answer;
- `selectors`: the card on file and an invoice's payment state (brand, last four digits).
"""
