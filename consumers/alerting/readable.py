"""Numbers as a person reads them: "66,400 → 89,700 (+35%)", "12.0%", "p < 0.001".

One place for how the alert e-mail writes a number, so every section says it the same way
and none says "6.64e+04" or "p (BH) 0". Nothing here ever produces scientific notation.

>>> change(66412.3, 89740.8)
'66,400 → 89,700 (+35%)'
>>> percent(0.1234), percent_change(0.12, 0.184), p_value(3e-12), p_value(0.0123)
('12.3%', '12.0% → 18.4%', '< 0.001', '0.012')
>>> number(0.000012345), number(1234567.0), number(-0.5), number(float("nan"))
('0.0000123', '1,230,000', '−0.5', '–')
"""

from __future__ import annotations

import math
import re

__all__ = [
    "MISSING",
    "bin_bounds",
    "change",
    "count",
    "number",
    "p_text",
    "p_value",
    "percent",
    "percent_change",
    "probability",
    "range_label",
    "relative",
    "share_points",
    "signed",
]

#: What an unknown value reads as.
MISSING = "–"
#: Significant digits of a measurement: enough to tell two figures apart, no false precision.
DIGITS = 3
_MINUS = "\N{MINUS SIGN}"


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def number(value: float | None, digits: int = DIGITS) -> str:
    """A measurement to ``digits`` significant digits, thousands separated, never ``e+``.

    >>> number(66412.3), number(12.345), number(0.5), number(0.0), number(3.0)
    ('66,400', '12.3', '0.5', '0', '3')
    """
    if value is None or not _known(value):
        return MISSING
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = digits - 1 - magnitude
    rounded = round(value, decimals)
    if decimals <= 0:
        text = f"{rounded:,.0f}"
    else:
        # Trailing zeros say nothing ("0.500" is "0.5") and would vary between figures.
        text = f"{rounded:,.{decimals}f}".rstrip("0").rstrip(".")
    return text.replace("-", _MINUS)


def count(value: int | float | None) -> str:
    """A count, exact: ``20,000``."""
    return MISSING if value is None or not _known(float(value)) else f"{round(value):,}"


def signed(value: float | None, digits: int = DIGITS) -> str:
    """A difference with its sign: ``+0.12``, ``−0.0154``, ``0``."""
    if value is None or not _known(value):
        return MISSING
    text = number(value, digits)
    return text if value <= 0 else f"+{text}"


def percent(share: float | None, decimals: int = 1) -> str:
    """A share (0..1) as a percentage: ``12.3%``; below the last decimal, ``< 0.1%``."""
    if share is None or not _known(share):
        return MISSING
    smallest = 10.0**-decimals
    if 0 < abs(100 * share) < smallest / 2:
        return f"< {smallest:.{decimals}f}%"
    return f"{100 * share:.{decimals}f}%".replace("-", _MINUS)


def percent_change(before: float | None, after: float | None) -> str:
    """Two shares: ``12.0% → 18.4%``."""
    return f"{percent(before)} → {percent(after)}"


def share_points(delta: float | None) -> str:
    """A change of a share in percentage points: ``+11.3 points``."""
    if delta is None or not _known(delta):
        return MISSING
    return f"{signed(100 * delta, 2) if abs(delta) >= 0.001 else '0'} points"


def relative(before: float | None, after: float | None) -> str | None:
    """The relative change from ``before`` to ``after``: ``+35%``, ``−4.2%``; ``None`` when
    it would mislead: an unknown value, a change of sign, or more than tenfold (a mean
    near zero, as of a centred feature, makes any move look like thousands of percent).

    >>> relative(100, 135), relative(100, 95.8), relative(100, 100.01), relative(0, 1)
    ('+35%', '−4.2%', '0%', None)
    >>> relative(-0.0007, 0.098), relative(0.001, 0.5)
    (None, None)
    """
    if before is None or after is None or not (_known(before) and _known(after)):
        return None
    if before == 0 or before * after < 0 or abs(after - before) > 10 * abs(before):
        return None
    change_ = 100 * (after - before) / abs(before)
    if abs(change_) < 0.05:
        return "0%"
    # Whole percent when the change is large: "+35%", not "+35.1%".
    text = f"{change_:+.0f}%" if abs(change_) >= 10 else f"{change_:+.1f}%"
    return text.replace("-", _MINUS)


def change(before: float | None, after: float | None) -> str:
    """``before → after (relative change)``, e.g. ``66,400 → 89,700 (+35%)``."""
    rel = relative(before, after)
    return f"{number(before)} → {number(after)}" + (f" ({rel})" if rel else "")


def p_value(p: float | None) -> str:
    """A p-value as a person reads it: ``< 0.001``, ``0.004``, ``0.31``.

    >>> p_value(0.0), p_value(0.00099), p_value(0.004), p_value(0.31), p_value(None)
    ('< 0.001', '< 0.001', '0.004', '0.31', '–')
    """
    if p is None or not _known(p):
        return MISSING
    if p < 0.001:
        return "< 0.001"
    return number(p, 2)


def probability(value: float | None) -> str:
    """A probability with the decimals it needs to stay off 0 and 1 (at most six).

    >>> probability(0.5), probability(0.82912), probability(0.99996), probability(2e-23)
    ('0.5', '0.829', '0.99996', '< 0.000001')
    """
    if value is None or not _known(value):
        return MISSING
    for decimals in range(3, 7):
        text = f"{value:.{decimals}f}"
        if 0 < value < 1 and float(text) in (0.0, 1.0):
            continue
        return text.rstrip("0").rstrip(".") if "." in text else text
    return "< 0.000001" if value < 0.5 else "> 0.999999"


def p_text(p: float | None) -> str:
    """``p < 0.001`` or ``p = 0.004``: a p-value in a sentence."""
    text = p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


_NUMERIC_BIN = re.compile(r"^([\[(])\s*([^,]+),\s*([^\])]+)([\])])$")


def _bound(text: str) -> float:
    return float(text.strip().replace("inf", "Infinity"))


def bin_bounds(label: str) -> tuple[float, float] | None:
    """The bounds of a numeric bin label (``"[66400.5, 72000)"``), or ``None`` for another
    label (``"missing"``, a category).

    >>> bin_bounds("[6.64e+04, 7.2e+04)"), bin_bounds("(-inf, 3)"), bin_bounds("north")
    ((66400.0, 72000.0), (-inf, 3.0), None)
    """
    match = _NUMERIC_BIN.match(label.strip())
    if match is None:
        return None
    try:
        return _bound(match.group(2)), _bound(match.group(3))
    except ValueError:
        return None


def range_label(label: str) -> str:
    """A bin label in words: ``"66,400 to 72,000"``, ``"below 3"``, ``"above 150,000"``;
    any other label (a category, ``"missing"``) as it is.

    >>> range_label("[6.64e+04, 7.2e+04)"), range_label("(150000, inf)"), range_label("[5, 5]")
    ('66,400 to 72,000', 'above 150,000', '5')
    >>> range_label("(-inf, 0.25)"), range_label("north")
    ('below 0.25', 'north')
    """
    bounds = bin_bounds(label)
    if bounds is None:
        return label
    low, high = bounds
    if math.isinf(low):
        return f"below {number(high)}"
    if math.isinf(high):
        return f"above {number(low)}"
    if low == high:
        return number(low)
    # Narrow bins of large values need more digits to stay two different bounds.
    digits = DIGITS
    while number(low, digits) == number(high, digits) and digits < 9:
        digits += 1
    return f"{number(low, digits)} to {number(high, digits)}"
