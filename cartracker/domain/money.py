"""Money as integer cents.

Cosmos stores JSON numbers as doubles, so amounts never travel as floats:
events and views hold integer cents, responses show a two-decimal string.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

MAX_CHARGE_CENTS = 100_000_00


def parse_charge(value: Any) -> int:
    """Turn a request's charge (number or string, at most 2 decimals, 0-100,000) into cents."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError('must be a number or a decimal string such as "49.99"')
    # A float goes through its shortest repr, so 0.1 stays 0.1 rather than 0.1000000000000000055...
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError('must be a number or a decimal string such as "49.99"') from None
    if not amount.is_finite():
        raise ValueError("must be a finite amount")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise ValueError("must have at most 2 decimal places")
    cents = int(amount * 100)
    if not 0 <= cents <= MAX_CHARGE_CENTS:
        raise ValueError("must be between 0 and 100000")
    return cents


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
                {"type": "string", "pattern": r"^(100000(\.0{1,2})?|\d{1,5}(\.\d{1,2})?)$"},
            ],
            "description": "Amount in currency units, at most 2 decimals, 0-100000.",
            "examples": ["49.99"],
        }
    ),
]
