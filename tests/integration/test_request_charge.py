"""Each HTTP request's Cosmos DB charge is summed from the responses it caused and logged with it.

The test server reports no charges, so `ChargingTransport` adds one per kind of request; the
client is built by the app's own `create_client`, so the hook under test is the one Azure runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from cartracker import request_charge
from cartracker.adapters.cosmos_client import create_client
from cartracker.bootstrap import Services, bootstrap
from cartracker.functions.cars import get_car
from cartracker.functions.commands import add_car, change_oil
from tests.conftest import CosmosEnv
from tests.support.cosmos import ChargingTransport
from tests.support.functions import body_of, call, installed

CHARGES = {"batch": 10.25, "read": 1.0, "query": 2.5}


@pytest.fixture
def charged(cosmos: CosmosEnv) -> Iterator[tuple[Services, ChargingTransport]]:
    transport = ChargingTransport(CHARGES, default=0.5)
    client = create_client(cosmos.settings, transport=transport, retry_total=2)
    with installed(bootstrap(cosmos.settings, cosmos_client=client)) as services:
        yield services, transport
    client.close()


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == request_charge.log.name]


def test_each_request_logs_the_sum_of_the_charges_of_the_cosmos_responses_it_caused(
    charged: tuple[Services, ChargingTransport], caplog: pytest.LogCaptureFixture
) -> None:
    _, transport = charged
    new_car = {"make": "Volvo", "model": "V70", "owner": "Alice"}
    car_id = body_of(call(add_car, "POST", "cars", json_body=new_car))["carId"]  # warms the client
    caplog.set_level(logging.DEBUG, logger=request_charge.log.name)

    for function, method, path, body in (
        (change_oil, "POST", f"cars/{car_id}/oil-changes", {"mileage": 10, "charge": "1.00"}),
        (get_car, "GET", f"cars/{car_id}", None),
        (get_car, "GET", "cars/00000000-0000-4000-8000-000000000000", None),  # a 404 is charged too
    ):
        caplog.clear()
        transport.reset()
        route = {"carId": path.split("/")[1]}
        if body is None:
            call(function, method, path, route_params=route)
        else:
            call(function, method, path, json_body=body, route_params=route)
        sent = transport.kinds(skip_account=True)  # the SDK's background account reads are not ours
        (record,) = request_records(caplog)
        assert sent, path
        assert record.cosmosResponses == len(sent), (path, sent)  # type: ignore[attr-defined]
        expected = round(sum(transport.charge_of(kind) for kind in sent), 2)
        assert record.requestCharge == expected, (path, sent)  # type: ignore[attr-defined]
        assert f"{expected:.2f} RU" in record.getMessage()


def test_a_command_costs_one_batch_and_is_charged_as_one(
    charged: tuple[Services, ChargingTransport], caplog: pytest.LogCaptureFixture
) -> None:
    _, transport = charged
    car_id = body_of(call(add_car, "POST", "cars", json_body={"make": "A", "model": "B", "owner": "C"}))[
        "carId"
    ]
    caplog.set_level(logging.DEBUG, logger=request_charge.log.name)
    transport.reset()
    call(
        change_oil,
        "POST",
        f"cars/{car_id}/oil-changes",
        json_body={"mileage": 1, "charge": "1.00"},
        route_params={"carId": car_id},
    )
    assert transport.kinds(skip_account=True) == ["batch"]
    (record,) = request_records(caplog)
    assert record.requestCharge == CHARGES["batch"]  # type: ignore[attr-defined]


def test_responses_outside_an_invocation_are_not_counted_and_invocations_do_not_share_a_meter() -> None:
    class Response:
        def __init__(self, charge: str | None) -> None:
            self.http_response = self
            self.headers = {} if charge is None else {request_charge.CHARGE_HEADER: charge}

    request_charge.record_response(Response("5"))  # no invocation: nowhere to count, no error
    with request_charge.metered() as outer:
        request_charge.record_response(Response("1.5"))
        with request_charge.metered() as inner:
            request_charge.record_response(Response("2"))
            request_charge.record_response(Response(None))  # a server that reports no charge
            request_charge.record_response(Response("not a number"))
        request_charge.record_response(Response("0.25"))
    assert (outer.request_units, outer.responses, outer.charged) == (1.75, 2, 2)
    assert (inner.request_units, inner.responses, inner.charged) == (2.0, 3, 1)
    assert request_charge.current() is None
