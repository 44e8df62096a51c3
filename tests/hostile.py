"""A deterministic corpus of hostile requests for both protocols the daemon serves, and the judge of
their answers.

`corpus(seed, trap_port)` builds more than 1,000 `Case`s: malformed FindFace Extraction API
envelopes (`POST /`, JSON and multipart), malformed 3DiVi Image API samples, hostile URLs, hostile
images (corrupt, truncated, polyglot, decompression and amplification bombs, all built here from
numpy/Pillow/OpenCV/zlib/struct) and broken HTTP. Each case says which answers a hardened service
may give (`Expect`); `problems(case, answer)` lists how an answer falls short. The same seed always
gives the same cases (only `trap_port`, the loopback listener SSRF URLs point at, varies).
"""

import base64
import functools
import io
import json
import random
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np
from PIL import Image

SEED = 20250611
MAX_MESSAGE = 1000  # characters an error desc/msg may have (client input must be clipped)
QUICK_SIZE = 150
MB = 1024 * 1024

FACES = "FACES"
BAD_PARAM = "BAD_PARAM"
MALFORMED_JSON = "MALFORMED_JSON"
DECODING_FAILED = "IMAGE_DECODING_FAILED"
TOO_LARGE = "IMAGE_TOO_LARGE"
FETCH_FAILED = "IMAGE_FETCH_FAILED"
ELEMENT_CODES = {FACES, BAD_PARAM, DECODING_FAILED, TOO_LARGE, FETCH_FAILED}
# What an IMAGE_FETCH_FAILED desc says when no connection was tried: the policy refused, or the name did not resolve.
REFUSAL_WORDS = (
    "non-public",
    "not allowed",
    "not permitted",
    "refused to fetch",
    "forbidden",
    "blocked",
    "private",
    "resolve",
)

Outcome = tuple[int, str | None]  # (HTTP status, code); code None = any; "BAD_PARAM/roi" = that code and param


# ---------------------------------------------------------------- the case model


@dataclass(frozen=True)
class Expect:
    """The answers a hardened service may give to one case.

    `outcomes` holds for the whole answer, or for every `responses[i]` of a 200 from `POST /`
    except the good siblings listed in `faces`, which must hold at least one face each.
    """

    outcomes: frozenset[Outcome]
    count: int | None = None  # len(responses) of a 200 from POST /
    faces: tuple[int, ...] = ()
    seconds: float = 10.0  # the answer must come within this
    peak_mb: float | None = None  # the daemon's peak RSS may grow by at most this while answering
    reset_ok: bool = False  # an over-limit request: the server may close the connection without answering
    refusal: bool = False  # IMAGE_FETCH_FAILED must be the fetch policy's refusal, not a failed connection
    not_in_desc: tuple[str, ...] = ()  # an answer must not say these (a bad port is no host name to look up)


@dataclass(frozen=True)
class Case:
    """One hostile request: `body` is built on access (bombs are not kept in memory); `raw` cases send
    `body` as the whole HTTP request, bytes as they are."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    make: Callable[[], bytes] = field(repr=False)
    expect: Expect
    protocol: str  # "extraction", "imageapi" or "http"
    raw: bool = False
    heavy: bool = False  # may cost an unhardened server seconds or a lot of memory: not in the quick subset
    legit: bool = False  # legitimately expensive work (not a cheap refusal): not in the mixed load run

    @property
    def body(self) -> bytes:
        return self.make()

    @property
    def category(self) -> str:
        """The family a case belongs to (the quick subset takes some of each)."""
        parts = self.name.split("/")
        return parts[0] if parts[0] == "http" else "/".join(parts[:2])


@dataclass
class Answer:
    """What came back: `status` None when the connection failed (`error` says how)."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    seconds: float
    sent: int = 0  # bytes of the request
    error: str | None = None
    timed_out: bool = False  # no answer in time (never acceptable, unlike a reset after an over-limit request)
    peak_mb: float | None = None


# ---------------------------------------------------------------- judging answers


def problems(case: Case, answer: Answer, busy_ok: bool = False) -> list[str]:
    """Everything wrong with `answer` as an answer to `case`; empty when it is acceptable.

    A body over 1 MB may also get 413, one over 8 MB (or any request when `busy_ok`, under load) 503.
    """
    expect = case.expect
    more = {(413, None)} if answer.sent > MB else set()
    more |= {(503, None)} if busy_ok or answer.sent > 8 * MB else set()
    if more:
        expect = replace(expect, outcomes=expect.outcomes | more)
    if answer.status is None:
        return [] if expect.reset_ok and not answer.timed_out else [f"no answer ({answer.error})"]
    found = []
    if answer.seconds > expect.seconds:
        found.append(f"took {answer.seconds:.1f} s (bound {expect.seconds:.0f} s)")
    if expect.peak_mb is not None and answer.peak_mb is not None and answer.peak_mb > expect.peak_mb:
        found.append(f"peak RSS grew {answer.peak_mb:.0f} MB (bound {expect.peak_mb:.0f} MB)")
    if answer.status >= 500 and answer.status not in (501, 503):
        found.append(f"HTTP {answer.status}")
    if answer.status == 204 and not answer.body and (204, None) in expect.outcomes:
        return found  # No Content (a CORS preflight answer to OPTIONS)
    try:
        document = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        return found + [f"HTTP {answer.status} with a non-JSON body {answer.body[:120]!r}"]
    if "json" not in answer.headers.get("content-type", "").lower():
        found.append(f"Content-Type {answer.headers.get('content-type')!r} is not JSON")
    found += [f"message of {len(text)} characters: {text[:80]!r}..." for text in messages(document)]
    if b"Traceback" in answer.body or b"INTERNAL_ERROR" in answer.body:
        found.append("the body carries a traceback or INTERNAL_ERROR")
    judge = JUDGES.get(case.protocol, judge_http)
    found += judge(expect, answer.status, document) + refusal_problems(case, document)
    said = [phrase for phrase in expect.not_in_desc if phrase in answer.body.decode("utf-8", "replace").lower()]
    if said:
        found.append(f"the answer says {said[0]!r}: {answer.body[:200]!r}")
    return found


def messages(document: Any) -> Iterator[str]:
    """Every error message (desc, msg, a string detail) longer than MAX_MESSAGE."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key in ("desc", "msg", "detail") and isinstance(value, str) and len(value) > MAX_MESSAGE:
                yield value
            elif key != "$image" and key != "_image":
                yield from messages(value)
    elif isinstance(document, list):
        for item in document:
            yield from messages(item)


def judge_extraction(expect: Expect, status: int, document: Any) -> list[str]:
    """POST /: per-element outcomes of a 200, else the envelope's own code."""
    if not isinstance(document, dict):
        return [f"HTTP {status} with a JSON {type(document).__name__}, not an object"]
    if status != 200:
        outcome = (status, document.get("code"), document.get("param"))
        return [] if accepted(outcome, expect.outcomes) else [f"unexpected {show(outcome, document)}"]
    responses = document.get("responses")
    if not isinstance(responses, list):
        return [f"HTTP 200 without a responses list: {str(document)[:200]}"]
    if expect.count is not None and len(responses) != expect.count:
        return [f"{len(responses)} responses for {expect.count} requests"]
    found = []
    for index, element in enumerate(responses):
        outcome = element_outcome(element)
        if index in expect.faces:
            if outcome[1] != FACES or not element["faces"]:
                found.append(f"good sibling responses[{index}] got {show(outcome, element)}")
        elif outcome[1] not in ELEMENT_CODES or not accepted(outcome, expect.outcomes):
            found.append(f"responses[{index}]: unexpected {show(outcome, element)}")
    return found[:3] + ([f"... and {len(found) - 3} more"] if len(found) > 3 else [])


def element_outcome(element: Any) -> tuple[int, str | None, str | None]:
    if isinstance(element, dict) and isinstance(element.get("faces"), list):
        return 200, FACES, None
    error = element.get("error") if isinstance(element, dict) else None
    if not isinstance(error, dict):
        return 200, f"malformed element {str(element)[:80]}", None
    return 200, error.get("code"), error.get("param")


def judge_imageapi(expect: Expect, status: int, document: Any) -> list[str]:
    """Image API: a 200 sample (an object), or an error with a FastAPI-style `detail`."""
    if not isinstance(document, dict):
        return [f"HTTP {status} with a JSON {type(document).__name__}, not an object"]
    kind = None
    if status != 200:
        detail = document.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            kind = detail[0].get("type")
        elif not isinstance(detail, str):
            return [f"HTTP {status} without a detail: {str(document)[:200]}"]
    outcome = (status, kind, None)
    return [] if accepted(outcome, expect.outcomes) else [f"unexpected {show(outcome, document)}"]


def judge_http(expect: Expect, status: int, document: Any) -> list[str]:
    """Broken HTTP: any JSON object, at one of the accepted statuses."""
    if not isinstance(document, dict):
        return [f"HTTP {status} with a JSON {type(document).__name__}, not an object"]
    outcome = (status, None, None)
    return [] if accepted(outcome, expect.outcomes) else [f"unexpected {show(outcome, document)}"]


JUDGES = {"extraction": judge_extraction, "imageapi": judge_imageapi}


def accepted(outcome: tuple[int, str | None, str | None], outcomes: Iterable[Outcome]) -> bool:
    status, code, param = outcome
    for want_status, want in outcomes:
        if want_status != status:
            continue
        if want is None:
            return True
        want_code, _, want_param = want.partition("/")
        if code == want_code and (not want_param or param == want_param):
            return True
    return False


def show(outcome: tuple[int, str | None, str | None], document: Any) -> str:
    """An observed answer in a line: status, code, param and the start of its message."""
    status, code, param = outcome
    text = ""
    if isinstance(document, dict):
        error = document.get("error", document)
        text = error.get("desc") or error.get("detail") or "" if isinstance(error, dict) else ""
    text = json.dumps(text)[:160] if text else ""
    return f"({status}, {code}{'/' + param if param else ''}) {text}".rstrip()


def refusal_problems(case: Case, document: Any) -> list[str]:
    """For SSRF cases: an IMAGE_FETCH_FAILED must read as the policy's refusal (not a failed connection)."""
    if not case.expect.refusal or not isinstance(document, dict) or not isinstance(document.get("responses"), list):
        return []
    responses = document["responses"]
    found = []
    for index, element in enumerate(responses):
        error = element.get("error") if isinstance(element, dict) else None
        if index in case.expect.faces or not isinstance(error, dict) or error.get("code") != FETCH_FAILED:
            continue
        desc = str(error.get("desc", ""))
        if not any(word in desc.lower() for word in REFUSAL_WORDS):
            found.append(f"responses[{index}] was not refused by the fetch policy: {desc[:160]!r}")
    return found


# ---------------------------------------------------------------- encoders


class Raw:
    """JSON text written as it is (NaN, 1e400, a 5,000-digit number) inside an otherwise dumped value."""

    def __init__(self, text: str):
        self.text = text


def dumps(value: Any) -> bytes:
    """JSON of `value`, with every Raw written verbatim."""
    raws: list[str] = []

    def default(item: Any) -> Any:
        if isinstance(item, Raw):
            raws.append(item.text)
            return f"\x00raw{len(raws) - 1}\x00"
        raise TypeError(type(item))

    text = json.dumps(value, default=default)
    for index, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00raw{index}\x00"), raw)
    return text.encode("utf-8", "surrogatepass")


def has_raw(value: Any) -> bool:
    """Whether `value` holds a Raw token (NaN, 1e400, deep nesting ...): a strict parser may refuse the body."""
    if isinstance(value, Raw):
        return True
    if isinstance(value, dict):
        return any(has_raw(v) for v in value.values())
    return isinstance(value, list) and any(has_raw(v) for v in value)


def form(parts: Sequence[tuple[str, bytes, str | None]], boundary: str) -> bytes:
    """A multipart/form-data body as curl -F writes it: (name, data, filename or None) each."""
    body = b""
    for name, data, filename in parts:
        head = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            head += f'; filename="{filename}"\r\nContent-Type: application/octet-stream'
        body += f"--{boundary}\r\n{head}\r\n\r\n".encode("utf-8", "surrogatepass") + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------- images: the good ones


@functools.cache
def astronaut_small() -> np.ndarray:
    """The harness's astronaut at 256x256 (face about 45 px): cheap to detect, still found."""
    from findface_extraction_api.testing import astronaut

    return cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)


@functools.cache
def good_jpeg() -> bytes:
    return pil_bytes(pil_image(), "JPEG", quality=85)


def pil_image(mode: str = "RGB") -> Image.Image:
    return Image.fromarray(cv2.cvtColor(astronaut_small(), cv2.COLOR_BGR2RGB)).convert(mode)


def pil_bytes(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def cv_bytes(ext: str, image: np.ndarray | None = None) -> bytes:
    ok, data = cv2.imencode(ext, astronaut_small() if image is None else image)
    assert ok, ext
    return data.tobytes()


GOOD_BOX = [0.34, 0.1, 0.54, 0.36]  # the face in astronaut_small(), normalized [x1, y1, x2, y2]


# ---------------------------------------------------------------- images: hostile builders


@functools.cache
def deflate_zeros(row_bytes: int, rows: int) -> bytes:
    """zlib stream of rows x row_bytes zero bytes, built row by row (never the whole buffer)."""
    compressor = zlib.compressobj(9)
    row = bytes(row_bytes)
    chunks = [compressor.compress(row) for _ in range(rows)]
    return b"".join(chunks) + compressor.flush()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_file(
    width: int, height: int, idat: bytes, depth: int = 8, color: int = 2, interlace: int = 0, extra: bytes = b""
) -> bytes:
    """A PNG with this IHDR and IDAT (true or not), `extra` chunks before the IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png_bomb(width: int, height: int, channels: int = 3, depth: int = 8) -> bytes:
    """A true PNG of width x height zero pixels: a few hundred KB that inflate to width * height * channels bytes."""
    color = {1: 0, 3: 2, 4: 6}[channels]
    return png_file(width, height, deflate_zeros(1 + width * channels * depth // 8, height), depth, color)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height over 1,000 zero bytes of data."""
    return png_file(width, height, zlib.compress(bytes(1000)))


def png_with(chunk_kind: bytes, payload: bytes) -> bytes:
    """The good astronaut as PNG with one more chunk before its first IDAT."""
    data = cv_bytes(".png")
    at = data.index(b"IDAT") - 4
    return data[:at] + png_chunk(chunk_kind, payload) + data[at:]


@functools.cache
def tiny_jpeg(progressive: bool = False) -> bytes:
    return pil_bytes(Image.new("RGB", (16, 16), (120, 90, 60)), "JPEG", quality=50, progressive=progressive)


def jpeg_claiming(width: int, height: int, progressive: bool = False) -> bytes:
    """A real 16x16 JPEG whose frame header claims width x height (about 600 bytes)."""
    data = bytearray(tiny_jpeg(progressive))
    at = data.find(b"\xff\xc2" if progressive else b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of each segment after SOI; a scan's payload includes its entropy-coded data."""
    segments, at = [], 2
    while at < len(data) and data[at + 1] != 0xD9:
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2 : at + 4])[0]
        end = at + 2 + length
        if marker == 0xDA:
            while not (data[end] == 0xFF and data[end + 1] not in (0, *range(0xD0, 0xD8))):
                end += 1
        segments.append((marker, data[at + 4 : end]))
        at = end
    return segments


