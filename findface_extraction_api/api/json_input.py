"""Request JSON, parsed strictly: finite numbers only, bounded nesting, a reason when refused.

Python's json accepts NaN, Infinity and 1e400 (which it reads as inf), and fails deep nesting
with RecursionError; an echoed NaN would make our own answer invalid JSON, and a deep echo
would fail while writing it. So both are refused here, at the door, with a clear message.
"""

import json
import math
from typing import Any

from .render import clip_text

MAX_DEPTH = 64


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
    """The parsed body; BadJson if it is not UTF-8 JSON of finite numbers nested at most MAX_DEPTH deep."""
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
