"""Schemathesis against the live host's own openapi.json: no 5xx, and every answer is one the spec promises.

Each operation gets valid requests (aimed at an unknown car and at a real one,
so the success paths are checked too) and invalid ones (wrong types, missing
fields, bad headers). The runs are derandomized, so a failure reproduces.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cartracker.http.openapi import ROUTES, Route
from cartracker.localhost.index import app_index
from tests.e2e.conftest import LiveApi

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES = 25
# Every documented route the local host serves (routes that need Azure, such as durable starters, are not).
SERVED = {function.name for function in app_index().http}


def can_be_invalid(route: Route) -> bool:
    """Whether the spec leaves anything to violate: a body, or a parameter more specific than any string."""
    return route.body is not None or any(p["schema"] != {"type": "string"} for p in route.parameters)


RUNS = [
    (route.method, f"/{route.path}", mode)
    for route in ROUTES
    if route.operation_id in SERVED
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or can_be_invalid(route)
]


@pytest.fixture(scope="module")
def api_schema(live_api: LiveApi) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live_api.api}/openapi.json", config=SchemathesisConfig())


@pytest.fixture(scope="module")
def car_id(live_api: LiveApi) -> str:
    answer = live_api.post("cars", {"make": "Volvo", "model": "V70", "owner": "Alice"})
    car_id: str = answer.json()["carId"]
    return car_id


@pytest.mark.parametrize(("method", "path", "mode"), RUNS, ids=[f"{m} {p} {g.value}" for m, p, g in RUNS])
def test_every_operation_answers_as_its_spec_says(
    api_schema: schemathesis.BaseSchema, car_id: str, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    cases = operation.as_strategy(generation_mode=mode)
    if "{carId}" in path and mode is GenerationMode.POSITIVE:
        cases = st.one_of(
            cases, operation.as_strategy(generation_mode=mode, path_parameters={"carId": car_id})
        )

    @hypothesis.given(case=cases)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def answers_as_specified(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(checks=CHECKS)

    answers_as_specified()
