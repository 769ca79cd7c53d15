"""The SSRF guard of outbound webhooks: which URLs and addresses trackhub may call.

A seller chooses the URL its alerts are pushed to, so without a guard a subscription could
make the hub call its own network: the cloud metadata service, the broker, an admin port
on loopback. The rules:

- the URL is ``https`` (``http`` only with ``TRACKHUB_DELIVERY_ALLOW_HTTP``), has a host,
  and carries no user name or password (credentials in URLs end up in logs); any port;
- every address the host resolves to is public: not loopback, private (RFC 1918, unique
  local ``fc00::/7``), link-local, shared (``100.64/10``), multicast, unspecified,
  documentation, benchmarking or otherwise reserved, nor a cloud metadata address or
  name; IPv6 forms that embed an IPv4 address (mapped ``::ffff:a.b.c.d``, compatible,
  NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the embedded address;
- except inside ``TRACKHUB_DELIVERY_ALLOW_NETWORKS`` (development: a receiver on this
  machine).

The table of blocked networks is data (``BLOCKED_NETWORKS``), checked explicitly rather
than through ``ipaddress``'s ``is_global``, whose answers change between Python versions.

Two moments check it. ``check_subscription_url`` (the API, at creation) resolves the host
with the event loop's ``getaddrinfo``: every address must pass. At delivery time
``GuardedResolver`` is the resolver of the delivery's ``TCPConnector``, so the addresses
aiohttp connects to are the ones just checked (a DNS answer that changed since creation,
DNS rebinding, is caught there); aiohttp never asks the resolver about IP literals, so
``url_problem`` is checked before every attempt as well. Legacy numeric IPv4 spellings
(``2130706433``, ``0177.0.0.1``, ``0x7f.1``) are read as the address ``inet_aton`` and
``getaddrinfo`` make of them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from hub.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeUrlError(ValueError):
    """A subscription URL trackhub refuses to call; ``reason`` is safe to show the seller
    (it names the rule, never the address a name resolved to)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BlockedAddressError(OSError):
    """Raised by ``GuardedResolver``: the host resolved to an address the guard blocks.
    An ``OSError`` because aiohttp wraps resolver ``OSError``s in its connector error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# (networks, what they are); the first match names the reason. Cloud metadata first: it is
# inside link-local / unique-local, and the more precise name helps whoever reads the error.
BLOCKED_NETWORKS: tuple[tuple[tuple[IPNetwork, ...], str], ...] = (
    (
        _nets("169.254.169.254/32", "169.254.170.2/32", "fd00:ec2::254/128", "168.63.129.16/32"),
        "a cloud metadata address",
    ),
    (_nets("127.0.0.0/8", "::1/128"), "a loopback address"),
    (_nets("0.0.0.0/8", "::/128"), "an unspecified address"),
    (_nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"), "a private address"),
    (_nets("fc00::/7", "fec0::/10"), "a private (unique or site local) address"),
    (_nets("100.64.0.0/10"), "a shared (carrier-grade NAT) address"),
    (_nets("169.254.0.0/16", "fe80::/10"), "a link-local address"),
    (_nets("224.0.0.0/4", "ff00::/8"), "a multicast address"),
    (
        _nets(
            "192.0.0.0/24",  # IETF protocol assignments
            "192.0.2.0/24",  # documentation (TEST-NET-1)
            "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
            "198.18.0.0/15",  # benchmarking
            "198.51.100.0/24",  # documentation (TEST-NET-2)
            "203.0.113.0/24",  # documentation (TEST-NET-3)
            "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
            "64:ff9b:1::/48",  # local-use NAT64
            "100::/64",  # discard-only
            "2001::/23",  # IETF protocol assignments (Teredo among them)
            "2001:db8::/32",  # documentation
            "3fff::/20",  # documentation
            "::ffff:0:0:0/96",  # IPv4-translated
        ),
        "a reserved address",
    ),
)
BLOCKED_HOSTNAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data"}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_LEGACY_IPV4_CHARS = frozenset("0123456789abcdefxABCDEFX.")


@lru_cache(maxsize=16)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """``TRACKHUB_DELIVERY_ALLOW_NETWORKS`` as networks; ValueError naming a bad entry."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not a network in CIDR form: {cidr!r}") from None
    return tuple(networks)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why the guard blocks ``address`` (e.g. "a loopback address"), or None when allowed."""
    allowed = tuple(allowed)
    candidates: list[IPAddress] = [address]
    inner = embedded_ipv4(address)
    if inner is not None:
        candidates.append(inner)
    if any(c in net for c in candidates for net in allowed if c.version == net.version):
        return None
    for candidate in candidates:
        for networks, what in BLOCKED_NETWORKS:
            if any(candidate in net for net in networks if candidate.version == net.version):
                return what
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host spells directly: IPv6, dotted IPv4, or a legacy numeric IPv4
    form (decimal, octal, hex, short) that ``getaddrinfo`` would read as an address."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])  # no IPv6 zone
    except ValueError:
        pass
    if host and set(host) <= _LEGACY_IPV4_CHARS:
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """The host and port a checked URL points to; ``address`` when the host is a literal."""

    host: str
    port: int
    address: IPAddress | None


def check_url(url: str, *, allow_http: bool, allowed: Iterable[IPNetwork] = ()) -> Target:
    """The checks that need no DNS: scheme, credentials, host, literal addresses and
    metadata names. Raises ``UnsafeUrlError``; returns what is left to resolve."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise UnsafeUrlError("not a valid URL") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parsed.scheme not in schemes:
        raise UnsafeUrlError(
            "URL must use https" if not allow_http else "URL must use https or http"
        )
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise UnsafeUrlError("URL may not carry a user name or password")
    host = (parsed.raw_host or "").rstrip(".").lower()
    if not host or parsed.port is None:
        raise UnsafeUrlError("URL has no host")
    if host in BLOCKED_HOSTNAMES:
        raise UnsafeUrlError("host is a cloud metadata service")
    address = literal_address(host)
    if address is None and (":" in host or host.replace(".", "").isdigit()):
        # aiohttp takes such a host for an address and never asks the resolver about it
        raise UnsafeUrlError("host is not a valid IP address")
    if address is not None:
        problem = address_problem(address, allowed)
        if problem is not None:
            raise UnsafeUrlError(f"host is {problem}")
    return Target(host=host, port=parsed.port, address=address)


