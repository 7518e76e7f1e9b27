"""Reading a request: body, path, headers and query, each refused with a field-level reason.

Every function here raises an `InvalidRequest` (400) or one of its HTTP-specific
subclasses (413, 415); `problems.problem_for` turns them into problem+json.

The body's JSON is read strictly and at a cost linear in its size: UTF-8 without
a byte order mark, no duplicate names, no lone surrogates, no NaN/Infinity, and
every number kept as its text (`NumberText`) for the models to read exactly; no
number is converted through float, Decimal or a long int here. Regexes here match the
whole value (`fullmatch`): `$` would also match before a final newline.
"""

from __future__ import annotations

import codecs
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from cartracker import tokens
from cartracker.errors import InvalidRequest

MAX_BODY_BYTES = 64 * 1024
MAX_MEMBERS = 20  # per JSON object: a command has at most 3 fields, and each unknown one is an error
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ENTITY_TAG = re.compile(r'(W/)?"([1-9][0-9]{0,17})"')
_CONTINUATION = re.compile(r"after:([1-9][0-9]{0,17})")
# A version as every version on the wire is written: 1-18 ASCII digits, no sign, no leading zero.
_VERSION = re.compile(r"[1-9][0-9]{0,17}")
MAX_VERSION = 10**18 - 1
# RFC 3339 `date-time` with its offset required, seconds 00-59, at most 9 fraction digits; published
# as the `asOf` pattern in openapi.json. The day of the month, year 0000 and the range of `datetime`
# are checked after it (no lookaround: the pattern reads alike in ECMA-262, Python and Rust).
AS_OF_PATTERN = (
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]"
    r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(?:\.([0-9]{1,9}))?"
    r"([Zz]|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))"
)
AS_OF_MAX_LENGTH = 35  # "2026-03-01T09:30:00.123456789+01:00"
_AS_OF = re.compile(AS_OF_PATTERN)
_SURROGATE = re.compile(r"[\ud800-\udfff]")

M = TypeVar("M", bound=BaseModel)


class PayloadTooLarge(InvalidRequest):
    """413: the body is over the limit; it was not parsed."""


class UnsupportedMediaType(InvalidRequest):
    """415: the body is not declared as JSON."""


class ExclusiveParameters(InvalidRequest):
    """400: parameters that may not be given together; each is named in the problem's `errors`."""

    def __init__(self, message: str, *, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message, field=fields[0] if fields else None)
        self.fields = fields


class InvalidBody(InvalidRequest):
    """400: the JSON is well formed but does not match the command's schema."""

    def __init__(self, error: ValidationError) -> None:
        field, message = field_errors(error)[0]
        super().__init__(f"the body does not match the schema: {field}: {message}")
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
        document = _decode(_utf8_text(body))
    except _Refused as exc:
        raise InvalidRequest(str(exc), field="body") from None
    except (ValueError, RecursionError) as exc:
        # ValueError is a JSONDecodeError; RecursionError, absurd nesting.
        raise InvalidRequest(f"the body is not valid JSON: {exc}", field="body") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise InvalidBody(exc) from None


class _Refused(ValueError):
    """A body this API refuses before its model sees it, with the reason to tell the client."""


# RFC 8259 section 8.1: JSON travels as UTF-8 without a byte order mark. Other encodings are told
# apart by their byte order mark, or as RFC 4627 did, by the NUL bytes of the first characters.
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32LE with a byte order mark"),
    (codecs.BOM_UTF32_BE, "UTF-32BE with a byte order mark"),
    (codecs.BOM_UTF8, "UTF-8 with a byte order mark"),
    (codecs.BOM_UTF16_LE, "UTF-16LE with a byte order mark"),
    (codecs.BOM_UTF16_BE, "UTF-16BE with a byte order mark"),
)
_WIDE = (
    (re.compile(rb"\0\0\0[^\0]"), "UTF-32BE"),
    (re.compile(rb"[^\0]\0\0\0"), "UTF-32LE"),
    (re.compile(rb"\0[^\0]"), "UTF-16BE"),
    (re.compile(rb"[^\0]\0"), "UTF-16LE"),
)


def _utf8_text(body: bytes) -> str:
    head = body[:4]
    # JSON starts with an ASCII character: a NUL or a BOM's first byte is where other encodings show.
    if b"\0" in head or head[:1] in (b"\xef", b"\xfe", b"\xff"):
        encoding = next((name for bom, name in _BOMS if head.startswith(bom)), None)
        encoding = encoding or next((name for wide, name in _WIDE if wide.match(head)), None)
        if encoding is not None:
            raise _Refused(f"the body must be UTF-8 without a byte order mark; it looks like {encoding}")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused(f"the body must be UTF-8 text; byte {exc.start} is not UTF-8") from None


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs) or len(pairs) > MAX_MEMBERS:
        raise _refusal(pairs)
    return document


def _checked_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for name, value in pairs:
        # The decoder has paired the surrogate escapes that form a character: any left stand alone.
        if _SURROGATE.search(name) or (isinstance(value, str) and _SURROGATE.search(value)):
            raise _Refused("the body holds a lone surrogate (a \\uD800-\\uDFFF escape not in a pair)")
    return _object(pairs)


def _refusal(pairs: list[tuple[str, Any]]) -> _Refused:
    if len(pairs) > MAX_MEMBERS:
        return _Refused(f"an object in the body has {len(pairs)} members; the limit is {MAX_MEMBERS}")
    names = [name for name, _ in pairs]
    twice = next(name for i, name in enumerate(names) if name in names[:i])
    return _Refused(f"the body names {twice!r} more than once; each name may appear once")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: `json.loads` with hooks builds a new decoder on every call. Numbers become their text
