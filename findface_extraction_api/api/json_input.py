"""Request JSON, parsed strictly: finite numbers only, bounded nesting and size, a reason when refused.

Python's json accepts NaN, Infinity and 1e400 (which it reads as inf), and fails deep nesting
with RecursionError; an echoed NaN would make our own answer invalid JSON, and a deep echo
would fail while writing it. So both are refused here, at the door, with a clear message.

A body of many small values costs far more parsed than sent: each `{},` (3 bytes) is a dict of
~70 bytes, so a 30 MB body took 1.5 GB and its depth walk 18 s of the event loop. Both protocols
carry their bulk in strings (base64), and their largest real documents (an Image API sample of
100 fitted faces through every estimator) have ~24,000 values, so a body with more than
MAX_VALUES brackets and commas is refused before it is parsed (bytes.count: ~50 ms per 100 MB).
"""

import json
import math
from typing import Any

from .render import clip_text

MAX_DEPTH = 64
MAX_VALUES = 100_000  # '[', '{' and ',' bytes: an upper bound on the values a body parses into


class BadJson(ValueError):
    """Not acceptable JSON; str() says why."""


def _no_constants(name: str) -> Any:
    raise BadJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson(f"the number {clip_text(text, 40)} is out of range")
    return value


def loads(body: bytes | str) -> Any:
    """The parsed body; BadJson if it is not UTF-8 JSON of finite numbers nested at most MAX_DEPTH
    deep with at most MAX_VALUES arrays, objects and items."""
    if values_bound(body) > MAX_VALUES:
        raise BadJson(f"more than {MAX_VALUES} arrays, objects and items (counting '[', '{{' and ',')")
    try:
        value = json.loads(body, parse_constant=_no_constants, parse_float=_finite)
    except BadJson:
        raise
    except RecursionError:
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadJson(clip_text(str(e))) from None
    if depth(value) > MAX_DEPTH:
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels")
    return value


def values_bound(body: bytes | str) -> int:
    """The '[', '{' and ',' in `body`: every array, object and item but the first of each
    container has one (commas inside strings count too: an upper bound, cheap on any size)."""
    if isinstance(body, str):
        return body.count("[") + body.count("{") + body.count(",")
    return body.count(b"[") + body.count(b"{") + body.count(b",")


def depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
