"""Opaque tokens on the wire: consistency tokens ("this client has written car X up to
version V") and continuation tokens (the keyset key a page resumes after)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable

from cartracker.errors import InvalidRequest


def consistency_token(car_id: str, version: int) -> str:
    raw = f"{car_id}.{version}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_consistency_token(token: str, *, field: str = "after") -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        car_id, version_text = raw.rsplit(".", 1)
        version = int(version_text)
        uuid.UUID(car_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(f"{token!r} is not a consistency token from this API", field=field) from None
    if version < 1:
        raise InvalidRequest(f"{token!r} is not a consistency token from this API", field=field)
    return car_id, version


def continuation_token(key: str) -> str:
    """The token for the page after the row with this sort key."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def parse_continuation_token(token: str, *, valid: Callable[[str], bool]) -> str:
    """The sort key a token returned by `continuation_token` carries; 400 unless `valid` accepts it."""
    try:
        key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        key = ""
    if not valid(key):
        raise InvalidRequest("is not a continuationToken from this API", field="continuationToken")
    return key
