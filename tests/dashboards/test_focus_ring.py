"""The focus ring stands out: its colour against the white cards and the page background
has a contrast ratio of at least 3:1 (WCAG 2.2, non-text contrast), read from the
stylesheet the pages use."""

import re
from pathlib import Path

CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "tally.css"
MINIMUM = 3.0


def _six(hex_colour: str) -> str:
    digits = hex_colour.lstrip("#")
    return "#" + ("".join(d * 2 for d in digits) if len(digits) == 3 else digits)


def _luminance(hex_colour: str) -> float:
    hex_colour = _six(hex_colour)
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_focus_ring_has_at_least_3_to_1_contrast_on_cards_and_page():
    css = CSS.read_text()
    ring = re.search(r":focus-visible \{ outline: \dpx solid (#[0-9a-fA-F]{6})", css).group(1)
    page = re.search(r"--bg: (#[0-9a-fA-F]{3,6});", css).group(1)
    card = re.search(r"--card: (#[0-9a-fA-F]{3,6});", css).group(1)
    assert contrast(ring, card) >= MINIMUM and contrast(ring, page) >= MINIMUM
    assert round(contrast("#8aa4ff", "#ffffff"), 1) == 2.4  # the old ring, as reported