def jpeg_join(segments: Iterable[tuple[int, bytes]]) -> bytes:
    """SOI, the segments, EOI; a scan's length field covers only its header (the rest is coded data)."""
    out = b"\xff\xd8"
    for marker, payload in segments:
        length = len(payload) if marker != 0xDA else 1 + 2 * payload[0] + 3
        out += bytes([0xFF, marker]) + struct.pack(">H", length + 2) + payload
    return out + b"\xff\xd9"


def jpeg_many_scans(width: int, scans: int) -> bytes:
    """A progressive JPEG claiming width x width with `scans` scans over almost no data (a CPU bomb)."""
    segments = jpeg_segments(jpeg_claiming(width, width, progressive=True))
    head = [(m, p) for m, p in segments if m != 0xDA and m != 0xC4]
    tables = [(m, p) for m, p in segments if m == 0xC4]
    scan_list = [(m, p) for m, p in segments if m == 0xDA]
    body = head + tables + [scan_list[i % len(scan_list)] for i in range(scans)]
    return jpeg_join(body)


def jpeg_insert(data: bytes, segments: Iterable[tuple[int, bytes]]) -> bytes:
    """`data` (a JPEG) with more segments right after SOI."""
    extra = b"".join(bytes([0xFF, m]) + struct.pack(">H", len(p) + 2) + p for m, p in segments)
    return data[:2] + extra + data[2:]


def jpeg_two_frames(first: int, second: int) -> bytes:
    """A JPEG with two frame headers: first x first, then second x second."""
    data = tiny_jpeg()
    at = data.find(b"\xff\xc0")
    length = struct.unpack(">H", data[at + 2 : at + 4])[0]
    sof = bytearray(data[at : at + 2 + length])
    struct.pack_into(">HH", sof, 5, second, second)
    patched = bytearray(data)
    struct.pack_into(">HH", patched, at + 5, first, first)
    return bytes(patched[: at + 2 + length]) + bytes(sof) + bytes(patched[at + 2 + length :])


