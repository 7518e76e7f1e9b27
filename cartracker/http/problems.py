"""Errors to problem+json (RFC 9457): the one place that decides which error gets which status.

Every function body runs inside `problem_boundary`, so a deliberate error
(`CarTrackerError`) always becomes a problem with the field at fault, and
anything else becomes a logged 500 problem: never a bare stack trace, never hidden.
Being the one wrapper of every HTTP function, it also meters the request's
Cosmos DB charge (`cartracker.request_charge`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Concatenate, ParamSpec, cast
from urllib.parse import urlsplit

import azure.functions as func

from cartracker import request_charge
from cartracker.errors import (
    BusinessRuleViolated,
    CarNotFound,
    CarTrackerError,
    ConcurrencyConflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidRequest,
    PreconditionFailed,
    StoreUnavailable,
    VersionNotFound,
)
from cartracker.http.requests import (
    ExclusiveParameters,
    InvalidBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    field_errors,
)
from cartracker.http.responses import PROBLEM_JSON, json_response
from cartracker.http.schemas import FieldError, Problem

_log = logging.getLogger(__name__)

# First match wins, so subclasses come before their bases.
_KINDS: Sequence[tuple[type[CarTrackerError], int, str]] = (
    (VersionNotFound, 404, "version-not-found"),
    (CarNotFound, 404, "car-not-found"),
    (BusinessRuleViolated, 422, "business-rule-violated"),
    (DomainError, 422, "business-rule-violated"),
    (IdempotencyKeyReused, 422, "idempotency-key-reused"),
    (PayloadTooLarge, 413, "payload-too-large"),
    (UnsupportedMediaType, 415, "unsupported-media-type"),
    (InvalidRequest, 400, "invalid-request"),
    (ConcurrencyConflict, 409, "conflict"),
    (PreconditionFailed, 412, "stale-version"),
    (StoreUnavailable, 503, "store-unavailable"),
)

P = ParamSpec("P")
# A function body: the request first, then whatever else the function is given (a trace context).
Handler = Callable[Concatenate[func.HttpRequest, P], func.HttpResponse]


def problem_type(slug: str) -> str:
    return f"urn:cartracker:problem:{slug}"


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str,
    errors: Sequence[tuple[str, str]] = (),
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    current_version: int | None = None,
) -> func.HttpResponse:
    body = Problem(
        type=problem_type(slug),
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=[FieldError(field=field, message=message) for field, message in errors],
        current_version=current_version,
    )
    return json_response(body, status=status, headers=headers, mimetype=PROBLEM_JSON)


def problem_for(error: CarTrackerError, *, instance: str | None = None) -> func.HttpResponse:
    """The problem+json answer for a deliberate error; one this table misses is a logged 500."""
    kind = next(((s, slug) for kind, s, slug in _KINDS if isinstance(error, kind)), None)
    if kind is None:
        _log.error("no HTTP status for %s: %s", type(error).__name__, error.message)
        return problem_response(
            500, "an unexpected error occurred; it has been logged", slug="internal", instance=instance
        )
    status, slug = kind
    if isinstance(error, InvalidBody):
        errors = field_errors(error.validation)
    elif isinstance(error, ExclusiveParameters):
        errors = [(field, error.message) for field in error.fields]
    else:
        errors = [(error.field, error.message)] if error.field else []
    headers: dict[str, str] = {}
    if isinstance(error, StoreUnavailable):
        headers["Retry-After"] = str(error.retry_after_seconds)
        _log.warning("store unavailable: %s", error.message)
    return problem_response(
        status,
        error.message,
        slug=slug,
        errors=errors,
        instance=instance,
        headers=headers,
        current_version=error.current_version if isinstance(error, PreconditionFailed) else None,
    )


def problem_boundary(handler: Handler[P]) -> Handler[P]:
    """Wrap a function body so that every failure is answered with problem+json."""

    def boundary(req: func.HttpRequest, *args: P.args, **kwargs: P.kwargs) -> func.HttpResponse:
        with request_charge.metered() as meter:
            response = _answer(functools.partial(handler, req, *args, **kwargs), req)
        request_charge.log_request(req.method, req.url, response.status_code, meter)
        return response

    # The worker reads the parameters of `handler` (through `__wrapped__`) and passes them by name,
    # so `req` may not be positional-only, as mypy would like it to be for `Concatenate`.
    return cast("Handler[P]", functools.wraps(handler)(boundary))


def _answer(handler: Callable[[], func.HttpResponse], req: func.HttpRequest) -> func.HttpResponse:
    try:
        return handler()
    except CarTrackerError as error:
        return problem_for(error, instance=_instance(req))
    except Exception:  # noqa: BLE001 - a bug: logged with its traceback, answered as a 500 problem
        instance = _instance(req)
        _log.exception("unexpected error in %s %s", req.method, instance)
        return problem_response(
            500, "an unexpected error occurred; it has been logged", slug="internal", instance=instance
        )


def _instance(req: func.HttpRequest) -> str | None:
    """The problem's `instance`: the path the client asked for."""
    return urlsplit(req.url).path or None
