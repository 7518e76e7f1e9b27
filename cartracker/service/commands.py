"""The command side: load -> decide -> append, with the retry loop written once.

A warm command is one round trip: the head comes from the in-process cache and
the append is one transactional batch guarded by the head's etag. When the batch
loses a race (409/412), the head is reloaded and the command decided again, a
bounded number of times. The head remembers the client's recent
Idempotency-Keys, so a retried request returns its first outcome. Every event
also carries the id of the command that wrote it, so when the store's answer to
a batch is lost, the service can tell whether that batch landed before trying again.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cartracker.documents import (
    IDEMPOTENCY_MEMORY,
    CommandRecord,
    Head,
    StoredEvent,
    event_document,
    head_document,
)
from cartracker.domain.car import Car, decide, fold
from cartracker.domain.commands import AddCar, CarCommand, Command
from cartracker.errors import (
    ConcurrencyConflict,
    DomainError,
    IdempotencyKeyReused,
    PreconditionFailed,
    StoreUnavailable,
)
from cartracker.ports import EventStore
from cartracker.service.heads import HeadCache, fold_history, load_head
from cartracker.tokens import consistency_token

# Car ids made from an Idempotency-Key, so that a retried "add car" lands on the same car.
_ADD_CAR_NAMESPACE = uuid.UUID("8f9b7a52-51f4-4a4e-9a57-1f0c2b6d8e11")


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
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        self.cache = HeadCache() if cache is None else cache

    def add_car(self, command: AddCar, *, idempotency_key: str | None = None) -> CommandResult:
        if idempotency_key is None:
            car_id = str(uuid.uuid4())
        else:
            car_id = str(uuid.uuid5(_ADD_CAR_NAMESPACE, idempotency_key))
        return self._handle(car_id, command, expected_version=None, idempotency_key=idempotency_key)

    def execute(
        self,
        car_id: str,
        command: CarCommand,
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        return self._handle(
            car_id, command, expected_version=expected_version, idempotency_key=idempotency_key
        )

    def _handle(
        self, car_id: str, command: Command, *, expected_version: int | None, idempotency_key: str | None
    ) -> CommandResult:
        command_id = idempotency_key or secrets.token_hex(8)  # 64 random bits, a third of uuid4's cost
        fingerprint = _fingerprint(command) if idempotency_key else ""
        # A new car has no head to load: the first attempt goes straight to the batch.
        use_cache, load = True, not isinstance(command, AddCar)
        unsure: int | None = None  # a version our batch may have written before its answer was lost
        for attempt in range(self.max_attempts):
            if attempt:
                _backoff(attempt)
            head, cached = self._head(car_id, use_cache) if load else (None, False)
            load = use_cache = True
            if head is not None:
                if unsure is not None and (landed := self._landed(car_id, head, unsure, command_id)):
                    return CommandResult(car=landed)
                record = head.find_command(command_id) if idempotency_key else None
                if record is not None:
                    return self._replay(car_id, head, record, fingerprint)
                if expected_version is not None and head.version != expected_version:
                    if cached:
                        use_cache = False  # the cache may be behind; confirm before refusing
                        continue
                    raise PreconditionFailed(
                        f"car {car_id} is at version {head.version}, not {expected_version}",
                        current_version=head.version,
                    )
            try:
                events = decide(head.car if head else None, command, self.clock(), car_id=car_id)
            except DomainError:
                if cached:
                    use_cache = False  # judged on a possibly stale head: judge again on a fresh one
                    continue
                raise
            start = head.version if head else 0
            car = fold(head.car if head else None, events, car_id=car_id)
            assert car is not None
            commands = head.commands if head else ()
            if idempotency_key:
                record = CommandRecord(command_id, fingerprint, car.version, len(events))
                commands = (*commands, record)[-IDEMPOTENCY_MEMORY:]
            event_docs = [
                event_document(StoredEvent(car_id, start + i + 1, event, command_id))
                for i, event in enumerate(events)
            ]
            try:
                etag = self.store.append(
                    car_id, event_docs, head_document(car, commands), head_etag=head.etag if head else None
                )
            except ConcurrencyConflict:
                self.cache.forget(car_id)
                use_cache = False
                continue
            except StoreUnavailable as exc:
                if not exc.write_may_have_applied:
                    raise
                # The batch may have landed: reload, and the event at start + 1 will tell.
                self.cache.forget(car_id)
                use_cache, unsure = False, start + 1
                continue
            self.cache.put(Head(car=car, commands=commands, etag=etag))
            return CommandResult(car=car)
        raise ConcurrencyConflict(
            f"car {car_id} kept changing under {self.max_attempts} attempts; retry the request"
        )

    def _landed(self, car_id: str, head: Head, version: int, command_id: str) -> Car | None:
        """The car after our own earlier batch, if the event it wrote at `version` is there."""
        if head.version < version:
            return None
        docs = self.store.read_events(car_id, after_version=version - 1, limit=1)
        if not docs or docs[0].get("commandId") != command_id:
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

    def _replay(self, car_id: str, head: Head, record: CommandRecord, fingerprint: str) -> CommandResult:
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request", field="Idempotency-Key"
            )
        if record.version == head.version:
            return CommandResult(car=head.car, replayed=True)
        car = fold_history(self.store, car_id, up_to_version=record.version)
        assert car is not None, "a remembered command points at events that exist"
        return CommandResult(car=car, replayed=True)


def _fingerprint(command: Command) -> str:
    payload = f"{type(command).__name__}:{command.model_dump_json()}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _backoff(attempt: int) -> None:
    # Jitter spreads writers that lost the same race, so they do not collide again in lockstep.
    time.sleep(random.uniform(0, 0.002 * 2**attempt))  # noqa: S311 - jitter, not security
