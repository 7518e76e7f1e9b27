"""Projector instances as separate processes over one set of views, as `make bench` runs them: the
totals never conflict and every run ends exact, on the Cosmos test server and on SQLite.

The counts are deterministic (instances own disjoint cars, as leases own disjoint feed ranges), so
they are asserted here; the speed is only the benchmark's to print.
"""

from __future__ import annotations

from pathlib import Path

from bench.scale_out import Run, _cosmos_fleet, _run_cosmos, _run_sqlite
from tests.support.cosmos import CosmosServer, CountingTransport, make_client

CARS = 40  # 5 events each
INSTANCES = 4


def assert_contention_free(run: Run) -> None:
    assert run.exact, "the views differ from the fold of every car"
    assert run.events == 5 * CARS
    assert (run.total("subtotal_conflicts"), run.total("row_conflicts")) == (0, 0)
    assert (run.total("redeliveries"), run.total("parked")) == (0, 0)
    assert len(run.results) == INSTANCES
    assert all(r.batches for r in run.results), "every instance worked"


def test_instances_on_the_cosmos_test_server_never_conflict_and_end_exact(
    cosmos_server: CosmosServer,
) -> None:
    admin = make_client(cosmos_server.endpoint, CountingTransport())
    fleet = _cosmos_fleet(cosmos_server.endpoint, admin, CARS)
    try:
        assert_contention_free(_run_cosmos(cosmos_server.endpoint, admin, fleet, INSTANCES))
    finally:
        admin.delete_database(fleet.database)
        admin.close()


def test_instances_on_one_sqlite_file_never_conflict_and_end_exact(tmp_path: Path) -> None:
    assert_contention_free(_run_sqlite(tmp_path, CARS, INSTANCES))
