"""Per-face cost of the model options and of the Image API's own models, in-process on one thread.

    .venv/bin/python bench/run.py --only-model-options | --only-imageapi [--rounds N]

(Moved here from bench/run.py unchanged when the bench became the side-by-side run.) HTTP,
detection and the machine's other load swing a whole request by more than the few ms these
models cost, so each figure is the fastest of N interleaved runs of the bare calls.
"""

import time

import cv2
import numpy as np

from findface_extraction_api.testing import astronaut, jpeg


def frame(faces):
    """A 1280x720 JPEG with `faces` copies of the astronaut's head (~110 px faces)."""
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    head = astronaut()[20:260, 120:340]
    for i in range(faces):
        x, y = 30 + (i % 5) * 245, 60 + (i // 5) * 330
        canvas[y : y + head.shape[0], x : x + head.shape[1]] = head
    return jpeg(canvas, quality=90)


def model_options(rounds):
    """Per-face cost of each [age], [emotions] and ONNX [facen] model setting (and gender), in each
    precision this CPU offers, in-process on one thread (as each of
    the daemon's default instances runs): the model calls alone on 6 normalized faces, each option
    the fastest of `rounds` runs, all options interleaved. HTTP, detection and the machine's other
    load swing a whole request by more than the 1-2 ms an emotion network costs; the fastest run
    of the bare calls is the one other work disturbed least."""
    from findface_extraction_api.models import bf16
    from findface_extraction_api.models.runtime import Bundle, Runtime
    from findface_extraction_api.pipeline import Models, Options, Pipeline
    from findface_extraction_api.testing import BUNDLE

    runtime = Runtime(Bundle(BUNDLE), threads=1)
    image = cv2.imdecode(np.frombuffer(frame(6), np.uint8), cv2.IMREAD_COLOR)
    faces = None
    calls = {}
    # each setting in float32 (onnxruntime) and, where this CPU has bfloat16 units, in bfloat16
    # ([facen] and [attributes] precision = auto there)
    for precision in ("float32", "bfloat16") if bf16.available() is None else ("float32",):
        default = Models(runtime, facen_precision=precision, attribute_precision=precision)
        other = Models(
            runtime,
            age="cydral+faceres",
            emotions="ensemble",
            facen="mobilefacenet",
            facen_precision=precision,
            attribute_precision=precision,
        )
        if faces is None:
            faces = [face.normalized for face in Pipeline(default).extract(image, Options(crop=True))]
        calls |= {
            f"age, cydral (default), {precision}": default.age.estimate,
            f"age, cydral+faceres, {precision}": other.age.estimate,
            f"gender, {precision}": default.gender.male_probability,
            f"emotions, mini-xception (default), {precision}": default.emotions.classify,
            f"emotions, ensemble, {precision}": other.emotions.classify,
            f"facen, sface (default), {precision}": default.facen.extract,
            f"facen, mobilefacenet, {precision}": other.facen.extract,
        }
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds + 1):  # the first round warms up
        for name, call in calls.items():
            start = time.perf_counter()
            call(faces)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: seconds * 1000 / len(faces) for name, seconds in best.items()}


def imageapi_costs(rounds):
    """Cost of the Image API's own models, in-process on one thread, on the 6-face 1280x720 frame:
    FaceMesh and Iris per face, the quality checks alone (qaa.assess) per face, NanoDet per frame;
    each the fastest of `rounds` interleaved runs (see model_options for why the fastest)."""
    from findface_extraction_api import qaa
    from findface_extraction_api.models.facemesh import roll_of
    from findface_extraction_api.models.runtime import Bundle, Runtime
    from findface_extraction_api.pipeline import Models, Options, Pipeline
    from findface_extraction_api.testing import BUNDLE

    models = Models(Runtime(Bundle(BUNDLE), threads=1))
    image = cv2.imdecode(np.frombuffer(frame(6), np.uint8), cv2.IMREAD_COLOR)
    faces = Pipeline(models).extract(image, Options(qaa=True))
    boxes, rolls = [f.box for f in faces], [roll_of(f.landmarks) for f in faces]
    meshes = [f.mesh for f in faces]
    calls = {
        "FaceMesh, per face": (lambda: models.facemesh.fit(image, boxes, rolls), len(faces)),
        "Iris (both eyes), per face": (lambda: models.iris.openness(image, meshes), len(faces)),
        "quality checks (qaa.assess), per face": (lambda: [qaa.assess(image, f) for f in faces], len(faces)),
        "NanoDet body detection, per frame": (lambda: models.bodies.detect(image, 0.35), 1),
    }
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds + 1):  # the first round warms up
        for name, (call, count) in calls.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], (time.perf_counter() - start) / count)
    return {name: seconds * 1000 for name, seconds in best.items()}


def report_options(costs):
    print("  per-face cost of each model option (in-process, 1 thread, 6 faces, fastest run):")
    for name, value in costs.items():
        print(f"    {name:46s} {value:6.1f} ms/face")


def report_imageapi(costs):
    print("  Image API models (in-process, 1 thread, 6-face 1280x720 frame, fastest run):")
    for name, value in costs.items():
        print(f"    {name:40s} {value:6.1f} ms")
