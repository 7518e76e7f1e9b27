"""The command side: load -> decide -> append, with the retry loop written once.

A warm command is one round trip: the head comes from the in-process cache and
the append is one transactional batch guarded by the head's etag. When the batch
loses a race (409/412), the head is reloaded and the command decided again, a
bounded number of times.

A keyed command (Idempotency-Key) writes an idempotency record in the same
batch, so it stays one round trip. A retry of it is recognised whenever the
store refuses it (its record already exists, or the car's state or If-Match
refuses it now): the record is read and its first outcome returned, however
many commands landed meanwhile, for `IDEMPOTENCY_RETENTION`. Every event also
carries the id of the command that wrote it (`causationId`), so when the store's answer to a
batch is lost, the service can tell whether that batch landed before trying again. It also
carries the trace id of the request that sent the command (`correlationId`, passed in by the
caller), and each command a request sent is logged with both ids once applied.
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cartracker.documents import (
    IDEMPOTENCY_RETENTION,
    CommandRecord,
    Head,
    StoredEvent,
    causation_id,
    event_document,
    head_document,
    idempotency_id,
    record_document,
    record_from_document,
)
from cartracker.domain.car import Car, decide, fold
from cartracker.domain.commands import AddCar, Command
from cartracker.errors import (
    ConcurrencyConflict,
    DomainError,
    IdempotencyKeyReused,
    PreconditionFailed,
    StoreUnavailable,
)
from cartracker.heads import HeadCache, fold_history, load_head
from cartracker.ports import EventStore
from cartracker.tokens import consistency_token

# If-Match: one version, any of several, or none at all (an empty set: weak tags never match).
ExpectedVersion = int | Collection[int] | None

# Car ids made from an Idempotency-Key, so that a retried "add car" lands on the same car.
_ADD_CAR_NAMESPACE = uuid.UUID("8f9b7a52-51f4-4a4e-9a57-1f0c2b6d8e11")

log = logging.getLogger("cartracker.commands")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CommandResult:
    car: Car
    replayed: bool = False

    @property
    def car_id(self) -> str:
        return self.car.car_id

    @property
    def version(self) -> int:
        return self.car.version

    @property
    def consistency_token(self) -> str:
        return consistency_token(self.car.car_id, self.car.version)


class CommandService:
    def __init__(
        self,
        store: EventStore,
        *,
        clock: Callable[[], datetime] = utc_now,
        max_attempts: int = 6,
        cache: HeadCache | None = None,
        retention: timedelta = IDEMPOTENCY_RETENTION,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        self.cache = HeadCache() if cache is None else cache
        self.retention = retention

    def add_car(
        self, command: AddCar, *, idempotency_key: str | None = None, correlation_id: str | None = None
    ) -> CommandResult:
        if idempotency_key is None:
            car_id = str(uuid.uuid4())
        else:
            car_id = str(uuid.uuid5(_ADD_CAR_NAMESPACE, idempotency_key))
        return self._handle(
            car_id,
            command,
            expected_version=None,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def execute(
        self,
        car_id: str,
        command: Command,
        *,
        expected_version: ExpectedVersion = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandResult:
        """Run a command on a car. `expected_version` (If-Match) is a version or a set of them;
        `correlation_id`, the trace id of the request, is recorded on the events it writes."""
        return self._handle(
            car_id,
            command,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )

    def _handle(
        self,
        car_id: str,
        command: Command,
        *,
        expected_version: ExpectedVersion,
        idempotency_key: str | None,
        correlation_id: str | None,
    ) -> CommandResult:
        key = idempotency_key
        command_id = key or secrets.token_hex(8)  # 64 random bits, a third of uuid4's cost
        fingerprint = _fingerprint(command) if key else ""
        # A new car has no head to load: the first attempt goes straight to the batch.
        use_cache, load = True, not isinstance(command, AddCar)
        unsure: int | None = None  # a version our batch may have written before its answer was lost
        for attempt in range(self.max_attempts):
            if attempt:
                _backoff(attempt)
            head, cached = self._head(car_id, use_cache) if load else (None, False)
            load = use_cache = True
            landed = self._landed(car_id, head, unsure, command_id) if head and unsure else None
            if landed is not None and unsure is not None:
                _applied(command, landed, unsure - 1, command_id, correlation_id)
                return CommandResult(car=landed)
            now = self.clock()
            try:
                if head is not None and not _matches(expected_version, head.version):
                    raise _stale(car_id, head.version, expected_version)
                events = decide(head.car if head else None, command, now, car_id=car_id)
            except (DomainError, PreconditionFailed):
                # A retry of a command that was applied is refused by the state it produced.
                if key and (replay := self._replay(car_id, key, fingerprint)):
                    return replay
                if cached:
                    use_cache = False  # judged on a possibly stale head: judge again on a fresh one
                    continue
                raise
            start = head.version if head else 0
            car = fold(head.car if head else None, events, car_id=car_id)
            assert car is not None
            event_docs = [
                event_document(StoredEvent(car_id, start + i + 1, event, command_id, correlation_id))
                for i, event in enumerate(events)
            ]
            record = None
            if key:
                record = record_document(
                    car_id, key, CommandRecord(command_id, fingerprint, car, now), self.retention
                )
            try:
                etag = self.store.append(
                    car_id,
                    event_docs,
                    head_document(car),
                    head_etag=head.etag if head else None,
                    record=record,
                )
            except ConcurrencyConflict as exc:
                if not exc.record_exists:  # only the record refused: the head we hold is current
                    self.cache.forget(car_id)
                # Someone wrote first; if it was this command (its record exists), answer as it did.
                if key and (replay := self._replay(car_id, key, fingerprint)):
                    return replay
                use_cache = False
                continue
            except StoreUnavailable as exc:
                if not exc.write_may_have_applied:
                    raise
                # The batch may have landed: reload, and the event at start + 1 will tell.
                self.cache.forget(car_id)
                use_cache, unsure = False, start + 1
                continue
            self.cache.put(Head(car=car, etag=etag))
            _applied(command, car, start, command_id, correlation_id)
            return CommandResult(car=car)
        raise ConcurrencyConflict(
            f"car {car_id} kept changing under {self.max_attempts} attempts; retry the request"
        )

    def _landed(self, car_id: str, head: Head, version: int, command_id: str) -> Car | None:
        """The car after our own earlier batch, if the event it wrote at `version` is there."""
        if head.version < version:
            return None
        docs = self.store.read_events(car_id, after_version=version - 1, limit=1)
        if not docs or causation_id(docs[0]) != command_id:
            return None
        if head.version == version:
            return head.car
        return fold_history(self.store, car_id, up_to_version=version)

    def _head(self, car_id: str, use_cache: bool) -> tuple[Head | None, bool]:
        if use_cache:
            head = self.cache.get(car_id)
            if head is not None:
                return head, True
        head = load_head(self.store, car_id)
        if head is not None and head.etag is not None:
            self.cache.put(head)
        return head, False

    def _replay(self, car_id: str, key: str, fingerprint: str) -> CommandResult | None:
        """The first outcome of the command this key was sent with, if it was applied (one point read)."""
        doc = self.store.read_record(car_id, idempotency_id(car_id, key))
        record = None if doc is None else record_from_document(doc, self.clock())
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request", field="Idempotency-Key"
            )
        return CommandResult(car=record.car, replayed=True)


def _applied(command: Command, car: Car, start: int, command_id: str, correlation_id: str | None) -> None:
    """Log a command a request sent, to join the request to its events (docs/operations.md).

    The ids are in the message as well as in the record's attributes: the Functions host forwards
    only the message of a worker's log record to Application Insights. A command sent outside a
    request (the demo, a script) has no request to join, and is not logged.
    """
    if correlation_id is None:
        return
    log.info(
        "%s applied to car %s: versions %d-%d (correlationId=%s causationId=%s)",
        type(command).__name__,
        car.car_id,
        start + 1,
        car.version,
        correlation_id,
        command_id,
        extra={"carId": car.car_id, "correlationId": correlation_id, "causationId": command_id},
    )


def _matches(expected: ExpectedVersion, version: int) -> bool:
    if expected is None:
        return True
    if isinstance(expected, int):
        return version == expected
    return version in expected


def _stale(car_id: str, version: int, expected: ExpectedVersion) -> PreconditionFailed:
    if isinstance(expected, int):
        wanted = str(expected)
    else:
        wanted = (
            " or ".join(str(v) for v in sorted(expected or ())) or "a weak ETag (If-Match compares strongly)"
        )
    return PreconditionFailed(f"car {car_id} is at version {version}, not {wanted}", current_version=version)


def _fingerprint(command: Command) -> str:
    payload = f"{type(command).__name__}:{command.model_dump_json()}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _backoff(attempt: int) -> None:
    # Jitter spreads writers that lost the same race, so they do not collide again in lockstep.
    time.sleep(random.uniform(0, 0.002 * 2**attempt))  # noqa: S311 - jitter, not security
