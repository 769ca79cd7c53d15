"""The SSRF guard: addresses, URL shapes, resolution at creation and at connect time."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from hub.settings import Settings
from hub.ssrf import (
    BlockedAddressError,
    GuardedResolver,
    UnsafeUrlError,
    address_problem,
    check_subscription_url,
    check_url,
    literal_address,
    parse_networks,
    safe_host,
    url_problem,
)

LOOPBACK_V4 = parse_networks(("127.0.0.0/8",))


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.255", "shared"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("192.0.2.10", "reserved"),
        ("192.0.0.192", "reserved"),
        ("2001:db8::1", "reserved"),
        ("2001::1", "reserved"),  # Teredo
        ("100::1", "reserved"),
        # IPv6 forms that carry an IPv4 address are judged by it
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible (deprecated)
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
    ],
)
def test_blocked_addresses(address: str, problem: str) -> None:
    found = address_problem(ipaddress.ip_address(address))
    assert found is not None and problem in found


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "172.32.0.1",  # just outside 172.16/12
        "100.128.0.1",  # just outside 100.64/10
        "192.169.0.1",
        "169.255.0.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "2002:808:808::1",  # 6to4 of 8.8.8.8
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_the_allowlist_exempts_only_its_networks() -> None:
    assert address_problem(ipaddress.ip_address("127.0.0.1"), LOOPBACK_V4) is None
    assert address_problem(ipaddress.ip_address("::ffff:127.0.0.1"), LOOPBACK_V4) is None
    assert address_problem(ipaddress.ip_address("10.0.0.1"), LOOPBACK_V4) is not None
    assert address_problem(ipaddress.ip_address("::1"), LOOPBACK_V4) is not None
    both = parse_networks(("127.0.0.0/8", "::1/128"))
    assert address_problem(ipaddress.ip_address("::1"), both) is None


def test_bad_allowlist_entries_are_named() -> None:
    with pytest.raises(ValueError, match="'localhost'"):
        parse_networks(("localhost",))
    assert parse_networks(("10.1.2.3/8",)) == (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),  # decimal
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0x7f.0.0.1", "127.0.0.1"),  # hex
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # short form
        ("10.1", "10.0.0.1"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("example.com", None),
        ("deadbeef.example", None),
        ("cafe", None),
    ],
)
def test_literal_addresses_in_every_spelling(host: str, address: str | None) -> None:
    expected = None if address is None else ipaddress.ip_address(address)
    assert literal_address(host) == expected


@pytest.mark.parametrize(
    ("url", "allow_http", "problem"),
    [
        ("https://hooks.example.com/trackhub?token=x", False, None),
        ("https://hooks.example.com:8443/hook", False, None),  # any port
        ("https://8.8.8.8/hook", False, None),
        ("http://hooks.example.com/hook", False, "must use https"),
        ("http://hooks.example.com/hook", True, None),
        ("ftp://hooks.example.com/hook", True, "must use https or http"),
        ("file:///etc/passwd", True, "must use https or http"),
        ("https://user@hooks.example.com/", False, "user name or password"),
        ("https://user:secret@hooks.example.com/", False, "user name or password"),
        ("https:///just-a-path", False, "no host"),
        ("not a url", False, "must use https"),
        ("https://metadata.google.internal/computeMetadata/v1/", False, "cloud metadata"),
        ("https://METADATA.google.internal./", False, "cloud metadata"),
        ("https://127.0.0.1/hook", False, "loopback"),
        ("https://[::1]:8443/hook", False, "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", False, "loopback"),
        ("https://[::ffff:a9fe:a9fe]/", False, "cloud metadata"),
        ("https://169.254.169.254/latest/meta-data/", False, "cloud metadata"),
        ("https://2130706433/hook", False, "loopback"),
        ("https://0177.0.0.1/hook", False, "loopback"),
        ("https://0x7f.1/hook", False, "loopback"),
        ("https://1.2.3.4.5/hook", False, "not a valid IP address"),
        ("https://10.0.0.5:9092/", False, "private"),
        ("https://[fe80::1%25eth0]/", False, "link-local"),
    ],
)
def test_url_shapes(url: str, allow_http: bool, problem: str | None) -> None:
    found = url_problem(url, allow_http=allow_http)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found, found


def test_literal_loopback_is_allowed_by_the_allowlist() -> None:
    target = check_url("http://127.0.0.1:8080/hook", allow_http=True, allowed=LOOPBACK_V4)
    assert target.address == ipaddress.ip_address("127.0.0.1") and target.port == 8080


def test_logs_get_the_host_only() -> None:
    assert safe_host("https://user:pw@hooks.example.com:8443/a/b?token=secret") == (
        "hooks.example.com"
    )


def _settings(*, allow_http: bool = False, allow_networks: tuple[str, ...] = ()) -> Settings:
    """Explicit values: the environment running the tests may set these variables."""
    return Settings(delivery_allow_http=allow_http, delivery_allow_networks=list(allow_networks))


def _fake_getaddrinfo(answers: dict[str, list[str]]) -> object:
    async def getaddrinfo(host: str, port: int, **_: object) -> list[tuple]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port) if ":" not in a else (a, port, 0, 0),
            )
            for a in answers[host]
        ]

    return getaddrinfo


async def test_creation_check_resolves_and_every_address_must_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    answers = {
        "public.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "mixed.example": ["93.184.215.14", "10.0.0.7"],
        "rebind.example": ["::ffff:169.254.169.254"],
    }
    monkeypatch.setattr(loop, "getaddrinfo", _fake_getaddrinfo(answers))
    settings = _settings()
    await check_subscription_url("https://public.example/hook", settings)
    with pytest.raises(UnsafeUrlError, match="resolves to a private address"):
        await check_subscription_url("https://mixed.example/hook", settings)
    with pytest.raises(UnsafeUrlError, match="cloud metadata"):
        await check_subscription_url("https://rebind.example/hook", settings)
    with pytest.raises(UnsafeUrlError, match="does not resolve"):
        await check_subscription_url("https://nowhere.example/hook", settings)
    with pytest.raises(UnsafeUrlError, match="must use https"):
        await check_subscription_url("http://public.example/hook", settings)


async def test_creation_check_with_the_real_resolver() -> None:
    # getaddrinfo itself reads these as 127.0.0.1; the guard refuses them either way
    for url in ("https://localhost/hook", "https://2130706433/", "https://0177.0.0.1/"):
        with pytest.raises(UnsafeUrlError) as refused:
            await check_subscription_url(url, _settings())
        assert "loopback" in refused.value.reason
    allowed = _settings(allow_http=True, allow_networks=("127.0.0.0/8", "::1/128"))
    await check_subscription_url("http://localhost:8080/hook", allowed)
    await check_subscription_url("http://2130706433:8080/hook", allowed)


class _StaticResolver(AbstractResolver):
    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_the_connect_time_resolver_refuses_blocked_answers() -> None:
    rebound = _StaticResolver(["93.184.215.14", "127.0.0.1"])
    with pytest.raises(BlockedAddressError, match="loopback"):
        await GuardedResolver((), rebound).resolve("hooks.example", 443)
    public = _StaticResolver(["93.184.215.14"])
    results = await GuardedResolver((), public).resolve("hooks.example", 443)
    assert [r["host"] for r in results] == ["93.184.215.14"]
    never = _StaticResolver(["93.184.215.14"])
    with pytest.raises(BlockedAddressError, match="metadata"):
        await GuardedResolver((), never).resolve("metadata.google.internal", 80)
    assert never.asked == []
    allowed = await GuardedResolver(LOOPBACK_V4, _StaticResolver(["127.0.0.1"])).resolve("x", 1)
    assert allowed[0]["host"] == "127.0.0.1"


@pytest.fixture
async def local_server() -> AsyncIterator[int]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def test_aiohttp_never_connects_to_a_blocked_name(local_server: int) -> None:
    """The resolver wired into a real TCPConnector: 'localhost' is refused before any
    connection, unless the allowlist covers it."""
    url = f"http://localhost:{local_server}/hook"
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(), family=socket.AF_INET)
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError) as refused:
            await session.post(url, data=b"{}")
        assert isinstance(refused.value.os_error, BlockedAddressError)
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(LOOPBACK_V4), family=socket.AF_INET)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(url, data=b"{}") as response,
    ):
        assert response.status == 200
