"""Money as integer cents.

Cosmos stores JSON numbers as doubles, so amounts never travel as floats:
events and views hold integer cents, responses show a two-decimal string.

A request's charge is a JSON number, read exactly from its text (see `numbers`),
or a string of the grammar `^[0-9]{1,6}(\\.[0-9]{1,2})?$`, ASCII digits only: no
sign, exponent, separators or surrounding spaces. Either way 0-100,000, and the
text is checked against the grammar before any digit is converted.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from cartracker.domain.numbers import NumberText, units

MAX_CHARGE_CENTS = 100_000_00

_MONEY_TEXT = re.compile(r"([0-9]{1,6})(?:\.([0-9]{1,2}))?")
_DECIMAL_TEXT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")  # only to say what is wrong
MONEY_PATTERN = r"^(?:0?[0-9]{1,5}(?:\.[0-9]{1,2})?|100000(?:\.0{1,2})?)$"
"""The string grammar as openapi.json states it: `_MONEY_TEXT` within 0-100000, as one regex."""

_NOT_MONEY = 'must be a number or a decimal string such as "49.99" (at most 2 decimals, no spaces or signs)'


def parse_charge(value: Any) -> int:
    """Turn a request's charge (number or string, at most 2 decimals, 0-100,000) into cents."""
    if isinstance(value, NumberText):
        cents = units(value, 2)
    elif isinstance(value, str):
        match = _MONEY_TEXT.fullmatch(value)
        if match is None:
            raise ValueError(_why_not_money(value))
        whole, part = match.groups(default="")
        cents = int(whole) * 100 + int(part.ljust(2, "0"))
    elif isinstance(value, bool):
        raise ValueError(_NOT_MONEY)
    elif isinstance(value, int):
        cents = value * 100
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite amount")
        # A float from Python code is read by its shortest repr: 0.1, not 0.1000000000000000055...
        cents = units(repr(value).encode(), 2)
    else:
        raise ValueError(_NOT_MONEY)
    if not 0 <= cents <= MAX_CHARGE_CENTS:
        raise ValueError("must be between 0 and 100000")
    return cents


def _why_not_money(text: str) -> str:
    decimal = _DECIMAL_TEXT.fullmatch(text)
    if decimal is None:
        return _NOT_MONEY
    whole, part = decimal.groups(default="")
    if len(part) > 2:
        return "must have at most 2 decimal places"
    return "must be between 0 and 100000" if len(whole) > 6 else _NOT_MONEY


def format_cents(cents: int) -> str:
    """Two-decimal string for a response: 4999 -> "49.99", -5 -> "-0.05"."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


Charge = Annotated[
    int,
    BeforeValidator(parse_charge),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "number", "minimum": 0, "maximum": 100000, "multipleOf": 0.01},
                {"type": "string", "pattern": MONEY_PATTERN},
            ],
            "description": "Amount in currency units, 0-100000 with at most 2 decimals: a JSON number "
            '(read exactly, never rounded) or a string of ASCII digits such as "49.99".',
            "examples": ["49.99", 49.99],
        }
    ),
]
