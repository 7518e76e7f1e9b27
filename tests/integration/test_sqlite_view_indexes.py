"""The SQLite view store's partial indexes: they pick documents by `kind`, and older files are upgraded."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cartracker.adapters.sqlite_db import SqliteDatabase
from cartracker.adapters.sqlite_events import SqliteEventStore
from cartracker.adapters.sqlite_views import SqliteViewStore
from cartracker.projection.car_list import shard_partition, subtotal_document
from cartracker.projection.documents import without_system_fields
from cartracker.projection.ports import RowWrite
from tests.integration.test_view_store_contract import row

# The documents table as versions before the `kind` column created it, with their list indexes.
_OLD_SCHEMA = """
CREATE TABLE documents (
    container TEXT NOT NULL, pk TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (container, pk, id)
) WITHOUT ROWID;
CREATE INDEX car_list_rows ON documents (container, json_extract(body, '$.listKey'))
    WHERE json_extract(body, '$.docType') = 'carListRow';
CREATE INDEX car_list_subtotals ON documents (container)
    WHERE json_extract(body, '$.docType') = 'carListSubtotal';
"""


def index_names(db: SqliteDatabase) -> set[str]:
    found = db.connection().execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return {name for (name,) in found}


def test_the_kind_column_holds_each_documents_type(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "store.sqlite3")
    views, events = SqliteViewStore(db), SqliteEventStore(db)
    pk = shard_partition(3)
    views.write_shard(pk, [RowWrite(row(pk), None)], subtotal_document(pk, 0, 1), subtotal_etag=None)
    views.park({"id": "p1", "docType": "parkedChange"})
    events.append(
        "car-1", [{"id": "car-1:0000000001", "docType": "event"}], {"id": "car-1:head"}, head_etag=None
    )

    kinds = dict(db.connection().execute("SELECT id, kind FROM documents").fetchall())

    assert sorted(kinds.values(), key=str) == sorted(
        ["carListRow", "carListSubtotal", "parkedChange", "event", None], key=str
    )
    assert kinds["car-1:head"] is None, "a document without docType has no kind"


def test_two_views_containers_in_one_file_keep_their_rows_apart(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "store.sqlite3")
    first, second = SqliteViewStore(db, container="views"), SqliteViewStore(db, container="views-b")
    pk = shard_partition(0)
    mine = row(pk)
    first.write_shard(pk, [RowWrite(mine, None)], subtotal_document(pk, 0, 1), subtotal_etag=None)

    assert [d["id"] for d in first.list_rows(before=None, limit=5)] == [mine["id"]]
    assert second.list_rows(before=None, limit=5) == []
    assert second.read_summary([]).subtotals == []


def test_a_file_of_an_earlier_version_is_upgraded_and_lists_what_it_held(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    pk = shard_partition(5)
    older, newer = row(pk, minutes=1, cents=100), row(pk, minutes=2, cents=250)
    subtotal = subtotal_document(pk, 350, 2)
    with sqlite3.connect(path) as old:
        old.executescript(_OLD_SCHEMA)
        old.executemany(
            "INSERT INTO documents (container, pk, id, body, seq) VALUES ('views', ?, ?, ?, ?)",
            [(pk, doc["id"], json.dumps(doc), seq) for seq, doc in enumerate((older, newer, subtotal), 1)],
        )
    old.close()

    db = SqliteDatabase(path)
    views = SqliteViewStore(db)

    assert [without_system_fields(d) for d in views.list_rows(before=None, limit=10)] == [newer, older]
    assert [without_system_fields(s) for s in views.read_summary([]).subtotals] == [subtotal]
    names = index_names(db)
    assert not {"car_list_rows", "car_list_subtotals"} & names, "the indexes that parsed every body are gone"
    assert {"car_list_rows_by_key", "car_list_subtotals_by_kind"} <= names
    SqliteDatabase(path)  # opening an upgraded file again changes nothing
    assert views.list_rows(before=None, limit=10)[0]["id"] == newer["id"]