# as `NumberText` through `str.encode`, which the C decoder calls without a Python frame and whose
# bytes the garbage collector does not track: 15,000 numbers cost what `json.loads` spends on them.
_NUMBERS_AS_TEXT: dict[str, Any] = {
    "parse_float": str.encode,
    "parse_int": str.encode,
    "parse_constant": _refuse_constant,
}
_DECODER = json.JSONDecoder(**_NUMBERS_AS_TEXT, object_pairs_hook=_object)
# Only a \uD800-\uDFFF escape decodes to a surrogate (UTF-8 cannot encode one): bodies without any
# skip the check of every string.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_CHECKING_DECODER = json.JSONDecoder(**_NUMBERS_AS_TEXT, object_pairs_hook=_checked_object)


def _decode(text: str) -> Any:
    decoder = _CHECKING_DECODER if _SURROGATE_ESCAPE.search(text) else _DECODER
    return decoder.decode(text)


def car_id_param(req: func.HttpRequest) -> str:
    """The `{carId}` path segment, which must be a UUID; returned in canonical lower case."""
    value = str(req.route_params.get("carId", ""))
    if not _UUID.fullmatch(value):
        raise InvalidRequest(f"{value!r} is not a car id (a UUID)", field="carId")
    return value.lower()


def expected_version(req: func.HttpRequest) -> frozenset[int] | None:
    """`If-Match` (RFC 9110 section 13.1.1) as the versions the car may be at; None: any version.

    `*` matches any car that exists. A list of strong tags (`"3", "4"`) matches if the car is at any
    of them. A weak tag (`W/"3"`) never matches, as If-Match compares strongly, so a header of weak
    tags only is an empty set: 412. Anything that is not a list of our ETags is 400.
    """
    value = header(req, "if-match")
    if value is None:
        return None
    if value.strip(" \t") == "*":
        return None
    versions: set[int] = set()
    tags = [tag.strip(" \t") for tag in value.split(",")]
    for tag in tags:
        match = _ENTITY_TAG.fullmatch(tag)
        if match is None and tag:
            raise InvalidRequest(
                f'If-Match must be "*" or the car\'s ETags, versions in quotes such as "3", not {value!r}',
                field="If-Match",
            )
        if match is not None and not match.group(1):
            versions.add(int(match.group(2)))
    if not any(tags):
        raise InvalidRequest("If-Match names no ETag", field="If-Match")
    return frozenset(versions)


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
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and 1 <= int(text) <= maximum):
        raise InvalidRequest(f"pageSize must be a whole number 1-{maximum}", field="pageSize")
    return int(text)


def flag(req: func.HttpRequest, name: str) -> bool:
    """A `true`/`false` query parameter; absent is false."""
    text = req.params.get(name)
    if text is None or text == "false":
        return False
    if text != "true":
        raise InvalidRequest(f"{name} must be true or false", field=name)
    return True


def as_of(req: func.HttpRequest) -> int | datetime | None:
    """The point in the car's past asked for: `asOfVersion` (a version), `asOf` (a UTC time), or None."""
    version, moment = req.params.get("asOfVersion"), req.params.get("asOf")
    if version is not None and moment is not None:
        raise ExclusiveParameters("give asOfVersion or asOf, not both", fields=("asOfVersion", "asOf"))
    if version is not None:
        if not _VERSION.fullmatch(version):
            raise InvalidRequest(
                f"asOfVersion must be a version, a whole number 1-{MAX_VERSION} without leading zeros",
                field="asOfVersion",
            )
        return int(version)
    if moment is not None:
        return _moment(moment)
    return None


def _moment(text: str) -> datetime:
    """`asOf` as an aware UTC datetime; fraction digits past the microsecond are cut (never rounded up)."""
    match = _AS_OF.fullmatch(text) if len(text) <= AS_OF_MAX_LENGTH else None
    if match is None:
        hint = " (in a URL a + is a space: write %2B)" if " " in text else ""
        raise InvalidRequest(
            "asOf must be an RFC 3339 date-time with an offset, such as 2026-03-01T09:30:00Z or "
            f"2026-03-01T10:30:00+01:00{hint}",
            field="asOf",
        )
    year, month, day, hour, minute, second, fraction, zone, sign, zone_hours, zone_minutes = match.groups()
    offset = timedelta(0)
    if zone not in ("Z", "z"):
        offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes)) * (-1 if sign == "-" else 1)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros,
            tzinfo=timezone(offset),
        )  # fmt: skip
        return local.astimezone(UTC)
    except ValueError as exc:
        raise InvalidRequest(f"asOf {text!r} is not a date-time: {exc}", field="asOf") from None
    except OverflowError:
        raise InvalidRequest(
            f"asOf {text!r} falls outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z", field="asOf"
        ) from None


def continuation_token(after_version: int) -> str:
    """An opaque token for the page after `after_version`."""
    return tokens.continuation_token(f"after:{after_version}")


def continuation(req: func.HttpRequest) -> int:
    """The version the client's `continuationToken` resumes after (0: from the start)."""
    token = req.params.get("continuationToken")
    if token is None:
        return 0
    text = tokens.parse_continuation_token(token, valid=lambda key: _CONTINUATION.fullmatch(key) is not None)
    return int(text.removeprefix("after:"))
