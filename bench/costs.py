"""Document sizes, and what they imply in Cosmos DB request units (RU) per operation.

The sizes are measured: documents written by the app on the Cosmos test
server and read back with the system properties Cosmos adds (`_rid`, `_self`,
`_etag`, `_attachments`, `_ts`), as UTF-8 JSON. The RU figures are estimates
from Cosmos DB's published costs, not measurements (the test server charges
nothing real), as a range:

* a point read: 1 RU per KB, 1 RU at least;
* a write: 5.5 RU per KB, 5.5 at least; a transactional batch costs the sum
  of its writes. Low: every write priced so. High: a replace priced as a delete
  plus an insert (Microsoft's "Understand request unit consumption" article
  puts an update at about twice a create);
* a query: low 2.5 RU; high 2.5 RU plus 1 RU per KB it returns (a point
  read's rate). Real charges depend on the query and the index; on an
  account, read the `x-ms-request-charge` header.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from bench.context import Context
from bench.report import Figure, Section
from bench.stores import cosmos_database
from cartracker.documents import idempotency_id
from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, InspectBrakes, ReplaceTires
from cartracker.ports import Document
from cartracker.projection.documents import row_partition
from cartracker.service.car_list import DEFAULT_PAGE_SIZE

READ_RU_PER_KB = 1.0
WRITE_RU_PER_KB = 5.5
QUERY_RU = 2.5
HISTORY_PAGE = 5  # events on the history page the estimate prices
SHARDS = 16  # the default shard count: a batch of 100 new cars touches every shard


@dataclass(frozen=True)
class Estimate:
    key: str
    label: str
    round_trips: str
    low: float
    high: float


def kb(doc: Document) -> float:
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()) / 1024


def read(size_kb: float) -> float:
    return READ_RU_PER_KB * max(1.0, size_kb)


def write(size_kb: float) -> float:
    return WRITE_RU_PER_KB * max(1.0, size_kb)


def query(returned_kb: float, *, high: bool) -> float:
    return QUERY_RU + (READ_RU_PER_KB * returned_kb if high else 0.0)


def estimates(sizes: dict[str, float]) -> list[Estimate]:
    """RU per operation from the measured sizes, low and high (see the module docstring)."""
    event, head, row, subtotal = sizes["event"], sizes["head"], sizes["row"], sizes["subtotal"]
    page_rows = (DEFAULT_PAGE_SIZE + 1) * row  # the page and one more row, to know if there is a next

    record = sizes["record"]

    def command(replace_factor: float) -> float:
        return write(event) + replace_factor * write(head)  # one batch: create the event, replace the head

    def list_page(high: bool) -> float:
        return query(page_rows, high=high) + query(SHARDS * subtotal, high=high)

    def projector(high: bool) -> float:
        # Per shard: one query (the rows do not exist yet: it returns the subtotal) and one batch
        # (create the rows, replace the subtotal).
        per_shard = query(subtotal, high=high) + (2 if high else 1) * write(subtotal)
        return (SHARDS * per_shard + 100 * write(row)) / 100

    return [
        Estimate("addCar", "add car (batch: create event + head)", "1", command(1), command(1)),
        Estimate(
            "commandWarm", "command, warm (batch: create event, replace head)", "1", command(1), command(2)
        ),
        Estimate(
            "commandWarmKeyed",
            "the same with an Idempotency-Key (the batch also creates its record)",
            "1",
            command(1) + write(record),
            command(2) + write(record),
        ),
        Estimate(
            "keyedReplay",
            "a keyed retry (refused batch, then a point read of the record)",
            "2 warm, 3 cold",
            read(record),
            read(record) + command(1),
        ),
        Estimate(
            "commandCold",
            "command, cold (head read + batch)",
            "2",
            read(head) + command(1),
            read(head) + command(2),
        ),
        Estimate("carRead", "car read (point read of the head)", "1", read(head), read(head)),
        Estimate(
            "historyPage",
            f"history page of {HISTORY_PAGE} events (query)",
            "1",
            query(HISTORY_PAGE * event, high=False),
            query(HISTORY_PAGE * event, high=True),
        ),
        Estimate(
            "listPage",
            f"list page of {DEFAULT_PAGE_SIZE} (2 queries)",
            "2",
            list_page(False),
            list_page(True),
        ),
        Estimate(
            "laggingToken", "list page: each lagging token adds (head read)", "+1", read(head), read(head)
        ),
        Estimate(
            "projectorPerCar",
            "projector: per new car, in a batch of 100",
            f"2 per shard / 100 ({SHARDS} shards)",
            projector(False),
            projector(True),
        ),
    ]


def run(ctx: Context) -> Section:
    sizes = measure_sizes(ctx)
    section = Section("Document sizes (Cosmos test server, system properties included)")
    for key, label in (
        ("event", "event document (largest type)"),
        ("head", "head document (it carries no Idempotency-Keys)"),
        ("record", "idempotency record (one per keyed command, kept 24 h)"),
        ("row", "car-list row"),
        ("subtotal", "shard subtotal"),
    ):
        section.add(Figure(f"size.{key}", label, "KB", {"cosmos": sizes[key]}, digits=2))
    rows = estimates(sizes)
    section.data["ruEstimates"] = {
        "method": __doc__.split("\n\n", 1)[1].strip(),
        "operations": {
            e.key: {
                "label": e.label,
                "roundTrips": e.round_trips,
                "low": round(e.low, 1),
                "high": round(e.high, 1),
            }
            for e in rows
        },
    }
    section.notes.append(ru_table(rows))
    return section


def ru_table(rows: list[Estimate]) -> str:
    """The estimates as a Markdown table."""
    lines = [
        "Estimated RU per operation on Azure, from the sizes above (method: bench/costs.py)",
        "",
        "| operation | round trips | RU, low | RU, high |",
        "|:--|--:|--:|--:|",
        *(f"| {e.label} | {e.round_trips} | {e.low:.1f} | {e.high:.1f} |" for e in rows),
    ]
    return "\n".join(lines)


def measure_sizes(ctx: Context) -> dict[str, float]:
    """KB of each kind of document, written by the app on the Cosmos test server and read back."""
    with cosmos_database(ctx.cosmos_server) as cosmos:
        services = cosmos.services
        car_id = services.commands.add_car(
            AddCar(make="Volkswagen", model="Golf Variant", owner="Anna Andersson")
        ).car_id
        for command in (
            ChangeOil.model_validate({"mileage": 12_000, "charge": "49.99"}),
            InspectBrakes(mileage=12_500, remaining_pad=70),
            ReplaceTires.model_validate({"numberOfTiresReplaced": 4, "charge": "420.00"}),
            ChangeOwner(new_owner="Bertil Bergström"),
        ):
            services.commands.execute(car_id, command)
        key = str(uuid.uuid4())
        services.commands.execute(
            car_id, ChangeOil.model_validate({"mileage": 13_000, "charge": "10.00"}), idempotency_key=key
        )
        events = services.events.read_events(car_id)
        head = services.events.read_head(car_id)
        record = services.events.read_record(car_id, idempotency_id(car_id, key))
        assert head is not None
        assert record is not None
        services.projector.apply(events)
        shard = services.views.read_shard(row_partition(car_id, services.settings.list_shards), [car_id])
        assert shard.subtotal is not None
        return {
            "event": max(kb(doc) for doc in events),
            "head": kb(head.doc),
            "record": kb(record),
            "row": kb(shard.rows[car_id].doc),
            "subtotal": kb(shard.subtotal.doc),
        }
