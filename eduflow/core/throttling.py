"""Throttles keyed by the real client address.

DRF's default identification trusts any X-Forwarded-For header, so a client could reset its
own limit by forging one. Here the socket peer is the client unless it is a configured trusted
proxy (TRUSTED_PROXIES), in which case the right-most untrusted address in X-Forwarded-For is.
"""

from __future__ import annotations

import hashlib
import ipaddress
from functools import lru_cache

from django.conf import settings
from rest_framework import throttling


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]):
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry)


def _is_trusted(address: str) -> bool:
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request) -> str:
    """The address of the client that sent this request."""
    meta = getattr(request, "META", {})
    peer = meta.get("REMOTE_ADDR", "") or "unknown"
    if not _is_trusted(peer):
        return peer
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed([part for part in forwarded if part]):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            # Not something a proxy appended: stop believing the header here.
            return peer
        if not _is_trusted(address):
            return address
    return peer


class ClientIpMixin:
    def get_ident(self, request) -> str:
        return client_ip(request)


class AnonRateThrottle(ClientIpMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(ClientIpMixin, throttling.UserRateThrottle):
    pass


class AuthIpRateThrottle(ClientIpMixin, throttling.SimpleRateThrottle):
    """Login and registration attempts per client address."""

    scope = "auth_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginAccountRateThrottle(throttling.SimpleRateThrottle):
    """Login attempts per account (the email or username tried), whatever the address."""

    scope = "login_account"

    def get_cache_key(self, request, view):
        data = request.data if hasattr(request, "data") else {}
        if not isinstance(data, dict):
            return None
        identifier = data.get("email") or data.get("username")
        if not isinstance(identifier, str) or not identifier.strip():
            return None
        digest = hashlib.sha256(identifier.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}
