"""Which `Host` headers the local host answers: a guard against DNS rebinding.

A web page on evil.example can point its own name at 127.0.0.1 and then drive
this host from the developer's browser; the one thing it cannot change is the
`Host` header, which still says evil.example. So only loopback names, the
interface the host binds and names the developer adds (`--allow-host`) are
served, and request URLs (hence `Location`) are rebuilt from the checked name,
never copied from the request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?")


@dataclass(frozen=True)
class AllowedHosts:
    names: frozenset[str]  # lower case, no trailing dot, IPv6 literals in brackets

    @classmethod
    def for_interface(cls, interface: str, extra: Iterable[str] = ()) -> AllowedHosts:
        """Loopback names, plus the interface the host binds, plus `extra` (a port in them is ignored)."""
        names = {"localhost"}
        for given in (interface, *extra):
            literal = given.strip()
            if ":" in literal and not literal.startswith("["):
                literal = f"[{literal}]"  # a bare IPv6 address, as --host takes it
            parsed = _parse(literal)
            if parsed is None:
                raise ValueError(f"not a host name or address: {given!r}")
            names.add(parsed[0])
        return cls(frozenset(names))

    def base_url(self, host: str | None) -> str | None:
        """`http://name[:port]` for an allowed `Host` value; None if it is missing, malformed or not allowed.

        Any port is accepted: a rebinding page cannot change the name, and a port forward
        (ssh -L, a container's published port) legitimately shows another port.
        """
        parsed = None if host is None else _parse(host.strip())
        if parsed is None:
            return None
        name, port = parsed
        if not (name in self.names or _is_loopback(name)):
            return None
        return f"http://{name}" if port is None else f"http://{name}:{port}"

    def describe(self) -> str:
        return ", ".join(sorted(self.names | {"127.0.0.0/8", "[::1]"}))


def _parse(value: str) -> tuple[str, int | None] | None:
    found = _HOST.fullmatch(value)
    if found is None:
        return None
    name = found["name"].lower()
    if name.startswith("["):
        try:
            name = f"[{ipaddress.IPv6Address(name[1:-1]).compressed}]"
        except ValueError:
            return None
    elif name.endswith(".") and len(name) > 1:
        name = name[:-1]  # the root label: `localhost.` is `localhost`
    port = None if found["port"] is None else int(found["port"])
    if port is not None and port > 65535:
        return None
    return name, port


def _is_loopback(name: str) -> bool:
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False  # names other than `localhost` are only allowed when listed: no DNS lookups here
    # Strict dotted quads only (127.1 and 0x7f.1 are not addresses here): browsers send the canonical form.
    return address.is_loopback
