"""How a declared command is served over HTTP: its route and the status of its success.

The function registrations (`functions/commands.py`) and the spec (`openapi.py`)
both read these, so a command's route and status are written once.
"""

from __future__ import annotations

from cartracker.domain.catalog import ADD_CAR, CommandEntry

ADDED = 201  # a new car: with its Location
APPLIED = 200  # a command on a car that exists


def route(entry: CommandEntry) -> str:
    """The route under `/api`, in Functions route syntax: `cars`, or `cars/{carId}/<slug>`."""
    return entry.slug if entry is ADD_CAR else f"cars/{{carId}}/{entry.slug}"


def status(entry: CommandEntry) -> int:
    return ADDED if entry is ADD_CAR else APPLIED
