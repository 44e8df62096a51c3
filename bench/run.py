"""Throughput, latency and memory, as ratios measured side by side in one run (make bench).

    .venv/bin/python bench/run.py [--quick] [--before REF|DIR] [--rounds N] [--seconds S] [--no-peer]

For every case (an image set x a request mix) it measures, round after round, each case on both
checkouts back to back in alternating order (the machine is shared: neighbours in time see the
same load):
- the in-process bound: the handlers' worker-thread code on the daemon's own threads, no HTTP
  (bench/inprocess.py);
- the daemon over HTTP at 1, 4 and 16 concurrent clients (keep-alive connections): throughput,
  p50 and p99 latency;
- per-stage time shares from the daemon's /metrics (ffea_stage_duration_seconds) and its RSS;
- with --before, all of the above for an older checkout too (a git ref, checked out as a worktree
  in build/bench-before with its own bundle, or a checkout directory with build/models);
- face_recognition (dlib HOG + ResNet, from PyPI into build/bench-peer-venv) on the same photos,
  one process per core;
- this checkout again with `[facen] model = mobilefacenet` (the opt-in cheaper facen), on the
  two cases the facen dominates (--no-option skips it).
Each figure is reported as min/median/max over the rounds; the headline is ratios of medians.
Results: build/bench.json and (full runs) docs/performance.md, written by bench/report.py.

The photo set is LFW from ../shared/eval-data (research data: read in place, never copied);
the frames and their prenormalized crops are made here from skimage's astronaut (public domain).
"""

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import model_costs
import numpy as np
import report
from model_costs import frame

from findface_extraction_api.testing import Daemon

ROOT = Path(__file__).resolve().parent.parent
LFW = ROOT.parent / "shared" / "eval-data" / "verification" / "lfw"
PEER_VENV = ROOT / "build" / "bench-peer-venv"
# The optional liveness pack, as `make models` finds it, so both bundles hold the same models.
LIVENESS_PACK = os.environ.get("FFEA_LIVENESS_PACK", str(ROOT.parent / "shared" / "models" / "minifasnet"))
PEER_PACKAGES = ["dlib-bin==20.0.1.post1", "face-recognition-models==0.3.0", "Pillow", "numpy", "Click"]
PEER_NO_DEPS = ["face-recognition==1.3.0"]  # its metadata wants dlib from source; dlib-bin provides it
ALL = {"need_facen": True, "need_gender": True, "need_age": True, "need_emotions": True, "need_normalized": True}
# (name, image set, request mix, extraction-API parameters, kind)
CASES = [
    ("photos: detect", "photos", "detect", {}, "extract"),
    ("photos: detect+facen", "photos", "detect+facen", {"need_facen": True}, "extract"),
    ("1280x720, 1 face: all attributes", "frame1", "all attributes", ALL, "extract"),
    ("1280x720, 6 faces: all attributes", "frame6", "all attributes", ALL, "extract"),
    ("prenormalized crops: all attributes", "crops", "all attributes", {"detector": "prenormalized", **ALL}, "extract"),
    ("1280x720, 1 face: auto_rotate", "frame1", "auto_rotate", {"auto_rotate": True}, "extract"),
    ("photos: Image API template extractor", "photos", "Image API pipeline", {}, "imageapi"),
]
CLIENTS = (1, 4, 16)
# This checkout again with the opt-in cheaper facen, on the cases where the facen dominates.
OPTION = report.OPTION
FLOAT32 = report.FLOAT32
OPTION_CASES = (report.HEADLINE, report.SIX)
IMAGE_API_PATH = "/face-detector-template-extractor/v2/process/image"


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- image sets


