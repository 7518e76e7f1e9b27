"""The one lazy composition root: builds clients, stores and services on first use.

Nothing here runs at import time. Tests build their own `Services` with
`bootstrap(...)` and install them with `use(...)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cartracker.ports import ChangeFeedProgress, EventStore
from cartracker.projection.car_list import CAR_LIST
from cartracker.projection.engine import AnyProjector, Projector
from cartracker.projection.parked import ParkedChanges
from cartracker.projection.ports import ViewStore
from cartracker.projection.registry import PROJECTIONS
from cartracker.projection.status import ProjectionStatuses
from cartracker.service.car_list import CarListQueries
from cartracker.service.commands import CommandService, utc_now
from cartracker.service.queries import CarQueries
from cartracker.service.service_due import ServiceDueQueries
from cartracker.settings import Settings


@dataclass
class Services:
    settings: Settings
    events: EventStore
    commands: CommandService
    queries: CarQueries
    backend: Any  # the SqliteDatabase or the CosmosClient underneath, for health checks and tools
    views: ViewStore
    projectors: dict[str, AnyProjector]  # every registered projection's, by name: what the triggers run
    car_list: CarListQueries
    service_due: ServiceDueQueries
    # `projectors["car-list"]`, for the tools that drive the car list's projector directly (bench/).
    projector: AnyProjector
    statuses: ProjectionStatuses  # how far behind each projection is (GET manage/projections)
    parked: ParkedChanges  # retrying parked changes (POST manage/parked/{id}/retry, ...)


_services: Services | None = None
_lock = threading.Lock()


def bootstrap(
    settings: Settings | None = None,
    *,
    cosmos_client: Any = None,
    clock: Callable[[], datetime] = utc_now,
) -> Services:
    settings = Settings.from_env() if settings is None else settings
    if settings.store == "sqlite":
        from cartracker.adapters.sqlite_db import SqliteDatabase  # noqa: PLC0415
        from cartracker.adapters.sqlite_events import SqliteEventStore  # noqa: PLC0415
        from cartracker.adapters.sqlite_views import SqliteViewStore  # noqa: PLC0415

        db = SqliteDatabase(settings.sqlite_path)
        sqlite_events = SqliteEventStore(db, clock=lambda: clock().timestamp())
        events: EventStore = sqlite_events
        feed: ChangeFeedProgress = sqlite_events
        views: ViewStore = SqliteViewStore(db)
        backend: Any = db
    else:
        from cartracker.adapters.cosmos_client import shared_client  # noqa: PLC0415
        from cartracker.adapters.cosmos_events import CosmosEventStore  # noqa: PLC0415
        from cartracker.adapters.cosmos_views import CosmosViewStore  # noqa: PLC0415

        client = shared_client(settings) if cosmos_client is None else cosmos_client
        database = client.get_database_client(settings.database)
        cosmos_events = CosmosEventStore(database.get_container_client(settings.events_container))
        events, feed = cosmos_events, cosmos_events
        views = CosmosViewStore(database.get_container_client(settings.views_container))
        backend = client
    projectors: dict[str, AnyProjector] = {
        name: Projector(projection, views, events, shards=settings.list_shards, clock=clock)
        for name, projection in PROJECTIONS.items()
    }
    return Services(
        settings=settings,
        events=events,
        commands=CommandService(events, clock=clock),
        queries=CarQueries(events),
        backend=backend,
        views=views,
        projectors=projectors,
        projector=projectors[CAR_LIST.name],
        statuses=ProjectionStatuses(views, feed, tuple(PROJECTIONS)),
        parked=ParkedChanges(views, projectors),
        car_list=CarListQueries(views, events, shards=settings.list_shards),
        service_due=ServiceDueQueries(views, clock=clock),
    )


def services() -> Services:
    """The process's services, built from the environment on first use."""
    global _services  # noqa: PLW0603 - the composition root is process-wide by design
    with _lock:
        if _services is None:
            _services = bootstrap()
        return _services


def use(replacement: Services | None) -> None:
    """Install services built elsewhere (tests, the local host); None resets to lazy defaults."""
    global _services  # noqa: PLW0603
    with _lock:
        _services = replacement
