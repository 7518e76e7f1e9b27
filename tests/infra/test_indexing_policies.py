"""Each container's indexing policy indexes exactly what the code's queries filter and sort on.

The policies in infra/app/cosmos.bicep exclude the root and include a few paths, because every
indexed path costs RU on every write. The price of that is that a query on a path left out scans
(a filter) or fails (an ORDER BY) in Azure, while the Cosmos test server ignores indexing and
passes anyway. So this test reads every SQL string in the Cosmos adapters, takes the paths their
WHERE and ORDER BY clauses use, and checks them against the policy the infrastructure deploys:
none may be missing, and no included path may be one nothing queries (it would cost RU for nothing).
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from typing import Any

import pytest

from cartracker import settings
from tests.infra.bicep_model import REPO_ROOT, main_template

CONTAINER = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"
ADAPTERS = REPO_ROOT / "cartracker" / "adapters"
# Which container each adapter queries (cartracker/bootstrap.py builds them so).
ADAPTER_CONTAINERS = {
    "cosmos_events.py": settings.EVENTS_CONTAINER,
    "cosmos_views.py": settings.VIEWS_CONTAINER,
}
# The Functions Cosmos DB trigger's lease store (azure-cosmos-dotnet-v3,
# DocumentServiceLeaseContainerCosmos.ListDocumentsAsync) lists leases with this query; every
# other lease operation is a point read, create or replace by id.
LEASE_QUERY = "SELECT * FROM c WHERE STARTSWITH(c.id, @PartitionLeasePrefix)"
# Indexed in consistent mode whatever the policy says (Cosmos DB "Indexing policies").
ALWAYS_INDEXED = {"/id/?", "/_ts/?"}
# What a container without a policy gets: everything but `_etag`.
DEFAULT_POLICY: dict[str, Any] = {"includedPaths": [{"path": "/*"}], "excludedPaths": [{"path": "/_etag/?"}]}

_SELECT = re.compile(r"^\s*SELECT\b", re.IGNORECASE)
_CLAUSES = re.compile(
    r"\bFROM\s+(?P<alias>\w+)(?:\s+WHERE\s+(?P<where>.*?))?(?:\s+ORDER\s+BY\s+(?P<order>.*))?$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Query:
    sql: str
    filters: frozenset[str]  # index paths, e.g. "/docType/?"
    order_by: tuple[tuple[str, str], ...]  # (index path, "ascending" | "descending")


def parse_query(sql: str) -> Query:
    """The index paths a query's WHERE and ORDER BY use (its projection needs no index)."""
    match = _CLAUSES.search(sql)
    assert match, f"cannot read the clauses of {sql!r}"
    alias = match["alias"]
    reference = re.compile(rf"\b{alias}((?:\.\w+|\[\"[^\"]+\"\])+)")

    def path(expression: str) -> str:
        segments = re.findall(r"\.(\w+)|\[\"([^\"]+)\"\]", expression)
        return "/" + "/".join(a or b for a, b in segments) + "/?"

    filters = frozenset(path(m[1]) for m in reference.finditer(match["where"] or ""))
    order_by = []
    for item in (match["order"] or "").split(","):
        if item.strip():
            field = reference.search(item)
            assert field, f"ORDER BY item {item!r} in {sql!r} is not a property path"
            descending = re.search(r"\bDESC\s*$", item, re.IGNORECASE) is not None
            order_by.append((path(field[1]), "descending" if descending else "ascending"))
    return Query(sql, filters, tuple(order_by))


def adapter_queries() -> dict[str, list[Query]]:
    """Every SQL string literal in cartracker/adapters/cosmos_*.py, by the container it queries."""
    found: dict[str, list[Query]] = {}
    for source in sorted(ADAPTERS.glob("cosmos_*.py")):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            # A query assembled at run time cannot be checked here: keep them literal.
            assert not (isinstance(node, ast.JoinedStr) and "SELECT" in ast.unparse(node).upper()), (
                f"{source.name}: an f-string query cannot be checked against the indexing policy"
            )
        sqls = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _SELECT.match(node.value)
        ]
        if sqls:
            assert source.name in ADAPTER_CONTAINERS, (
                f"{source.name} queries a container this test does not know"
            )
            found.setdefault(ADAPTER_CONTAINERS[source.name], []).extend(parse_query(sql) for sql in sqls)
    return found


def code_queries() -> dict[str, list[Query]]:
    queries = adapter_queries()
    queries.setdefault(settings.LEASES_CONTAINER, []).append(parse_query(LEASE_QUERY))
    return queries


def deployed_policies() -> dict[str, dict[str, Any]]:
    cosmos = main_template().module("cosmos")
    policies = {}
    for container in cosmos.resources(CONTAINER).values():
        resource = cosmos.resolve(container["properties"]["resource"])
        policies[resource["id"]] = resource.get("indexingPolicy") or DEFAULT_POLICY
    return policies


def is_indexed(path: str, policy: dict[str, Any]) -> bool:
    """Whether a scalar path ("/a/b/?") is indexed: the most precise matching rule decides."""
    if path in ALWAYS_INDEXED:
        return True
    segments = path.strip("/").split("/")[:-1]
    best: tuple[int, int, bool] | None = None  # (depth, "/?" beats "/*", included)
    for included, key in ((True, "includedPaths"), (False, "excludedPaths")):
        for rule in policy.get(key, []):
            parts = rule["path"].strip("/").replace('"', "").split("/")
            *prefix, last = parts
            exact = last == "?" and prefix == segments
            if exact or (last == "*" and segments[: len(prefix)] == prefix):
                rank = (len(prefix), 1 if last == "?" else 0, included)
                best = rank if best is None or rank[:2] > best[:2] else best
    return best is not None and best[2]


