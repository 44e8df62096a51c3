"""Image bytes from http(s) URLs: SSRF-safe, size-capped, time-limited, with bounded slots.

The only module below the API layer that uses Tornado: its async HTTP client lets one event
loop wait on many slow servers without holding a worker thread each. At most `max_concurrent`
downloads run at once and `max_queued` wait; the `timeout` counts from the call, so time spent
waiting for a slot is part of it and no URL can hold a request longer.
"""

import asyncio
import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tornado import httpclient, httputil, iostream, netutil
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from .. import metrics
from .errors import FetchFailed

MAX_REDIRECTS = 5
MAX_URL_LENGTH = 8192
HOST_NAME = re.compile(rb"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 6052 NAT64, RFC 4291
# IPv4-compatible): a host behind them is the embedded IPv4 host, so that is what is checked.
IPV4_EMBEDDING = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::/96"),
)


@dataclass(frozen=True)
class FetchPolicy:
    """What may be fetched, how much and how long: the [fetch] section of the configuration."""

    enabled: bool = True
    size_limit: int = 10 * 1024 * 1024
    allow_private_addresses: bool = False
    allowed_networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()
    connect_timeout: float = 5.0
    timeout: float = 30.0
    max_concurrent: int = 64
    max_queued: int = 256


class FetchRefused(Exception):
    """The URL's host resolves to an address we may not connect to."""


def check_url(url: str) -> urllib.parse.SplitResult:
    """The parts of an http(s) URL we can fetch; ValueError saying why not."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is {len(url)} characters long, over {MAX_URL_LENGTH}")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0..65535 (e.g. host:1:2)
    except ValueError as e:
        raise ValueError(f"not a valid URL ({e})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("only http and https URLs are supported")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if port == 0:
        raise ValueError("port 0 is not a port to fetch from")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError("the URL contains spaces or control characters")
    check_host_name(parts.hostname)
    return parts


def check_host_name(host: str) -> None:
    """ValueError unless `host` is an IP literal or a name DNS can hold (IDNA labels of 1..63
    characters, 253 in all): a malformed one is the client's error, not a failed lookup."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    try:
        name = host.encode("idna").rstrip(b".")
    except UnicodeError:
        raise ValueError("the host name is not a valid DNS name (an empty label, or one over 63 characters)") from None
    if len(name) > 253 or not HOST_NAME.fullmatch(name):
        raise ValueError("the host name is not a valid DNS name (letters, digits, '-', '_' and '.' only; 253 at most)")


