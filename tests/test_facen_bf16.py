"""`[facen] precision`: the facen in bfloat16 through OpenVINO where the CPU has bfloat16 units.

The bfloat16 vectors must stay comparable with float32 ones (galleries enrolled before keep
working): cosine to the float32 vector of the same face at least 0.999, the same person and
the same impostor decisions. Real bundle, real OpenVINO, real daemons; the tests that need
bfloat16 units skip, saying so, on CPUs without them.
"""

import concurrent.futures
import importlib.util
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data

from findface_extraction_api.models import bf16, facen, mobilefacenet
from findface_extraction_api.models.runtime import Bundle, BundleError, Runtime
from findface_extraction_api.pipeline import Models, Options, Pipeline
from findface_extraction_api.testing import BUNDLE, astronaut, composed_crowd, degraded, jpeg, png
from findface_extraction_api.testing import facen as facen_of

WHY_NOT = bf16.available()
needs_bf16 = pytest.mark.skipif(WHY_NOT is not None, reason=f"no bfloat16 inference here: {WHY_NOT}")


def faces() -> list[np.ndarray]:
    """Normalized faces of a few different images: the astronaut, degraded and mirrored copies,
    the three heads of a composed crowd, and skimage's cameraman (another man)."""
    pipeline = Pipeline(Models(Runtime(Bundle(BUNDLE), 1)))
    images = [astronaut(), cv2.flip(astronaut(), 1), composed_crowd()[0]]
    images += [degraded(astronaut(), kind) for kind in ("blur", "dark", "noise", "sidelight")]
    images.append(cv2.cvtColor(skimage.data.camera(), cv2.COLOR_GRAY2BGR))
    found = [face.normalized for image in images for face in pipeline.extract(image, Options(crop=True))]
    assert len(found) >= 10
    return found


@needs_bf16
@pytest.mark.parametrize("key", [facen.KEY, mobilefacenet.KEY])
def test_bf16_vectors_stay_comparable_with_float32(key):
    runtime = Runtime(Bundle(BUNDLE), 1, instances=2)
    exact = facen.FacenExtractor(runtime, key)
    fast = facen.FacenExtractor(runtime, key, precision="bfloat16")
    normalized = faces()
    a, b = exact.extract(normalized), fast.extract(normalized)
    assert a.shape == b.shape and np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    cosines = (a * b).sum(1)
    assert cosines.min() >= 0.999, cosines
    assert not np.array_equal(a, b)  # it did run in another precision
    # the same decisions across the precisions as within float32, pair by pair
    within, across = a @ a.T, a @ b.T
    threshold = facen.SAME_PERSON_THRESHOLD if key == facen.KEY else mobilefacenet.SAME_PERSON_THRESHOLD
    assert np.abs(within - across).max() < 0.005
    assert ((within >= threshold) == (across >= threshold)).all()
    # one face at a time gives what the batch gave
    single = np.concatenate([fast.extract([face]) for face in normalized[:4]])
    assert np.abs(single - b[:4]).max() < 1e-4


@needs_bf16
@pytest.mark.parametrize("per_face", [False, True])
def test_concurrent_callers_each_get_their_own_answer(per_face):
    """Workers share one Bf16Model; each run takes a compiled copy of its own (more are compiled
    when more threads call at once than were made at load)."""
    runtime = Runtime(Bundle(BUNDLE), 1, instances=2)
    model = bf16.load(runtime, facen.KEY, per_face)
    rng = np.random.default_rng(0)
    blobs = [rng.uniform(0, 255, (1 + i % 3, 3, 112, 112)).astype(np.float32) for i in range(24)]
    serial = [model.run(blob)[0] for blob in blobs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda blob: model.run(blob)[0], blobs))
    for one, other in zip(serial, parallel, strict=True):
        assert np.array_equal(one, other)
    assert model.free.qsize() >= 2


@needs_bf16
@pytest.mark.parametrize("key", [facen.KEY, mobilefacenet.KEY])
def test_compiled_for_one_face_and_runs_any_batch(key):
    """The facens' compile has a static batch of 1 (OpenVINO's dynamic-shape kernels cost SFace
    about 1.45x the time per face); batches of 0, 1 and several faces still come back whole."""
    runtime = Runtime(Bundle(BUNDLE), 1, instances=1)
    model = facen.FacenExtractor(runtime, key, precision="bfloat16").model
    request = model.free.get()
    model.free.put(request)
    assert [list(port.get_shape()) for port in request.model_inputs] == [[1, 3, 112, 112]]
    dimension = int(runtime.bundle.field(key, "output", "shape")[1])
    blob = np.random.default_rng(1).uniform(0, 255, (5, 3, 112, 112)).astype(np.float32)
    assert model.run(blob[:0])[0].shape == (0, dimension)
    batch = model.run(blob)[0]
    assert batch.shape == (5, dimension)
    assert np.array_equal(batch[3:4], model.run(blob[3:4])[0])
    assert len({row.tobytes() for row in batch}) == 5  # every face got its own vector


