"""The model bundle on disk, the onnxruntime settings every model shares, and the CPUs we may use.

`manifest.json`, written by models-data/build.py, is the contract between the bundle and the
daemon: each entry names the file and its sha256, the input and output tensors and what the
model's outputs mean (labels, class values, normalisation). The daemon trusts it, and checks at
load time that every file matches its sha256 and every graph has the tensors its entry names.
"""

import hashlib
import json
import math
import os
import time
from typing import Any

import numpy as np
import onnxruntime as ort

from .. import metrics

BUILD_HINT = "build it with `make models` (or install the findface-data package)"


class BundleError(Exception):
    """The model bundle is missing, incomplete or corrupt; the message names the file."""


class Bundle:
    """A model bundle directory written by models-data/build.py: files plus manifest.json."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        manifest_path = os.path.join(self.root, "manifest.json")
        try:
            with open(manifest_path, encoding="utf-8") as f:
                self.manifest = json.load(f)
        except FileNotFoundError:
            raise BundleError(f"model bundle not found: {manifest_path} is missing; {BUILD_HINT}") from None
        except (OSError, ValueError) as e:
            raise BundleError(f"model bundle manifest {manifest_path} is unreadable ({e}); {BUILD_HINT}") from None
        if not isinstance(self.manifest, dict) or not isinstance(self.manifest.get("models"), dict):
            raise BundleError(f"model bundle manifest {manifest_path} has no 'models' table; {BUILD_HINT}")
        self._verified: dict[str, str] = {}

    def has(self, key: str) -> bool:
        return key in self.manifest["models"]

    def entry(self, key: str) -> dict[str, Any]:
        """The manifest entry of model `key`; BundleError if the bundle has no such model."""
        entry = self.manifest["models"].get(key)
        if not isinstance(entry, dict):
            raise BundleError(f"model bundle {self.root} has no '{key}' model in manifest.json; {BUILD_HINT}")
        return entry

    def field(self, key: str, *path: str) -> Any:
        """A field of model `key`'s manifest entry, e.g. field("emotions", "output", "labels")."""
        value: Any = self.entry(key)
        for name in path:
            if not isinstance(value, dict) or name not in value:
                raise BundleError(
                    f"model bundle {self.root}: manifest.json entry '{key}' has no '{'.'.join(path)}'; {BUILD_HINT}"
                )
            value = value[name]
        return value

    def path(self, key: str) -> str:
        """Absolute path of the model `key`, after checking it exists and matches its sha256.

        Checking the hash once at start-up turns a truncated copy into a clear start-up error
        instead of an onnxruntime crash on the first request.
        """
        if key in self._verified:
            return self._verified[key]
        file, expected = self.field(key, "file"), self.field(key, "sha256")
        path = os.path.join(self.root, file)
        try:
            with open(path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError as e:
            raise BundleError(f"model file {path} cannot be read ({e.strerror}); {BUILD_HINT}") from None
        if digest != expected:
            raise BundleError(f"model file {path} is corrupt (sha256 {digest}, manifest says {expected}); {BUILD_HINT}")
        self._verified[key] = path
        return path

    def facen(self, name: str) -> dict[str, Any]:
        """The manifest's `facens` entry of facen `name` (version, dimension, model weights)."""
        entry = self.manifest.get("facens", {}).get(name)
        if not isinstance(entry, dict) or not {"version", "dimension", "weights"} <= set(entry):
            raise BundleError(f"model bundle {self.root} has no facen '{name}' in manifest.json; {BUILD_HINT}")
        return entry

    def versions(self) -> dict[str, str]:
        """Model ids and versions, for logs and GET /."""
        return {key: entry.get("model", entry.get("file", "?")) for key, entry in self.manifest["models"].items()}


class OnnxModel:
    """One onnxruntime session on a bundle model, its tensors checked against the manifest entry."""

    def __init__(self, bundle: Bundle, key: str, session: ort.InferenceSession):
        self.key, self.session = key, session
        self.input_name = bundle.field(key, "input", "name")
        promised = bundle.field(key, "output", "name")
        self.output_names = promised if isinstance(promised, list) else [promised]
        actual_inputs = [i.name for i in session.get_inputs()]
        actual_outputs = [o.name for o in session.get_outputs()]
        if actual_inputs != [self.input_name] or actual_outputs != self.output_names:
            raise BundleError(
                f"model file {bundle.path(key)} has tensors {actual_inputs} -> {actual_outputs}, but "
                f"manifest.json promises [{self.input_name}] -> {self.output_names}; {BUILD_HINT}"
            )

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        """All outputs, in the manifest's order, for one input batch."""
        return self.session.run(self.output_names, {self.input_name: blob})


class Runtime:
    """Loads bundle models as onnxruntime CPU sessions with `threads` intra-op threads each;
    `instances` workers may run them at once (a session serves them all; models/bf16.py's
    compiled models serve one caller at a time, so it compiles one per worker)."""

    def __init__(self, bundle: Bundle, threads: int, instances: int = 1):
        self.bundle, self.threads, self.instances = bundle, threads, instances

    def load(
        self,
        key: str,
        optimization: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        arena: bool = True,
    ) -> OnnxModel:
        """Model `key` of the bundle, verified and ready to run.

        Spinning pool threads steal the few cores from the next model in the pipeline (the
        prototype measured 2 spinning threads slower than 1), so every session turns it off.
        `arena=False` gives memory back after every run: for models whose input size varies
        with the image, where the arena would keep the largest image's buffers for good.
        """
        started = time.perf_counter()
        path = self.bundle.path(key)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = optimization
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = arena
        try:
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise BundleError(f"model file {path} cannot be loaded by onnxruntime ({e}); {BUILD_HINT}") from None
        model = OnnxModel(self.bundle, key, session)
        metrics.MODEL_LOAD_SECONDS.labels(key).set(time.perf_counter() - started)
        return model


def cpu_count() -> int:
    """CPUs this process may really use: its affinity mask, capped by a cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0))
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus
