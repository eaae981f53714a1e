"""Which `Host` names a server answers to: its defence against DNS rebinding.

A page on another site can point its own name at 127.0.0.1 and then talk to this
server from the browser; what gives it away is the `Host` header, which still carries
that name. A server answers only names on its allow-list: the loopback names, the
address it is bound to (unless that is a wildcard), and the names an operator adds.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "*"})
# RFC 3986 reg-name (letters, digits, '-', '.', '_'), an IPv4 address, or [IPv6].
_HOST = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d{1,5}))?$"
)


def split_host(value: str) -> tuple[str, int | None] | None:
    """A `Host` value's name (lower case, no brackets, no trailing dot) and port;
    None when it is not a host name at all."""
    found = _HOST.match(value.strip())
    if found is None:
        return None
    name = (found["v6"] or found["name"]).lower().removesuffix(".")
    port = int(found["port"]) if found["port"] else None
    if not name or (port is not None and port > 65535):
        return None
    return name, port


def _is_loopback(name: str) -> bool:
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HostAllowList:
    """Names answered on any port, and `name:port` entries answered on that port only."""

    names: frozenset[str]
    name_ports: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def for_server(cls, bound: str, extra: Iterable[str] = ()) -> HostAllowList:
        """The loopback names, the bound address unless it is a wildcard, and `extra`
        (entries that are not host names are ignored: they could never match)."""
        names, name_ports = set(LOOPBACK_NAMES), set()
        entries = [e for e in extra if e.strip()]
        if bound.strip() not in WILDCARD_BINDS:
            entries.append(bound)
        for entry in entries:
            parsed = split_host(entry)
            if parsed is None:
                continue
            name, port = parsed
            if port is None:
                names.add(name)
            else:
                name_ports.add((name, port))
        return cls(frozenset(names), frozenset(name_ports))

    def allows(self, host: str | None) -> bool:
        """Whether a request's `Host` header names this server (a missing one does not)."""
        parsed = split_host(host) if host else None
        if parsed is None:
            return False
        name, port = parsed
        if name in self.names or _is_loopback(name):
            return True
        return port is not None and (name, port) in self.name_ports


def host_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """A request's one `Host` header from its raw headers (None when missing or repeated)."""
    values = [value for name, value in headers if name.lower() == b"host"]
    return values[0].decode("latin-1") if len(values) == 1 else None