@needs_bf16
def test_attribute_networks_keep_a_dynamic_batch():
    """The small attribute networks run a batch at once: for them a run costs more than the
    dynamic-shape kernels (models/bf16.py)."""
    runtime = Runtime(Bundle(BUNDLE), 1, instances=1)
    model = bf16.load_in(runtime, "age", "bfloat16")
    request = model.free.get()
    model.free.put(request)
    assert request.model_inputs[0].get_partial_shape()[0].is_dynamic
    blob = np.random.default_rng(2).uniform(-0.5, 0.5, (3, 3, 64, 64)).astype(np.float32)
    assert model.run(blob)[0].shape[0] == 3


def test_precision_settings_resolve_or_refuse(monkeypatch):
    assert bf16.resolve("float32") == ("float32", "configured")
    monkeypatch.setattr(bf16, "available", lambda: "this CPU has no bfloat16 matrix units (AMX or AVX512-BF16)")
    assert bf16.resolve("auto") == ("float32", "this CPU has no bfloat16 matrix units (AMX or AVX512-BF16)")
    with pytest.raises(BundleError, match=r"precision = bfloat16, but this CPU has no bfloat16 .* auto or float32"):
        bf16.resolve("bfloat16")
    monkeypatch.setattr(bf16, "available", lambda: None)
    assert bf16.resolve("auto")[0] == "bfloat16" and bf16.resolve("bfloat16")[0] == "bfloat16"


@needs_bf16
def test_daemons_in_both_precisions_serve_comparable_facens(daemons):
    """GET / says which precision the facen runs in; a template made by one daemon verifies
    against the other's as the same person."""
    fast = daemons("main").client  # the default: auto
    exact = daemons("float32", facen={"precision": "float32"}, attributes={"precision": "float32"}).client
    banners = [json.loads(client.request("GET", "/")[2])["facen"] for client in (fast, exact)]
    assert [banner["precision"] for banner in banners] == ["bfloat16", "float32"]
    assert banners[0]["version"] == banners[1]["version"]  # comparable: the same facen version
    image = jpeg(astronaut())
    vectors = [facen_of(client.extract(image, need_facen=True)["faces"][0]) for client in (fast, exact)]
    assert float(vectors[0] @ vectors[1]) >= 0.999
    cameraman = png(cv2.cvtColor(skimage.data.camera(), cv2.COLOR_GRAY2BGR))
    other = facen_of(exact.extract(cameraman, need_facen=True)["faces"][0])
    assert float(vectors[0] @ other) < facen.SAME_PERSON_THRESHOLD


def test_openvino_usage_statistics_are_not_installed():
    """OpenVINO's wheel depends on openvino-telemetry (opt-in statistics of its tools); the venv
    and the package remove it, and OpenVINO then imports its own stub: nothing can send."""
    assert importlib.util.find_spec("openvino_telemetry") is None
    code = "import sys, findface_extraction_api.models.bf16 as b; b.available(); print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "openvino_telemetry" not in loaded


@needs_bf16
def test_where_the_process_may_not_make_executable_memory_auto_runs_float32():
    """systemd's MemoryDenyWriteExecute=yes (the shipped unit) forbids the kernels OpenVINO
    generates; Linux's PR_SET_MDWE is the same rule for one process. auto then says why and runs
    float32, and bfloat16 refuses to start with that reason."""
    code = (
        "import ctypes, sys; from findface_extraction_api.models import bf16\n"
        "assert ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN\n"
        "print(bf16.resolve('auto'))\n"
        "try:\n    bf16.resolve('bfloat16')\nexcept bf16.BundleError as e:\n    print(e)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    if "AssertionError" in run.stderr:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert run.returncode == 0, run.stderr
    auto, refusal = run.stdout.splitlines()
    assert auto.startswith("('float32', ") and "MemoryDenyWriteExecute" in auto
    assert refusal.startswith("[facen] precision = bfloat16, but OpenVINO cannot make executable memory")
