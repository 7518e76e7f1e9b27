"""Commands: what a client asks the Car aggregate to do, in the imperative.

The rules that need no state (lengths, ranges, decimals) live here, so a
command that exists is well formed; rules about the car's state live in
`car.decide`. Field names on the wire are camelCase, unknown fields are refused.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from cartracker.domain.money import Charge

MAX_MILEAGE = 2_000_000


def _clean_text(value: str) -> str:
    text = value.strip()
    if not 1 <= len(text) <= 50:
        raise ValueError("must be 1-50 characters after trimming spaces")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
        raise ValueError("must not contain control or invisible characters")
    return text


Text = Annotated[
    str,
    # The schema says what validation checks: 1-50 characters once surrounding spaces are trimmed.
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": r"^\s*\S(.{0,48}\S)?\s*$"}),
    AfterValidator(_clean_text),
]
Mileage = Annotated[int, Field(ge=0, le=MAX_MILEAGE, strict=True)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class AddCar(Command):
    make: Text
    model: Text
    owner: Text


class ChangeOil(Command):
    mileage: Mileage
    charge_cents: Charge = Field(alias="charge")


class InspectBrakes(Command):
    mileage: Mileage
    remaining_pad: Annotated[int, Field(ge=0, le=100, strict=True)] = Field(
        description="Remaining brake pad, percent."
    )


class ReplaceTires(Command):
    number_of_tires_replaced: Annotated[int, Field(ge=1, le=4, strict=True)]
    charge_cents: Charge = Field(alias="charge")


class ChangeOwner(Command):
    new_owner: Text


CarCommand = ChangeOil | InspectBrakes | ReplaceTires | ChangeOwner
