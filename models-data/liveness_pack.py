"""The optional liveness pack: MiniFASNet V2 (crop scale 2.7) + V1SE (crop scale 4.0).

No registry package ships a usable single-image liveness model, so these two ONNX exports
come from a directory next to the repository (`../shared/models/minifasnet`), from
`--liveness-pack DIR` or from `FFEA_LIVENESS_PACK`. Every file is checked against the sha256
pinned below (the pack's SOURCE.md lists the same values); each graph's PRelu activations are
rewritten as slope * x + (1 - slope) * Relu(x) (prelu.py, as for SFace), which onnxruntime runs
faster, and the rewrite is checked numerically against the graph as shipped.
"""

import os
from pathlib import Path

import numpy as np
from fetch import BuildError, check_sha, sha256_bytes

ENV = "FFEA_LIVENESS_PACK"
HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent.parent / "shared" / "models" / "minifasnet"  # ../shared beside the repository
LICENSE = ("LICENSE", "daf94bf1dc9cc5700fe5af2c7c0cbd1836e70d509ed78fd0bebef7432edee6fb")
LICENSE_FILE = "licenses/minifasnet-Apache-2.0.txt"
REPOSITORY = "minivision-ai/Silent-Face-Anti-Spoofing"
COMMIT = "b6d5f04ad78778917853b25c778acef6d5626d15"
MAX_PRELU_DIFF = 1e-4

_INPUT = {
    "name": "input",
    "shape": ["N", 3, 80, 80],
    "layout": "NCHW, BGR 0..255 float32 (the original frame, not an aligned chip)",
    "normalisation": "none",
}
_OUTPUT = {
    "name": "logits",
    "shape": ["N", 3],
    "real_class": 1,
    "meaning": "softmax each model, average the two; class 1 = real, 0 and 2 = attack types",
}


def _entry(file, source_file, sha256, scale, checkpoint, architecture):
    crop = (
        f"face box scaled by {scale} about its centre (scale capped so the box fits the image), "
        "shifted inside the image, img[y1:y2+1, x1:x2+1], cv2.resize to 80x80"
    )
    return {
        "file": file,
        "pack_file": source_file,
        "pack_sha256": sha256,
        "task": f"presentation-attack (liveness) score, crop scale {scale}",
        "model": f"{architecture} 80x80 (Silent-Face-Anti-Spoofing {checkpoint}), ONNX opset 17",
        "input": dict(_INPUT, notes=crop, crop_scale=scale),
        "output": _OUTPUT,
        "license": "Apache-2.0",
        "license_file": LICENSE_FILE,
        "attribution": f"MiniFASNet by Minivision ({REPOSITORY} @ {COMMIT[:12]}), weights "
        f"{checkpoint}; exported to ONNX from the state dict; training data undisclosed",
    }


MODELS = {
    "liveness_v2": _entry(
        "minifasnet_v2.onnx",
        "minifasnet_v2_scale2.7_80x80.onnx",
        "3834324c4bbfd14408f20686b87b3dc044715f3b85d68110451611ec588193e2",
        2.7,
        "2.7_80x80_MiniFASNetV2.pth",
        "MiniFASNetV2",
    ),
    "liveness_v1se": _entry(
        "minifasnet_v1se.onnx",
        "minifasnet_v1se_scale4.0_80x80.onnx",
        "accfcc28a4ba82d19dfd5b2fb25737be06868419130aed338f0c1390d8eea0ef",
        4.0,
        "4_0_0_80x80_MiniFASNetV1SE.pth",
        "MiniFASNetV1SE",
    ),
}


def locate(argument: str | None) -> Path | None:
    """The pack directory to use, or None: the argument, else $FFEA_LIVENESS_PACK, else the default.

    An empty value or `none` means "build without the pack". A directory named explicitly must
    exist; the default is used only when it exists.
    """
    explicit = argument if argument is not None else os.environ.get(ENV)
    if explicit is not None:
        if explicit.strip().lower() in ("", "none"):
            return None
        path = Path(explicit).expanduser().resolve()
        if not path.is_dir():
            raise BuildError(
                f"liveness pack {path} is not a directory (from {'--liveness-pack' if argument is not None else ENV})"
            )
        return path
    return DEFAULT.resolve() if DEFAULT.is_dir() else None


def _read(pack: Path, name: str, sha256: str) -> bytes:
    path = pack / name
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BuildError(f"liveness pack: cannot read {path} ({e.strerror})") from None
    check_sha(f"liveness pack file {path}", sha256_bytes(data), sha256)
    return data


def identity(pack: Path | None) -> str:
    """What the pack contributes to the build-input hash: its presence and its pinned files."""
    if pack is None:
        return "liveness-pack:none"
    files = [LICENSE] + [(m["pack_file"], m["pack_sha256"]) for m in MODELS.values()]
    return "liveness-pack:" + ",".join(f"{name}={sha}" for name, sha in files)


def _convert(data: bytes, what: str) -> tuple[bytes, list, dict]:
    import onnx
    from dq_fold import check, dims_of
    from ort_check import max_abs_diff, run_both
    from prelu import rewrite_prelu_linear

    original = onnx.load_from_string(data)
    model = onnx.load_from_string(data)
    count = rewrite_prelu_linear(model)
    if count == 0:
        raise BuildError(f"{what}: no PRelu to rewrite (not the expected MiniFASNet export)")
    check(model, what)
    graph = model.graph
    io = ([(i.name, dims_of(i)) for i in graph.input], [(o.name, dims_of(o)) for o in graph.output])
    if io != ([(_INPUT["name"], _INPUT["shape"])], [(_OUTPUT["name"], _OUTPUT["shape"])]):
        raise BuildError(f"{what}: graph I/O {io} differs from the liveness contract")
    feeds = {"input": np.random.default_rng(7).uniform(0, 255, (4, 3, 80, 80)).astype(np.float32)}
    reference, rewritten = run_both(original, model, feeds)
    diff = max_abs_diff(reference, rewritten)
    if not diff <= MAX_PRELU_DIFF:
        raise BuildError(f"{what}: PRelu rewrite changed the logits by {diff:g} (> {MAX_PRELU_DIFF})")
    transforms = [f"{count} PRelu rewritten as slope * x + (1 - slope) * Relu(x) (prelu.py; faster on CPU)"]
    return (
        model.SerializeToString(),
        transforms,
        {"prelu_rewrite_max_abs_logit_diff": diff, "check": "4 random BGR 0..255 inputs"},
    )


def build(pack: Path) -> tuple[dict, dict]:
    """({model key: (bytes, source, transforms, verification)}, {licence path: bytes})."""
    license_text = _read(pack, *LICENSE)
    built = {}
    for key, info in MODELS.items():
        data = _read(pack, info["pack_file"], info["pack_sha256"])
        try:
            out, transforms, verification = _convert(data, info["file"])
        except BuildError:
            raise
        except Exception as e:
            raise BuildError(f"{info['file']}: {e}") from e
        source = {
            "pack": pack.name,  # the pack's folder name: the build machine's paths stay out of the bundle
            "path": info["pack_file"],
            "sha256": info["pack_sha256"],
            "repository": REPOSITORY,
            "commit": COMMIT,
        }
        built[key] = (out, source, transforms, verification)
    return built, {LICENSE_FILE: license_text}
