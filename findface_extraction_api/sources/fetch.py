"""Image bytes from http(s) URLs: SSRF-safe, size-capped, time-limited.

The only module below the API layer that uses Tornado: its async HTTP client lets one event
loop wait on many slow servers without holding a worker thread each.
"""

import ipaddress
import socket
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tornado import httpclient, netutil
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from .errors import FetchFailed

MAX_REDIRECTS = 5


class FetchRefused(Exception):
    """The URL's host resolves to an address we may not connect to."""


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
            ip = getattr(ip, "ipv4_mapped", None) or ip
            if not (
                ip.is_global or policy.allow_private_addresses or any(ip in net for net in policy.allowed_networks)
            ):
                raise FetchRefused(
                    f"refused to fetch from {host}: it resolves to the non-public address {ip} "
                    f"(loopback, private and link-local targets are not allowed)"
                )
        return addresses


@dataclass(frozen=True)
class FetchPolicy:
    """What may be fetched, how much and how long: the [fetch] section of the configuration."""

    enabled: bool = True
    size_limit: int = 10 * 1024 * 1024
    allow_private_addresses: bool = False
    allowed_networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()
    connect_timeout: float = 5.0
    timeout: float = 30.0


class Fetcher:
    """Downloads images from http(s) URLs within a FetchPolicy."""

    def __init__(self, policy: FetchPolicy):
        self.policy = policy
        self.client = SimpleAsyncHTTPClient(
            force_instance=True, max_clients=16, resolver=_GuardedResolver(fetcher=self)
        )

    async def fetch(self, url: str) -> bytes:
        """The body at `url`; FetchFailed (with the reason) otherwise."""
        limit = self.policy.size_limit
        if not self.policy.enabled:
            raise FetchFailed("fetching images by URL is disabled in the configuration ([fetch] enabled = false)")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchFailed(f"cannot fetch '{url}': only http and https URLs are supported")
        chunks, received = [], 0
        over_limit = []  # tornado reports an exception raised in these callbacks as "connection closed"

        def on_chunk(chunk: bytes) -> None:
            nonlocal received
            received += len(chunk)
            if received > limit:
                over_limit.append(received)
                raise _TooLarge()
            chunks.append(chunk)

        def on_header(line: str) -> None:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit() and int(value) > limit:
                over_limit.append(int(value))
                raise _TooLarge()

        request = httpclient.HTTPRequest(
            url,
            connect_timeout=self.policy.connect_timeout,
            request_timeout=self.policy.timeout,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            streaming_callback=on_chunk,
            header_callback=on_header,
            decompress_response=True,
            user_agent="findface-extraction-api",
        )
        try:
            await self.client.fetch(request)
        except FetchRefused as e:
            raise FetchFailed(str(e)) from None
        except Exception as e:
            if over_limit:
                raise FetchFailed(f"the image at {url} is larger than the fetch size_limit of {limit} bytes") from None
            if isinstance(e, httpclient.HTTPClientError):
                raise FetchFailed(f"failed to fetch {url}: HTTP {e.code} {e.message}") from None
            raise FetchFailed(f"failed to fetch {url}: {_describe(e)}") from None
        return b"".join(chunks)

    def close(self) -> None:
        self.client.close()


class _TooLarge(Exception):
    pass


def _describe(error: BaseException) -> str:
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return str(error) or type(error).__name__
