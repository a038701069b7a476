"""Sign-in defences: repeated failed sign-ins locked out (django-axes), a TOTP second
factor fleet admins can turn on (django-otp, accounts/two_factor.py)."""

from datetime import timedelta

from core.env import env_int

# Five wrong passwords for one username from one address lock that pair out for 15
# minutes (429); a correct sign-in before that resets the count.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The peer's address only: a forwarded-for header is the client's to invent (a
# deployment behind a proxy it trusts lists that header first).
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# The issuer an authenticator app shows beside the code.
OTP_TOTP_ISSUER = "Tally"
