"""Round trips per operation on the Cosmos adapter, counted at the SDK's HTTP transport."""

from __future__ import annotations

from dataclasses import replace

from cartracker.bootstrap import bootstrap
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.service.commands import CommandService
from tests.conftest import CosmosEnv
from tests.support.cosmos import CosmosServer, CountingTransport, make_client

VOLVO = AddCar(make="Volvo", model="V70", owner="Alice")


def test_commands_and_loads_cost_the_round_trips_the_design_promises(
    cosmos: CosmosEnv, cosmos_server: CosmosServer
) -> None:
    transport = CountingTransport()
    services = bootstrap(cosmos.settings, cosmos_client=make_client(cosmos_server.endpoint, transport))
    cosmos = replace(cosmos, transport=transport)
    # A new client reads some metadata once (account, container properties) on first use:
    # warm it with a first command, and report those reads separately.
    services.commands.add_car(VOLVO)
    metadata = [r.kind for r in transport.records if r.kind != "batch"]
    print(f"\none-time metadata reads of a new client: {len(metadata)} {metadata}")
    assert transport.kinds().count("batch") == 1

    transport.reset()
    car_id = services.commands.add_car(VOLVO).car_id
    assert cosmos.transport.kinds() == ["batch"], "add car: one batch"

    another_instance = CommandService(services.events)
    cosmos.transport.reset()
    another_instance.execute(car_id, ChangeOil(mileage=1, charge=1))
    assert cosmos.transport.kinds() == ["read", "batch"], "command on a cold car: head read + batch"

    cosmos.transport.reset()
    another_instance.execute(car_id, ChangeOil(mileage=2, charge=1))
    another_instance.execute(car_id, ChangeOil(mileage=3, charge=1))
    assert cosmos.transport.kinds() == ["batch", "batch"], "command on a warm car: one batch each"

    cosmos.transport.reset()
    assert services.queries.car(car_id).version == 4
    assert cosmos.transport.kinds() == ["read"], "load: one point read"
