"""The SQLite view store's partial indexes: scoped to the configured views container, whatever its name."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cartracker.adapters.sqlite_db import SqliteDatabase
from cartracker.adapters.sqlite_views import SqliteViewStore
from cartracker.projection.documents import shard_partition, subtotal_document, without_system_fields
from cartracker.projection.ports import RowWrite
from tests.integration.test_view_store_contract import row


def index_names(db: SqliteDatabase) -> set[str]:
    found = db.connection().execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return {name for (name,) in found}


def test_a_container_name_with_quotes_is_indexed_and_listed(tmp_path: Path) -> None:
    views = SqliteViewStore(SqliteDatabase(tmp_path / "store.sqlite3"), container="""it's "views\"""")
    pk = shard_partition(3)
    older, newer = row(pk, minutes=1, cents=100), row(pk, minutes=2, cents=250)
    views.write_shard(
        pk, [RowWrite(older, None), RowWrite(newer, None)], subtotal_document(pk, 350, 2), subtotal_etag=None
    )

    listed = [without_system_fields(d) for d in views.list_rows(before=None, limit=10)]
    assert listed == [newer, older]
    assert views.list_rows(before=newer["listKey"], limit=10)[0]["id"] == older["id"]
    summary = views.read_summary([])
    assert [without_system_fields(s) for s in summary.subtotals] == [subtotal_document(pk, 350, 2)]


def test_two_views_containers_in_one_file_keep_their_rows_apart(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "store.sqlite3")
    first, second = SqliteViewStore(db, container="views"), SqliteViewStore(db, container="views-b")
    pk = shard_partition(0)
    mine = row(pk)
    first.write_shard(pk, [RowWrite(mine, None)], subtotal_document(pk, 0, 1), subtotal_etag=None)

    assert [d["id"] for d in first.list_rows(before=None, limit=5)] == [mine["id"]]
    assert second.list_rows(before=None, limit=5) == []
    assert second.read_summary([]).subtotals == []
    assert {"car_list_rows:views", "car_list_rows:views-b"} <= index_names(db)


def test_the_indexes_of_earlier_versions_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    db = SqliteDatabase(path)
    with sqlite3.connect(path) as old:  # what an earlier version created: predicates parsing every body
        old.execute(
            "CREATE INDEX car_list_rows ON documents (container, json_extract(body, '$.listKey')) "
            "WHERE json_extract(body, '$.docType') = 'carListRow'"
        )
        old.execute(
            "CREATE INDEX car_list_subtotals ON documents (container) "
            "WHERE json_extract(body, '$.docType') = 'carListSubtotal'"
        )
    assert {"car_list_rows", "car_list_subtotals"} <= index_names(db)

    SqliteViewStore(db)

    names = index_names(db)
    assert not {"car_list_rows", "car_list_subtotals"} & names
    assert {"car_list_rows:views", "car_list_subtotals:views"} <= names