def image_sets(folder: Path, photos: int, daemon) -> dict:
    """{set name: [file paths]}: frames and crops are written to `folder`; photos are read in place."""
    names = sorted(str(p) for p in (LFW / "images").glob("*/*.jpg"))
    if not names:
        raise SystemExit(f"bench: no LFW photos under {LFW} (../shared/eval-data)")
    step = max(1, len(names) // photos)
    sets = {"photos": names[::step][:photos]}
    for name, faces in (("frame1", 1), ("frame6", 6)):
        (folder / f"{name}.jpg").write_bytes(frame(faces))
        sets[name] = [str(folder / f"{name}.jpg")]
    crops = []  # the daemon's own normalized crops of the photos, as a client would post them back
    for i, path in enumerate(sets["photos"][:20]):
        faces = daemon.client.extract(Path(path).read_bytes(), need_normalized=True)["faces"]
        if faces:
            crops.append(folder / f"crop{i}.png")
            crops[-1].write_bytes(base64.b64decode(faces[0]["normalized"]))
    sets["crops"] = [str(p) for p in crops]
    return sets


# ---------------------------------------------------------------- HTTP load


def multipart(kind, params, data):
    boundary = "benchboundary7e3f"
    parts = []
    if kind == "extract":
        envelope = json.dumps({"requests": [{"image": "multipart:photo", **params}]}).encode()
        parts.append((b'form-data; name="request"', envelope))
        parts.append((b'form-data; name="photo"; filename="photo.jpg"', data))
    else:
        parts.append((b'form-data; name="image"; filename="image.jpg"', data))
    body = b"".join(
        b"--" + boundary.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + content + b"\r\n"
        for disposition, content in parts
    )
    return body + b"--" + boundary.encode() + b"--\r\n", f"multipart/form-data; boundary={boundary}"


def cpu_seconds(pid):
    """User + system CPU time the process `pid` has used so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_load(port, kind, params, images, clients, seconds, min_requests, pid=None):
    """`clients` keep-alive connections posting back to back; returns requests, seconds, latencies
    and (given the daemon's `pid`) the CPU time the daemon spent meanwhile."""
    bodies = [multipart(kind, params, data) for data in images]
    path = "/" if kind == "extract" else IMAGE_API_PATH
    latencies, errors, lock, counter = [], [], threading.Lock(), iter(range(10**9))

    def loop():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                n = next(counter)
            if n >= min_requests and time.perf_counter() > deadline:
                break
            body, content_type = bodies[n % len(bodies)]
            t = time.perf_counter()
            connection.request("POST", path, body, {"Content-Type": content_type})
            response = connection.getresponse()
            answer = response.read()
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                if response.status != 200 or b'"error"' in answer[:4000]:
                    errors.append(answer[:300])
        connection.close()

    start, cpu = time.perf_counter(), cpu_seconds(pid) if pid else None
    deadline = start + seconds
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"bench: {len(errors)} failed requests, e.g. {errors[0]!r}")
    run = {"requests": len(latencies), "seconds": time.perf_counter() - start, "latencies": latencies}
    if pid:
        run["cpu_seconds"] = cpu_seconds(pid) - cpu
    return run


def summary(run):
    """Throughput, p50/p99 latency, and CPU ms per request: on a shared machine the CPU time a
    request costs is the steady figure, while throughput follows whatever share of the cores the
    neighbours leave."""
    latencies = np.array(run["latencies"]) * 1000
    return {
        "cpu_ms": 1000 * run["cpu_seconds"] / run["requests"] if "cpu_seconds" in run else None,
        "rps": run["requests"] / run["seconds"],
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "requests": run["requests"],
    }


def facen_model(banner):
    """The facen a daemon serves, from its GET / banner: name, version and precision (older daemons: the model)."""
    if "facen" in banner:
        return f"{banner['facen']['model']} {banner['facen']['version']} {banner['facen'].get('precision', 'float32')}"
    return banner.get("models", {}).get("facen")


def stage_seconds(port):
    """{stage: total seconds} from the daemon's /metrics."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return {m[0]: float(m[1]) for m in re.findall(r'ffea_stage_duration_seconds_sum\{stage="([^"]+)"\} (\S+)', text)}


def memory_mib(pid):
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


# ---------------------------------------------------------------- checkouts


class Checkout:
    """One version under test: its code (None: this one), its bundle, its daemon and in-process worker
    (`config`: non-default settings of both, e.g. facen={"model": "mobilefacenet"})."""

    def __init__(self, label, code, bundle, tmp, cases=None, **config):
        self.label, self.code, self.bundle = label, code, bundle
        self.cases = cases  # None: every case; else the names of the cases it is measured on
        self.daemon = Daemon(tmp, pythonpath=code, bundle=bundle, **config)
        env = {**os.environ, "PYTHONPATH": code} if code else None
        self.worker = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "inprocess.py"), self.daemon.config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=code,
        )
        self.layout = json.loads(self.worker.stdout.readline())

    def in_process(self, command):
        self.worker.stdin.write(json.dumps(command) + "\n")
        self.worker.stdin.flush()
        return json.loads(self.worker.stdout.readline())

    def stop(self):
        self.worker.stdin.close()
        self.worker.wait(30)
        self.daemon.stop()


def before_checkout(ref):
    """(code dir, bundle dir) of the older version: a checkout directory, or a git ref put in a worktree."""
    if Path(ref).is_dir():
        return str(Path(ref).resolve()), str(Path(ref).resolve() / "build" / "models")
    commit = subprocess.run(["git", "rev-parse", ref], cwd=ROOT, capture_output=True, text=True, check=True)
    commit = commit.stdout.strip()
    tree = ROOT / "build" / "bench-before"
    head = tree.is_dir() and subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True)
    if not head or head.stdout.strip() != commit:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
        shutil.rmtree(tree, ignore_errors=True)
        add = ["git", "worktree", "add", "--detach", str(tree), commit]
        subprocess.run(add, cwd=ROOT, check=True, stdout=sys.stderr)
    build = [sys.executable, str(tree / "models-data" / "build.py"), "--out", str(tree / "build" / "models")]
    pack = LIVENESS_PACK if Path(LIVENESS_PACK).is_dir() else "none"
    build += ["--cache", str(ROOT / "build" / "cache"), "--liveness-pack", pack]
    subprocess.run(build, check=True, stdout=sys.stderr)
    return str(tree), str(tree / "build" / "models")


# ---------------------------------------------------------------- the peer


def peer_python():
    """The peer's virtualenv, made on first use from PyPI (face_recognition and its models)."""
    python = PEER_VENV / "bin" / "python"
    if not (PEER_VENV / ".installed").exists():
        log(f"bench: installing face_recognition into {PEER_VENV} (once)")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *PEER_PACKAGES], check=True)
        subprocess.run([*pip, "--no-deps", *PEER_NO_DEPS], check=True)
        (PEER_VENV / ".installed").touch()
    return str(python)


