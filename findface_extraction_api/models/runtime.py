"""The model bundle on disk and the onnxruntime session settings every model shares."""

import hashlib
import json
import os

import onnxruntime as ort

BUILD_HINT = "build it with `make models` (or install the findface-data package)"


class BundleError(Exception):
    """The model bundle is missing, incomplete or corrupt; the message names the file."""


class Bundle:
    """A model bundle directory written by models-data/build.py: files plus manifest.json."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        manifest_path = os.path.join(self.root, "manifest.json")
        try:
            with open(manifest_path, encoding="utf-8") as f:
                self.manifest = json.load(f)
        except FileNotFoundError:
            raise BundleError(f"model bundle not found: {manifest_path} is missing; {BUILD_HINT}") from None
        except (OSError, ValueError) as e:
            raise BundleError(f"model bundle manifest {manifest_path} is unreadable ({e}); {BUILD_HINT}") from None
        self._verified = {}

    def path(self, key):
        """Absolute path of the model `key`, after checking it exists and matches its sha256.

        Checking the hash once at start-up turns a truncated copy into a clear start-up error
        instead of an onnxruntime crash on the first request.
        """
        if key in self._verified:
            return self._verified[key]
        entry = self.manifest.get("models", {}).get(key)
        if not entry:
            raise BundleError(f"model bundle {self.root} has no '{key}' model in manifest.json; {BUILD_HINT}")
        path = os.path.join(self.root, entry["file"])
        try:
            with open(path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError as e:
            raise BundleError(f"model file {path} cannot be read ({e.strerror}); {BUILD_HINT}") from None
        if digest != entry["sha256"]:
            raise BundleError(f"model file {path} is corrupt (sha256 {digest}, manifest says "
                              f"{entry['sha256']}); {BUILD_HINT}")
        self._verified[key] = path
        return path

    def describe(self):
        """Model ids and versions, for logs and GET /."""
        return {key: entry.get("model", entry["file"]) for key, entry in self.manifest.get("models", {}).items()}


def session(path, threads, optimization=ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
    """An onnxruntime CPU session with `threads` intra-op threads and no spinning.

    Spinning pool threads steal the few cores from the next model in the pipeline (the
    prototype measured 2 spinning threads slower than 1), so every session turns it off.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = optimization
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped errors
        raise BundleError(f"model file {path} cannot be loaded by onnxruntime ({e}); {BUILD_HINT}") from None
