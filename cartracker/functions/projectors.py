"""The change-feed trigger every projection gets, written once: a projection's module registers it.

The body only turns the `DocumentList` into dicts and hands it to the projection's
projector; every rule lives in `cartracker.projection`. The retry policy redelivers
a batch whose shard writes kept failing; on the last attempt the projector parks
those documents instead, so nothing is dropped silently.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from cartracker import bootstrap
from cartracker.projection.spec import AnyProjection
from cartracker.settings import CONNECTION_PREFIX

# The Functions host (not the worker) retries a failed invocation with the same batch.
MAX_RETRIES = 5
MAX_ITEMS_PER_INVOCATION = 100


def change_feed_projector(bp: func.Blueprint, projection: AnyProjection, *, function_name: str) -> Any:
    """Register `function_name` on `bp`: the projection's trigger on the `events` change feed."""

    def project(changes: func.DocumentList, context: func.Context) -> None:
        retry = context.retry_context
        last_attempt = retry is None or retry.retry_count >= retry.max_retry_count
        projector = bootstrap.services().projectors[projection.name]
        projector.apply([doc.to_dict() for doc in changes], park_failures=last_attempt)

    project.__name__ = project.__qualname__ = function_name
    trigger = bp.cosmos_db_trigger(
        arg_name="changes",
        connection=CONNECTION_PREFIX,
        database_name="%COSMOS_DATABASE%",
        container_name="%COSMOS_EVENTS_CONTAINER%",
        lease_container_name="%COSMOS_LEASES_CONTAINER%",
        lease_container_prefix=projection.lease_prefix,
        create_lease_container_if_not_exists=False,
        # Leases created after events were written must still see those events, and a projection
        # added later must replay the whole history. Only read when this prefix has no leases yet.
        start_from_beginning=True,  # type: ignore[arg-type]  # the library annotates it as datetime.time
        max_items_per_invocation=MAX_ITEMS_PER_INVOCATION,
    )
    retried = bp.retry(
        strategy="exponential_backoff",
        max_retry_count=str(MAX_RETRIES),
        minimum_interval="00:00:02",
        maximum_interval="00:01:00",
    )
    return bp.function_name(function_name)(retried(trigger(project)))
