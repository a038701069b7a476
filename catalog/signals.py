"""Signals the catalog sends for writes that send no model signal (bulk creates), so
higher layers that cache catalog content (accounts/quota_signals.py) hear of them."""

from django.dispatch import Signal

# Sent with `version` after an offer version's features were (re)written in bulk.
offer_content_changed = Signal()