def exif_jpeg(entries: bytes, count: int, next_ifd: int = 0) -> bytes:
    """The good JPEG with an APP1 Exif block holding one IFD of `count` raw 12-byte entries."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", count) + entries + struct.pack("<I", next_ifd)
    return jpeg_insert(good_jpeg(), [(0xE1, b"Exif\x00\x00" + tiff)])


def gif_file(screen: tuple[int, int], frame: tuple[int, int], data: bytes, frames: int = 1) -> bytes:
    """A GIF89a: logical screen, then `frames` copies of one frame descriptor with LZW `data`."""
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, *frame, 0) + b"\x02" + blocks + b"\x00"
    return header + image * frames + b"\x3b"


TINY_LZW = b"\x4c\x01"  # clear, pixel 0, end: one pixel at minimum code size 2


def bmp_file(
    width: int, height: int, bits: int = 24, compression: int = 0, data: bytes = b"", offset: int = 54
) -> bytes:
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, compression, len(data), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(header) + len(data), 0, 0, offset) + header + data


def tiff_file(entries: Sequence[tuple[int, int, int, int | bytes]], data: bytes, ifd_at: int = 8) -> bytes:
    """A little-endian TIFF: one IFD at `ifd_at` of (tag, type, count, value) with `data` after it.

    A value of b"DATA" is the offset of `data`; other bytes values are stored after the IFD too.
    """
    head = b"II*\x00" + struct.pack("<I", ifd_at)
    head += bytes(ifd_at - len(head))
    after = ifd_at + 2 + 12 * len(entries) + 4
    blobs, ifd = b"", struct.pack("<H", len(entries))
    extra_at = after
    values = []
    for *_, value in entries:
        if isinstance(value, bytes) and value != b"DATA":
            values.append(struct.pack("<I", extra_at))
            blobs += value
            extra_at += len(value)
        else:
            values.append(value)
    data_at = extra_at
    for (tag, kind, count, _), value in zip(entries, values, strict=True):
        if value == b"DATA":
            value = struct.pack("<I", data_at)
        elif isinstance(value, int):
            value = struct.pack("<HH", value, 0) if kind == 3 and count == 1 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + value
    return head + ifd + struct.pack("<I", 0) + blobs + data


def tiff_rgb(width: int, height: int, strip: bytes, compression: int = 8, ifd_at: int = 8) -> list[Any]:
    """IFD entries of an RGB 8-bit image in one strip."""
    return [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 3, struct.pack("<HHH", 8, 8, 8)),
        (259, 3, 1, compression),
        (262, 3, 1, 2),
        (273, 4, 1, b"DATA"),
        (277, 3, 1, 3),
        (278, 4, 1, height),
        (279, 4, 1, len(strip)),
    ]


def tiff_bomb(width: int, height: int) -> bytes:
    strip = deflate_zeros(width * 3, height)
    return tiff_file(tiff_rgb(width, height, strip), strip)


def fli_tiff(width: int, small: int = 64) -> bytes:
    """A polyglot: Pillow reads an FLI animation of small x small, OpenCV (libtiff) a TIFF of width x width.

    The TIFF's IFD offset doubles as the FLI magic (0xAF11) and frame count (1); the FLI size sits
    in bytes 8..11, which TIFF never reads.
    """
    ifd_at = 0x0001AF11
    strip = deflate_zeros(width * 3, width)
    data = bytearray(tiff_file(tiff_rgb(width, width, strip), strip, ifd_at=ifd_at))
    struct.pack_into("<HH", data, 8, small, small)
    return bytes(data)


def webp_vp8l(width: int, height: int, payload: bytes = b"\x00" * 16) -> bytes:
    """A lossless WebP whose header says width x height (the bitstream after it is not real)."""
    bits = (width - 1) | ((height - 1) << 14)
    chunk = b"\x2f" + struct.pack("<I", bits) + payload
    return riff(b"VP8L", chunk)


def webp_vp8x(width: int, height: int, inner: bytes) -> bytes:
    """An extended WebP: a VP8X canvas of width x height around the chunks of `inner` (a simple WebP)."""
    vp8x = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x + inner[12:]
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def riff(kind: bytes, chunk: bytes) -> bytes:
    padded = chunk + b"\x00" * (len(chunk) % 2)
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(padded)) + b"WEBP" + kind + struct.pack("<I", len(chunk)) + padded


def ico_lying(declared: int, true_size: int) -> bytes:
    """An ICO whose directory says declared x declared around a PNG of true_size x true_size."""
    payload = png_bomb(true_size, true_size, channels=4)
    entry = struct.pack("<BBBBHHII", declared % 256, declared % 256, 0, 0, 1, 32, len(payload), 22)
    return struct.pack("<HHH", 0, 1, 1) + entry + payload


def psd_claiming(width: int, height: int) -> bytes:
    return b"8BPS" + struct.pack(">H6sHIIHH", 1, b"", 3, height, width, 8, 3) + bytes(16)


def tga_claiming(width: int, height: int) -> bytes:
    return struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, width, height, 24, 0) + bytes(64)


def qoi_claiming(width: int, height: int) -> bytes:
    return b"qoif" + struct.pack(">IIBB", width, height, 3, 0) + b"\x00" * 7 + b"\x01"


def dds_claiming(width: int, height: int) -> bytes:
    header = struct.pack("<7I", 124, 0x1007, height, width, width * 4, 0, 0) + bytes(44)
    pixel = struct.pack("<8I", 32, 0x41, 0, 32, 0xFF0000, 0xFF00, 0xFF, 0xFF000000)
    return b"DDS " + header + pixel + bytes(20) + bytes(64)


def sun_claiming(width: int, height: int) -> bytes:
    return struct.pack(">8I", 0x59A66A95, width, height, 24, width * height * 3, 1, 0, 0) + bytes(64)


def pcx_claiming(width: int, height: int) -> bytes:
    data = bytearray(pil_bytes(pil_image(), "PCX"))
    struct.pack_into("<HH", data, 8, width - 1, height - 1)
    return bytes(data)


def jp2_claiming(width: int, height: int) -> bytes:
    """The good JPEG 2000 with its SIZ marker (and header box) rewritten to claim width x height."""
    data = bytearray(cv_bytes(".jp2"))
    at = data.find(b"\xff\x51")
    struct.pack_into(">II", data, at + 6, width, height)
    ihdr = data.find(b"ihdr")
    if ihdr > 0:
        struct.pack_into(">II", data, ihdr + 4, height, width)
    return bytes(data)


def flipped(data: bytes, rng: random.Random, flips: int) -> bytes:
    """`data` with `flips` random bytes replaced (the first 2 kept, so the format is still recognized)."""
    out = bytearray(data)
    for _ in range(flips):
        out[rng.randrange(2, len(out))] = rng.randrange(256)
    return bytes(out)


# ---------------------------------------------------------------- the image corpus


@dataclass(frozen=True)
class HostileImage:
    name: str
    make: Callable[[], bytes]
    codes: frozenset[str]  # FACES, IMAGE_DECODING_FAILED, IMAGE_TOO_LARGE acceptable for it
    peak_mb: float | None = None
    seconds: float = 10.0
    heavy: bool = False
    legit: bool = False
    found: bool = False  # a valid photo: the face must be found in it


DF, TL = frozenset({DECODING_FAILED}), frozenset({TOO_LARGE})
DF_OR_FACES = frozenset({DECODING_FAILED, FACES})
ANY_IMAGE = frozenset({DECODING_FAILED, TOO_LARGE, FACES})
REFUSE = frozenset({DECODING_FAILED, TOO_LARGE})
BOMB_PEAK = 150.0  # MB: what decoding a refused bomb may cost at most (the true payloads are >= 240 MB)


def images(rng: random.Random) -> list[HostileImage]:
    """Every hostile (and a few valid) image, each with the codes a hardened decoder may answer."""
    return [
        *valid_images(),
        *garbage_images(rng),
        *truncated_images(),
        *corrupted_images(rng),
        *png_images(),
        *jpeg_images(),
        *gif_bmp_tiff_webp_images(),
        *other_format_images(),
        *polyglot_images(),
    ]


def valid_images() -> list[HostileImage]:
    """The astronaut in every allowed format and common variant: each must still be found."""
    face = frozenset({FACES})
    made: list[tuple[str, Callable[[], bytes], frozenset[str]]] = [
        ("jpeg", good_jpeg, face),
        ("jpeg-progressive", lambda: pil_bytes(pil_image(), "JPEG", progressive=True), face),
        ("jpeg-cmyk", lambda: pil_bytes(pil_image("CMYK"), "JPEG"), face),
        ("jpeg-grey", lambda: pil_bytes(pil_image("L"), "JPEG"), face),
        ("jpeg-exif-rotated", lambda: rotated_exif_jpeg(), face),
        ("png", lambda: cv_bytes(".png"), face),
        ("png-rgba", lambda: pil_bytes(pil_image("RGBA"), "PNG"), face),
        ("png-grey", lambda: pil_bytes(pil_image("L"), "PNG"), face),
        ("png-palette", lambda: pil_bytes(pil_image("P"), "PNG"), face),
        ("png-16bit", lambda: cv_bytes(".png", astronaut_small().astype(np.uint16) * 257), face),
        ("png-interlaced", lambda: pil_bytes(pil_image(), "PNG", interlace=1), DF_OR_FACES),
        ("webp-lossy", lambda: pil_bytes(pil_image(), "WEBP", quality=80), face),
        ("webp-lossless", lambda: pil_bytes(pil_image(), "WEBP", lossless=True), face),
        ("bmp", lambda: cv_bytes(".bmp"), face),
        ("bmp-palette", lambda: pil_bytes(pil_image("P"), "BMP"), face),
        ("tiff", lambda: pil_bytes(pil_image(), "TIFF"), face),
        ("tiff-lzw", lambda: pil_bytes(pil_image(), "TIFF", compression="tiff_lzw"), face),
        ("tiff-deflate", lambda: pil_bytes(pil_image(), "TIFF", compression="tiff_adobe_deflate"), face),
        ("gif", lambda: pil_bytes(pil_image("P"), "GIF"), face),
        ("ppm", lambda: pil_bytes(pil_image(), "PPM"), DF_OR_FACES),
        ("pcx", lambda: pil_bytes(pil_image(), "PCX"), DF_OR_FACES),
        ("tga", lambda: pil_bytes(pil_image(), "TGA"), DF_OR_FACES),
        ("ico", lambda: pil_bytes(pil_image(), "ICO", sizes=[(256, 256)]), DF_OR_FACES),
        ("qoi", lambda: pil_bytes(pil_image(), "QOI"), DF_OR_FACES),
        ("sgi", lambda: pil_bytes(pil_image(), "SGI"), DF_OR_FACES),
        ("jp2", lambda: cv_bytes(".jp2"), DF_OR_FACES),
        ("hdr", lambda: cv_bytes(".hdr", astronaut_small().astype(np.float32) / 255), DF_OR_FACES),
        ("sunraster", lambda: cv_bytes(".ras"), DF_OR_FACES),
        ("pfm", lambda: cv_bytes(".pfm", astronaut_small().astype(np.float32) / 255), DF_OR_FACES),
        ("pam", lambda: cv_bytes(".pam"), DF_OR_FACES),
        ("avif", lambda: cv_bytes(".avif"), DF_OR_FACES),
    ]
    return [HostileImage(f"valid-{name}", make, codes, found=codes == face) for name, make, codes in made]


def rotated_exif_jpeg() -> bytes:
    from findface_extraction_api.testing import jpeg

    return jpeg(cv2.rotate(astronaut_small(), cv2.ROTATE_90_COUNTERCLOCKWISE), 85, orientation=6)


def garbage_images(rng: random.Random) -> list[HostileImage]:
    """Not images at all: empty, text, other file types, random bytes."""
    fixed = {
        "empty": b"",
        "one-byte": b"\xff",
        "soi-only": b"\xff\xd8",
        "soi-eoi": b"\xff\xd8\xff\xd9",
        "png-signature-only": b"\x89PNG\r\n\x1a\n",
        "png-no-idat": b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)),
        "gif-header-only": b"GIF89a",
        "bm-only": b"BM",
        "riff-webp-only": b"RIFF\x04\x00\x00\x00WEBP",
        "tiff-header-only": b"II*\x00\x08\x00\x00\x00",
        "text": b"this is not an image",
        "html": b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
        "json": b'{"requests": []}',
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="30000" height="30000"><rect/></svg>',
        "pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        "zip": b"PK\x03\x04" + bytes(26) + b"PK\x05\x06" + bytes(18),
        "elf": b"\x7fELF\x02\x01\x01" + bytes(57),
        "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 30000 30000\nshowpage\n",
        "xbm": b"#define x_width 30000\n#define x_height 30000\nstatic char x_bits[] = {0x00};\n",
        "nul-bytes": bytes(4096),
        "ff-bytes": b"\xff" * 4096,
    }
    found = [
        HostileImage(f"garbage-{name}", lambda data=data: data, REFUSE if name in CLAIMING else DF)
        for name, data in fixed.items()
    ]
    for size in (1, 16, 1024, 65536, MB):
        data = rng.randbytes(size)
        found.append(HostileImage(f"garbage-random-{size}", lambda data=data: data, DF))
    return found


CLAIMING = ("eps", "xbm", "svg")  # text formats whose header claims 30000x30000: refusing by size is right too


def truncated_images() -> list[HostileImage]:
    """Valid files cut short: a decoder may salvage what came, or refuse."""
    sources: dict[str, Callable[[], bytes]] = {
        "jpeg": good_jpeg,
        "png": lambda: cv_bytes(".png"),
        "webp": lambda: pil_bytes(pil_image(), "WEBP"),
        "gif": lambda: pil_bytes(pil_image("P"), "GIF"),
        "bmp": lambda: cv_bytes(".bmp"),
        "tiff": lambda: pil_bytes(pil_image(), "TIFF", compression="tiff_lzw"),
    }
    found = []
    for fmt, make in sources.items():
        for fraction in (0.02, 0.1, 0.5, 0.9, 0.999):
            found.append(
                HostileImage(
                    f"truncated-{fmt}-{fraction}",
                    lambda make=make, fraction=fraction: make()[: max(1, int(len(make()) * fraction))],
                    DF_OR_FACES,
                )
            )
    return found


def corrupted_images(rng: random.Random) -> list[HostileImage]:
    """Valid files with random bytes replaced."""
    sources: dict[str, Callable[[], bytes]] = {
        "jpeg": good_jpeg,
        "png": lambda: cv_bytes(".png"),
        "webp": lambda: pil_bytes(pil_image(), "WEBP"),
        "gif": lambda: pil_bytes(pil_image("P"), "GIF"),
        "bmp": lambda: cv_bytes(".bmp"),
        "tiff": lambda: pil_bytes(pil_image(), "TIFF"),
    }
    found = []
    for fmt, make in sources.items():
        for index in range(12 if fmt == "jpeg" else 5):
            seed, flips = rng.getrandbits(32), rng.choice((1, 4, 16, 64))
            found.append(
                HostileImage(
                    f"corrupt-{fmt}-{index}",
                    lambda make=make, seed=seed, flips=flips: flipped(make(), random.Random(seed), flips),
                    DF_OR_FACES,
                )
            )
    return found


def png_images() -> list[HostileImage]:
    """PNGs with lying or hostile headers and chunks."""
    good = cv_bytes(".png")
    return [
        HostileImage("png-ihdr-30000x30000", lambda: png_claiming(30000, 30000), TL),
        HostileImage("png-ihdr-6001x4", lambda: png_claiming(6001, 4), TL),
        HostileImage("png-ihdr-1x100000000", lambda: png_claiming(1, 100_000_000), TL),
        HostileImage("png-ihdr-2147483647", lambda: png_claiming(2**31 - 1, 2**31 - 1), REFUSE),
        HostileImage("png-ihdr-0x0", lambda: png_claiming(0, 0), DF),
        HostileImage("png-ihdr-0x16", lambda: png_claiming(0, 16), DF),
        HostileImage("png-bad-depth", lambda: png_file(16, 16, zlib.compress(bytes(1000)), depth=3), DF),
        HostileImage("png-bad-color", lambda: png_file(16, 16, zlib.compress(bytes(1000)), color=5), DF),
        HostileImage(
            "png-palette-without-plte", lambda: png_file(16, 16, zlib.compress(bytes(272)), color=3), DF_OR_FACES
        ),
        HostileImage("png-bomb-6000", lambda: png_bomb(6000, 6000), ANY_IMAGE, seconds=30, heavy=True, legit=True),
        HostileImage(
            "png-bomb-6000-rgba16",
            lambda: png_bomb(6000, 6000, channels=4, depth=16),
            ANY_IMAGE,
            seconds=30,
            heavy=True,
            legit=True,
        ),
        HostileImage("png-bomb-10000", lambda: png_bomb(10000, 10000), REFUSE, BOMB_PEAK, heavy=True),
        HostileImage("png-bomb-6000x1", lambda: png_bomb(6000, 1), frozenset({FACES})),
        HostileImage("png-bad-crc", lambda: good[:-12] + b"\x00\x00\x00\x00IEND\x00\x00\x00\x00", DF_OR_FACES),
        HostileImage("png-no-iend", lambda: good[:-12], DF_OR_FACES),
        HostileImage(
            "png-ztxt-100MB", lambda: png_with(b"zTXt", b"k\x00\x00" + deflate_zeros(MB, 100)), DF_OR_FACES, BOMB_PEAK
        ),
        HostileImage(
            "png-iccp-100MB", lambda: png_with(b"iCCP", b"p\x00\x00" + deflate_zeros(MB, 100)), DF_OR_FACES, BOMB_PEAK
        ),
        HostileImage(
            "png-itxt-100MB",
            lambda: png_with(b"iTXt", b"k\x00\x01\x00\x00\x00" + deflate_zeros(MB, 100)),
            DF_OR_FACES,
            BOMB_PEAK,
        ),
        HostileImage(
            "png-10000-text-chunks",
            lambda: png_with(b"tEXt", b"k\x00v") + b"".join(png_chunk(b"tEXt", b"k\x00v") for _ in range(10000)),
            DF_OR_FACES,
        ),
        HostileImage(
            "png-chunk-length-lie",
            lambda: good[:33] + struct.pack(">I", 0x7FFFFFFF) + b"tEXt" + b"k\x00v",
            DF_OR_FACES,
        ),
        HostileImage(
            "apng-2g-frames",
            lambda: png_with(b"acTL", struct.pack(">II", 2**31 - 1, 0)),
            DF_OR_FACES,
        ),
        HostileImage(
            "png-exif-orientation-garbage",
            lambda: png_with(b"eXIf", b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\xff\xff"),
            DF_OR_FACES,
        ),
    ]


def jpeg_images() -> list[HostileImage]:
    """JPEGs whose headers lie, repeat, or carry hostile metadata."""
    loop_entry = struct.pack("<HHII", 0x8769, 4, 1, 8)  # the Exif IFD pointer points back at IFD0
    orientation = [struct.pack("<HHIHH", 0x0112, 3, 1, value, 0) for value in (0, 9, 65535)]
    return [
        HostileImage("jpeg-claims-6000x6000", lambda: jpeg_claiming(6000, 6000), ANY_IMAGE, heavy=True),
        HostileImage("jpeg-claims-65000x65000", lambda: jpeg_claiming(65000, 65000), TL),
        HostileImage("jpeg-claims-65500x1", lambda: jpeg_claiming(65500, 1), TL),
        HostileImage("jpeg-claims-6001x16", lambda: jpeg_claiming(6001, 16), TL),
        HostileImage("jpeg-claims-0x0", lambda: jpeg_claiming(0, 0), DF),
        HostileImage("jpeg-claims-16x0", lambda: jpeg_claiming(16, 0), DF),
        HostileImage("jpeg-progressive-6000-1000-scans", lambda: jpeg_many_scans(6000, 1000), ANY_IMAGE, heavy=True),
        HostileImage("jpeg-progressive-2000-5000-scans", lambda: jpeg_many_scans(2000, 5000), ANY_IMAGE, heavy=True),
        HostileImage("jpeg-two-frames-16-then-9000", lambda: jpeg_two_frames(16, 9000), ANY_IMAGE, BOMB_PEAK),
        HostileImage("jpeg-two-frames-9000-then-16", lambda: jpeg_two_frames(9000, 16), ANY_IMAGE, BOMB_PEAK),
        HostileImage("jpeg-12bit", lambda: jpeg_precision(12), DF_OR_FACES),
        HostileImage("jpeg-arithmetic", lambda: jpeg_marker(0xC9), DF_OR_FACES),
        HostileImage("jpeg-lossless-claims-6000", lambda: jpeg_marker(0xC3, 6000), ANY_IMAGE, heavy=True),
        HostileImage("jpeg-exif-ifd-loop", lambda: exif_jpeg(loop_entry, 1, next_ifd=8), DF_OR_FACES),
        HostileImage("jpeg-exif-count-65535", lambda: exif_jpeg(loop_entry, 65535), DF_OR_FACES),
        *(
            HostileImage(f"jpeg-exif-orientation-{v}", lambda e=e: exif_jpeg(e, 1), frozenset({FACES}))
            for v, e in zip((0, 9, 65535), orientation, strict=True)
        ),
        HostileImage(
            "jpeg-1000-app-segments",
            lambda: jpeg_insert(good_jpeg(), [(0xE2, b"x" * 1000)] * 1000),
            DF_OR_FACES,
        ),
        HostileImage(
            "jpeg-icc-255-chunks",
            lambda: jpeg_insert(
                good_jpeg(), [(0xE2, b"ICC_PROFILE\x00" + bytes([i + 1, 255]) + bytes(65000)) for i in range(255)]
            ),
            DF_OR_FACES,
            BOMB_PEAK,
        ),
        HostileImage("jpeg-trailing-garbage", lambda: good_jpeg() + random.Random(1).randbytes(MB), frozenset({FACES})),
        HostileImage("jpeg-no-eoi", lambda: good_jpeg()[:-2], DF_OR_FACES),
    ]


def jpeg_precision(bits: int) -> bytes:
    data = bytearray(tiny_jpeg())
    data[data.find(b"\xff\xc0") + 4] = bits
    return bytes(data)


def jpeg_marker(marker: int, size: int | None = None) -> bytes:
    """The tiny JPEG with its baseline frame marker replaced (arithmetic, lossless ...)."""
    data = bytearray(jpeg_claiming(size, size) if size else tiny_jpeg())
    data[data.find(b"\xff\xc0") + 1] = marker
    return bytes(data)


def gif_bmp_tiff_webp_images() -> list[HostileImage]:
    """The other allowed formats, with lying dimensions."""
    good_webp = pil_bytes(pil_image(), "WEBP", lossless=True)
    return [
        HostileImage(
            "gif-screen-65535-frame-1", lambda: gif_file((65535, 65535), (1, 1), TINY_LZW), ANY_IMAGE, BOMB_PEAK
        ),
        HostileImage(
            "gif-screen-64-frame-10000", lambda: gif_file((64, 64), (10000, 10000), TINY_LZW), ANY_IMAGE, BOMB_PEAK
        ),
        HostileImage(
            "gif-screen-64-frame-6000", lambda: gif_file((64, 64), (6000, 6000), TINY_LZW), ANY_IMAGE, heavy=True
        ),
        HostileImage("gif-screen-0x0", lambda: gif_file((0, 0), (1, 1), TINY_LZW), ANY_IMAGE),
        HostileImage("gif-10000-frames", lambda: gif_file((16, 16), (16, 16), TINY_LZW, frames=10000), ANY_IMAGE),
        HostileImage("gif-truncated-lzw", lambda: gif_file((64, 64), (64, 64), b"\x4c"), ANY_IMAGE),
        HostileImage("bmp-claims-30000", lambda: bmp_file(30000, 30000), TL),
        HostileImage("bmp-claims-6001x1", lambda: bmp_file(6001, 1), TL),
        HostileImage("bmp-claims-6000-no-data", lambda: bmp_file(6000, 6000), ANY_IMAGE, heavy=True),
        HostileImage("bmp-height-minus-30000", lambda: bmp_file(64, -30000), TL),
        HostileImage("bmp-width-negative", lambda: bmp_file(-64, 64), REFUSE),
        HostileImage("bmp-0-bits", lambda: bmp_file(64, 64, bits=0), DF),
        HostileImage("bmp-33-bits", lambda: bmp_file(64, 64, bits=33), DF),
        HostileImage("bmp-offset-past-end", lambda: bmp_file(64, 64, offset=2**31 - 1), DF),
        HostileImage(
            "bmp-rle8-delta-jumps", lambda: bmp_file(64, 64, 8, 1, b"\x00\x02\xff\xff" * 64 + b"\x00\x01"), ANY_IMAGE
        ),
        HostileImage("tiff-claims-65000", lambda: tiff_file(tiff_rgb(65000, 65000, b""), b""), TL),
        HostileImage("tiff-claims-6000-empty-strip", lambda: tiff_file(tiff_rgb(6000, 6000, b""), b""), ANY_IMAGE),
        HostileImage("tiff-bomb-9000", lambda: tiff_bomb(9000, 9000), REFUSE, BOMB_PEAK, heavy=True),
        HostileImage("tiff-bomb-5000", lambda: tiff_bomb(5000, 5000), ANY_IMAGE, seconds=30, heavy=True, legit=True),
        HostileImage(
            "tiff-duplicate-width-9000-then-64",
            lambda: tiff_duplicate_width(9000, 64),
            REFUSE | {FACES},
            BOMB_PEAK,
            heavy=True,
        ),
        HostileImage("tiff-ifd-loop", lambda: tiff_loop(), ANY_IMAGE),
        HostileImage(
            "tiff-tile-65536",
            lambda: tiff_file([*tiff_rgb(64, 64, b"")[:5], (322, 4, 1, 65536), (323, 4, 1, 65536)], b""),
            ANY_IMAGE,
        ),
        HostileImage(
            "tiff-million-strips",
            lambda: tiff_file([(256, 4, 1, 64), (257, 4, 1, 1_000_000), (273, 4, 1_000_000, b"DATA")], b""),
            REFUSE,
        ),
        HostileImage("webp-vp8l-claims-16384", lambda: webp_vp8l(16384, 16384), TL),
        HostileImage("webp-vp8l-claims-6001x1", lambda: webp_vp8l(6001, 1), TL),
        HostileImage("webp-vp8l-claims-6000", lambda: webp_vp8l(6000, 6000), ANY_IMAGE, heavy=True),
        HostileImage("webp-vp8x-canvas-16777216", lambda: webp_vp8x(2**24, 2**24, good_webp), REFUSE, BOMB_PEAK),
        HostileImage("webp-vp8x-canvas-64", lambda: webp_vp8x(64, 64, good_webp), ANY_IMAGE),
        HostileImage("webp-riff-size-lie", lambda: good_webp[:4] + b"\xff\xff\xff\x7f" + good_webp[8:], ANY_IMAGE),
    ]


def tiff_duplicate_width(first: int, second: int) -> bytes:
    strip = deflate_zeros(first * 3, first)
    entries = tiff_rgb(first, first, strip)
    return tiff_file([entries[0], (256, 4, 1, second), *entries[1:]], strip)


def tiff_loop() -> bytes:
    """A TIFF whose next-IFD pointer points back at its own IFD."""
    data = bytearray(pil_bytes(pil_image(), "TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[ifd : ifd + 2])[0]
    struct.pack_into("<I", data, ifd + 2 + 12 * count, ifd)
    return bytes(data)


def other_format_images() -> list[HostileImage]:
    """Formats outside the allow-list (or only one library reads) claiming huge sizes."""
    return [
        HostileImage("ico-64-around-7000-png", lambda: ico_lying(64, 7000), REFUSE, BOMB_PEAK, heavy=True),
        HostileImage("ico-65535-entries", lambda: struct.pack("<HHH", 0, 1, 65535) + bytes(64), DF),
        HostileImage("psd-claims-30000", lambda: psd_claiming(30000, 30000), REFUSE),
        HostileImage("tga-claims-65535", lambda: tga_claiming(65535, 65535), REFUSE),
        HostileImage("qoi-claims-30000", lambda: qoi_claiming(30000, 30000), REFUSE),
        HostileImage("dds-claims-30000", lambda: dds_claiming(30000, 30000), REFUSE),
        HostileImage("sun-claims-30000", lambda: sun_claiming(30000, 30000), REFUSE),
        HostileImage("pcx-claims-65535", lambda: pcx_claiming(65535, 65535), REFUSE),
        HostileImage("ppm-claims-30000", lambda: b"P6\n30000 30000\n255\n" + bytes(64), REFUSE),
        HostileImage("ppm-claims-6000", lambda: b"P6\n6000 6000\n255\n" + bytes(64), ANY_IMAGE, heavy=True),
        HostileImage("ppm-maxval-0", lambda: b"P6\n16 16\n0\n" + bytes(768), ANY_IMAGE),
        HostileImage("pfm-claims-30000", lambda: b"PF\n30000 30000\n-1.0\n" + bytes(64), REFUSE),
        HostileImage("hdr-claims-30000", lambda: b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n", REFUSE),
        HostileImage("jp2-claims-30000", lambda: jp2_claiming(30000, 30000), REFUSE),
        HostileImage("jp2-claims-6000", lambda: jp2_claiming(6000, 6000), ANY_IMAGE, heavy=True),
    ]


def polyglot_images() -> list[HostileImage]:
    """Files whose first bytes look like one format and the rest like another."""
    return [
        HostileImage("polyglot-fli-64-tiff-9000", lambda: fli_tiff(9000), ANY_IMAGE, BOMB_PEAK, heavy=True),
        HostileImage("polyglot-png-signature-then-jpeg", lambda: b"\x89PNG\r\n\x1a\n" + good_jpeg(), DF_OR_FACES),
        HostileImage("polyglot-jpeg-soi-then-png", lambda: b"\xff\xd8" + cv_bytes(".png"), DF_OR_FACES),
        HostileImage("polyglot-gif-header-then-png", lambda: b"GIF89a" + cv_bytes(".png"), ANY_IMAGE),
        HostileImage("polyglot-bmp-header-then-jpeg", lambda: bmp_file(64, 64)[:54] + good_jpeg(), DF_OR_FACES),
        HostileImage(
            "polyglot-jpeg-then-png-bomb",
            lambda: good_jpeg() + png_bomb(10000, 10000),
            frozenset({FACES}),
            BOMB_PEAK,
            heavy=True,
        ),
        HostileImage("polyglot-png-then-jpeg", lambda: cv_bytes(".png") + good_jpeg(), DF_OR_FACES),
        HostileImage("polyglot-jpeg-then-zip", lambda: good_jpeg() + b"PK\x03\x04" + bytes(26), frozenset({FACES})),
        HostileImage("polyglot-html-then-jpeg", lambda: b"<html>" + good_jpeg(), DF),
        HostileImage(
            "polyglot-tiff-gif-tail",
            lambda: pil_bytes(pil_image(), "TIFF") + gif_file((65535, 65535), (1, 1), TINY_LZW),
            DF_OR_FACES,
            BOMB_PEAK,
        ),
    ]


# ---------------------------------------------------------------- Extraction API cases


EXTRACTION = "extraction"
GOOD_REQUEST = {"image": "multipart:good"}
FLAGS = (
    "need_facen",
    "need_gender",
    "need_age",
    "need_emotions",
    "need_normalized",
    "auto_rotate",
    "need_liveness",
)
WRONG_FLAGS: dict[str, Any] = {
    "int-0": 0,
    "int-1": 1,
    "int-minus-1": -1,
    "float-0": 0.0,
    "float-1.5": 1.5,
    "str-true": "true",
    "str-false": "false",
    "str-empty": "",
    "str-yes": "yes",
    "list": [],
    "list-true": [True],
    "object": {},
    "object-value": {"value": True},
    "nan": Raw("NaN"),
    "infinity": Raw("Infinity"),
    "1e400": Raw("1e400"),
    "2**64": 2**64,
}
WRONG_DETECTORS: dict[str, Any] = {
    "int": 1,
    "true": True,
    "false": False,
    "list": [],
    "list-nnd": ["nnd"],
    "object": {"name": "nnd"},
    "empty": "",
    "upper": "NND",
    "trailing-space": "nnd ",
    "leading-space": " nnd",
    "nul": "nnd\x00",
    "newline": "legacy\n",
    "mtcnn": "mtcnn",
    "internal-yunet": "yunet",
    "internal-hog": "hog",
    "cyrillic": "нnd",
    "lone-surrogate": "nn\ud800d",
    "nan": Raw("NaN"),
    "1MB": "x" * MB,
}
WRONG_IMAGES: dict[str, Any] = {
    "null": None,
    "int": 0,
    "float": 1.5,
    "true": True,
    "empty": "",
    "list": [],
    "object": {},
    "list-ref": ["multipart:good"],
    "object-ref": {"multipart": "good"},
    "no-scheme": "good",
    "upper-scheme": "MULTIPART:good",
    "leading-space": " multipart:good",
    "file-url": "file:///etc/passwd",
    "data-url": "data:image/jpeg;base64,/9j/4AAQ",
    "multipart-empty-name": "multipart:",
    "multipart-missing": "multipart:missing",
    "multipart-nul": "multipart:good\x00",
    "multipart-1MB-missing": "multipart:" + "x" * MB,
    "nan": Raw("NaN"),
    "1e400": Raw("1e400"),
}


def extraction_cases(rng: random.Random, trap_port: int) -> list[Case]:
    builder = ExtractionCases(rng)
    return [
        *builder.wrong_types(),
        *builder.rois(),
        *builder.huge(),
        *builder.nesting(),
        *builder.encodings(),
        *builder.envelopes(),
        *builder.garbled_multipart(),
        *builder.counts(),
        *builder.urls(trap_port),
        *builder.hostile_images(images(rng)),
        *builder.methods(),
    ]


def element(*codes: str, extra: Iterable[Outcome] = ()) -> frozenset[Outcome]:
    """Outcomes: HTTP 200 whose elements carry one of `codes`, plus `extra` envelope answers."""
    return frozenset({(200, code) for code in codes} | set(extra))


ENVELOPE_REFUSED = frozenset({(400, MALFORMED_JSON), (400, BAD_PARAM)})


class ExtractionCases:
    """Builders of POST / cases; each hostile request goes with a good sibling where the transport allows."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def boundary(self) -> str:
        return f"ffea{self.rng.getrandbits(64):016x}"

    def multipart(
        self,
        name: str,
        requests: list[Any],
        outcomes: frozenset[Outcome],
        parts: Callable[[], list[tuple[str, bytes, str | None]]] | None = None,
        as_file: bool = False,
        sibling: bool = True,
        rewrite: tuple[bytes, bytes] | None = None,
        **expect: Any,
    ) -> Case:
        """A multipart case: `requests` (plus the good sibling last) in part `request`, the good image and
        `parts`; `rewrite` replaces bytes of the finished body (for what an encoder would never write)."""
        boundary = self.boundary()
        all_requests = [*requests, GOOD_REQUEST] if sibling else requests
        outcomes = outcomes | ({(400, MALFORMED_JSON)} if has_raw(requests) else set())

        def make() -> bytes:
            fields = [("request", dumps({"requests": all_requests}), "request.json" if as_file else None)]
            fields += [("good", good_jpeg(), "good.jpg"), *(parts() if parts else [])]
            body = form(fields, boundary)
            return body.replace(*rewrite) if rewrite else body

        faces = (len(requests),) if sibling else ()
        faces = faces + tuple(expect.pop("found", ()))
        return self.case(
            name,
            make,
            f"multipart/form-data; boundary={boundary}",
            Expect(outcomes, count=len(all_requests), faces=faces, **expect),
        )

    def json(self, name: str, body: Any, outcomes: frozenset[Outcome], **expect: Any) -> Case:
        """A JSON-body case; `body` is a value to dump or the exact bytes."""
        data = body if isinstance(body, bytes) else dumps(body)
        outcomes = outcomes | ({(400, MALFORMED_JSON)} if has_raw(body) else set())
        if isinstance(body, dict) and isinstance(body.get("requests"), list):
            expect.setdefault("count", len(body["requests"]))
        return self.case(name, lambda: data, "application/json", Expect(outcomes, **expect))

    @staticmethod
    def case(name: str, make: Callable[[], bytes], content_type: str | None, expect: Expect, **flags: Any) -> Case:
        headers = {"Content-Type": content_type} if content_type else {}
        return Case(f"extraction/{name}", "POST", "/", headers, make, expect, EXTRACTION, **flags)

    # -- request keys of the wrong type or value

    def wrong_types(self) -> list[Case]:
        found = []
        for key, values, extra in (
            ("image", WRONG_IMAGES, {}),
            ("detector", WRONG_DETECTORS, {}),
            *((flag, WRONG_FLAGS, {}) for flag in FLAGS),
        ):
            for label, value in values.items():
                request = {**GOOD_REQUEST, key: value, **extra}
                mine = element(f"{BAD_PARAM}/{key}")
                found.append(self.multipart(f"types/{key}/{label}/multipart", [request], mine))
                # JSON bodies have no parts: a key check or the missing part may come first.
                either = element(f"{BAD_PARAM}/{key}", f"{BAD_PARAM}/image")
                found.append(self.json(f"types/{key}/{label}/json", {"requests": [request]}, either))
        found.append(
            self.multipart(
                "types/detector/null", [{**GOOD_REQUEST, "detector": None}], element(FACES, f"{BAD_PARAM}/detector")
            )
        )
        found.append(self.multipart("types/image/absent", [{"detector": "nnd"}], element(f"{BAD_PARAM}/image")))
        found.append(
            self.multipart(
                "types/auto_rotate/with-legacy",
                [{**GOOD_REQUEST, "auto_rotate": True, "detector": "legacy"}],
                element(f"{BAD_PARAM}/auto_rotate"),
            )
        )
        found.append(
            self.multipart(
                "types/need_liveness/with-prenormalized",
                [{**GOOD_REQUEST, "need_liveness": True, "detector": "prenormalized"}],
                element(f"{BAD_PARAM}/need_liveness"),
            )
        )
        for flag in FLAGS:  # null is documented as false
            found.append(self.multipart(f"types/{flag}/null", [{**GOOD_REQUEST, flag: None}], element(FACES)))
        for label, value in (("int", 1), ("string", "x"), ("null", None), ("list", []), ("true", True)):
            found.append(self.multipart(f"types/request/{label}", [value], element(BAD_PARAM)))
        return found

    def rois(self) -> list[Case]:
        """`roi` of every wrong shape, and extreme but valid ones (clipped to the image)."""
        wrong: dict[str, Any] = {
            "list": [0, 0, 10, 10],
            "string": "0,0,10,10",
            "int": 5,
            "true": True,
            "empty": {},
            "three-keys": {"left": 0, "top": 0, "right": 10},
            "float": {"left": 0.5, "top": 0, "right": 10, "bottom": 10},
            "bool-values": {"left": False, "top": False, "right": True, "bottom": True},
            "string-values": {"left": "0", "top": "0", "right": "10", "bottom": "10"},
            "null-values": {"left": None, "top": None, "right": None, "bottom": None},
            "nested": {"left": {"v": 0}, "top": 0, "right": 10, "bottom": 10},
            "nan": {"left": Raw("NaN"), "top": 0, "right": 10, "bottom": 10},
            "infinity": {"left": Raw("-Infinity"), "top": 0, "right": Raw("Infinity"), "bottom": 10},
            "right-equals-left": {"left": 10, "top": 0, "right": 10, "bottom": 10},
            "right-below-left": {"left": 20, "top": 0, "right": 10, "bottom": 10},
            "bottom-above-top": {"left": 0, "top": 20, "right": 10, "bottom": 10},
            "all-zero": {"left": 0, "top": 0, "right": 0, "bottom": 0},
        }
        valid: dict[str, Any] = {
            "whole-image": {"left": 0, "top": 0, "right": 256, "bottom": 256},
            "far-outside": {"left": -2975, "top": -635, "right": 4060, "bottom": 1720},
            "disjoint": {"left": 10000, "top": 10000, "right": 10010, "bottom": 10010},
            "one-pixel": {"left": 5, "top": 5, "right": 6, "bottom": 6},
            "extra-keys": {"left": 0, "top": 0, "right": 256, "bottom": 256, "width": "x"},
            "null": None,
        }
        extreme: dict[str, Any] = {
            "1e18": {"left": -(10**18), "top": -(10**18), "right": 10**18, "bottom": 10**18},
            "2**63": {"left": -(2**63), "top": -(2**63), "right": 2**63, "bottom": 2**63},
            "2**64": {"left": 0, "top": 0, "right": 2**64, "bottom": 2**64},
            "1e30": {"left": -(10**30), "top": 0, "right": 10**30, "bottom": 10},
            "400-digits": {"left": 0, "top": 0, "right": Raw("9" * 400), "bottom": 10},
        }
        found = []
        for label, roi in wrong.items():
            found.append(self.multipart(f"roi/{label}", [{**GOOD_REQUEST, "roi": roi}], element(f"{BAD_PARAM}/roi")))
        for label, roi in valid.items():
            found.append(self.multipart(f"roi/{label}", [{**GOOD_REQUEST, "roi": roi}], element(FACES)))
        for label, roi in extreme.items():
            outcomes = element(FACES, f"{BAD_PARAM}/roi")
            found.append(self.multipart(f"roi/{label}", [{**GOOD_REQUEST, "roi": roi}], outcomes))
        found.append(
            self.json(
                "roi/5000-digits",  # over Python's int-parsing limit: not JSON we can take
                b'{"requests": [{"image": "multipart:good", "roi": {"left": 0, "top": 0, "right": '
                + b"9" * 5000
                + b', "bottom": 10}}]}',
                element(f"{BAD_PARAM}/roi", f"{BAD_PARAM}/image", extra=[(400, MALFORMED_JSON)]),
            )
        )
        return found

    # -- huge strings and values

    def huge(self) -> list[Case]:
        big = lambda n: "x" * n  # noqa: E731
        either = element(FACES, BAD_PARAM, extra=ENVELOPE_REFUSED | {(413, None)})
        return [
            self.multipart(
                "huge/part-name-1MB",
                [{"image": "multipart:" + big(MB)}],
                either,
                parts=lambda: [(big(MB), good_jpeg(), "x.jpg")],
            ),
            self.multipart(
                "huge/part-name-1MB-missing", [{"image": "multipart:" + big(MB)}], element(f"{BAD_PARAM}/image")
            ),
            self.multipart(
                "huge/part-name-10MB-missing",
                [{"image": "multipart:" + big(10 * MB)}],
                element(f"{BAD_PARAM}/image", extra=[(413, None)]),
            ),
            self.multipart(
                "huge/unreferenced-part-name-1MB",
                [GOOD_REQUEST],
                element(FACES, extra=ENVELOPE_REFUSED),
                parts=lambda: [(big(MB), b"x", None)],
            ),
            self.multipart(
                "huge/detector-1MB", [{**GOOD_REQUEST, "detector": big(MB)}], element(f"{BAD_PARAM}/detector")
            ),
            self.multipart(
                "huge/url-1MB",
                [{"image": "http://" + big(MB) + ".invalid/"}],
                element(f"{BAD_PARAM}/image", FETCH_FAILED),
            ),
            self.multipart("huge/unknown-key-1MB", [{**GOOD_REQUEST, big(MB): 1}], element(FACES)),
            self.multipart(
                "huge/unknown-value-5MB", [{**GOOD_REQUEST, "note": big(5 * MB)}], element(FACES, extra=[(413, None)])
            ),
            self.multipart(
                "huge/10000-unknown-keys", [{**GOOD_REQUEST, **{f"k{i}": i for i in range(10000)}}], element(FACES)
            ),
            self.json(
                "huge/whitespace-1MB",
                b" " * MB + b'{"requests": []}' + b"\n" * MB,
                element(),
                count=0,
            ),
            self.multipart(
                "huge/part-header-1MB",
                [GOOD_REQUEST],
                element(FACES, extra=ENVELOPE_REFUSED),
                parts=lambda: [("x", b"x", big(MB))],
            ),
        ]

    # -- deep nesting

    def nesting(self) -> list[Case]:
        found = []
        for depth in (999, 1000, 2000, 100_000):
            deep_list = Raw("[" * depth + "]" * depth)
            deep_object = Raw('{"a":' * depth + "1" + "}" * depth)
            parse_error = {(400, MALFORMED_JSON)}
            places: dict[str, tuple[Any, frozenset[Outcome]]] = {
                "request": (deep_list, element(BAD_PARAM, extra=parse_error)),
                "unknown-key-list": ({**GOOD_REQUEST, "x": deep_list}, element(FACES, extra=parse_error)),
                "unknown-key-object": ({**GOOD_REQUEST, "x": deep_object}, element(FACES, extra=parse_error)),
                "roi": ({**GOOD_REQUEST, "roi": deep_object}, element(f"{BAD_PARAM}/roi", extra=parse_error)),
                "image": ({"image": deep_list}, element(f"{BAD_PARAM}/image", extra=parse_error)),
                "detector": (
                    {**GOOD_REQUEST, "detector": deep_list},
                    element(f"{BAD_PARAM}/detector", extra=parse_error),
                ),
            }
            for place, (request, outcomes) in places.items():
                found.append(self.multipart(f"nesting/{place}/{depth}/multipart", [request], outcomes))
            found.append(
                self.json(
                    f"nesting/envelope-list/{depth}/json",
                    deep_list,
                    frozenset({(400, MALFORMED_JSON), (400, BAD_PARAM)}),
                )
            )
            found.append(
                self.json(
                    f"nesting/requests-value/{depth}/json",
                    {"requests": [deep_list]},
                    element(BAD_PARAM, extra=parse_error),
                )
            )
            found.append(
                self.json(
                    f"nesting/envelope-object/{depth}/json",
                    {"requests": [], "x": deep_object},
                    element(extra=parse_error),
                )
            )
        return found

    # -- invalid UTF-8 and other encodings

    def encodings(self) -> list[Case]:
        bad_bytes = {
            "ff": b"\xff",
            "overlong-slash": b"\xc0\xaf",
            "surrogate-bytes": b"\xed\xa0\x80",
            "truncated-sequence": b"\xe2\x82",
            "five-byte": b"\xf8\x88\x80\x80\x80",
            "over-10ffff": b"\xf4\x90\x80\x80",
            "latin1-e-acute": b"\xe9",
            "raw-nul": b"\x00",
            "raw-newline": b"\n",
        }
        invalid = element(BAD_PARAM, extra=[(400, MALFORMED_JSON)])
        found = []
        for label, raw in bad_bytes.items():
            for where, template in (
                ("detector", b'{"requests": [{"image": "multipart:good", "detector": "nn%sd"}]}'),
                ("key", b'{"requests": [{"image": "multipart:good", "de%stector": "nnd"}]}'),
                ("image", b'{"requests": [{"image": "multipart:go%sod"}]}'),
                ("outside-strings", b'{"requests": [%s{"image": "multipart:good"}]}'),
            ):
                text = template % raw
                outcomes = (
                    invalid | element(FACES)
                    if where == "key" or raw == b"\n" and where == "outside-strings"
                    else invalid
                )
                found.append(self.raw_request(f"utf8/{where}/{label}/multipart", text, outcomes))
                found.append(self.json(f"utf8/{where}/{label}/json", text, invalid | element(f"{BAD_PARAM}/image")))
        encoded = {
            "bom-utf8": b"\xef\xbb\xbf" + dumps({"requests": [GOOD_REQUEST]}),
            "utf16-le": dumps({"requests": [GOOD_REQUEST]}).decode().encode("utf-16-le"),
            "utf16-be-bom": dumps({"requests": [GOOD_REQUEST]}).decode().encode("utf-16"),
            "utf32": dumps({"requests": [GOOD_REQUEST]}).decode().encode("utf-32"),
            "escaped-surrogate-image": b'{"requests": [{"image": "multipart:\\udfff"}]}',
            "escaped-nul-image": b'{"requests": [{"image": "multipart:\\u0000"}]}',
        }
        for label, text in encoded.items():
            outcomes = element(FACES, BAD_PARAM, extra=[(400, MALFORMED_JSON)])
            found.append(self.raw_request(f"utf8/{label}/multipart", text, outcomes))
        for label, raw in (("part-name", b'name="go\xffod"'), ("file-name", b'filename="\xff\xfe.jpg"')):
            found.append(
                self.multipart(
                    f"utf8/{label}-invalid/multipart",
                    [GOOD_REQUEST],
                    element(FACES, extra=ENVELOPE_REFUSED),
                    parts=lambda raw=raw: [("other", b"x", "other.jpg")],
                    sibling=False,
                    rewrite=(b'name="other"; filename="other.jpg"', raw),
                )
            )
        return found

    def raw_request(self, name: str, request_part: bytes, outcomes: frozenset[Outcome]) -> Case:
        """A multipart case whose `request` part is these exact bytes (with the good image part)."""
        boundary = self.boundary()

        def make() -> bytes:
            return form([("request", request_part, None), ("good", good_jpeg(), "good.jpg")], boundary)

        return self.case(name, make, f"multipart/form-data; boundary={boundary}", Expect(outcomes))

    # -- envelopes that are not {"requests": [...]}

    def envelopes(self) -> list[Case]:
        refused = frozenset({(400, f"{BAD_PARAM}/requests"), (400, MALFORMED_JSON)})
        bodies: dict[str, tuple[bytes, frozenset[Outcome]]] = {
            "empty": (b"", frozenset({(400, MALFORMED_JSON), (400, BAD_PARAM)})),
            "not-json": (b"requests=1", frozenset({(400, MALFORMED_JSON)})),
            "truncated": (b'{"requests": [{"image": "multipart:good"', frozenset({(400, MALFORMED_JSON)})),
            "list": (b"[]", refused),
            "string": (b'"requests"', refused),
            "number": (b"1", refused),
            "null": (b"null", refused),
            "true": (b"true", refused),
            "nan": (b"NaN", refused),
            "no-requests": (b"{}", refused),
            "requests-null": (b'{"requests": null}', refused),
            "requests-object": (b'{"requests": {"image": "multipart:good"}}', refused),
            "requests-string": (b'{"requests": "multipart:good"}', refused),
            "requests-number": (b'{"requests": 1}', refused),
            "trailing-garbage": (b'{"requests": []} x', frozenset({(400, MALFORMED_JSON)})),
            "two-documents": (b'{"requests": []}{"requests": []}', frozenset({(400, MALFORMED_JSON)})),
            "single-quotes": (b"{'requests': []}", frozenset({(400, MALFORMED_JSON)})),
            "comment": (b'{"requests": [] /* x */}', frozenset({(400, MALFORMED_JSON)})),
            "duplicate-keys": (b'{"requests": 1, "requests": []}', element() | refused),
            "empty-requests": (b'{"requests": []}', element()),
        }
        found = []
        for label, (body, outcomes) in bodies.items():
            found.append(
                self.json(f"envelope/{label}/json", body, outcomes, count=0 if label == "empty-requests" else None)
            )
            found.append(self.raw_request(f"envelope/{label}/multipart", body, outcomes))
        for label, content_type in (
            ("no-content-type", None),
            ("text-plain", "text/plain"),
            ("form-urlencoded", "application/x-www-form-urlencoded"),
            ("octet-stream", "application/octet-stream"),
            ("json-charset-latin1", "application/json; charset=latin-1"),
        ):
            data = dumps({"requests": [{"image": "multipart:good"}]})
            found.append(
                self.case(
                    f"envelope/content-type/{label}",
                    lambda data=data: data,
                    content_type,
                    Expect(element(f"{BAD_PARAM}/image", extra=ENVELOPE_REFUSED)),
                )
            )
        return found

    # -- multipart bodies that are not what their Content-Type says

    def garbled_multipart(self) -> list[Case]:
        envelope = dumps({"requests": [GOOD_REQUEST]})
        good = [("request", envelope, None), ("good", good_jpeg(), "good.jpg")]
        boundary = "b0undary"
        whole = form(good, boundary)
        refused = frozenset({(400, f"{BAD_PARAM}/request"), (400, BAD_PARAM), (400, MALFORMED_JSON)})
        salvage = refused | element(FACES)
        variants: dict[str, tuple[str, Callable[[], bytes], frozenset[Outcome]]] = {
            "no-boundary-param": ("multipart/form-data", lambda: whole, refused),
            "empty-boundary": ("multipart/form-data; boundary=", lambda: whole, refused),
            "wrong-boundary": ("multipart/form-data; boundary=other", lambda: whole, refused),
            "quoted-boundary": (f'multipart/form-data; boundary="{boundary}"', lambda: whole, element(FACES)),
            "upper-case-type": (f"MULTIPART/FORM-DATA; BOUNDARY={boundary}", lambda: whole, element(FACES) | refused),
            "no-closing-boundary": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole[: -len(boundary) - 6],
                salvage,
            ),
            "closing-boundary-only": (
                f"multipart/form-data; boundary={boundary}",
                lambda: f"--{boundary}--\r\n".encode(),
                refused,
            ),
            "empty-body": (f"multipart/form-data; boundary={boundary}", lambda: b"", refused),
            "truncated-in-image": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole[: len(whole) // 2],
                salvage,
            ),
            "truncated-in-request": (f"multipart/form-data; boundary={boundary}", lambda: whole[:80], refused),
            "lf-line-endings": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole.replace(b"\r\n", b"\n"),
                salvage,
            ),
            "no-header-separator": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole.replace(b"\r\n\r\n", b"\r\n", 1),
                salvage,
            ),
            "no-content-disposition": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole.replace(b'Content-Disposition: form-data; name="request"', b"X-Nothing: 1", 1),
                refused,
            ),
            "no-part-name": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole.replace(b'; name="good"', b"", 1),
                refused | element(f"{BAD_PARAM}/image"),
            ),
            "disposition-attachment": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole.replace(b"Content-Disposition: form-data", b"Content-Disposition: attachment", 1),
                refused,
            ),
            "unquoted-name": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole.replace(b'name="request"', b"name=request", 1),
                salvage,
            ),
            "preamble-1MB": (
                f"multipart/form-data; boundary={boundary}",
                lambda: random.Random(2).randbytes(MB).replace(b"--", b"__") + b"\r\n" + whole,
                salvage,
            ),
            "epilogue-1MB": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole + random.Random(3).randbytes(MB),
                salvage,
            ),
            "boundary-80-chars": (
                "multipart/form-data; boundary=" + "b" * 80,
                lambda: form(good, "b" * 80),
                salvage,
            ),
            "boundary-60KB": (
                "multipart/form-data; boundary=" + "b" * 60000,
                lambda: form(good, "b" * 60000),
                salvage | {(431, None), (413, None)},
            ),
            "boundary-in-image": (
                f"multipart/form-data; boundary={boundary}",
                lambda: form(
                    [
                        good[0],
                        ("good", good_jpeg()[:500] + f"\r\n--{boundary}\r\n".encode() + good_jpeg()[500:], "g.jpg"),
                    ],
                    boundary,
                ),
                salvage | element(DECODING_FAILED),
            ),
            "duplicate-request-parts": (
                f"multipart/form-data; boundary={boundary}",
                lambda: form([good[0], ("request", b"not json", None), good[1]], boundary),
                salvage,
            ),
            "duplicate-image-parts": (
                f"multipart/form-data; boundary={boundary}",
                lambda: form([*good, ("good", b"garbage", "g.jpg")], boundary),
                salvage | element(DECODING_FAILED),
            ),
            "request-part-missing": (
                f"multipart/form-data; boundary={boundary}",
                lambda: form([good[1]], boundary),
                frozenset({(400, f"{BAD_PARAM}/request")}),
            ),
            "request-part-empty": (
                f"multipart/form-data; boundary={boundary}",
                lambda: form([("request", b"", None), good[1]], boundary),
                frozenset({(400, MALFORMED_JSON), (400, BAD_PARAM)}),
            ),
            "nested-multipart-mixed": (
                f"multipart/form-data; boundary={boundary}",
                lambda: form([good[0], ("good", form([good[1]], "inner"), None)], boundary),
                salvage | element(DECODING_FAILED),
            ),
            "multipart-mixed-type": (f"multipart/mixed; boundary={boundary}", lambda: whole, refused),
            "json-type-multipart-body": ("application/json", lambda: whole, frozenset({(400, MALFORMED_JSON)})),
            "filename-star": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole.replace(b'filename="good.jpg"', b"filename*=UTF-8''%e2%82%ac%ff.jpg", 1),
                salvage,
            ),
            "part-header-invalid-utf8": (
                f"multipart/form-data; boundary={boundary}",
                lambda: whole.replace(b"Content-Type: application/octet-stream", b"Content-Type: \xff\xfe", 1),
                salvage,
            ),
        }
        return [
            self.case(
                f"multipart/{label}",
                make,
                content_type,
                Expect(outcomes, faces=(0,) if label == "quoted-boundary" else ()),
            )
            for label, (content_type, make, outcomes) in variants.items()
        ]

    # -- how many requests and parts per envelope

    def counts(self) -> list[Case]:
        tiny = cv_bytes(".png", np.full((32, 32, 3), 128, np.uint8))
        bomb = jpeg_claiming(6000, 6000)
        refused = frozenset({(400, f"{BAD_PARAM}/requests"), (413, None)})
        found = [
            self.multipart(
                "count/100-requests-100-parts",
                [{"image": f"multipart:p{i}"} for i in range(99)],
                element(FACES),
                parts=lambda: [(f"p{i}", tiny, f"p{i}.png") for i in range(99)],
            ),
            replace_flags(
                self.multipart("count/100-requests-one-part", [GOOD_REQUEST] * 99, element(FACES), seconds=30),
                legit=True,
            ),
            self.multipart("count/101-requests", [GOOD_REQUEST] * 100, refused),
            self.multipart(
                "count/101-requests-101-parts",
                [{"image": f"multipart:p{i}"} for i in range(100)],
                refused,
                parts=lambda: [(f"p{i}", tiny, f"p{i}.png") for i in range(100)],
            ),
            self.multipart("count/100-bad-requests", [{"image": 1}] * 99, element(f"{BAD_PARAM}/image")),
            self.json("count/100-json-requests", {"requests": [{"image": 1}] * 100}, element(f"{BAD_PARAM}/image")),
            self.json("count/101-json-requests", {"requests": [{"image": 1}] * 101}, refused),
            self.json("count/1000-json-requests", {"requests": [{}] * 1000}, refused),
            # 200,000 '{' and ',': refused before parsing (json_input.MAX_VALUES), as MALFORMED_JSON
            self.json("count/100000-json-requests", {"requests": [{}] * 100_000}, refused | {(400, MALFORMED_JSON)}),
            self.multipart(
                "count/1000-unreferenced-parts",
                [GOOD_REQUEST],
                element(FACES, extra=ENVELOPE_REFUSED),
                parts=lambda: [(f"p{i}", b"x", f"p{i}.png") for i in range(1000)],
            ),
        ]
        amplification = element(FACES, DECODING_FAILED, TOO_LARGE, extra=[(413, None), (503, None)])
        bombs = self.multipart(
            "count/100-jpeg-bombs-6000",
            [{"image": "multipart:bomb"}] * 99,
            amplification,
            parts=lambda: [("bomb", bomb, "bomb.jpg")],
            seconds=30,
        )
        found.append(replace_flags(bombs, heavy=True))
        return found

    # -- URLs: malformed, and every form of a non-public target

    def urls(self, trap_port: int) -> list[Case]:
        malformed = [
            "http://[::1",
            "http://[::1]x/",
            "http://host:1:2/",
            "http://localhost:1:2/",
            "http://127.0.0.1:99999/",
            "http://127.0.0.1:-1/",
            "http://127.0.0.1:abc/",
            "http://",
            "https://",
            "http:///a.jpg",
            "http://:80/",
            "http://[]/",
            "http://@/",
            "http://a b/",
            "http://%00/",
            "http://\x00/",
            "http://\u00e9\u00e9.invalid/",
            "http://" + "a" * 64 + ".invalid/",
            "http://[fe80::1%25eth0]/",
            "ftp://x/a.jpg",
            "gopher://127.0.0.1:70/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "HTTP://127.0.0.1/",
            "http:\\\\127.0.0.1\\",
            "http://user:pass@/",
            "http:/127.0.0.1/",
        ]
        found = []
        for index, url in enumerate(malformed):
            outcomes = element(f"{BAD_PARAM}/image", FETCH_FAILED)
            # a bad port is a bad URL: "host:1" must never be looked up as a host name
            bad_port = {"not_in_desc": LOOKED_UP} if re.search(r":(\d+:|-|abc|99999)", url) else {}
            label = f"url/malformed/{index}-{slug(url)}"
            found.append(self.json(f"{label}/json", {"requests": [{"image": url}]}, outcomes, **bad_port))
            found.append(self.multipart(f"{label}/multipart", [{"image": url}], outcomes, **bad_port))
        targets = [(slug(host), f"{host}:{trap_port}/face.jpg") for host in SSRF_HOSTS]
        targets += [(label, tail.format(port=trap_port)) for label, tail in SSRF_TRICKS.items()]
        for host_label, target in targets:
            for scheme in ("http", "https"):
                url = f"{scheme}://{target}"
                outcomes = element(f"{BAD_PARAM}/image", FETCH_FAILED)
                label = f"url/ssrf/{host_label}/{scheme}"
                found.append(self.json(f"{label}/json", {"requests": [{"image": url}]}, outcomes, refusal=True))
                found.append(self.multipart(f"{label}/multipart", [{"image": url}], outcomes, refusal=True))
        found.append(
            self.json(
                "url/ssrf/100-refused-in-one-envelope",
                {"requests": [{"image": f"http://127.0.0.1:{trap_port}/{i}.jpg"} for i in range(100)]},
                element(f"{BAD_PARAM}/image", FETCH_FAILED),
                refusal=True,
            )
        )
        return found

    # -- hostile images through POST /

    def hostile_images(self, corpus: list[HostileImage]) -> list[Case]:
        found = []
        for image in corpus:
            outcomes = element(*image.codes)
            case = self.multipart(
                f"image/{image.name}",
                [{"image": "multipart:hostile"}],
                outcomes,
                parts=lambda image=image: [("hostile", image.make(), "hostile.bin")],
                seconds=image.seconds,
                peak_mb=image.peak_mb,
                found=(0,) if image.found else (),
            )
            found.append(replace_flags(case, heavy=image.heavy, legit=image.legit))
        return found

    def methods(self) -> list[Case]:
        found = []
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            outcomes = frozenset({(405, "METHOD_NOT_ALLOWED")} | ({(204, None)} if method == "OPTIONS" else set()))
            found.append(
                Case(f"extraction/method/{method}", method, "/", {}, lambda: b"", Expect(outcomes), EXTRACTION)
            )
        for path in ("/x", "//", "/..%2f..%2fetc/passwd", "/" + "a" * 8000, "/?" + "a=1&" * 2000):
            outcomes = frozenset({(404, "NOT_FOUND"), (200, None), (400, None), (414, None)})
            found.append(
                Case(
                    f"extraction/path/{slug(path)[:40]}",
                    "POST",
                    path,
                    {"Content-Type": "application/json"},
                    lambda: b'{"requests": []}',
                    Expect(outcomes),
                    EXTRACTION,
                )
            )
        return found


