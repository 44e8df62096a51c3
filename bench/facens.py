"""The per-face cost of each facen ([facen] model), measured side by side in one run.

    make bench            (or .venv/bin/python bench/facens.py [--rounds N])

Two daemons on build/models, one per facen, default configuration otherwise, answer the same
1280x720 JPEG with six faces, rounds interleaved so that both see the same machine. A facen's
cost per face is (median with need_facen - median detection only) / 6. dlib's network holds
Python's GIL while it runs (models/dlib_facen.py), so the script also records the slowest
GET /health answered while each daemon computes facens: how long its event loop stalls.
Results go to stdout and build/bench-facens.json.
"""

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from findface_extraction_api.testing import Daemon, astronaut, jpeg

FACENS = ("sface", "sface+dlib")
FACES = 6


def frame() -> bytes:
    """A 1280x720 JPEG with six copies of the astronaut's head (~110 px faces)."""
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    head = astronaut()[20:260, 120:340]
    for i in range(FACES):
        x, y = 30 + (i % 5) * 245, 60 + (i // 5) * 330
        canvas[y : y + head.shape[0], x : x + head.shape[1]] = head
    return jpeg(canvas, quality=90)


def seconds(daemon: Daemon, data: bytes, **params: bool) -> float:
    start = time.perf_counter()
    response = daemon.client.extract(data, **params)
    elapsed = time.perf_counter() - start
    assert len(response.get("faces", [])) == FACES, response
    return elapsed


def slowest_health(daemon: Daemon, data: bytes) -> float:
    """The longest GET /health (seconds) while the daemon answers one need_facen request."""
    done, latencies = threading.Event(), []

    def poll() -> None:
        while not done.is_set():
            start = time.perf_counter()
            daemon.client.request("GET", "/health")
            latencies.append(time.perf_counter() - start)
            time.sleep(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        seconds(daemon, data, need_facen=True)
    finally:
        done.set()
        poller.join()
    return max(latencies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    data = frame()
    times: dict[str, dict[str, list[float]]] = {f: {"detect": [], "facen": []} for f in FACENS}
    stalls: dict[str, list[float]] = {f: [] for f in FACENS}
    with tempfile.TemporaryDirectory() as tmp:
        daemons = {f: Daemon(Path(tmp), facen={"model": f}) for f in FACENS}
        try:
            for daemon in daemons.values():
                seconds(daemon, data, need_facen=True)  # warm-up
            for _ in range(args.rounds):
                for facen, daemon in daemons.items():
                    times[facen]["detect"].append(seconds(daemon, data))
                    times[facen]["facen"].append(seconds(daemon, data, need_facen=True))
            for _ in range(3):
                for facen, daemon in daemons.items():
                    stalls[facen].append(slowest_health(daemon, data))
        finally:
            for daemon in daemons.values():
                daemon.stop()
    per_face = {
        f: (statistics.median(times[f]["facen"]) - statistics.median(times[f]["detect"])) / FACES * 1000 for f in FACENS
    }
    result = {
        "cpus": len(os.sched_getaffinity(0)),
        "rounds": args.rounds,
        "facen_ms_per_face": per_face,
        "ratio sface+dlib / sface (per face)": per_face["sface+dlib"] / per_face["sface"],
        "request_ms_6_faces_with_facen": {f: statistics.median(times[f]["facen"]) * 1000 for f in FACENS},
        "slowest_health_ms_during_facen": {f: max(stalls[f]) * 1000 for f in FACENS},
    }
    print(f"CPUs available: {result['cpus']}; median of {args.rounds} interleaved rounds; 1280x720 JPEG, 6 faces")
    for facen in FACENS:
        print(
            f"  facen {facen:11s} {per_face[facen]:7.1f} ms per face  "
            f"(request with facen {result['request_ms_6_faces_with_facen'][facen]:7.1f} ms; "
            f"slowest /health meanwhile {result['slowest_health_ms_during_facen'][facen]:6.1f} ms)"
        )
    print(f"  ratio sface+dlib / sface, per face: {result['ratio sface+dlib / sface (per face)']:.2f}")
    os.makedirs("build", exist_ok=True)
    with open("build/bench-facens.json", "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
