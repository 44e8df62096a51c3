"""The README's example outputs are true: its two vendor requests, on sample.jpg made exactly as the
README says, give the values it prints, to the precision it prints them (a base64 value shown as
"abc..." must start with "abc")."""

import io
import json
import os
import re
from decimal import Decimal

import pytest
import skimage.data
from PIL import Image

from findface_extraction_api.testing import ROOT

README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def sample_jpg() -> bytes:
    """`PIL.Image.fromarray(skimage.data.astronaut()).save('sample.jpg')`, as the README says."""
    out = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(out, "JPEG")
    return out.getvalue()


def examples() -> list[tuple[dict, dict]]:
    """(request envelope, printed answer) of each `Request #N` in the README's vendor examples."""
    section = README.split("## The vendor's examples", 1)[1].split("\n## ", 1)[0]
    requests = re.findall(r"-F 'request=(\{.*?\})' ", section)
    answers = re.findall(r"```json\n(.*?)\n```", section, re.S)
    assert len(requests) == len(answers) == 2
    return [(json.loads(r), json.loads(a)) for r, a in zip(requests, answers, strict=True)]


def matches(printed, actual, where: str = "") -> list[str]:
    """Where `actual` differs from what the README prints."""
    if isinstance(printed, dict):
        if set(printed) != set(actual):
            return [f"{where}: keys {sorted(actual)} != printed {sorted(printed)}"]
        return [m for key in printed for m in matches(printed[key], actual[key], f"{where}.{key}")]
    if isinstance(printed, list):
        if len(printed) != len(actual):
            return [f"{where}: {len(actual)} items, {len(printed)} printed"]
        return [m for i, (p, a) in enumerate(zip(printed, actual, strict=True)) for m in matches(p, a, f"{where}[{i}]")]
    if isinstance(printed, str) and printed.endswith("..."):
        return [] if actual.startswith(printed[:-3]) else [f"{where}: {actual[:20]}... != printed {printed}"]
    if isinstance(printed, float):
        decimals = max(0, -Decimal(repr(printed)).as_tuple().exponent)  # 0.967675 -> 6, 5e-05 -> 5
        return [] if round(actual, decimals) == printed else [f"{where}: {actual} != printed {printed}"]
    return [] if printed == actual else [f"{where}: {actual!r} != printed {printed!r}"]


@pytest.mark.parametrize("index", [0, 1])
def test_the_readme_examples_print_what_the_daemon_answers(daemons, index):
    """The facen bytes and attributes printed are float32's (the README says so): a daemon in that precision."""
    request, printed = examples()[index]
    api = daemons("float32", facen={"precision": "float32"}, attributes={"precision": "float32"}).client
    status, answer = api.post_multipart(request, {"sample": sample_jpg()})
    assert status == 200
    differences = matches(printed, answer)
    assert not differences, "README is stale: " + "; ".join(differences) + f"\nactual: {json.dumps(answer)[:3000]}"