LOOKED_UP = ("does not resolve", "not resolve", "unresolvable", "name or service not known", "name resolution")
SSRF_HOSTS = (
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "127.0.0.2",
    "127.255.255.254",
    "2130706433",
    "0x7f000001",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "017700000001",
    "0177.0.0.01",
    "127.000.000.001",
    "localhost",
    "localhost.",
    "LOCALHOST",
    "0.0.0.0",
    "0",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[64:ff9b::127.0.0.1]",
    "[64:ff9b:1::7f00:1]",
    "[2002:7f00:1::]",
    "[2002:a00:1::]",
    "[::ffff:10.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[64:ff9b::a9fe:a9fe]",
    "[fe80::1]",
    "[fc00::1]",
    "[fd00::1]",
    "[ff02::1]",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",
    "198.18.0.1",
    "224.0.0.1",
    "255.255.255.255",
)
SSRF_TRICKS = {  # URLs whose host is loopback although another name appears in them
    "userinfo": "user:pass@127.0.0.1:{port}/face.jpg",
    "userinfo-hostlike": "localhost.invalid@127.0.0.1:{port}/face.jpg",
    "fragment-at": "127.0.0.1:{port}#@localhost.invalid/",
    "query-at": "127.0.0.1:{port}?@localhost.invalid/",
    "backslash-at": "127.0.0.1:{port}\\@localhost.invalid/",
    "percent-encoded-host": "%31%32%37.0.0.1:{port}/face.jpg",
    "trailing-dot": "127.0.0.1.:{port}/face.jpg",
}