def run_peer(python, photos, processes):
    out = subprocess.run(
        [python, str(ROOT / "bench" / "peer.py"), str(processes), *photos],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"rps": result["images"] / result["seconds"], "faces": result["faces"], "images": result["images"]}


# ---------------------------------------------------------------- rounds


def measure_case(checkout, spec, sets, args, results):
    """One case on one checkout: in-process, then HTTP at each client count (stage shares at 4)."""
    name, image_set, _, params, kind = spec
    port = checkout.daemon.port
    images = [Path(p).read_bytes() for p in sets[image_set]]
    command = {"images": sets[image_set], "params": params, "kind": kind, "seconds": args.seconds, "min_requests": 8}
    case = results.setdefault(checkout.label, {}).setdefault(name, {})
    case.setdefault("in-process", []).append(summary(checkout.in_process(command)))
    http_load(port, kind, params, images[:1], 1, 0, 1)  # warm-up
    for clients in CLIENTS:
        before = stage_seconds(port) if clients == 4 else None
        pid = checkout.daemon.process.pid
        run = http_load(port, kind, params, images, clients, args.seconds, max(8, 2 * clients), pid)
        case.setdefault(f"http-{clients}", []).append(summary(run))
        if before is not None:
            after = stage_seconds(port)
            spent = {stage: after.get(stage, 0) - before.get(stage, 0) for stage in after}
            total = sum(v for k, v in spent.items() if k != "queue_wait") or 1
            case.setdefault("stage_share", []).append(
                {k: v / total for k, v in spent.items() if k != "queue_wait" and v > 0}
            )
    log(
        f"  {checkout.label:6s} {name:40s} in-process {case['in-process'][-1]['rps']:6.1f}/s  "
        + "  ".join(f"{c} cl {case[f'http-{c}'][-1]['rps']:6.1f}/s" for c in CLIENTS)
    )


