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


def per_face_ms(client, rounds, **params):
    """Milliseconds one face adds for `params`: (6 faces with them - 6 faces detect only) / 6."""
    six = frame(6)
    return (timed(client, six, rounds, **params) - timed(client, six, rounds)) / 6


def model_options(tmp, rounds):
    """Per-face cost of the [age] and [emotions] model settings: the default daemon's choice and the
    other one (a second daemon), need_age and need_emotions each measured alone on 6 faces."""
    costs = {}
    for age, emotions in (("cydral", "ensemble"), ("cydral+faceres", "mini-xception")):
        daemon = Daemon(Path(tmp), age={"model": age}, emotions={"model": emotions})
        try:
            costs[f"age, {age}"] = per_face_ms(daemon.client, rounds, need_age=True)
            costs[f"emotions, {emotions}"] = per_face_ms(daemon.client, rounds, need_emotions=True)
        finally:
            daemon.stop()
    return costs


def memory_kib(pid):
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--only-model-options", action="store_true", help="only the per-face cost of each model option")
    args = parser.parse_args()
    if args.only_model_options:
        with tempfile.TemporaryDirectory() as tmp:
            report_options(model_options(tmp, args.rounds))
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
        options = model_options(tmp, args.rounds)
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
    os.makedirs("build", exist_ok=True)
    with open("build/bench.json", "w") as f:
        json.dump(
            {
                "latency_ms": ms,
                "throughput_rps": {"1": rps_1, "4": rps_4},
                "memory_kib": memory,
                "ratios": ratios,
                "model_option_ms_per_face": options,
            },
            f,
            indent=2,
        )


def report_options(costs):
    print("  per-face cost of each model option (6 faces, that attribute alone, minus detection):")
    for name, value in costs.items():
        print(f"    {name:34s} {value:6.1f} ms/face")


if __name__ == "__main__":
    main()