def slug(text: str) -> str:
    """A short, printable label from a URL or host."""
    cleaned = "".join(c if c.isalnum() or c in ".-_" else "_" for c in text.encode("ascii", "replace").decode())
    return cleaned[:48] + (f"-{len(text)}" if len(cleaned) > 48 else "")


def replace_flags(case: Case, **flags: Any) -> Case:
    return replace(case, **flags)


# ---------------------------------------------------------------- Image API cases


IMAGEAPI = "imageapi"
HTTP = "http"
DETECTORS = (
    "face-detector-face-fitter",
    "face-detector-template-extractor",
    "face-detector-liveness-estimator",
    "body-detector",
)
ESTIMATORS = ("age-estimator", "gender-estimator", "emotion-estimator", "quality-assessment-estimator")
SERVICES = (*DETECTORS, *ESTIMATORS, "verify-matcher")
OK = (200, None)
INVALID = (422, None)


def outcomes(*items: Outcome) -> frozenset[Outcome]:
    return frozenset(items)


def sample(version: str, data: bytes | None = None, objects: Any = None, **extra: Any) -> dict[str, Any]:
    """A v1 or v2 sample around `data` (the good JPEG by default)."""
    blob = b64(good_jpeg() if data is None else data)
    body: dict[str, Any] = {"$image": blob} if version == "v1" else {"_image": {"blob": blob, "format": "IMAGE"}}
    if objects is not None:
        body["objects"] = objects
    return {**body, **extra}


