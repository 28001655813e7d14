"""The real client address of a request, believing X-Forwarded-For only from our own proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _parse(value: str) -> IPAddress | None:
    text = value.strip()
    # "[2001:db8::1]:443" and "203.0.113.7:51234" as some proxies write them.
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1 and "." in text:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(address in network for network in networks)


def client_ip(request: Any, trusted_proxies: Iterable[str] | None = None) -> str:
    """The address of whoever sent ``request``, or "" when it cannot be told.

    X-Forwarded-For is read from the right: each hop added by a trusted proxy
    (``settings.TRUSTED_PROXIES``, CIDRs) is skipped, and the first address not
    belonging to a trusted proxy is the client. Anything further left was written by
    the client itself and is ignored, so a forged header cannot choose the address.
    """
    if trusted_proxies is None:
        from django.conf import settings

        trusted_proxies = getattr(settings, "TRUSTED_PROXIES", ())
    networks = _networks(tuple(trusted_proxies))
    meta = getattr(request, "META", {}) or {}
    peer = _parse(str(meta.get("REMOTE_ADDR") or ""))
    if peer is None:
        return ""
    if not networks or not _trusted(peer, networks):
        return peer.compressed
    forwarded = str(meta.get("HTTP_X_FORWARDED_FOR") or "")
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    nearest = peer
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            # A malformed hop was not written by our proxies: stop at the last good one.
            return nearest.compressed
        if not _trusted(address, networks):
            return address.compressed
        nearest = address
    # Every hop is one of our proxies (e.g. a health check from inside): report the farthest.
    return nearest.compressed
