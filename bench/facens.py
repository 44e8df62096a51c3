"""The per-face cost of each facen ([facen] model), measured side by side in one run.

    make bench            (or .venv/bin/python bench/facens.py [--rounds N] [--facens sface,mobilefacenet])

Daemons on build/models, one per facen, default configuration otherwise, answer the same
1280x720 JPEG with six faces, rounds interleaved so that both see the same machine. A facen's
cost per face is (median with need_facen - median detection only) / 6: its alignment and, since
detection alone skips the landmark predictor (2026-12-08), the landmarks too (~0.4 ms a face). dlib's network holds
Python's GIL while it runs (models/dlib_facen.py), so the script also records the slowest
GET /health answered while each daemon computes facens: how long its event loop stalls.
With --photos-seconds S (and ../shared/eval-data present) it also measures detect + facen on the
bench's LFW photo set in-process (bench/inprocess.py, the daemon's worker-thread code without
HTTP, as bench/run.py's in-process bound), S seconds per facen per round, rounds interleaved.
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

from model_costs import frame

from findface_extraction_api.testing import Daemon

FACENS = ("sface", "sface+dlib", "mobilefacenet")
FACES = 6
PHOTOS = 120  # bench/run.py's default photo set


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


def photo_rates(facens: list[str], rounds: int, seconds: float, tmp: Path) -> dict[str, list[float]]:
    """detect + facen images/s on the bench's LFW photos, in-process, per facen, `rounds` interleaved."""
    import run  # bench/run.py: its photo set, in-process worker and summary

    checkouts: dict[str, run.Checkout] = {}
    rates: dict[str, list[float]] = {f: [] for f in facens}
    try:
        for facen in facens:
            (tmp / facen).mkdir()
            checkouts[facen] = run.Checkout(facen, None, None, tmp / facen, facen={"model": facen})
        photos = run.image_sets(tmp, PHOTOS, checkouts[facens[0]].daemon)["photos"]
        command = {"images": photos, "params": {"need_facen": True}, "kind": "extract", "seconds": seconds}
        for _ in range(rounds):
            for facen in facens:
                rates[facen].append(run.summary(checkouts[facen].in_process({**command, "min_requests": 8}))["rps"])
    finally:
        for checkout in checkouts.values():
            checkout.stop()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--facens", default=",".join(FACENS), help="comma-separated; sface is always measured")
    parser.add_argument("--photos-seconds", type=float, help="also detect + facen on LFW photos, in-process")
    args = parser.parse_args()
    facens = ["sface", *(f for f in args.facens.split(",") if f != "sface")]
    assert set(facens) <= set(FACENS), f"--facens: choose from {', '.join(FACENS)}"
    data = frame(FACES)
    times: dict[str, dict[str, list[float]]] = {f: {"detect": [], "facen": []} for f in facens}
    stalls: dict[str, list[float]] = {f: [] for f in facens}
    with tempfile.TemporaryDirectory() as tmp:
        daemons = {f: Daemon(Path(tmp), facen={"model": f}) for f in facens}
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
        rates = photo_rates(facens, 3, args.photos_seconds, Path(tmp)) if args.photos_seconds else {}
    per_face = {
        f: (statistics.median(times[f]["facen"]) - statistics.median(times[f]["detect"])) / FACES * 1000 for f in facens
    }
    result = {
        "cpus": len(os.sched_getaffinity(0)),
        "rounds": args.rounds,
        "facen_ms_per_face": per_face,
        "ratio_to_sface_per_face": {f: per_face[f] / per_face["sface"] for f in facens if f != "sface"},
        "request_ms_6_faces_with_facen": {f: statistics.median(times[f]["facen"]) * 1000 for f in facens},
        "slowest_health_ms_during_facen": {f: max(stalls[f]) * 1000 for f in facens},
        "photos_detect_facen_inprocess_images_per_s": rates,
    }
    print(f"CPUs available: {result['cpus']}; median of {args.rounds} interleaved rounds; 1280x720 JPEG, 6 faces")
    for facen in facens:
        print(
            f"  facen {facen:13s} {per_face[facen]:7.1f} ms per face  "
            f"(request with facen {result['request_ms_6_faces_with_facen'][facen]:7.1f} ms; "
            f"slowest /health meanwhile {result['slowest_health_ms_during_facen'][facen]:6.1f} ms)"
        )
    for facen, ratio in result["ratio_to_sface_per_face"].items():
        print(f"  ratio {facen} / sface, per face: {ratio:.2f}")
    for facen, rounds in rates.items():
        print(
            f"  LFW photos, detect + facen in-process, {facen:13s} images/s (min/median/max of 3 rounds): "
            f"{min(rounds):.1f} / {statistics.median(rounds):.1f} / {max(rounds):.1f}"
        )
    os.makedirs("build", exist_ok=True)
    with open("build/bench-facens.json", "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
