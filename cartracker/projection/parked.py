"""Retrying parked changes, one by one or all of a projection's: re-project the car from its head.

A parked change is a document its projection could not apply. The retry does not
replay that document: it brings the car's row up to the car's head (the fold of
all its events, so it covers the parked version) through the projection's own
engine (`Projector.reproject`): forward-only and etag-checked like any batch, so
it is safe beside the live projector and safe to repeat. The entry is removed
`if_match` the etag it was read with; one parked again meanwhile (a newer failure)
stays. A car whose head cannot be read (written by a newer version, damaged), an
entry of no car or of no registered projection, stays parked with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cartracker.ports import VersionedDocument
from cartracker.projection.engine import AnyProjector
from cartracker.projection.ports import ViewStore

PAGE = 100


@dataclass(frozen=True)
class RetryOutcome:
    id: str
    projection: str | None
    car_id: str | None
    cleared: bool
    reason: str | None  # why it is still parked


@dataclass(frozen=True)
class RetrySummary:
    projection: str
    retried: int
    cleared: int
    remaining: int


class ParkedChanges:
    def __init__(self, views: ViewStore, projectors: Mapping[str, AnyProjector]) -> None:
        self.views = views
        self.projectors = projectors

    def retry(self, doc_id: str) -> RetryOutcome | None:
        """Retry one parked change; None when no parked change has this id."""
        entry = self.views.read_parked_change(doc_id)
        if entry is None:
            return None
        return self._retry_page([entry])[0]

    def retry_all(self, projection: str) -> RetrySummary:
        """Retry every parked change of one projection, a page of entries at a time (by id)."""
        retried = cleared = 0
        after: str | None = None
        while True:
            page = self.views.read_parked(after=after, limit=PAGE, projection=projection)
            outcomes = self._retry_page(page)
            retried += len(outcomes)
            cleared += sum(outcome.cleared for outcome in outcomes)
            if len(page) < PAGE:
                return RetrySummary(projection, retried=retried, cleared=cleared, remaining=retried - cleared)
            after = page[-1].doc["id"]

    def _retry_page(self, entries: list[VersionedDocument]) -> list[RetryOutcome]:
        """One head read per car and one query + batch per shard, whatever the number of entries."""
        cars: dict[str, set[str]] = {}
        for entry in entries:
            name, car_id = _projection_of(entry.doc), _car_of(entry.doc)
            if name is not None and name in self.projectors and car_id is not None:
                cars.setdefault(name, set()).add(car_id)
        unreadable: dict[tuple[str, str], str] = {}
        for name, car_ids in cars.items():
            report = self.projectors[name].reproject(sorted(car_ids))
            unreadable.update(((name, car_id), why) for car_id, why in report.unreadable.items())
        return [self._settle(entry, unreadable) for entry in entries]

    def _settle(self, entry: VersionedDocument, unreadable: Mapping[tuple[str, str], str]) -> RetryOutcome:
        doc_id = str(entry.doc["id"])
        name, car_id = _projection_of(entry.doc), _car_of(entry.doc)

        def stays(reason: str) -> RetryOutcome:
            return RetryOutcome(doc_id, name, car_id, cleared=False, reason=reason)

        if name is None or name not in self.projectors:
            return stays(f"parked by {name!r}, which is not a registered projection")
        if car_id is None:
            return stays("the change names no car: there is nothing to re-project")
        if (name, car_id) in unreadable:
            return stays(unreadable[(name, car_id)])
        if not self.views.unpark(doc_id, entry.etag) and self.views.read_parked_change(doc_id) is not None:
            return stays("parked again while it was retried: retry it once more")
        return RetryOutcome(doc_id, name, car_id, cleared=True, reason=None)


def _projection_of(doc: Mapping[str, object]) -> str | None:
    name = doc.get("projection")
    return name if isinstance(name, str) else None


def _car_of(doc: Mapping[str, object]) -> str | None:
    car_id = doc.get("carId")
    return car_id if isinstance(car_id, str) and car_id else None
