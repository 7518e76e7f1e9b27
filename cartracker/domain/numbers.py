"""Numbers read from their decimal text, exactly and at a cost bounded by the text's length.

A JSON number is never turned into a float (which rounds `99999.999999999999999` to 100000) nor
into a `Decimal` (whose arithmetic on `1e999997` takes seconds): the request decoder hands it
over as its text (`NumberText`), and `units` reads that with string operations, converting at
most `MAX_DIGITS` digits to an int.
"""

from __future__ import annotations

import re

NumberText = bytes
"""A JSON number as the client wrote it (`b"1.0"`, `b"1e-400"`), in ASCII. Bytes, because JSON
decodes nothing else to bytes: a number can never pass for a string, or a string for a number."""

MAX_DIGITS = 18
"""The most digits `units` ever converts; larger magnitudes come back as `±10**MAX_DIGITS`."""

# RFC 8259's number grammar, ASCII digits only.
_NUMBER = re.compile(rb"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([-+]?)([0-9]+))?")
# Exponents of 8 digits or more are clamped: the digits of a 64 KiB text could never offset them,
# so they decide as this one does, and are never converted.
_EXPONENT_CLAMP = 10**7


def units(text: NumberText, places: int) -> int:
    """The exact value of the decimal number `text` in units of 10**-places, as an int.

    `ValueError` when `text` is not a number or not a whole number of units ("must have at most 2
    decimal places", for places=2); a magnitude of 10**MAX_DIGITS units or more comes back as
    ±10**MAX_DIGITS, which every range in this app refuses.
    """
    if text.isdigit() and len(text) <= MAX_DIGITS - places:
        return int(text + b"0" * places)  # the usual case: an integer such as a mileage
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise ValueError("must be a number")
    sign, whole, fraction, exponent_sign, exponent_digits = match.groups(default=b"")
    digits = (whole + fraction).lstrip(b"0")
    if not digits:
        return 0
    significant = digits.rstrip(b"0")
    exponent_digits = exponent_digits.lstrip(b"0") or b"0"
    exponent = int(exponent_digits) if len(exponent_digits) < 8 else _EXPONENT_CLAMP
    if exponent_sign == b"-":
        exponent = -exponent
    # The value is significant * 10**shift units.
    shift = exponent - len(fraction) + (len(digits) - len(significant)) + places
    if shift < 0:
        raise ValueError(f"must have at most {places} decimal places" if places else "must be a whole number")
    too_big = len(significant) + shift > MAX_DIGITS
    value: int = 10**MAX_DIGITS if too_big else int(significant) * 10**shift
    return -value if sign else value
