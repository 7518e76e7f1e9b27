"""Every deliberate error has an answer: one walk over the whole `CarTrackerError` tree."""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil

import pytest

import cartracker
from cartracker import errors
from cartracker.errors import CarTrackerError
from cartracker.http import requests as http_requests
from cartracker.http.problems import problem_for
from cartracker.projection.engine import ProjectionFailed

# Every module, so that the walk below sees errors defined anywhere (projection, rebuild, ...).
for _module in pkgutil.walk_packages(cartracker.__path__, "cartracker."):
    importlib.import_module(_module.name)

# Raised only where no HTTP request is answered (a change-feed batch, a Durable orchestration):
# mapped to a logged 500 should one ever reach a function's boundary.
NOT_FOR_CLIENTS = {"CarTrackerError", "ProjectionFailed", "RebuildFailed"}


def every_subclass(cls: type[CarTrackerError]) -> list[type[CarTrackerError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(every_subclass(sub))
    return found


def instance_of(cls: type[CarTrackerError]) -> CarTrackerError:
    if cls is errors.CarNotFound:
        return errors.CarNotFound("c1")
    if cls is errors.PreconditionFailed:
        return errors.PreconditionFailed("moved on", current_version=3)
    if cls is http_requests.InvalidBody:
        from pydantic import BaseModel, ValidationError  # noqa: PLC0415

        class Shape(BaseModel):
            n: int

        with pytest.raises(ValidationError) as info:
            Shape.model_validate({"n": "x"})
        return http_requests.InvalidBody(info.value)
    return cls("something went wrong")


@pytest.mark.parametrize("cls", every_subclass(CarTrackerError), ids=lambda c: c.__name__)
def test_every_error_the_app_raises_on_purpose_becomes_a_problem(
    cls: type[CarTrackerError], caplog: pytest.LogCaptureFixture
) -> None:
    assert ProjectionFailed in every_subclass(CarTrackerError)  # the walk sees the whole tree
    with caplog.at_level(logging.ERROR):
        response = problem_for(instance_of(cls))
    assert response.mimetype == "application/problem+json"
    body = json.loads(response.get_body())
    assert body["status"] == response.status_code
    if response.status_code == 500:
        # Unmapped: a bug in the table, logged so that it is found, never a StopIteration.
        assert cls.__name__ in NOT_FOR_CLIENTS
        assert any("no HTTP status" in record.message for record in caplog.records)
    else:
        assert 400 <= response.status_code < 600
