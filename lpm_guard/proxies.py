"""Who is calling: the connecting address, or the one a trusted proxy forwarded.

uvicorn believes ``X-Forwarded-For`` from loopback unless told otherwise, so per-address limits
followed a spoofed header. ``server_options`` trusts only ``LPM_TRUSTED_PROXIES`` (none by
default); ``client_address`` gives every per-address limit and log the same bounded string.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from starlette.requests import HTTPConnection

from .settings import Settings

MAX_ADDRESS_LENGTH = 64  # the login attempts' column
# What the append-only audit log keeps of an address (it can never delete): the network, not
# the host. See SECURITY.md, "Addresses and retention".
IPV4_PREFIX, IPV6_PREFIX = 24, 48


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy options: forwarded headers only from the configured proxies."""
    trusted = settings.trusted_proxy_list
    if not trusted:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def client_address(connection: HTTPConnection) -> str:
    """The client's IP address in its canonical form; whatever else stands there (a forwarded
    value that is not an address, the test client's name) cut to 64 characters."""
    host = connection.client.host if connection.client else ""
    if not host:
        return "unknown"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        cleaned = "".join(char if char.isprintable() else "?" for char in host)
        return cleaned[:MAX_ADDRESS_LENGTH]


def network_of(address: str) -> str:
    """The network an address belongs to, as the audit log records it: ``198.51.100.0/24``,
    ``2001:db8:1::/48``; ``other`` for anything that is not an IP address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "other"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
