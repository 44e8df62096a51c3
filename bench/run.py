"""Latency, throughput and memory of a real daemon over HTTP, as ratios measured in one run.

    make bench            (or .venv/bin/python bench/run.py [--rounds N])

Machines here are noisy, so the figures that matter are ratios taken in the same run: the cost
of all attributes against detection alone, of each extra face, of the legacy detector, and the
throughput gain of concurrent clients. Results go to stdout and build/bench.json.
"""

import argparse
import base64
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from findface_extraction_api.testing import Daemon, astronaut, jpeg  # the tests' real-daemon harness

ALL = dict(need_facen=True, need_gender=True, need_age=True, need_emotions=True, need_normalized=True)


def frame(faces, turn=None):
    """A 1280x720 JPEG with `faces` copies of the astronaut's head (~110 px faces), maybe turned."""
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    head = astronaut()[20:260, 120:340]
    for i in range(faces):
        x, y = 30 + (i % 5) * 245, 60 + (i // 5) * 330
        canvas[y : y + head.shape[0], x : x + head.shape[1]] = head
    return jpeg(canvas if turn is None else cv2.rotate(canvas, turn), quality=90)


def timed(client, data, rounds, **params):
    client.extract(data, **params)  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.extract(data, **params)
        times.append(time.perf_counter() - start)
        assert "error" not in response, response
    return statistics.median(times) * 1000


def throughput(client, data, clients, requests, **params):
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: client.extract(data, **params), range(requests)))
    return requests / (time.perf_counter() - start)


def model_options(rounds):
    """Per-face cost of each [age] and [emotions] model setting, in-process on one thread (as each of
    the daemon's default instances runs): the model calls alone on 6 normalized faces, each option
    the fastest of `rounds` runs, all options interleaved. HTTP, detection and the machine's other
    load swing a whole request by more than the 1-2 ms an emotion network costs; the fastest run
    of the bare calls is the one other work disturbed least."""
    from findface_extraction_api.models.runtime import Bundle, Runtime
    from findface_extraction_api.pipeline import Models, Options, Pipeline
    from findface_extraction_api.testing import BUNDLE

    runtime = Runtime(Bundle(BUNDLE), threads=1)
    default, other = Models(runtime), Models(runtime, age="cydral+faceres", emotions="ensemble")
    image = cv2.imdecode(np.frombuffer(frame(6), np.uint8), cv2.IMREAD_COLOR)
    faces = [face.normalized for face in Pipeline(default).extract(image, Options(crop=True))]
    calls = {
        "age, cydral (default)": default.age.estimate,
        "age, cydral+faceres": other.age.estimate,
        "emotions, mini-xception (default)": default.emotions.classify,
        "emotions, ensemble": other.emotions.classify,
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


def memory_kib(pid):
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--only-model-options", action="store_true", help="only the per-face cost of each model option")
    parser.add_argument("--only-imageapi", action="store_true", help="only the cost of the Image API's own models")
    args = parser.parse_args()
    if args.only_model_options:
        report_options(model_options(args.rounds))
        return
    if args.only_imageapi:
        report_imageapi(imageapi_costs(args.rounds))
        return
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(Path(tmp))
        try:
            client = daemon.client
            one, six = frame(1), frame(6)
            normalized = client.extract(one, need_normalized=True)["faces"][0]["normalized"]
            crop = base64.b64decode(normalized)
            ms = {
                "1 face, detect only": timed(client, one, args.rounds),
                "1 face, all attributes": timed(client, one, args.rounds, **ALL),
                "6 faces, detect only": timed(client, six, args.rounds),
                "6 faces, all attributes": timed(client, six, args.rounds, **ALL),
                "1 face, legacy, all attributes": timed(client, one, args.rounds, detector="legacy", **ALL),
                "prenormalized, all attributes": timed(client, crop, args.rounds, detector="prenormalized", **ALL),
                "1 face, auto_rotate": timed(client, one, args.rounds, auto_rotate=True),
                "1 face turned 90 deg, auto_rotate": timed(
                    client, frame(1, cv2.ROTATE_90_CLOCKWISE), args.rounds, auto_rotate=True
                ),
            }
            rps_1 = throughput(client, one, 1, 4 * args.rounds // 2, **ALL)
            rps_4 = throughput(client, one, 4, 4 * args.rounds // 2, **ALL)
            memory = memory_kib(daemon.process.pid)
        finally:
            daemon.stop()
    options = model_options(args.rounds)
    imageapi = imageapi_costs(args.rounds)
    ratios = {
        "all attributes / detect only (1 face)": ms["1 face, all attributes"] / ms["1 face, detect only"],
        "6 faces / 1 face (all attributes)": ms["6 faces, all attributes"] / ms["1 face, all attributes"],
        "legacy / nnd (all attributes)": ms["1 face, legacy, all attributes"] / ms["1 face, all attributes"],
        "auto_rotate / plain, upright image": ms["1 face, auto_rotate"] / ms["1 face, detect only"],
        "auto_rotate / plain, turned image": ms["1 face turned 90 deg, auto_rotate"] / ms["1 face, detect only"],
        "4 clients / 1 client (throughput)": rps_4 / rps_1,
    }
    print(f"CPUs available: {len(os.sched_getaffinity(0))}; median of {args.rounds} requests each; 1280x720 JPEG")
    for name, value in ms.items():
        print(f"  {name:34s} {value:8.1f} ms")
    print(f"  throughput, all attributes: 1 client {rps_1:.1f} req/s, 4 clients {rps_4:.1f} req/s")
    print(f"  daemon memory: RSS {memory['VmRSS'] / 1024:.0f} MiB, peak {memory['VmHWM'] / 1024:.0f} MiB")
    for name, value in ratios.items():
        print(f"  ratio {name:40s} {value:5.2f}")
    report_options(options)
    report_imageapi(imageapi)
    os.makedirs("build", exist_ok=True)
    with open("build/bench.json", "w") as f:
        json.dump(
            {
                "latency_ms": ms,
                "throughput_rps": {"1": rps_1, "4": rps_4},
                "memory_kib": memory,
                "ratios": ratios,
                "model_option_ms_per_face": options,
                "imageapi_model_ms": imageapi,
            },
            f,
            indent=2,
        )


def report_options(costs):
    print("  per-face cost of each model option (in-process, 1 thread, 6 faces, fastest run):")
    for name, value in costs.items():
        print(f"    {name:34s} {value:6.1f} ms/face")


def report_imageapi(costs):
    print("  Image API models (in-process, 1 thread, 6-face 1280x720 frame, fastest run):")
    for name, value in costs.items():
        print(f"    {name:40s} {value:6.1f} ms")


if __name__ == "__main__":
    main()
