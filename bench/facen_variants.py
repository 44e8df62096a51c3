"""What makes the facen cheaper, measured: SFace graph variants, CPU time per face, cosine to the bundle's.

    .venv/bin/python bench/facen_variants.py [--before-bundle DIR]

Variants of the bundle's sface.onnx (float32, PRelu already rewritten by models-data/prelu.py):
int8 static quantization with onnxruntime.quantization (per-channel int8 weights, uint8
activations, MinMax calibration), QDQ and QOperator formats, of every op, of Conv+Gemm or of Gemm
only; with --before-bundle, also the graph as it was before the PRelu rewrite. Calibration chips
are made from skimage's astronaut (NASA, public domain) with seeded random rotation, scale,
shift, brightness and contrast: no benchmark data. Accuracy is the cosine of each variant's
vector to the bundle's on ArcFace chips of LFW photos (../shared/eval-data, evaluation only);
speed is CPU time per face at batch 1 and 8 on one thread (process CPU time, so other load on
the machine matters less), and onnxruntime's own profile of each variant by operator type (where
the time goes: why int8 does not pay here). The same int8 quantization of the detector (YuNet,
calibrated on astronaut heads pasted at random sizes and places on plain 640x480 frames) is timed
on a 1280x736 frame (a 1280x720 image at scale 1, padded to multiples of 32 as the detector
does). Prints one line per variant and writes them to
build/facen-variants.txt, which bench/report.py quotes in docs/performance.md.
"""

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from findface_extraction_api.models import facen
from findface_extraction_api.models.runtime import Bundle, Runtime
from findface_extraction_api.pipeline import Models, Options, Pipeline
from findface_extraction_api.testing import astronaut

ROOT = Path(__file__).resolve().parent.parent
LFW = ROOT.parent / "shared" / "eval-data" / "verification" / "lfw" / "images"


