"""What invoicing tells the layers above it, without knowing them.

Budgets (and anything else that reacts to spend) subscribe in their AppConfig.ready;
invoicing never imports them.
"""

from django.dispatch import Signal

# Sent after a rating run has written a cycle's draft lines (its transaction may still
# be open: receivers that act later queue their work with transaction.on_commit).
# Arguments: cycle_id (int), now (the instant the run was asked to rate at, aware UTC).
cycle_rated = Signal()