def measure_round(index, checkouts, sets, args, results, peer):
    """Every case on every checkout, the checkouts back to back per case in alternating order (so
    both see the same load on a shared machine); the peer right after the headline case."""
    for i, spec in enumerate(CASES):
        order = [c for c in checkouts.values() if c.cases is None or spec[0] in c.cases]
        for checkout in order if (index + i) % 2 == 0 else order[::-1]:
            measure_case(checkout, spec, sets, args, results)
        if peer and spec[0] == report.HEADLINE:
            processes = len(os.sched_getaffinity(0))
            results.setdefault("peer", []).append(run_peer(peer, sets["photos"], processes))
            log(f"  peer   face_recognition, {processes} processes: {results['peer'][-1]['rps']:.1f} photos/s")
    for checkout in checkouts.values():
        memory = results.setdefault("memory_mib", {}).setdefault(checkout.label, [])
        memory.append(memory_mib(checkout.daemon.process.pid))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, short windows, no docs/performance.md")
    parser.add_argument("--rounds", type=int, help="rounds (default 3, quick 1)")
    parser.add_argument("--seconds", type=float, help="seconds per measurement (default 3, quick 1.5)")
    parser.add_argument("--photos", type=int, default=120, help="LFW photos in the photo set")
    parser.add_argument("--before", help="git ref or checkout directory to compare with (e.g. main)")
    parser.add_argument("--no-peer", action="store_true", help="skip face_recognition")
    parser.add_argument(
        "--no-option",
        action="store_true",
        help="skip this checkout with [facen] model = mobilefacenet, and with every precision = float32",
    )
    parser.add_argument("--out", default=str(ROOT / "build" / "bench.json"))
    parser.add_argument("--doc", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument("--report-only", action="store_true", help="rewrite --doc from --out, measure nothing")
    parser.add_argument("--only-model-options", action="store_true", help="only the per-face cost of each model option")
    parser.add_argument("--only-imageapi", action="store_true", help="only the cost of the Image API's own models")
    args = parser.parse_args()
    if args.only_model_options or args.only_imageapi:
        rounds = args.rounds or 20
        if args.only_model_options:
            model_costs.report_options(model_costs.model_options(rounds))
        if args.only_imageapi:
            model_costs.report_imageapi(model_costs.imageapi_costs(rounds))
        return
    if args.report_only:
        doc = json.loads(Path(args.out).read_text())
        doc["summary"] = report.summarize(doc)
        Path(args.doc).write_text(report.markdown(doc))
        print(report.text(doc))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the daemons
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.seconds = args.seconds or (1.5 if args.quick else 3.0)
    started = time.time()
    versions = {"after": (None, None)}
    if args.before:
        versions["before"] = before_checkout(args.before)
    peer = None if args.no_peer else peer_python()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkouts = {label: Checkout(label, code, bundle, tmp) for label, (code, bundle) in versions.items()}
        if not args.no_option:  # this checkout with the cheaper opt-in facen, on the facen-heavy cases
            checkouts[OPTION] = Checkout(OPTION, None, None, tmp, OPTION_CASES, facen={"model": "mobilefacenet"})
            # ... and with the facen and attribute networks in float32 (onnxruntime), what `precision = auto`
            # does without bfloat16 units
            float32 = {"precision": "float32"}
            checkouts[FLOAT32] = Checkout(FLOAT32, None, None, tmp, OPTION_CASES, facen=float32, attributes=float32)
        try:
            sets = image_sets(tmp, args.photos, checkouts["after"].daemon)
            for r in range(args.rounds):
                log(f"bench: round {r + 1}/{args.rounds}")
                measure_round(r, checkouts, sets, args, results, peer)
            layout = {label: c.layout for label, c in checkouts.items()}
            banner = {label: c.daemon.client.request("GET", "/")[2] for label, c in checkouts.items()}
        finally:
            for checkout in checkouts.values():
                checkout.stop()
    doc = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "machine": report.machine(),
        "settings": {
            "rounds": args.rounds,
            "seconds_per_measurement": args.seconds,
            "photos": len(sets["photos"]),
            "crops": len(sets["crops"]),
            "before": args.before,
            "layout": layout,
            "models": {label: facen_model(json.loads(b)) for label, b in banner.items()},
        },
        "cases": [{"name": c[0], "set": c[1], "mix": c[2], "params": c[3], "kind": c[4]} for c in CASES],
        "raw": results,
        "wall_seconds": time.time() - started,
    }
    doc["summary"] = report.summarize(doc)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(report.text(doc))
    if not args.quick:
        Path(args.doc).write_text(report.markdown(doc))
        log(f"bench: wrote {args.out} and {args.doc} ({doc['wall_seconds']:.0f} s)")
    else:
        log(f"bench: wrote {args.out} ({doc['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
