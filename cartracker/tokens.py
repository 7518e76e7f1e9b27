"""Consistency tokens: "this client has written car X up to version V", opaque on the wire."""

from __future__ import annotations

import base64
import binascii
import uuid

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
