"""A Celery worker that stops dead at one point of the invoice pipeline, for the crash
test in test_pipeline_worker.py. Run as

    python -m tests.invoicing.delivery.paused_worker <checkpoint> <marker file> <celery arguments>

It wraps the call the checkpoint follows, so that once that call has returned the
worker process writes its pid to the marker file and sleeps: the test waits for the
marker and SIGKILLs the worker exactly there. Production code carries no hook for it.
"""

import os
import pkgutil
import sys
import time
from pathlib import Path

import django
from celery.__main__ import main as celery_main

# checkpoint -> (what holds the call, the call): the pause comes right after it returns.
PAUSE_AFTER = {
    # The PDF file is stored; the delivery row does not say so yet.
    "pdf-stored": ("invoicing.delivery", "invoice_pdf_store"),
    # Stripe charged the card; the attempt has not recorded the PaymentIntent yet.
    "payment-after-stripe": ("stripe:PaymentIntent", "create"),
}


def _pausing_after(call, marker: Path):
    def paused(*args, **kwargs):
        result = call(*args, **kwargs)
        marker.write_text(str(os.getpid()))
        time.sleep(3600)
        return result

    return paused


def main() -> None:
    checkpoint, marker, *celery_args = sys.argv[1:]
    # The models must be loaded before invoicing.delivery can be resolved below.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings.test")
    django.setup()
    holder_name, call_name = PAUSE_AFTER[checkpoint]
    holder = pkgutil.resolve_name(holder_name)
    setattr(holder, call_name, _pausing_after(getattr(holder, call_name), Path(marker)))
    # Patched before the worker forks its pool: every pool process inherits the pause.
    sys.argv = ["celery", *celery_args]
    celery_main()


if __name__ == "__main__":
    main()
