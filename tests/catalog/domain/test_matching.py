import re
from datetime import UTC, datetime

import pytest

from catalog.domain.matching import (
    ERR_AMBIGUOUS,
    ERR_VALIDITY,
    AmbiguousPriceError,
    PriceKey,
    is_valid_at,
    price_segments,
    select_price,
    specificity,
)
from core.periods import ERR_NAIVE, Period, month_period


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


EPOCH = utc(2020, 1, 1)
MID_OCTOBER = utc(2020, 10, 15)
OCTOBER = month_period(2020, 10, "UTC")


def key(
    price_id,
    *,
    metric="instance",
    variant=None,
    region=None,
    service_class=None,
    valid_from=EPOCH,
    valid_to=None,
):
    return PriceKey(
        price_id=price_id,
        metric=metric,
        variant=variant,
        region=region,
        service_class=service_class,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def select(
    candidates,
    *,
    variant="4cpu-16gb",
    region="mars",
    service_class="standard",
    metric="instance",
    at=MID_OCTOBER,
):
    winner = select_price(
        candidates,
        metric=metric,
        variant=variant,
        region=region,
        service_class=service_class,
        at=at,
    )
    return None if winner is None else winner.price_id


# Specificity

ANY = key("any")
REGION = key("region", region="mars")
VARIANT = key("variant", variant="4cpu-16gb")
CLASS = key("class", service_class="standard")
REGION_VARIANT = key("region+variant", region="mars", variant="4cpu-16gb")
REGION_CLASS = key("region+class", region="mars", service_class="standard")
VARIANT_CLASS = key("variant+class", variant="4cpu-16gb", service_class="standard")
EXACT = key("exact", region="mars", variant="4cpu-16gb", service_class="standard")


@pytest.mark.parametrize(
    ("candidates", "winner"),
    [
        ([ANY], "any"),
        ([ANY, REGION], "region"),  # an exact region beats any region
        ([REGION, ANY], "region"),  # input order does not matter
        ([REGION, VARIANT], "region"),  # tie on count: region before variant
        ([VARIANT, CLASS], "variant"),  # ... variant before class
        ([REGION, CLASS], "region"),
        ([REGION, VARIANT_CLASS], "variant+class"),  # two exact dimensions beat one
        ([REGION_CLASS, REGION_VARIANT], "region+variant"),
        ([REGION_CLASS, VARIANT_CLASS], "region+class"),
        (
            [ANY, REGION, VARIANT, CLASS, REGION_VARIANT, REGION_CLASS, VARIANT_CLASS, EXACT],
            "exact",
        ),
        ([ANY, key("venus", region="venus")], "any"),  # another region never matches
        ([key("venus", region="venus")], None),
        ([key("8cpu", variant="8cpu-32gb")], None),
        ([key("disk", metric="disk")], None),
        ([], None),
    ],
)
def test_most_specific_price_wins(candidates, winner):
    assert select(candidates) == winner


@pytest.mark.parametrize(
    ("candidate", "rank"),
    [
        (ANY, (0, False, False, False)),
        (CLASS, (1, False, False, True)),
        (VARIANT, (1, False, True, False)),
        (REGION, (1, True, False, False)),
        (VARIANT_CLASS, (2, False, True, True)),
        (REGION_CLASS, (2, True, False, True)),
        (REGION_VARIANT, (2, True, True, False)),
        (EXACT, (3, True, True, True)),
    ],
)
def test_specificity_order(candidate, rank):
    assert specificity(candidate) == rank


SPOT = key("spot", variant="4cpu-16gb", service_class="spot")
STANDARD = key("standard", variant="4cpu-16gb", service_class="standard")


@pytest.mark.parametrize(
    ("service_class", "candidates", "winner"),
    [
        ("spot", [STANDARD, SPOT], "spot"),
        ("standard", [STANDARD, SPOT], "standard"),
        ("spot", [STANDARD], None),
        ("spot", [STANDARD, ANY], "any"),
        # A resource without a class only matches prices for any class.
        (None, [STANDARD, SPOT], None),
        (None, [STANDARD, SPOT, VARIANT], "variant"),
    ],
)
def test_spot_and_standard_are_priced_apart(service_class, candidates, winner):
    assert select(candidates, service_class=service_class) == winner


def test_resource_without_region_matches_only_any_region():
    assert select([REGION, ANY], region=None) == "any"


# Validity: [valid_from, valid_to)

SEPTEMBER_PRICE = key("september", valid_from=utc(2020, 9, 1), valid_to=utc(2020, 10, 1))
OCTOBER_PRICE = key("october", valid_from=utc(2020, 10, 1), valid_to=utc(2020, 11, 1))


@pytest.mark.parametrize(
    ("at", "winner"),
    [
        (utc(2020, 8, 31, 23, 59, 59), None),
        (utc(2020, 9, 1), "september"),
        (utc(2020, 9, 30, 23, 59, 59, 999999), "september"),
        (utc(2020, 10, 1), "october"),  # valid_to is exclusive
        (utc(2020, 10, 31, 23, 59, 59, 999999), "october"),
        (utc(2020, 11, 1), None),
    ],
)
def test_validity_is_half_open(at, winner):
    assert select([SEPTEMBER_PRICE, OCTOBER_PRICE], at=at) == winner


def test_open_ended_price_is_valid_forever():
    assert is_valid_at(ANY, utc(9998, 12, 31)) is True
    assert is_valid_at(ANY, utc(2019, 12, 31, 23, 59, 59)) is False


@pytest.mark.parametrize(
    ("at", "winner"),
    [(utc(2020, 10, 15, 23, 59, 59), "old"), (utc(2020, 10, 16), "new"), (utc(2021, 1, 1), "new")],
)
def test_later_valid_from_replaces_an_open_price_with_the_same_key(at, winner):
    old = key("old", region="mars")
    new = key("new", region="mars", valid_from=utc(2020, 10, 16))
    assert select([old, new], at=at) == winner


def test_later_valid_from_does_not_beat_a_more_specific_price():
    specific = key("specific", region="mars")
    newer_general = key("newer", valid_from=utc(2020, 10, 1))
    assert select([specific, newer_general]) == "specific"


def test_identical_keys_are_ambiguous():
    with pytest.raises(AmbiguousPriceError, match=ERR_AMBIGUOUS) as error:
        select([key("b", region="mars"), key("a", region="mars"), ANY])
    assert "a, b" in str(error.value)


@pytest.mark.parametrize(
    ("valid_from", "valid_to", "message"),
    [
        (utc(2020, 10, 1), utc(2020, 10, 1), ERR_VALIDITY),
        (utc(2020, 10, 2), utc(2020, 10, 1), ERR_VALIDITY),
        (datetime(2020, 10, 1), None, ERR_NAIVE),
        (datetime(2020, 10, 1), utc(2020, 11, 1), ERR_NAIVE),
    ],
)
def test_price_key_validity_is_checked(valid_from, valid_to, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        key("bad", valid_from=valid_from, valid_to=valid_to)


# Segments: which price is in force when


def segments(
    candidates, *, period=OCTOBER, region="mars", variant="4cpu-16gb", service_class="standard"
):
    return [
        (piece.start, piece.end, price.price_id)
        for piece, price in price_segments(
            candidates,
            metric="instance",
            variant=variant,
            region=region,
            service_class=service_class,
            period=period,
        )
    ]


def test_one_price_covers_the_whole_cycle():
    assert segments([REGION, ANY]) == [(utc(2020, 10, 1), utc(2020, 11, 1), "region")]


@pytest.mark.parametrize(
    "old_valid_to",
    [utc(2020, 10, 16), None],  # closed when replaced, or left open and outranked
)
def test_scheduled_price_splits_a_cycle(old_valid_to):
    old = key("old", region="mars", valid_to=old_valid_to)
    new = key("new", region="mars", valid_from=utc(2020, 10, 16))
    assert segments([new, old]) == [
        (utc(2020, 10, 1), utc(2020, 10, 16), "old"),
        (utc(2020, 10, 16), utc(2020, 11, 1), "new"),
    ]


def test_temporary_specific_price_splits_a_general_one_in_three():
    general = key("general")
    promo = key("promo", region="mars", valid_from=utc(2020, 10, 10), valid_to=utc(2020, 10, 20))
    assert segments([general, promo]) == [
        (utc(2020, 10, 1), utc(2020, 10, 10), "general"),
        (utc(2020, 10, 10), utc(2020, 10, 20), "promo"),
        (utc(2020, 10, 20), utc(2020, 11, 1), "general"),
    ]


def test_time_without_a_price_is_left_out():
    late = key("late", valid_from=utc(2020, 10, 10))
    early = key("early", valid_to=utc(2020, 10, 5))
    assert segments([late, early]) == [
        (utc(2020, 10, 1), utc(2020, 10, 5), "early"),
        (utc(2020, 10, 10), utc(2020, 11, 1), "late"),
    ]


def test_changes_of_prices_that_do_not_match_do_not_split():
    venus_change = key("venus", region="venus", valid_from=utc(2020, 10, 5))
    outranked_change = key("general-new", valid_from=utc(2020, 10, 7))
    assert segments([REGION, venus_change, outranked_change]) == [
        (utc(2020, 10, 1), utc(2020, 11, 1), "region"),
    ]


def test_segments_of_a_partial_period():
    old = key("old", valid_to=utc(2020, 10, 16))
    new = key("new", valid_from=utc(2020, 10, 16))
    period = Period(start=utc(2020, 10, 15, 23), end=utc(2020, 10, 16, 4, 30))
    assert segments([old, new], period=period) == [
        (utc(2020, 10, 15, 23), utc(2020, 10, 16), "old"),
        (utc(2020, 10, 16), utc(2020, 10, 16, 4, 30), "new"),
    ]


def test_no_candidates_no_segments():
    assert segments([]) == []