def url_problem(url: str, *, allow_http: bool, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """``check_url`` as a value: the reason, or None when nothing is wrong before DNS."""
    try:
        check_url(url, allow_http=allow_http, allowed=allowed)
    except UnsafeUrlError as exc:
        return exc.reason
    return None


def safe_host(url: str) -> str:
    """The host of ``url``, for log lines: never the path, query or credentials."""
    try:
        return URL(url).raw_host or "?"
    except (ValueError, TypeError):
        return "?"


async def check_subscription_url(url: str, settings: Settings) -> None:
    """Refuse a subscription URL the delivery would not call (raises ``UnsafeUrlError``).

    ``settings`` gives ``delivery_allow_http`` and ``delivery_allow_networks``. The host is
    resolved with the event loop's ``getaddrinfo``; every address must pass, and a name
    that does not resolve is refused too. Delivery checks again at connect time.
    """
    allowed = parse_networks(tuple(settings.delivery_allow_networks))
    target = check_url(url, allow_http=settings.delivery_allow_http, allowed=allowed)
    if target.address is not None:
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrlError("host name does not resolve") from None
    for info in infos:
        problem = address_problem(_info_address(info[4][0]), allowed)
        if problem is not None:
            raise UnsafeUrlError(f"host resolves to {problem}")


def _info_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 scope id


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses hosts resolving to a blocked address.

    Wraps aiohttp's default resolver. If any address of the answer is blocked the whole
    lookup fails with ``BlockedAddressError`` (the same rule as at creation), so aiohttp
    never opens a connection to an address that was not checked. Build it inside the
    running event loop (the default resolver binds to it).
    """

    def __init__(self, allowed: Iterable[IPNetwork] = (), inner: AbstractResolver | None = None):
        self._allowed = tuple(allowed)
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.rstrip(".").lower() in BLOCKED_HOSTNAMES:
            raise BlockedAddressError("host is a cloud metadata service")
        results = await self._inner.resolve(host, port, family)
        for result in results:
            problem = address_problem(_info_address(result["host"]), self._allowed)
            if problem is not None:
                raise BlockedAddressError(f"host resolves to {problem}")
        return results

    async def close(self) -> None:
        await self._inner.close()
