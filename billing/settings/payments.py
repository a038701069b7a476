"""Card payments through Stripe (dj-stripe)."""

from core.env import env_bool, env_int, env_str

STRIPE_LIVE_MODE = env_bool("STRIPE_LIVE_MODE", False)
STRIPE_TEST_SECRET_KEY = env_str("STRIPE_TEST_SECRET_KEY", "")
STRIPE_TEST_PUBLIC_KEY = env_str("STRIPE_TEST_PUBLIC_KEY", "")
STRIPE_LIVE_SECRET_KEY = env_str("STRIPE_LIVE_SECRET_KEY", "")
STRIPE_LIVE_PUBLIC_KEY = env_str("STRIPE_LIVE_PUBLIC_KEY", "")
# A Stripe-compatible server (localstripe in tests); unset means Stripe itself.
if env_str("STRIPE_API_HOST"):
    STRIPE_API_HOST = env_str("STRIPE_API_HOST")
# Stripe.js, loaded by the payment pages (localstripe serves a fake one in tests).
STRIPE_JS_URL = env_str("STRIPE_JS_URL", "https://js.stripe.com/v3/")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
# Each provider connects its own Stripe account (keys and webhook secret kept by
# dj-stripe: admin "Stripe accounts" or `manage.py stripe_connect`); the keys above are
# only dj-stripe's defaults and charge nobody.
# Failed card payments are retried after base * 2^(n-1) seconds, at most this many
# attempts; then the invoice shows "retries exhausted" to the operator.
TALLY_PAYMENT_MAX_ATTEMPTS = env_int("TALLY_PAYMENT_MAX_ATTEMPTS", 4)
TALLY_PAYMENT_RETRY_SECONDS = env_int("TALLY_PAYMENT_RETRY_SECONDS", 86400)
# An attempt whose worker died between calling Stripe and recording the answer is
# looked up again (never charged twice) after this many seconds.
TALLY_PAYMENT_LEASE_SECONDS = env_int("TALLY_PAYMENT_LEASE_SECONDS", 300)

# The invoice pipeline (PDF, email, payment): a step failing this many times in a
# row is marked failed on the invoice for an operator to retry from the admin.
TALLY_DELIVERY_MAX_FAILURES = env_int("TALLY_DELIVERY_MAX_FAILURES", 5)
