"""Image bytes from URLs (SSRF-safe, size-capped) and bytes -> an upright BGR array.

Decoding probes the header with Pillow first, so an image over `max_dimension` is refused
before a single pixel is allocated; OpenCV then does the (faster) full decode.
"""

import io
import ipaddress
import socket
import urllib.parse

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from tornado import httpclient, netutil
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from . import imaging
from .api.errors import IMAGE_DECODING_FAILED, IMAGE_FETCH_FAILED, IMAGE_TOO_LARGE, ApiError

Image.MAX_IMAGE_PIXELS = None  # max_dimension is enforced below, from the header
EXIF_ORIENTATION = 0x0112
MAX_REDIRECTS = 5


def decode(data, max_dimension):
    """Upright BGR uint8 image from encoded bytes; ApiError if unreadable or too large."""
    if not data:
        raise ApiError(IMAGE_DECODING_FAILED, "Failed to decode: the image is empty")
    try:
        probe = Image.open(io.BytesIO(data))
        width, height = probe.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ApiError(IMAGE_DECODING_FAILED, "Failed to decode: not a JPEG, PNG, WebP, BMP, TIFF or GIF "
                                              "image") from None
    if max(width, height) > max_dimension:
        raise ApiError(IMAGE_TOO_LARGE, f"image is {width}x{height}, over the max_dimension of "
                                        f"{max_dimension} pixels")
    try:
        orientation = int(probe.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        orientation = 1
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        image = _decode_with_pillow(probe)
    if image is None or image.size == 0:
        raise ApiError(IMAGE_DECODING_FAILED, "Failed to decode: the image data is corrupt or truncated")
    return imaging.apply_exif_orientation(image, orientation)


def _decode_with_pillow(probe):
    """Formats OpenCV cannot read (e.g. GIF) but Pillow can."""
    try:
        return cv2.cvtColor(np.asarray(probe.convert("RGB")), cv2.COLOR_RGB2BGR)
    except Exception:
        return None


class FetchRefused(Exception):
    """The URL's host resolves to an address we may not connect to."""


class _GuardedResolver(netutil.Resolver):
    """Resolves like the default resolver, then refuses non-public addresses.

    The check sits in the resolver, so it holds for the connection actually made (no DNS
    rebinding between check and connect) and for every redirect hop.
    """

    def initialize(self, allow_private, allowed_networks):
        self.resolver = netutil.DefaultExecutorResolver()
        self.allow_private = allow_private
        self.allowed_networks = allowed_networks

    async def resolve(self, host, port, family=socket.AF_UNSPEC):
        addresses = await self.resolver.resolve(host, port, family)
        for _, address in addresses:
            ip = ipaddress.ip_address(address[0].split("%")[0])
            ip = getattr(ip, "ipv4_mapped", None) or ip
            if not (ip.is_global or self.allow_private or any(ip in net for net in self.allowed_networks)):
                raise FetchRefused(f"refused to fetch from {host}: it resolves to the non-public address {ip} "
                                   f"(loopback, private and link-local targets are not allowed)")
        return addresses


class Fetcher:
    """Downloads images from http(s) URLs within the [fetch] settings."""

    def __init__(self, settings):
        self.settings = settings
        self.client = SimpleAsyncHTTPClient(
            force_instance=True, max_clients=16,
            resolver=_GuardedResolver(allow_private=settings.fetch_allow_private_addresses,
                                      allowed_networks=settings.fetch_allowed_networks))

    async def fetch(self, url):
        limit = self.settings.fetch_size_limit
        if not self.settings.fetch_enabled:
            raise ApiError(IMAGE_FETCH_FAILED, "fetching images by URL is disabled in the configuration "
                                               "([fetch] enabled = false)")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(IMAGE_FETCH_FAILED, f"cannot fetch '{url}': only http and https URLs are supported")
        chunks, received = [], 0
        over_limit = []  # tornado reports an exception raised in these callbacks as "connection closed"

        def on_chunk(chunk):
            nonlocal received
            received += len(chunk)
            if received > limit:
                over_limit.append(received)
                raise _TooLarge()
            chunks.append(chunk)

        def on_header(line):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit() and int(value) > limit:
                over_limit.append(int(value))
                raise _TooLarge()

        request = httpclient.HTTPRequest(
            url, connect_timeout=self.settings.fetch_connect_timeout, request_timeout=self.settings.fetch_timeout,
            follow_redirects=True, max_redirects=MAX_REDIRECTS, streaming_callback=on_chunk,
            header_callback=on_header, decompress_response=True, user_agent="findface-extraction-api")
        try:
            await self.client.fetch(request)
        except FetchRefused as e:
            raise ApiError(IMAGE_FETCH_FAILED, str(e)) from None
        except Exception as e:
            if over_limit:
                raise ApiError(IMAGE_FETCH_FAILED, f"the image at {url} is larger than the fetch size_limit "
                                                   f"of {limit} bytes") from None
            if isinstance(e, httpclient.HTTPClientError):
                raise ApiError(IMAGE_FETCH_FAILED, f"failed to fetch {url}: HTTP {e.code} {e.message}") from None
            raise ApiError(IMAGE_FETCH_FAILED, f"failed to fetch {url}: {_describe(e)}") from None
        return b"".join(chunks)

    def close(self):
        self.client.close()


class _TooLarge(Exception):
    pass


def _describe(error):
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return str(error) or type(error).__name__
