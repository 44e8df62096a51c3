"""bfloat16 inference through OpenVINO, for the facen and the attribute networks on CPUs with
bfloat16 matrix units.

onnxruntime has no bfloat16 path on x86 CPUs. OpenVINO runs the same ONNX graph in bfloat16 on
CPUs that have AMX or AVX512-BF16 (Intel Sapphire Rapids and later, AMD Zen 4 and later): SFace
then costs about a third of onnxruntime's float32 CPU time per face, an age estimate under a
third (docs/performance-models.md). The facen's vectors stay comparable with float32 ones (cosine to
float32 at least 0.999 on LFW chips: tests/test_facen_bf16.py), so galleries enrolled before need
no re-enrolling; the attributes stay within the same accuracy (docs/accuracy/report.md,
tests/test_attributes_bf16.py). `[facen] precision` and `[attributes] precision` = auto use it
where the CPU has such units; elsewhere, and with `float32`, onnxruntime runs them as before.

OpenVINO generates its kernels for the CPU at run time, so it needs memory it can write and then
execute; where the process may not (the shipped systemd unit's MemoryDenyWriteExecute=yes),
`auto` says so in the log and runs float32.

Each concurrent caller gets its own compiled model: one compiled model shared by two threads
does not run them in parallel. `copies` are compiled at load (one per worker), more only if
more threads call at once.

The facens are compiled for one face (`per_face`: a static batch of 1) and a batch runs face by
face: the CPU plugin's kernels for a static shape are much faster than its dynamic-shape ones on
these larger networks (SFace 2.9 against 4.3 ms per face on one thread, MobileFaceNet 1.5
against 2.3; the dynamic graph at a batch of 4 still took 4.6 ms per face), and one compiled copy
per batch size would cost about 50 MB each. The small attribute networks keep a dynamic batch:
for them the cost of a run outweighs the kernels, and a batch of 6 faces took 0.8 ms per face
for the age network against 1.2 face by face (measured 2026-12-08: docs/performance-models.md,
and the notes in docs/performance.md).
"""

import functools
import importlib.metadata
import queue
import time
from typing import Any

import numpy as np
import onnxruntime as ort

from .. import metrics
from .runtime import BUILD_HINT, Bundle, BundleError, OnnxModel, Runtime


def _openvino() -> Any:
    """The openvino module, or None when it is not installed (it is optional at run time)."""
    try:
        import openvino
    except ImportError:
        return None
    return openvino


@functools.cache
def _core() -> Any:
    """One OpenVINO Core for the process, as OpenVINO advises, kept to the end: with a Core per
    model, a signal that arrived after two used models were freed (SIGTERM in a test run)
    crashed the process."""
    return _openvino().Core()


def version() -> str:
    """OpenVINO's version, or "none" when it is not installed (read without importing it)."""
    try:
        return importlib.metadata.version("openvino")
    except importlib.metadata.PackageNotFoundError:
        return "none"


@functools.cache
def available() -> str | None:
    """None when bfloat16 inference is available here, else why not (for the log and config errors).
    Asked once per process (a probe compile): the facen's and the attributes' settings share it."""
    openvino = _openvino()
    if openvino is None:
        return "OpenVINO is not installed"
    core = _core()
    if "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return "this CPU has no bfloat16 matrix units (AMX or AVX512-BF16)"
    try:  # OpenVINO generates its kernels at run time: a sandbox that forbids that stops it
        x = openvino.opset13.parameter([1], openvino.Type.f32)
        core.compile_model(openvino.Model([openvino.opset13.relu(x)], [x]), "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
    except RuntimeError:
        return (
            "OpenVINO cannot make executable memory for the kernels it generates here (systemd's "
            "MemoryDenyWriteExecute=yes, as the shipped unit sets: docs/install.md says how to allow it)"
        )
    return None


def resolve(setting: str, section: str = "facen") -> tuple[str, str]:
    """(precision, why) for `[section] precision`: auto is bfloat16 where this CPU and this install
    allow it, else float32 with why not; bfloat16 where they do not is an error."""
    why_not = available() if setting != "float32" else "configured"
    if setting == "bfloat16" and why_not:
        raise BundleError(f"[{section}] precision = bfloat16, but {why_not}: set precision to auto or float32")
    return ("float32", why_not) if why_not else ("bfloat16", "OpenVINO, bfloat16 matrix units")


class Bf16Model:
    """A bundle model compiled by OpenVINO with bfloat16 inference; `run` as runtime.OnnxModel's."""

    def __init__(self, bundle: Bundle, key: str, threads: int, copies: int, per_face: bool = False):
        path = bundle.path(key)
        self.key, self.input_name = key, bundle.field(key, "input", "name")
        promised = bundle.field(key, "output", "name")
        self.output_names = promised if isinstance(promised, list) else [promised]
        self.core = _core()
        try:
            model = self.core.read_model(path)
            batch = 1 if per_face else -1
            model.reshape({self.input_name: [batch, *model.input(self.input_name).get_partial_shape()[1:]]})
        except RuntimeError as e:
            raise BundleError(f"model file {path} cannot be loaded by OpenVINO ({e}); {BUILD_HINT}") from None
        names = {name for output in model.outputs for name in output.get_names()}
        self.per_face = per_face
        if not set(self.output_names) <= names:
            raise BundleError(
                f"model file {path} has outputs {sorted(names)}, but manifest.json promises "
                f"{self.output_names}; {BUILD_HINT}"
            )
        self.model = model
        self.config = {
            "INFERENCE_PRECISION_HINT": "bf16",
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": False,  # the worker threads and the event loop share the CPUs
        }
        self.free: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(max(1, copies)):
            self.free.put(self.compile())

    def compile(self) -> Any:
        """One compiled copy of the model and its infer request."""
        return self.core.compile_model(self.model, "CPU", self.config).create_infer_request()

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        """All outputs, in the manifest's order, for one input batch (float32 arrays of their own);
        face by face when compiled `per_face`."""
        try:
            request = self.free.get_nowait()
        except queue.Empty:
            request = self.compile()
        try:
            if not self.per_face:
                request.infer({self.input_name: blob})
                return [np.array(request.get_tensor(name).data, np.float32) for name in self.output_names]
            shapes = [tuple(request.get_tensor(name).shape[1:]) for name in self.output_names]
            outputs = [np.empty((len(blob), *shape), np.float32) for shape in shapes]
            for i in range(len(blob)):
                request.infer({self.input_name: blob[i : i + 1]})
                for output, name in zip(outputs, self.output_names, strict=True):
                    output[i] = request.get_tensor(name).data[0]
            return outputs
        finally:
            self.free.put(request)


def load(runtime: Runtime, key: str, per_face: bool = False) -> Bf16Model:
    """Model `key` of the runtime's bundle for bfloat16 inference, one compiled copy per worker
    (compiled for one face at a time with `per_face`)."""
    started = time.perf_counter()
    model = Bf16Model(runtime.bundle, key, runtime.threads, runtime.instances, per_face)
    metrics.MODEL_LOAD_SECONDS.labels(key).set(time.perf_counter() - started)
    return model


def load_in(
    runtime: Runtime,
    key: str,
    precision: str,
    optimization: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    per_face: bool = False,
) -> OnnxModel | Bf16Model:
    """Model `key` in `precision` (resolved): bfloat16 through OpenVINO (`per_face`: see the
    module's notes), float32 through onnxruntime at `optimization`. Both have the same `run`."""
    return load(runtime, key, per_face) if precision == "bfloat16" else runtime.load(key, optimization)
