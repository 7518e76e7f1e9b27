"""Commands: what a client asks the Car aggregate to do, in the imperative.

The rules that need no state (lengths, ranges, decimals) live here, so a
command that exists is well formed; rules about the car's state live in
`car.decide`. Field names are camelCase, on the wire and in Python
(`InspectBrakes(mileage=1, remainingPad=60)`); unknown fields, the Python
attribute names among them, are refused.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from cartracker.domain.money import Charge
from cartracker.domain.numbers import NumberText, units
from cartracker.domain.text import MAX_NAME_LENGTH, clean_name, name_pattern

MAX_MILEAGE = 2_000_000


def _whole_number(value: Any) -> Any:
    """A JSON number is an integer when it is whole, written with a fraction or exponent or not
    (`1.0`, `1e3`), as JSON Schema says; anything else is left to the strict int check."""
    return units(value, 0) if isinstance(value, NumberText) else value


Text = Annotated[
    str,
    Field(
        strict=True,  # a JSON number (`NumberText`, bytes) is no name
        min_length=1,
        max_length=200,  # before trimming: bounds the work on what is trimmed away
        description=f"1-{MAX_NAME_LENGTH} characters once surrounding whitespace is trimmed, stored "
        "NFC-normalized. No control, format, private-use or default-ignorable characters (zero-width, "
        "variation selectors, bidi controls), no line or paragraph separators, as the pattern lists; "
        f"and no code point unassigned in Unicode {unicodedata.unidata_version}, which it does not.",
        json_schema_extra=lambda schema: schema.update(pattern=name_pattern()),  # built when asked
    ),
    AfterValidator(clean_name),
]
# The whole-number check wraps the strict int: it reads a JSON number's text before the int check.
_Whole = BeforeValidator(_whole_number)
Mileage = Annotated[int, Field(ge=0, le=MAX_MILEAGE, strict=True), _Whole]
Percent = Annotated[int, Field(ge=0, le=100, strict=True), _Whole]
TireCount = Annotated[int, Field(ge=1, le=4, strict=True), _Whole]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel)


class AddCar(Command):
    make: Text
    model: Text
    owner: Text


class ChangeOil(Command):
    mileage: Mileage
    charge_cents: Charge = Field(alias="charge")


class InspectBrakes(Command):
    mileage: Mileage
    remaining_pad: Percent = Field(description="Remaining brake pad, percent.")


class ReplaceTires(Command):
    number_of_tires_replaced: TireCount
    charge_cents: Charge = Field(alias="charge")


class ChangeOwner(Command):
    new_owner: Text