# Floats in a template of the daemon under test: SFace's 128; a harness testing another facen
# (mobilefacenet: 192, sface+dlib: 256) sets it before building the corpus.
TEMPLATE_FLOATS = 128


def template(version: str, blob: str | None = None, **overrides: Any) -> dict[str, Any]:
    vector = np.zeros(TEMPLATE_FLOATS, "<f4")
    vector[0] = 1.0
    blob = b64(vector.tobytes()) if blob is None else blob
    if version == "v1":
        return {"$template": blob}
    return {
        "template": {"blob": blob, "format": "NDARRAY", "dtype": "float32", "shape": [TEMPLATE_FLOATS], **overrides}
    }


def sample_bytes(version: str, make: Callable[[], bytes], objects: Any) -> bytes:
    return dumps(sample(version, make(), objects))


class ImageApiCases:
    def __init__(self, rng: random.Random):
        self.rng = rng

    @staticmethod
    def path(service: str, version: str, kind: str = "sample") -> str:
        return f"/{service}/{version}/process/{kind}"

    def case(
        self,
        name: str,
        path: str,
        body: Any,
        expect: frozenset[Outcome] | Expect,
        content_type: str = "application/json",
        **flags: Any,
    ) -> Case:
        data = body if isinstance(body, bytes) or callable(body) else dumps(body)
        make = data if callable(data) else (lambda: data)
        full = expect if isinstance(expect, Expect) else Expect(expect)
        return Case(f"imageapi/{name}", "POST", path, {"Content-Type": content_type}, make, full, IMAGEAPI, **flags)

    def all(self) -> list[Case]:
        return [
            *self.base64s(),
            *self.envelopes(),
            *self.object_lists(),
            *self.bboxes(),
            *self.many_objects(),
            *self.templates(),
            *self.multiparts(),
            *self.routes(),
            *self.hostile_images(images(self.rng)),
        ]

    def base64s(self) -> list[Case]:
        good = b64(good_jpeg())
        texts: dict[str, tuple[str, frozenset[Outcome]]] = {
            "bangs": ("!!!!", outcomes(INVALID)),
            "bad-length": ("abc", outcomes(INVALID)),
            "no-padding": ("YQ", outcomes(INVALID)),
            "only-padding": ("====", outcomes(INVALID)),
            "non-ascii": ("\u00e9\u00e9\u00e9\u00e9", outcomes(INVALID)),
            "urlsafe-alphabet": (good.replace("+", "-").replace("/", "_"), outcomes(INVALID, OK)),
            "data-url": ("data:image/jpeg;base64," + good, outcomes(OK)),
            "data-url-garbage": ("data:;base64,!!!", outcomes(INVALID)),
            "whitespace": ("   \n\t  ", outcomes(INVALID)),
            "empty": ("", outcomes(INVALID)),
            "line-breaks": ("\n".join(good[i : i + 76] for i in range(0, len(good), 76)), outcomes(OK)),
            "not-an-image": (b64(b"hello world"), outcomes(INVALID)),
            "1MB-of-A": ("A" * MB, outcomes(INVALID)),
            "20MB-junk": (b64(random.Random(4).randbytes(15 * MB)), outcomes(INVALID, (413, None), (503, None))),
            "embedded-nul": (good[:100] + "\x00" + good[100:], outcomes(INVALID)),
            "invalid-tail": (good + "!", outcomes(INVALID)),
            "lone-surrogate": (good[:100] + "\ud800" + good[100:], outcomes(INVALID)),
        }
        found = []
        for label, (text, expect) in texts.items():
            for version in ("v1", "v2"):
                service = self.rng.choice((*DETECTORS, *ESTIMATORS))
                body = sample(version, objects=[{"bbox": GOOD_BOX}] if service in ESTIMATORS else None)
                if version == "v1":
                    body["$image"] = text
                else:
                    body["_image"]["blob"] = text
                found.append(
                    self.case(f"base64/{label}/{version}/{service}", self.path(service, version), body, expect)
                )
        return found

    def envelopes(self) -> list[Case]:
        v1, v2 = sample("v1"), sample("v2")
        cases: dict[str, tuple[str, Any, frozenset[Outcome]]] = {
            "v2-key-on-v1": ("v1", v2, outcomes((422, "value_error.version"))),
            "v1-key-on-v2": ("v2", v1, outcomes((422, "value_error.version"))),
            "both-keys-v1": ("v1", {**v1, **v2}, outcomes((422, "value_error.version"))),
            "both-keys-v2": ("v2", {**v1, **v2}, outcomes((422, "value_error.version"))),
            "no-image-v1": ("v1", {"objects": []}, outcomes(INVALID)),
            "no-image-v2": ("v2", {"objects": []}, outcomes(INVALID)),
            "image-null-v1": ("v1", {"$image": None}, outcomes(INVALID)),
            "image-int-v1": ("v1", {"$image": 1}, outcomes(INVALID)),
            "image-list-v1": ("v1", {"$image": [b64(good_jpeg())]}, outcomes(INVALID)),
            "image-object-v1": ("v1", {"$image": {"blob": b64(good_jpeg())}}, outcomes(INVALID)),
            "image-true-v1": ("v1", {"$image": True}, outcomes(INVALID)),
            "image-string-v2": ("v2", {"_image": b64(good_jpeg())}, outcomes(INVALID)),
            "image-null-v2": ("v2", {"_image": None}, outcomes(INVALID)),
            "image-list-v2": ("v2", {"_image": []}, outcomes(INVALID)),
            "image-int-v2": ("v2", {"_image": 7}, outcomes(INVALID)),
            "image-empty-object-v2": ("v2", {"_image": {}}, outcomes(INVALID)),
            "blob-int-v2": ("v2", {"_image": {"blob": 1, "format": "IMAGE"}}, outcomes(INVALID)),
            "blob-null-v2": ("v2", {"_image": {"blob": None, "format": "IMAGE"}}, outcomes(INVALID)),
            "format-jpeg-v2": ("v2", {"_image": {"blob": b64(good_jpeg()), "format": "JPEG"}}, outcomes(INVALID)),
            "format-null-v2": ("v2", {"_image": {"blob": b64(good_jpeg()), "format": None}}, outcomes(INVALID)),
            "format-int-v2": ("v2", {"_image": {"blob": b64(good_jpeg()), "format": 1}}, outcomes(INVALID)),
            "nan-key-v1": ("v1", {**v1, "x": Raw("NaN")}, outcomes(OK, INVALID)),
            "huge-unknown-key-v1": ("v1", {**v1, "note": "x" * MB}, outcomes(OK, INVALID)),
            "deep-unknown-key-v1": ("v1", {**v1, "x": Raw("[" * 2000 + "]" * 2000)}, outcomes(OK, INVALID)),
            "deep-unknown-key-v2": (
                "v2",
                {**v2, "x": Raw('{"a":' * 100_000 + "1" + "}" * 100_000)},
                outcomes(OK, INVALID),
            ),
            "deep-objects-v2": ("v2", {**v2, "objects": Raw("[" * 5000 + "]" * 5000)}, outcomes(INVALID)),
        }
        found = []
        for label, (version, body, expect) in cases.items():
            service = self.rng.choice(DETECTORS)
            found.append(self.case(f"envelope/{label}/{service}", self.path(service, version), body, expect))
        raw_bodies: dict[str, bytes] = {
            "not-json": b"$image=abc",
            "empty": b"",
            "list": b"[]",
            "string": b'"x"',
            "number": b"1",
            "null": b"null",
            "truncated": dumps(v1)[:1000],
            "invalid-utf8": b'{"$image": "\xff\xfe"}',
            "utf16": dumps(v1).decode().encode("utf-16"),
            "deep-list": b"[" * 100_000 + b"]" * 100_000,
        }
        for label, raw in raw_bodies.items():
            for version in ("v1", "v2"):
                service = self.rng.choice(SERVICES)
                expect = outcomes(INVALID, OK) if label == "utf16" else outcomes(INVALID)
                found.append(
                    self.case(f"envelope/{label}/{version}/{service}", self.path(service, version), raw, expect)
                )
        return found

    def object_lists(self) -> list[Case]:
        wrong: dict[str, Any] = {
            "object": {},
            "string": "x",
            "int": 1,
            "true": True,
            "list-of-int": [1],
            "list-of-string": ["face"],
            "list-of-list": [[]],
            "list-of-null": [None],
            "v1-key-on-v2": [{"bbox": GOOD_BOX, "$template": "x"}],
        }
        found = []
        for label, value in wrong.items():
            for service in (*ESTIMATORS, "verify-matcher"):
                version = "v2" if label == "v1-key-on-v2" else self.rng.choice(("v1", "v2"))
                body = sample(version, objects=value)
                found.append(
                    self.case(f"objects/{label}/{service}", self.path(service, version), body, outcomes(INVALID))
                )
            service = self.rng.choice(DETECTORS)
            version = self.rng.choice(("v1", "v2"))
            found.append(
                self.case(
                    f"objects/{label}/{service}",
                    self.path(service, version),
                    sample(version, objects=value),
                    outcomes(OK, INVALID),
                )
            )
        for service in ESTIMATORS:
            version = self.rng.choice(("v1", "v2"))
            objects = [{"class": "body", "bbox": "anything"}, {"class": 7}, {"class": None, "bbox": GOOD_BOX}]
            found.append(
                self.case(
                    f"objects/odd-classes/{service}",
                    self.path(service, version),
                    sample(version, objects=objects),
                    outcomes(OK, INVALID),
                )
            )
        return found

    def bboxes(self) -> list[Case]:
        wrong: dict[str, Any] = {
            "out-of-range-high": [1.5, 0.0, 2.0, 1.0],
            "out-of-range-low": [-1.0, -1.0, 0.5, 0.5],
            "just-past-limit": [0.0, 0.0, 1.26, 1.0],
            "in-pixels": [87, 26, 138, 92],
            "nan": [Raw("NaN"), 0.1, 0.5, 0.5],
            "infinity": [0.1, 0.1, Raw("Infinity"), 0.5],
            "minus-infinity": [Raw("-Infinity"), 0.1, 0.5, 0.5],
            "1e309": [0.1, 0.1, Raw("1e309"), 0.5],
            "1e308": [0.1, 0.1, 1e308, 0.5],
            "strings": ["0.1", "0.1", "0.5", "0.5"],
            "bools": [False, False, True, True],
            "nulls": [None, None, None, None],
            "three": [0.1, 0.1, 0.5],
            "five": [0.1, 0.1, 0.5, 0.5, 0.9],
            "empty": [],
            "nested": [[0.1, 0.1], [0.5, 0.5]],
            "object": {"x1": 0.1, "y1": 0.1, "x2": 0.5, "y2": 0.5},
            "string": "0.1,0.1,0.5,0.5",
            "x2-below-x1": [0.5, 0.1, 0.1, 0.5],
            "zero-area": [0.3, 0.3, 0.3, 0.3],
            "two-pixels": [0.3, 0.3, 0.305, 0.305],
            "400-digit-int": [0, 0, Raw("9" * 400), 1],
        }
        valid: dict[str, Any] = {
            "whole-image": [0.0, 0.0, 1.0, 1.0],
            "ints": [0, 0, 1, 1],
            "at-limits": [-0.25, -0.25, 1.25, 1.25],
            "negative-zero": [-0.0, -0.0, 0.5, 0.5],
            "good": GOOD_BOX,
        }
        found = []
        for label, box in wrong.items():
            service = self.rng.choice(ESTIMATORS)
            version = self.rng.choice(("v1", "v2"))
            body = sample(version, objects=[{"bbox": GOOD_BOX}, {"bbox": box}])
            found.append(self.case(f"bbox/{label}/{service}", self.path(service, version), body, outcomes(INVALID)))
            service = self.rng.choice(DETECTORS)
            body = sample(version, objects=[{"bbox": box}])
            found.append(self.case(f"bbox/{label}/{service}", self.path(service, version), body, outcomes(OK, INVALID)))
        for label, box in valid.items():
            for service in ESTIMATORS:
                version = self.rng.choice(("v1", "v2"))
                body = sample(version, objects=[{"bbox": box}])
                found.append(self.case(f"bbox/{label}/{service}", self.path(service, version), body, outcomes(OK)))
        return found

    def many_objects(self) -> list[Case]:
        found = []
        for service in ESTIMATORS:
            for version in ("v1", "v2"):
                body = sample(version, objects=[{"bbox": GOOD_BOX}] * 5000)
                found.append(
                    self.case(
                        f"many/5000-faces/{version}/{service}",
                        self.path(service, version),
                        body,
                        Expect(outcomes(INVALID, (413, None)), seconds=10, peak_mb=300),
                        heavy=True,
                    )
                )
            body = sample("v1", objects=[{"class": "body", "bbox": GOOD_BOX}] * 5000)
            found.append(
                self.case(
                    f"many/5000-bodies/{service}", self.path(service, "v1"), body, outcomes(OK, INVALID, (413, None))
                )
            )
            body = sample("v2", objects=[{"bbox": [0.1, 0.1, 0.5, 0.5], "x": i} for i in range(10)])
            found.append(self.case(f"many/10-faces/{service}", self.path(service, "v2"), body, outcomes(OK)))
        for service in DETECTORS:
            body = sample("v1", objects=[{"bbox": GOOD_BOX}] * 5000)
            found.append(
                self.case(f"many/5000-objects/{service}", self.path(service, "v1"), body, outcomes(OK, INVALID))
            )
        body = {"objects": [template("v1")] * 5000}
        found.append(
            self.case("many/5000-templates/verify-matcher", self.path("verify-matcher", "v1"), body, outcomes(INVALID))
        )
        return found

    def templates(self) -> list[Case]:
        vector = np.zeros(TEMPLATE_FLOATS, "<f4")
        vector[0] = 1.0
        blobs: dict[str, str] = {
            "0-bytes": "",
            "1-byte": b64(b"x"),
            "4-bytes": b64(bytes(4)),
            "511-bytes": b64(vector.tobytes()[:511]),
            "513-bytes": b64(vector.tobytes() + b"x"),
            "1024-bytes": b64(vector.tobytes() * 2),
            "10MB": b64(bytes(10 * MB)),
            "nan": b64(np.full(TEMPLATE_FLOATS, np.nan, "<f4").tobytes()),
            "infinity": b64(np.full(TEMPLATE_FLOATS, np.inf, "<f4").tobytes()),
            "zeros": b64(bytes(512)),
            "not-base64": "!!!",
            "float64-size": b64(np.zeros(64, "<f8").tobytes()),
        }
        found = []
        for label, blob in blobs.items():
            for version in ("v1", "v2"):
                body = {"objects": [template(version), template(version, blob)]}
                expect = outcomes(INVALID, (413, None)) if label == "10MB" else outcomes(INVALID)
                found.append(
                    self.case(f"template/{label}/{version}", self.path("verify-matcher", version), body, expect)
                )
        odd: dict[str, tuple[str, Any, frozenset[Outcome]]] = {
            "valid-v1": ("v1", {"objects": [template("v1"), template("v1")]}, outcomes(OK)),
            "valid-v2": ("v2", {"objects": [template("v2"), template("v2")]}, outcomes(OK)),
            "v2-form-on-v1": (
                "v1",
                {"objects": [template("v2"), template("v2")]},
                outcomes((422, "value_error.version")),
            ),
            "v1-form-on-v2": (
                "v2",
                {"objects": [template("v1"), template("v1")]},
                outcomes((422, "value_error.version")),
            ),
            "dtype-float64": ("v2", {"objects": [template("v2"), template("v2", dtype="float64")]}, outcomes(INVALID)),
            "dtype-int": ("v2", {"objects": [template("v2"), template("v2", dtype=7)]}, outcomes(INVALID)),
            "shape-wrong": ("v2", {"objects": [template("v2"), template("v2", shape=[7, 7])]}, outcomes(OK, INVALID)),
            "template-string-v2": ("v2", {"objects": [template("v2"), {"template": "abc"}]}, outcomes(INVALID)),
            "template-int-v1": ("v1", {"objects": [template("v1"), {"$template": 1}]}, outcomes(INVALID)),
            "platform-two-keys": (
                "v2",
                {"objects": [template("v2"), {"template": {"a": template("v2")["template"], "b": 1}}]},
                outcomes(INVALID),
            ),
            "platform-nested-twice": (
                "v2",
                {"objects": [template("v2"), {"template": {"a": {"b": template("v2")["template"]}}}]},
                outcomes(INVALID),
            ),
            "one-object": ("v1", {"objects": [template("v1")]}, outcomes(INVALID)),
            "three-objects": ("v1", {"objects": [template("v1")] * 3}, outcomes(INVALID)),
            "no-objects": ("v1", {}, outcomes(INVALID)),
            "objects-null": ("v1", {"objects": None}, outcomes(INVALID)),
        }
        for label, (version, body, expect) in odd.items():
            found.append(self.case(f"template/{label}", self.path("verify-matcher", version), body, expect))
        return found

    def multiparts(self) -> list[Case]:
        boundary = "b0undary"
        content = f"multipart/form-data; boundary={boundary}"
        good_form = form([("image", good_jpeg(), "a.jpg")], boundary)
        variants: dict[str, tuple[str, Callable[[], bytes], frozenset[Outcome]]] = {
            "valid": (content, lambda: good_form, outcomes(OK)),
            "valid-field-not-file": (
                content,
                lambda: form([("image", good_jpeg(), None)], boundary),
                outcomes(OK, INVALID),
            ),
            "no-image-field": (content, lambda: form([("img", good_jpeg(), "a.jpg")], boundary), outcomes(INVALID)),
            "no-fields": (content, lambda: f"--{boundary}--\r\n".encode(), outcomes(INVALID)),
            "empty-image": (content, lambda: form([("image", b"", "a.jpg")], boundary), outcomes(INVALID)),
            "garbage-image": (content, lambda: form([("image", b"garbage", "a.jpg")], boundary), outcomes(INVALID)),
            "no-boundary": ("multipart/form-data", lambda: good_form, outcomes(INVALID)),
            "wrong-boundary": ("multipart/form-data; boundary=x", lambda: good_form, outcomes(INVALID)),
            "truncated": (content, lambda: good_form[: len(good_form) // 2], outcomes(INVALID, OK)),
            "no-closing-boundary": (content, lambda: good_form[:-14], outcomes(INVALID, OK)),
            "duplicate-image": (
                content,
                lambda: form([("image", good_jpeg(), "a.jpg"), ("image", b"x", "b.jpg")], boundary),
                outcomes(OK, INVALID),
            ),
            "json-body": ("application/json", lambda: dumps(sample("v1")), outcomes(INVALID)),
            "no-content-type": ("", lambda: good_form, outcomes(INVALID)),
            "101-parts": (
                content,
                lambda: form([("image", good_jpeg(), "a.jpg")] + [(f"p{i}", b"x", None) for i in range(100)], boundary),
                outcomes(OK, INVALID),
            ),
            "part-header-20KB": (
                content,
                lambda: form([("image", good_jpeg(), "a" * 20000 + ".jpg")], boundary),
                outcomes(OK, INVALID),
            ),
        }
        found = []
        for label, (content_type, make, expect) in variants.items():
            for version in ("v1", "v2"):
                service = self.rng.choice(DETECTORS)
                found.append(
                    self.case(
                        f"multipart/{label}/{version}/{service}",
                        self.path(service, version, "image"),
                        make,
                        expect,
                        content_type,
                    )
                )
        for service in ESTIMATORS:
            found.append(
                self.case(
                    f"multipart/sample-path/{service}",
                    self.path(service, "v1"),
                    lambda: good_form,
                    outcomes(INVALID),
                    content,
                )
            )
        return found

    def routes(self) -> list[Case]:
        not_found = outcomes((404, None))
        found = []
        for service in (*ESTIMATORS, "verify-matcher"):
            found.append(
                self.case(
                    f"route/image-on-{service}",
                    self.path(service, "v1", "image"),
                    b"",
                    not_found,
                    "multipart/form-data; boundary=x",
                )
            )
        for label, path in (
            ("unknown-service", "/no-such-service/v1/process/sample"),
            ("v3", "/age-estimator/v3/process/sample"),
            ("unknown-kind", "/age-estimator/v1/process/video"),
            ("long-service", "/" + "a" * 4000 + "/v1/process/sample"),
            ("dot-service", "/../v1/process/sample"),
            ("legacy-path", "/face-detector-face-fitter/process/sample"),
        ):
            expect = (
                outcomes((200, None), (422, None)) if label == "legacy-path" else outcomes((404, None), (414, None))
            )
            case = self.case(f"route/{label}", path, dumps(sample("v1")), expect)
            # paths outside every route belong to neither protocol: any JSON error page will do
            found.append(replace(case, protocol=HTTP) if label in ("v3", "unknown-kind") else case)
        for method in ("GET", "PUT", "DELETE"):
            found.append(
                Case(
                    f"imageapi/route/method-{method}",
                    method,
                    "/age-estimator/v1/process/sample",
                    {},
                    lambda: b"",
                    Expect(outcomes((405, None))),
                    IMAGEAPI,
                )
            )
        return found

    def hostile_images(self, corpus: list[HostileImage]) -> list[Case]:
        """Each hostile image as a v1 sample, a v2 sample and a process/image upload."""
        found = []
        for image in corpus:
            expect = outcomes(
                *({OK} if FACES in image.codes else set()), *({INVALID} if image.codes - {FACES} else set())
            )
            full = Expect(expect, seconds=image.seconds, peak_mb=image.peak_mb)
            # the good box may not fit an image that decodes to another size: then it is the estimator's 422
            fitted = replace(full, outcomes=full.outcomes | {INVALID}) if not image.found else full
            flags = {"heavy": image.heavy, "legit": image.legit}
            for version in ("v1", "v2"):
                service = self.rng.choice((*DETECTORS, *ESTIMATORS))
                objects = [{"bbox": GOOD_BOX}] if service in ESTIMATORS else None
                expect_here = fitted if service in ESTIMATORS else full
                make = functools.partial(sample_bytes, version, image.make, objects)
                name = f"image/{image.name}/{version}/{service}"
                found.append(self.case(name, self.path(service, version), make, expect_here, **flags))
            service, version = self.rng.choice(DETECTORS), self.rng.choice(("v1", "v2"))
            make = lambda image=image: form([("image", image.make(), "upload.bin")], "b0undary")  # noqa: E731
            found.append(
                self.case(
                    f"image/{image.name}/process-image/{service}",
                    self.path(service, version, "image"),
                    make,
                    full,
                    "multipart/form-data; boundary=b0undary",
                    **flags,
                )
            )
        return found


# ---------------------------------------------------------------- HTTP-level cases


def http_cases() -> list[Case]:
    """Requests broken at the HTTP layer, sent as raw bytes to both protocols' paths."""
    body = b'{"requests": []}'
    requests: dict[str, tuple[bytes, frozenset[Outcome], bool]] = {
        "bad-chunk-size": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
            + b"zz\r\n"
            + body
            + b"\r\n0\r\n\r\n",
            outcomes((400, None)),
            False,
        ),
        "huge-chunk-size": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\nx",
            outcomes((400, None), (413, None)),
            True,
        ),
        "chunk-missing-crlf": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n" + body + b"XX0\r\n\r\n",
            outcomes((400, None)),
            False,
        ),
        "content-length-negative": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n" + body,
            outcomes((400, None)),
            False,
        ),
        "content-length-not-a-number": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n" + body,
            outcomes((400, None)),
            False,
        ),
        "content-length-twice-differing": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\nContent-Length: 5\r\n\r\n" + body,
            outcomes((400, None)),
            False,
        ),
        "content-length-and-chunked": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
            outcomes((400, None)),
            False,
        ),
        "content-length-over-limit": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000000\r\n\r\n" + body,
            outcomes((413, None)),
            True,
        ),
        "header-line-100KB": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\nContent-Length: 16\r\n\r\n" + body,
            outcomes((431, None), (400, None)),
            True,
        ),
        "10000-headers": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(10000)) + b"\r\n",
            outcomes((431, None), (400, None)),
            True,
        ),
        "garbage-request-line": (b"GARBAGE\r\n\r\n", outcomes((400, None)), False),
        "http-2-version": (b"POST {path} HTTP/2.0\r\nHost: x\r\n\r\n", outcomes((400, None), (505, None)), False),
        "header-without-colon": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nNoColonHere\r\nContent-Length: 16\r\n\r\n" + body,
            outcomes((400, None)),
            False,
        ),
        "header-obs-fold": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\nContent-Length: 16\r\n\r\n" + body,
            outcomes((400, None), (200, None), (422, None)),
            False,
        ),
        "nul-in-path": (
            b"POST /\x00 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            outcomes((400, None), (404, None)),
            False,
        ),
        "bad-method-token": (b"P@ST {path} HTTP/1.1\r\nHost: x\r\n\r\n", outcomes((400, None), (405, None)), False),
        "unknown-method": (b"BREW {path} HTTP/1.1\r\nHost: x\r\n\r\n", outcomes((405, None), (400, None)), False),
        "two-hosts": (
            b"POST {path} HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 16\r\n\r\n" + body,
            outcomes((400, None)),
            False,
        ),
        "non-ascii-header": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nX-A: \xff\xfe\r\nContent-Length: 16\r\n\r\n" + body,
            outcomes((400, None), (200, None), (422, None)),
            False,
        ),
        "unsupported-transfer-encoding": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" + body,
            outcomes((400, None), (501, None)),
            False,
        ),
        "gzip-content-encoding-bomb": (
            b"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n"
            b"Content-Length: {length}\r\n\r\n{gzip}",
            outcomes((400, None), (413, None), (415, None), (422, None)),
            False,
        ),
    }
    found = []
    for path, protocol in (("/", EXTRACTION), ("/age-estimator/v1/process/sample", IMAGEAPI)):
        for label, (raw, expect, reset_ok) in requests.items():
            data = raw.replace(b"{path}", path.encode())
            found.append(
                Case(
                    f"http/{label}/{protocol}",
                    "RAW",
                    path,
                    {},
                    lambda data=data: with_gzip_bomb(data),
                    Expect(expect, reset_ok=reset_ok),
                    HTTP,
                    raw=True,
                )
            )
    return found


