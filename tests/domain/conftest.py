import decimal

import pytest


@pytest.fixture(autouse=True)
def _trap_float_operations():
    # A float mixed into Decimal arithmetic or ordering raises instead of
    # silently carrying binary rounding error into money.
    context = decimal.getcontext()
    previous = context.traps[decimal.FloatOperation]
    context.traps[decimal.FloatOperation] = True
    yield
    context.traps[decimal.FloatOperation] = previous
