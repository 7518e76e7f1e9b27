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
  account, read the `x-ms-request-charge` header (the app logs it per
  request at DEBUG: `cartracker.request_charge`).

Indexing: Cosmos charges a write for every path it indexes, but publishes no
price per path, so the range above does not move with the policy. What the
section does count is the indexed paths each write touches, with the default
policy (every property) and with infra/app/cosmos.bicep's: the write charges
on an account fall with that count, toward the low end of the range.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from bench.context import Context
from bench.report import Figure, Section
from bench.stores import cosmos_database
from cartracker.documents import idempotency_id
from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, InspectBrakes, ReplaceTires
from cartracker.ports import Document
from cartracker.projection.car_list import row_partition
from cartracker.service.car_list import DEFAULT_PAGE_SIZE
from tests.infra.test_indexing_policies import deployed_policies, is_indexed

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


CONTAINER_OF = {"event": "events", "head": "events", "record": "events", "row": "views", "subtotal": "views"}
_SYSTEM = {"_rid", "_self", "_etag", "_attachments"}  # not counted either way; `id` and `_ts` are


def scalar_paths(doc: Any, prefix: str = "") -> list[str]:
    """Index paths of a document's scalar values ("/a/b/?", arrays as "/a/[]/?"), as Cosmos indexes them."""
    if isinstance(doc, dict):
        return [
            path
            for key, value in doc.items()
            if not (prefix == "" and key in _SYSTEM)
            for path in scalar_paths(value, f"{prefix}/{key}")
        ]
    if isinstance(doc, list):
        return sorted({path for item in doc for path in scalar_paths(item, f"{prefix}/[]")})
    return [f"{prefix}/?"]


def indexed_paths(docs: dict[str, Document]) -> dict[str, dict[str, int]]:
    """Per kind of document: the paths a write indexes with the default policy and with the deployed one."""
    counts = {}
    for kind, doc in docs.items():
        policy = deployed_policies()[CONTAINER_OF[kind]]
        paths = scalar_paths(doc)
        # An included path the document lacks is still indexed, as "undefined" (Cosmos DB docs).
        included = {rule["path"] for rule in policy["includedPaths"]}
        deployed = {path for path in paths if is_indexed(path, policy)} | included
        counts[kind] = {"default": len(paths), "deployed": len(deployed)}
    return counts


def run(ctx: Context) -> Section:
    docs = measure_documents(ctx)
    sizes = {kind: kb(doc) for kind, doc in docs.items()}
    section = Section("Document sizes (Cosmos test server, system properties included)")
    for key, label in (
        ("event", "event document (largest type)"),
        ("head", "head document (it carries no Idempotency-Keys)"),
        ("record", "idempotency record (one per keyed command, kept 24 h)"),
        ("row", "car-list row"),
        ("subtotal", "shard subtotal"),
    ):
        section.add(Figure(f"size.{key}", label, "KB", {"cosmos": sizes[key]}, digits=2))
    for key, counts in indexed_paths(docs).items():
        section.add(
            Figure(
                f"indexedPaths.{key}",
                f"{key}: indexed paths per write, this policy (default policy: {counts['default']})",
                "paths",
                {"cosmos": float(counts["deployed"])},
                note="scalar paths of the document the policy indexes, id and _ts included",
                detail=counts,
            )
        )
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


def measure_documents(ctx: Context) -> dict[str, Document]:
    """One document of each kind, written by the app on the Cosmos test server and read back."""
    with cosmos_database(ctx.cosmos_server) as cosmos:
        services = cosmos.services
        car_id = services.commands.add_car(
            AddCar(make="Volkswagen", model="Golf Variant", owner="Anna Andersson")
        ).car_id
        for command in (
            ChangeOil.model_validate({"mileage": 12_000, "charge": "49.99"}),
            InspectBrakes(mileage=12_500, remainingPad=70),
            ReplaceTires.model_validate({"numberOfTiresReplaced": 4, "charge": "420.00"}),
            ChangeOwner(newOwner="Bertil Bergström"),
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
            "event": max(events, key=kb),
            "head": head.doc,
            "record": record,
            "row": shard.rows[car_id].doc,
            "subtotal": shard.subtotal.doc,
        }