def has_composite(order_by: tuple[tuple[str, str], ...], policy: dict[str, Any]) -> bool:
    """A multi-field ORDER BY needs a composite index in the same order, or with every order reversed."""
    wanted = [(p.removesuffix("/?"), o) for p, o in order_by]
    flipped = [(p, "ascending" if o == "descending" else "descending") for p, o in wanted]
    for composite in policy.get("compositeIndexes", []):
        fields = [(c["path"], c.get("order", "ascending")) for c in composite]
        if fields in (wanted, flipped):
            return True
    return False


def problems(queries: dict[str, list[Query]], policies: dict[str, dict[str, Any]]) -> list[str]:
    """Everything wrong between the queries and the policies, as readable lines; empty when right."""
    found = []
    for container, policy in sorted(policies.items()):
        excluded = {rule["path"] for rule in policy.get("excludedPaths", [])}
        if not {"/*", "/_etag/?"} <= excluded:
            found.append(f"{container}: the policy must exclude /* and /_etag/?")
        needed: set[str] = set()
        for query in queries.get(container, []):
            paths = query.filters | {p for p, _ in query.order_by}
            needed |= paths
            found.extend(
                f"{container}: {path} is not indexed, used by {query.sql!r}"
                for path in sorted(paths)
                if not is_indexed(path, policy)
            )
            if len(query.order_by) > 1 and not has_composite(query.order_by, policy):
                found.append(f"{container}: no composite index for the ORDER BY of {query.sql!r}")
        included = {rule["path"] for rule in policy.get("includedPaths", [])}
        found.extend(
            f"{container}: {path} is indexed but no query uses it" for path in sorted(included - needed)
        )
    return found


def test_the_adapters_queries_are_found_and_read() -> None:
    queries = adapter_queries()
    assert set(queries) == {settings.EVENTS_CONTAINER, settings.VIEWS_CONTAINER}
    # Each was read: it filters or sorts on something (the newest change in `events` only sorts).
    assert all(query.filters or query.order_by for container in queries.values() for query in container)
    assert sum(len(container) for container in queries.values()) >= 9


def test_every_queried_path_is_indexed_and_every_indexed_path_is_queried() -> None:
    policies = deployed_policies()
    assert set(policies) == {settings.EVENTS_CONTAINER, settings.VIEWS_CONTAINER, settings.LEASES_CONTAINER}
    assert problems(code_queries(), policies) == []


@pytest.mark.parametrize("dropped", ["/version/?", "/docType/?"])
def test_a_policy_that_misses_a_queried_path_is_caught(dropped: str) -> None:
    policies = copy.deepcopy(deployed_policies())
    events = policies[settings.EVENTS_CONTAINER]
    events["includedPaths"] = [rule for rule in events["includedPaths"] if rule["path"] != dropped]
    found = problems(code_queries(), policies)
    assert found
    assert all(dropped in line for line in found), found


def test_the_default_policy_and_an_unqueried_path_are_caught() -> None:
    policies = copy.deepcopy(deployed_policies())
    policies[settings.VIEWS_CONTAINER] = {
        "includedPaths": [{"path": "/*"}],
        "excludedPaths": [{"path": "/_etag/?"}],
    }
    policies[settings.LEASES_CONTAINER]["includedPaths"] = [{"path": "/owner/?"}]
    found = problems(code_queries(), policies)
    assert f"{settings.VIEWS_CONTAINER}: the policy must exclude /* and /_etag/?" in found
    assert f"{settings.VIEWS_CONTAINER}: /* is indexed but no query uses it" in found
    assert f"{settings.LEASES_CONTAINER}: /owner/? is indexed but no query uses it" in found


def test_the_reader_takes_filters_and_sort_orders_from_the_sql() -> None:
    query = parse_query(
        'SELECT TOP @n c.id FROM c WHERE c.a = @a AND (ARRAY_CONTAINS(@ids, c.id) OR c["b-c"].d > 1) '
        "ORDER BY c.e DESC, c.f"
    )
    assert query.filters == {"/a/?", "/id/?", "/b-c/d/?"}
    assert query.order_by == (("/e/?", "descending"), ("/f/?", "ascending"))


def test_precedence_and_composites_follow_cosmos_rules() -> None:
    policy = {
        "includedPaths": [{"path": "/a/b/?"}, {"path": "/x/*"}],
        "excludedPaths": [{"path": "/*"}, {"path": "/a/*"}, {"path": "/x/y/?"}],
        "compositeIndexes": [[{"path": "/e", "order": "descending"}, {"path": "/f", "order": "ascending"}]],
    }
    for indexed in ("/a/b/?", "/x/z/?", "/_ts/?"):
        assert is_indexed(indexed, policy), indexed
    for unindexed in ("/a/c/?", "/x/y/?", "/q/?"):
        assert not is_indexed(unindexed, policy), unindexed
    e_desc_f_asc = (("/e/?", "descending"), ("/f/?", "ascending"))
    e_asc_f_desc = (("/e/?", "ascending"), ("/f/?", "descending"))
    both_asc = (("/e/?", "ascending"), ("/f/?", "ascending"))
    assert has_composite(e_desc_f_asc, policy)
    assert has_composite(e_asc_f_desc, policy)
    assert not has_composite(both_asc, policy)
