"""Every error CarTracker raises on purpose, modelled once and translated at the edges.

    CarTrackerError
    ├── DomainError                  a command broke a rule of the Car aggregate
    │   ├── CarNotFound              404  the car does not exist
    │   │   └── VersionNotFound      404  ... at the version or time asked for (asOfVersion, asOf)
    │   └── BusinessRuleViolated     422  a rule about the car's state (field + reason)
    ├── InvalidRequest               400  the request itself is malformed (field + reason)
    ├── ConcurrencyConflict          409  someone else kept writing; retries ran out
    ├── PreconditionFailed           412  If-Match named a version the car has moved past
    ├── IdempotencyKeyReused         422  an Idempotency-Key came back with another payload
    └── StoreUnavailable             503  the store stayed throttled or unreachable

The domain raises the `DomainError` branch; the adapters translate SDK and
SQLite failures into `ConcurrencyConflict` and `StoreUnavailable`; the HTTP
layer maps the whole tree to problem+json in one function.
"""

from __future__ import annotations


class CarTrackerError(Exception):
    """Base of every error the application raises deliberately."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class DomainError(CarTrackerError):
    """A command was rejected by the Car aggregate."""


class CarNotFound(DomainError):
    def __init__(self, car_id: str, detail: str | None = None, *, field: str = "carId") -> None:
        super().__init__(detail or f"car {car_id} does not exist", field=field)
        self.car_id = car_id


class VersionNotFound(CarNotFound):
    """The car exists, but not at the version asked for, or not yet at the time asked for."""


class BusinessRuleViolated(DomainError):
    """The command is well formed but the car's state does not allow it."""


class InvalidRequest(CarTrackerError):
    """The request is malformed: bad JSON, a field of the wrong type or range, an unknown field."""


class ConcurrencyConflict(CarTrackerError):
    """A concurrent writer won every attempt; the client may retry.

    `record_exists` says the batch failed only on a keyed command's idempotency record
    (the events and head would have been written): the command was applied before.
    """

    def __init__(self, message: str, *, record_exists: bool = False) -> None:
        super().__init__(message)
        self.record_exists = record_exists


class ShardConflict(ConcurrencyConflict):
    """A view shard's batch lost a race: `on_subtotal` when the subtotal refused it, not a row."""

    def __init__(self, message: str, *, on_subtotal: bool = False) -> None:
        super().__init__(message)
        self.on_subtotal = on_subtotal


class PreconditionFailed(CarTrackerError):
    """The car is no longer at the version the client expected (If-Match)."""

    def __init__(self, message: str, *, current_version: int) -> None:
        super().__init__(message, field="If-Match")
        self.current_version = current_version


class IdempotencyKeyReused(CarTrackerError):
    """The same Idempotency-Key was sent with a different command."""


class StoreUnavailable(CarTrackerError):
    """The store is throttling or unreachable after the SDK's own retries.

    `write_may_have_applied` marks the ambiguous case: the request reached the store but
    its answer was lost (a timeout, a dropped connection), so a write may have happened.
    """

    def __init__(
        self, message: str, *, retry_after_seconds: int = 1, write_may_have_applied: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        self.write_may_have_applied = write_may_have_applied
