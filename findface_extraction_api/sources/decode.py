"""Encoded bytes -> an upright BGR uint8 array, refusing images over the size budget before decoding.

Decoding probes the header with Pillow first, so an image over `max_dimension` is refused
before a single pixel is allocated; OpenCV then does the (faster) full decode.
"""

import io

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .. import imaging
from .errors import DecodeFailed, ImageTooLarge

Image.MAX_IMAGE_PIXELS = None  # max_dimension is enforced below, from the header
EXIF_ORIENTATION = 0x0112


def decode(data: bytes, max_dimension: int) -> np.ndarray:
    """Upright BGR uint8 image from encoded bytes; DecodeFailed or ImageTooLarge otherwise."""
    if not data:
        raise DecodeFailed("Failed to decode: the image is empty")
    try:
        probe = Image.open(io.BytesIO(data))
        width, height = probe.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise DecodeFailed("Failed to decode: not a JPEG, PNG, WebP, BMP, TIFF or GIF image") from None
    if max(width, height) > max_dimension:
        raise ImageTooLarge(f"image is {width}x{height}, over the max_dimension of {max_dimension} pixels")
    try:
        orientation = int(probe.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        orientation = 1
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        image = _decode_with_pillow(probe)
    if image is None or image.size == 0:
        raise DecodeFailed("Failed to decode: the image data is corrupt or truncated")
    return imaging.apply_exif_orientation(image, orientation)


def _decode_with_pillow(probe: Image.Image) -> np.ndarray | None:
    """Formats OpenCV cannot read (e.g. GIF) but Pillow can."""
    try:
        return cv2.cvtColor(np.asarray(probe.convert("RGB")), cv2.COLOR_RGB2BGR)
    except Exception:
        return None