def embedded_ipv4(ip: IP) -> list[IP]:
    """The address itself and every IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    found: list[IP] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour:
            found.append(ip.sixtofour)
        if ip.teredo:
            found.extend(ip.teredo)
        if any(ip in net for net in IPV4_EMBEDDING):
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public(ip: IP) -> bool:
    """Unicast and global, and so is every IPv4 address it embeds."""
    return all(a.is_global and not a.is_multicast and not a.is_reserved for a in embedded_ipv4(ip))


class _GuardedResolver(netutil.Resolver):
    """Resolves like the default resolver, then refuses non-public addresses.

    The check sits in the resolver, so it holds for the connection actually made (no DNS
    rebinding between check and connect) and for every redirect hop.
    """

    def initialize(self, fetcher: "Fetcher") -> None:
        self.resolver = netutil.DefaultExecutorResolver()
        self.fetcher = fetcher  # read its policy at each lookup, so a reloaded policy applies at once

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        addresses = await self.resolver.resolve(host, port, family)
        policy = self.fetcher.policy
        for _, address in addresses:
            ip = ipaddress.ip_address(address[0].split("%")[0])
            allowed = any(a in net for a in embedded_ipv4(ip) for net in policy.allowed_networks)
            if not (is_public(ip) or policy.allow_private_addresses or allowed):
                raise FetchRefused(
                    f"refused to fetch from {host[:100]}: it resolves to the non-public address {ip} "
                    f"(loopback, private, link-local, multicast and reserved targets are not allowed)"
                )
        return addresses


class _TooLarge(httputil.HTTPInputError):
    """Raised from the streaming callbacks; an HTTPInputError, so Tornado closes quietly instead of
    logging a traceback."""


class Fetcher:
    """Downloads images from http(s) URLs within a FetchPolicy."""

    def __init__(self, policy: FetchPolicy):
        self.policy = policy
        self.waiting = 0
        self.client = SimpleAsyncHTTPClient(
            force_instance=True, max_clients=policy.max_concurrent, resolver=_GuardedResolver(fetcher=self)
        )

    async def fetch(self, url: str) -> bytes:
        """The body at `url`; FetchFailed (with the reason) otherwise."""
        policy = self.policy
        if not policy.enabled:
            raise FetchFailed("fetching images by URL is disabled in the configuration ([fetch] enabled = false)")
        try:
            check_url(url)
        except ValueError as e:
            raise FetchFailed(f"cannot fetch this URL: {e}") from None
        shown = url if len(url) <= 200 else url[:200] + "..."
        if self.waiting >= policy.max_concurrent + policy.max_queued:
            raise FetchFailed(
                f"too many URL fetches in progress ({self.waiting}; [fetch] max_concurrent + max_queued): try later"
            )
        chunks: list[bytes] = []
        received = 0
        over_limit: list[int] = []

        def on_chunk(chunk: bytes) -> None:
            nonlocal received
            received += len(chunk)
            if received > policy.size_limit:
                over_limit.append(received)
                raise _TooLarge("over the size limit")
            chunks.append(chunk)

        def on_header(line: str) -> None:
            name, _, value = line.partition(":")
            declared = value.strip()
            if name.strip().lower() == "content-length" and declared.isascii() and declared.isdigit():
                if int(declared) > policy.size_limit:
                    over_limit.append(int(declared))
                    raise _TooLarge("over the size limit")

        request = httpclient.HTTPRequest(
            url,
            connect_timeout=policy.connect_timeout,
            request_timeout=policy.timeout,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            streaming_callback=on_chunk,
            header_callback=on_header,
            decompress_response=True,
            user_agent="findface-extraction-api",
        )
        self.waiting += 1
        try:
            await asyncio.wait_for(self.client.fetch(request), policy.timeout)
        except FetchRefused as e:
            metrics.FETCHES.labels("refused").inc()
            raise FetchFailed(str(e)) from None
        except Exception as e:
            metrics.FETCHES.labels("too_large" if over_limit else "failed").inc()
            if over_limit:
                raise FetchFailed(
                    f"the image at {shown} is larger than the fetch size_limit of {policy.size_limit} bytes"
                ) from None
            if isinstance(e, asyncio.TimeoutError | TimeoutError):
                raise FetchFailed(f"failed to fetch {shown}: no complete answer within {policy.timeout:g} s") from None
            if isinstance(e, httpclient.HTTPClientError) and is_redirect(e.response):
                raise FetchFailed(f"failed to fetch {shown}: more than {MAX_REDIRECTS} redirects") from None
            if isinstance(e, httpclient.HTTPClientError) and e.code != 599:
                raise FetchFailed(f"failed to fetch {shown}: HTTP {e.code} {e.message}") from None
            raise FetchFailed(f"failed to fetch {shown}: {_describe(e)}") from None
        finally:
            self.waiting -= 1
        metrics.FETCHES.labels("ok").inc()
        metrics.FETCH_BYTES.inc(received)
        return b"".join(chunks)

    def close(self) -> None:
        self.client.close()


def is_redirect(response: httpclient.HTTPResponse | None) -> bool:
    """A redirect the client would have followed, had max_redirects not been used up."""
    return response is not None and response.code in (301, 302, 303, 307, 308) and "Location" in response.headers


def _describe(error: BaseException) -> str:
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, httpclient.HTTPClientError):
        return error.message or "the connection failed"
    if isinstance(error, iostream.UnsatisfiableReadError):  # Tornado's client's line limits
        return "the server's response headers (or a chunk-size line) are over the client's limit (64 KiB)"
    return (str(error) or type(error).__name__)[:200]
