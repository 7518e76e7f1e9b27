"""Every projection the app runs, by name: what the change-feed triggers, the rebuild and status read.

Registering a projection is one line here (and its trigger in `cartracker.functions`).
Order is the order status and the CLI list them in.
"""

from __future__ import annotations

from cartracker.projection.car_list import CAR_LIST
from cartracker.projection.service_due import SERVICE_DUE
from cartracker.projection.spec import AnyProjection

PROJECTIONS: dict[str, AnyProjection] = {spec.name: spec for spec in (CAR_LIST, SERVICE_DUE)}


def names() -> tuple[str, ...]:
    return tuple(PROJECTIONS)


def find(name: str) -> AnyProjection | None:
    """The projection called `name`, or None (callers answer 404 or a usage error)."""
    return PROJECTIONS.get(name)


def _check_unique() -> None:
    for attribute in ("lease_prefix", "family"):
        values = [getattr(spec, attribute) for spec in PROJECTIONS.values()]
        if len(set(values)) != len(values):
            raise RuntimeError(f"two projections share a {attribute}: {values}")


_check_unique()
