"""Card payments through Stripe (dj-stripe)."""

from billing.env import env_bool, env_str

STRIPE_LIVE_MODE = env_bool("STRIPE_LIVE_MODE", False)
STRIPE_TEST_SECRET_KEY = env_str("STRIPE_TEST_SECRET_KEY", "")
STRIPE_TEST_PUBLIC_KEY = env_str("STRIPE_TEST_PUBLIC_KEY", "")
STRIPE_LIVE_SECRET_KEY = env_str("STRIPE_LIVE_SECRET_KEY", "")
STRIPE_LIVE_PUBLIC_KEY = env_str("STRIPE_LIVE_PUBLIC_KEY", "")
# A Stripe-compatible server (localstripe in tests); unset means Stripe itself.
if env_str("STRIPE_API_HOST"):
    STRIPE_API_HOST = env_str("STRIPE_API_HOST")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