def with_gzip_bomb(data: bytes) -> bytes:
    """`data` with its {gzip} placeholder (if any) replaced by the bomb, and {length} by its size."""
    if b"{gzip}" not in data:
        return data
    return data.replace(b"{length}", str(len(gzip_bomb())).encode()).replace(b"{gzip}", gzip_bomb())


@functools.cache
def gzip_bomb() -> bytes:
    """256 MB of zeros, gzip-compressed to about 250 KB."""
    import gzip

    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as f:
        chunk = bytes(MB)
        for _ in range(256):
            f.write(chunk)
    return out.getvalue()


# ---------------------------------------------------------------- the corpus


def corpus(seed: int = SEED, trap_port: int = 9) -> list[Case]:
    """Every case, in a stable order; names are unique."""
    rng = random.Random(seed)
    cases = [
        *extraction_cases(random.Random(rng.getrandbits(64)), trap_port),
        *ImageApiCases(random.Random(rng.getrandbits(64))).all(),
        *http_cases(),
    ]
    names = [case.name for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, sorted(duplicates)[:10]
    return cases


def quick(cases: Sequence[Case], size: int = QUICK_SIZE, seed: int = SEED) -> list[Case]:
    """A deterministic, category-balanced subset of the cheap cases (round-robin over categories)."""
    rng = random.Random(seed)
    by_category: dict[str, list[Case]] = {}
    for case in cases:
        if not case.heavy:
            by_category.setdefault(case.category, []).append(case)
    for members in by_category.values():
        rng.shuffle(members)
    chosen: list[Case] = []
    while len(chosen) < size and any(by_category.values()):
        for members in by_category.values():
            if members and len(chosen) < size:
                chosen.append(members.pop())
    order = {case.name: index for index, case in enumerate(cases)}
    return sorted(chosen, key=lambda case: order[case.name])
