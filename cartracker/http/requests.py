"""Reading a request: body, path, headers and query, each refused with a field-level reason.

Every function here raises an `InvalidRequest` (400) or one of its HTTP-specific
subclasses (413, 415); `problems.problem_for` turns them into problem+json.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from cartracker.errors import InvalidRequest

MAX_BODY_BYTES = 64 * 1024
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_STRONG_ETAG = re.compile(r'^"([1-9][0-9]{0,17})"$')
_CONTINUATION = re.compile(r"^after:([1-9][0-9]{0,17})$")

M = TypeVar("M", bound=BaseModel)


class PayloadTooLarge(InvalidRequest):
    """413: the body is over the limit; it was not parsed."""


class UnsupportedMediaType(InvalidRequest):
    """415: the body is not declared as JSON."""


class InvalidBody(InvalidRequest):
    """400: the JSON is well formed but does not match the command's schema."""

    def __init__(self, error: ValidationError) -> None:
        first = error.errors()[0]
        super().__init__(f"the body does not match the schema: {_loc(first['loc'])}: {first['msg']}")
        self.validation = error


def field_errors(error: ValidationError) -> list[tuple[str, str]]:
    """(field, message) for each thing pydantic found wrong, with field names as the client sent them."""
    return [(_loc(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in error.errors()]


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def header(req: func.HttpRequest, name: str) -> str | None:
    """A request header's value, or None. (`req.headers.get` would raise and catch a KeyError for
    every absent header: azure.functions' headers take `get` from `collections.abc.Mapping`.)"""
    headers = req.headers
    return headers[name] if name in headers else None  # noqa: SIM401 - see above


def command_body(req: func.HttpRequest, model: type[M]) -> M:
    """The body as a command: at most 64 KiB, declared as JSON, strict JSON, matching the model."""
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}", field="body")
    media_type = (header(req, "content-type") or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as JSON with Content-Type: application/json, not {media_type or 'nothing'!r}",
            field="Content-Type",
        )
    try:
        document = _DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not UTF-8 text", field="body") from None
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and integers too long to convert; RecursionError, absurd nesting.
        raise InvalidRequest(f"the body is not valid JSON: {exc}", field="body") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise InvalidBody(exc) from None


def _json_number(text: str) -> float | int:
    """A JSON number with a fraction or exponent. `1.0` becomes the int 1, since JSON Schema (and so the
    spec) counts it as an integer; amounts stay floats, which `parse_charge` reads by their shortest repr."""
    number = float(text)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: `json.loads` with hooks builds a new decoder on every call.
_DECODER = json.JSONDecoder(parse_float=_json_number, parse_constant=_refuse_constant)


def car_id_param(req: func.HttpRequest) -> str:
    """The `{carId}` path segment, which must be a UUID; returned in canonical lower case."""
    value = str(req.route_params.get("carId", ""))
    if not _UUID.match(value):
        raise InvalidRequest(f"{value!r} is not a car id (a UUID)", field="carId")
    return value.lower()


def expected_version(req: func.HttpRequest) -> int | None:
    """`If-Match: "<version>"` as an int; `*` or no header means any version."""
    value = header(req, "if-match")
    if value is None or value.strip() == "*":
        return None
    match = _STRONG_ETAG.match(value.strip())
    if not match:
        raise InvalidRequest(
            f'If-Match must be the car\'s ETag, a version in quotes such as "3", not {value!r}',
            field="If-Match",
        )
    return int(match.group(1))


def idempotency_key(req: func.HttpRequest) -> str | None:
    value: str | None = header(req, "idempotency-key")
    if value is None:
        return None
    if not 1 <= len(value) <= 200 or not all(" " <= ch <= "~" for ch in value):
        raise InvalidRequest(
            "Idempotency-Key must be 1-200 printable ASCII characters", field="Idempotency-Key"
        )
    return value


def if_none_match(req: func.HttpRequest, etag: str) -> bool:
    """Whether `If-None-Match` names this ETag (weak comparison, as RFC 9110 asks for GET)."""
    value = header(req, "if-none-match")
    if value is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in value.split(",")]
    return "*" in tags or etag in tags


def page_size(
    req: func.HttpRequest, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE
) -> int:
    text = req.params.get("pageSize")
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= maximum:
        raise InvalidRequest(f"pageSize must be a whole number 1-{maximum}", field="pageSize")
    return int(text)


def continuation_token(after_version: int) -> str:
    """An opaque token for the page after `after_version`."""
    return base64.urlsafe_b64encode(f"after:{after_version}".encode()).decode().rstrip("=")


def continuation(req: func.HttpRequest) -> int:
    """The version the client's `continuationToken` resumes after (0: from the start)."""
    token = req.params.get("continuationToken")
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        text = ""
    match = _CONTINUATION.match(text)
    if not match:
        raise InvalidRequest("continuationToken is not one this API returned", field="continuationToken")
    return int(match.group(1))
