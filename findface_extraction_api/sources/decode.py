"""Encoded bytes -> an upright BGR uint8 array, within a pixel budget checked before any pixel exists.

One decoder does everything: Pillow reads the format and the dimensions from the header
(`probe`, cheap enough for the event loop), the budget is checked, and the same Pillow image
then decodes (`decode`). Reading the header with one library and decoding with another let a
file look small to the first and decode at full size in the second; here that cannot happen.
Only the formats of FORMATS are opened at all, each by its own plug-in only.
"""

import io
import re
import struct
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageFile, PngImagePlugin, UnidentifiedImageError

from .. import imaging
from .errors import DecodeFailed, ImageTooLarge

# Pillow format names we accept, by file signature. No SVG, PDF, EPS, PSD, ICO, DDS, ...: each
# plug-in is attack surface, and none of them is a photo format a face service needs.
FORMATS = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "WEBP": (b"RIFF",),  # and "WEBP" at offset 8
    "BMP": (b"BM",),
    "TIFF": (b"II*\x00", b"MM\x00*"),
    "GIF": (b"GIF87a", b"GIF89a"),
}
NAMES = "JPEG, PNG, WebP, BMP, TIFF or GIF"
EXIF_ORIENTATION = 0x0112
# libjpeg fills a JPEG that ends early with grey instead of failing, so a 600-byte file claiming
# 6000x6000 would decode in full. Huffman coding spends at least a bit per 8x8 block; a file
# with under an eighth of that is refused as truncated before decoding.
JPEG_MIN_BYTES_PER_PIXEL = 1 / 4096
# Each scan of a progressive JPEG is a pass over the whole coefficient buffer: a few kilobytes
# repeating one tiny scan 1,000 times made a 6000x6000 file cost 11 s. Encoders write 3 to about
# 20 scans (libjpeg's progressive script has 10); libjpeg-turbo's tools offer the same cap (-maxscans).
JPEG_MAX_SCANS = 100
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # a marker after entropy-coded data (not stuffing, RSTn, fill)

# Pillow's own limits on PNG text chunks (zTXt/iTXt decompress): well below its defaults.
PngImagePlugin.MAX_TEXT_CHUNK = 256 * 1024
PngImagePlugin.MAX_TEXT_MEMORY = 1024 * 1024
ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = None  # the Budget below is the limit, checked before loading


@dataclass(frozen=True)
class Budget:
    """The largest image accepted: each side at most `max_dimension`, at most `max_pixels` in all."""

    max_dimension: int = 6000
    max_pixels: int = 36_000_000


@dataclass(frozen=True)
class Probe:
    """What the header says: the format and the size the image will decode to."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def sniff(data: bytes) -> str:
    """The format name of FORMATS whose signature `data` starts with; DecodeFailed otherwise."""
    if not data:
        raise DecodeFailed("Failed to decode: the image is empty")
    for name, signatures in FORMATS.items():
        if data.startswith(signatures) and (name != "WEBP" or data[8:12] == b"WEBP"):
            return name
    raise DecodeFailed(f"Failed to decode: not a {NAMES} image")


def _open(data: bytes, budget: Budget) -> tuple[Image.Image, Probe]:
    """The Pillow image (header read, no pixels yet) and its probe, after the budget check."""
    name = sniff(data)
    try:
        image = Image.open(io.BytesIO(data), formats=[name])
        width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error):
        raise DecodeFailed(f"Failed to decode: the {name} header is corrupt") from None
    probe = Probe(name, width, height)
    if width <= 0 or height <= 0:
        raise DecodeFailed(f"Failed to decode: the {name} header gives an empty {width}x{height} image")
    if max(width, height) > budget.max_dimension:
        raise ImageTooLarge(f"image is {width}x{height}, over the max_dimension of {budget.max_dimension} pixels")
    if probe.pixels > budget.max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} = {probe.pixels} pixels, over the max_pixels of {budget.max_pixels}"
        )
    if name == "JPEG" and len(data) < probe.pixels * JPEG_MIN_BYTES_PER_PIXEL:
        raise DecodeFailed(
            f"Failed to decode: a {len(data)}-byte JPEG cannot hold {width}x{height} pixels (truncated or forged)"
        )
    if name == "JPEG" and jpeg_scans(data, JPEG_MAX_SCANS) > JPEG_MAX_SCANS:
        raise DecodeFailed(f"Failed to decode: the JPEG has more than {JPEG_MAX_SCANS} scans (a decoding-cost bomb)")
    return image, probe


def jpeg_scans(data: bytes, limit: int) -> int:
    """How many scans (SOS segments) the JPEG `data` has, counting no further than `limit` + 1.

    Walks the segment chain by its length fields and skips each scan's entropy-coded data to the
    next marker, so JPEGs embedded in APPn segments (EXIF thumbnails) are not counted. A broken
    chain ends the count: the decoder then says what is wrong with it.
    """
    at, scans, end = 2, 0, len(data)
    while at + 4 <= end and scans <= limit:
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length field
            at += 2
            continue
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if marker == 0xDA:
            scans += 1
            found = _JPEG_MARKER.search(data, at)
            if found is None:
                break
            at = found.start()
    return scans


def probe(data: bytes, budget: Budget) -> Probe:
    """Format and size from the header only (microseconds); DecodeFailed or ImageTooLarge."""
    image, found = _open(data, budget)
    image.close()
    return found


def decode(data: bytes, budget: Budget) -> np.ndarray:
    """Upright BGR uint8 image from encoded bytes; DecodeFailed or ImageTooLarge otherwise."""
    image, found = _open(data, budget)
    try:
        orientation = _orientation(image)
        image.load()
        pixels = _to_bgr(image)
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, struct.error) as e:
        reason = "truncated" if "truncated" in str(e) else "corrupt"
        raise DecodeFailed(f"Failed to decode: the {found.format} image data is {reason}") from None
    finally:
        image.close()
    if pixels.shape[:2] != (found.height, found.width):
        raise DecodeFailed("Failed to decode: the image decoded to another size than its header says")
    return imaging.apply_exif_orientation(pixels, orientation)


def _orientation(image: Image.Image) -> int:
    try:
        value = int(image.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        return 1
    return value if 1 <= value <= 8 else 1


def _to_bgr(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> 3-channel BGR uint8 (alpha dropped; 16-bit and float scaled down)."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        grey = (np.asarray(image, np.uint16) >> 8).astype(np.uint8)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if mode in ("I", "F"):
        values = np.asarray(image, np.float64)
        top = float(values.max()) if values.size else 0.0
        grey = np.clip(values * (255.0 / top) if top > 255 else values, 0, 255).astype(np.uint8)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if mode == "L":
        return cv2.cvtColor(np.asarray(image), cv2.COLOR_GRAY2BGR)
    if mode != "RGB":
        image = image.convert("RGB")
    width, height = image.size  # Pillow packs straight to BGR: one copy, no extra conversion pass
    return np.frombuffer(image.tobytes("raw", "BGR"), np.uint8).reshape(height, width, 3)