def calibration_chips(count: int = 64) -> np.ndarray:
    """Augmented 112x112 RGB chips of the astronaut's face, NCHW float32."""
    rng = np.random.default_rng(0)
    face = cv2.cvtColor(astronaut(), cv2.COLOR_BGR2RGB)[20:260, 120:340]
    chips = []
    for _ in range(count):
        matrix = cv2.getRotationMatrix2D(
            (110 + rng.uniform(-8, 8), 120 + rng.uniform(-8, 8)), rng.uniform(-15, 15), rng.uniform(0.8, 1.2) * 0.56
        )
        matrix[:, 2] += (56 - 110, 56 - 120)
        chip = cv2.warpAffine(face, matrix, (112, 112), borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        chips.append(np.clip(chip * rng.uniform(0.6, 1.3) + rng.uniform(-30, 30), 0, 255).transpose(2, 0, 1))
    return np.stack(chips)


class Chips(CalibrationDataReader):
    def __init__(self, chips: np.ndarray):
        self.items = iter([{"data": chips[i : i + 1]} for i in range(len(chips))])

    def get_next(self):
        return next(self.items, None)


def lfw_chips(bundle: str, count: int) -> np.ndarray:
    """SFace input chips of the first face of `count` LFW photos, as the pipeline makes them."""
    pipeline = Pipeline(Models(Runtime(Bundle(bundle), 1)))
    chips = []
    for path in sorted(LFW.glob("*/*.jpg"))[:: max(1, 1583 // count)][:count]:
        faces = pipeline.extract(cv2.imread(str(path)), Options(crop=True))
        if faces:
            chips.append(cv2.cvtColor(facen.chip(faces[0].normalized), cv2.COLOR_BGR2RGB).transpose(2, 0, 1))
    return np.stack(chips).astype(np.float32)


def session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def vectors(s: ort.InferenceSession, chips: np.ndarray) -> np.ndarray:
    out = np.concatenate([s.run(None, {"data": chips[i : i + 8]})[0] for i in range(0, len(chips), 8)])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def cpu_ms_per_face(s: ort.InferenceSession, chips: np.ndarray, batch: int, runs: int = 6) -> float:
    x = chips[:batch]
    s.run(None, {"data": x})
    times = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(max(1, 16 // batch)):
            s.run(None, {"data": x})
        times.append((time.process_time() - start) / max(1, 16 // batch) / batch * 1000)
    return float(np.median(times))


def op_profile(path: str, chip: np.ndarray, runs: int = 20) -> str:
    """The three costliest operator types of one batch-1 run on one thread, from onnxruntime's profiler."""
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = f"{tmp}/profile"
        options.log_severity_level = 3
        s = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        for _ in range(runs):
            s.run(None, {"data": chip})
        events = json.loads(Path(s.end_profiling()).read_text())
    by_op: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"] / runs / 1000
    return ", ".join(f"{op} {ms:.1f}" for op, ms in by_op.most_common(3))


def yunet_lines(bundle: str, tmp: str) -> list[str]:
    """CPU ms per 1280x736 frame on one thread: the bundle's YuNet and its int8 variants."""
    rng = np.random.default_rng(0)
    head = astronaut()

    def frame(h: int, w: int) -> np.ndarray:
        out = np.full((h, w, 3), rng.integers(0, 255, 3), np.uint8)
        scale = rng.uniform(0.2, 0.9) * min(h, w) / max(head.shape[:2])
        small = cv2.resize(head, None, fx=scale, fy=scale)
        y, x = rng.integers(0, h - small.shape[0] + 1), rng.integers(0, w - small.shape[1] + 1)
        out[y : y + small.shape[0], x : x + small.shape[1]] = small
        return out.transpose(2, 0, 1)[None].astype(np.float32)

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": frame(480, 640)} for _ in range(24)])

        def get_next(self):
            return next(self.items, None)

    reference = str(Path(bundle) / "yunet.onnx")
    pre = f"{tmp}/yunet-pre.onnx"
    quant_pre_process(reference, pre, skip_symbolic_shape=True)
    variants = {"yunet bundle (float32)": reference}
    for fmt in (QuantFormat.QDQ, QuantFormat.QOperator):
        variants[f"yunet int8 {fmt.name} all ops"] = path = f"{tmp}/yunet-{fmt.name}.onnx"
        quantize_static(
            pre,
            path,
            Frames(),
            quant_format=fmt,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    x = frame(736, 1280)
    lines = []
    for name, path in variants.items():
        s = session(path)
        s.run(None, {"input": x})
        times = []
        for _ in range(5):
            start = time.process_time()
            s.run(None, {"input": x})
            times.append((time.process_time() - start) * 1000)
        lines.append(f"{name:36s} 1280x736 {np.median(times):5.1f} ms")
        print(lines[-1], flush=True)
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default=str(ROOT / "build" / "models"))
    parser.add_argument(
        "--before-bundle", help="a bundle built before the PRelu rewrite (e.g. build/bench-before/build/models)"
    )
    parser.add_argument("--faces", type=int, default=200)
    args = parser.parse_args()
    reference = str(Path(args.bundle) / "sface.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        pre = f"{tmp}/pre.onnx"
        quant_pre_process(reference, pre, skip_symbolic_shape=True)
        variants = {"bundle (float32, PRelu rewritten)": reference}
        if args.before_bundle:
            variants["before the PRelu rewrite"] = str(Path(args.before_bundle) / "sface.onnx")
        calibration = calibration_chips()
        for fmt in (QuantFormat.QDQ, QuantFormat.QOperator):
            for ops in (None, ["Conv", "Gemm"], ["Gemm"]):
                name = f"int8 {fmt.name} {'all ops' if ops is None else '+'.join(ops)}"
                path = f"{tmp}/{len(variants)}.onnx"
                quantize_static(
                    pre,
                    path,
                    Chips(calibration),
                    quant_format=fmt,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=ops,
                )
                variants[name] = path
        chips = lfw_chips(args.bundle, args.faces)
        sessions = {name: session(path) for name, path in variants.items()}
        base = vectors(sessions["bundle (float32, PRelu rewritten)"], chips)
        lines = [
            f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, onnxruntime {ort.__version__}: {len(chips)} LFW "
            "chips; CPU ms per face on 1 thread; cosine to the bundle's vectors"
        ]
        for name, s in sessions.items():
            cos = (vectors(s, chips) * base).sum(1)
            b1, b8 = cpu_ms_per_face(s, chips, 1), cpu_ms_per_face(s, chips, 8)
            lines.append(
                f"{name:36s} B=1 {b1:5.1f} ms  B=8 {b8:5.1f} ms  cosine min {cos.min():.4f} "
                f"p1 {np.percentile(cos, 1):.4f} median {np.median(cos):.4f}  ms by op: "
                f"{op_profile(variants[name], chips[:1])}"
            )
            print(lines[-1], flush=True)
        lines += yunet_lines(args.bundle, tmp)
        (ROOT / "build" / "facen-variants.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
