"""Robustness: the hostile corpus of tests/hostile.py against a real daemon, and (with
FFEA_ROBUSTNESS=full) a mixed good/bad load run, a slow-client run and an upload burst.

By default a quick, deterministic, category-balanced subset of the corpus runs (part of `make test`);
FFEA_ROBUSTNESS=full runs every case and the three load runs. After every case the daemon must
still serve a good request, its log must have no new traceback and the SSRF trap no new connection.
The figures (cases, unexpected answers, time, RSS, latencies) are printed and written to
build/robustness.json.
"""

import http.client
import http.server
import json
import os
import random
import select
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import hostile
import numpy as np
import pytest

from findface_extraction_api.testing import ROOT, Daemon, astronaut, free_port, jpeg, multipart

pytestmark = pytest.mark.robustness

FULL = os.environ.get("FFEA_ROBUSTNESS", "") == "full"
TRAP_PORT = free_port()  # SSRF URLs point here: a loopback listener that must never be reached
OPT_IN = json.loads(os.environ.get("FFEA_ROBUSTNESS_CONFIG") or "{}")  # see robustness_daemon
hostile.TEMPLATE_FLOATS = {"sface+dlib": 256, "mobilefacenet": 192}.get(OPT_IN.get("facen", {}).get("model"), 128)
CASES = hostile.corpus(hostile.SEED, TRAP_PORT)
SELECTED = CASES if FULL else hostile.quick(CASES)
FETCH = {"connect_timeout": 2, "timeout": 10}  # a failed SSRF guard costs seconds, not half a minute
REPORT = os.path.join(ROOT, "build", "robustness.json")

LOAD_CLIENTS = 64
LOAD_SECONDS = float(os.environ.get("FFEA_ROBUSTNESS_LOAD_S", 60))
WARMUP_SECONDS = float(os.environ.get("FFEA_ROBUSTNESS_WARMUP_S", 20))
SLOW_CLIENTS = 50
SLOW_CLOSE_SECONDS = float(os.environ.get("FFEA_ROBUSTNESS_SLOW_CLOSE_S", 90))  # the server's timeouts must be shorter
GOOD_BOUND_SECONDS = 5.0  # a good request while slow clients or a bomb envelope hold the server
BURST_UPLOADS, BURST_MB, IDLE_SECONDS = 8, 90, 60


# ---------------------------------------------------------------- the daemon, its memory and its log

STARTED: dict[str, Daemon] = {}  # the daemons this module used, for the final log check


def robustness_daemon(daemons: Callable[..., Daemon], name: str) -> Daemon:
    """A shared session daemon with the default configuration (fetch timeouts shortened), plus the
    sections of $FFEA_ROBUSTNESS_CONFIG (JSON), e.g. '{"facen": {"model": "sface+dlib"}}' to run
    the corpus against the opt-in models."""
    STARTED[name] = daemons(name, fetch=FETCH, **OPT_IN)
    return STARTED[name]


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024


def reset_peak(pid: int) -> None:
    """Start a new VmHWM measurement (Linux: clear_refs 5 resets the peak RSS to the current RSS)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def idle_rss(pid: int, seconds: int) -> list[float]:
    """RSS once a second for `seconds` seconds."""
    values = []
    for _ in range(seconds):
        time.sleep(1)
        values.append(rss_mb(pid))
    return values


def median_rss(pid: int, samples: int = 5) -> float:
    values = []
    for _ in range(samples):
        values.append(rss_mb(pid))
        time.sleep(1)
    return statistics.median(values)


class LogWatch:
    """New daemon log lines since the last look; a traceback as its exception line."""

    def __init__(self, daemon: Daemon):
        self.path, self.offset = daemon.log.name, 0

    def tracebacks(self) -> list[str]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode("utf-8", "replace")
            self.offset = f.tell()
        return tracebacks(text)


def summarized(lines: list[str], shown: int = 3) -> list[str]:
    """At most `shown` lines, and how many more there were."""
    return lines[:shown] + ([f"... and {len(lines) - shown} more"] if len(lines) > shown else [])


def tracebacks(text: str) -> list[str]:
    lines, found = text.splitlines(), []
    for index, line in enumerate(lines):
        if "Traceback" in line:
            tail = next((ln for ln in lines[index + 1 :] if ln and not ln.startswith(" ")), "?")
            found.append(f"Traceback in the log: {tail[:200]}")
    return found


# ---------------------------------------------------------------- the SSRF trap


class Trap:
    """Listeners on 127.0.0.1 and ::1 at TRAP_PORT that count every connection (and serve a face)."""

    def __init__(self, port: int):
        self.hits, self.seen = 0, 0
        self.servers: list[http.server.ThreadingHTTPServer] = []
        face = jpeg(astronaut())
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(face)))
                self.end_headers()
                self.wfile.write(face)

            def log_message(self, *args: Any) -> None:
                pass

        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            server_class = type("TrapServer", (http.server.ThreadingHTTPServer,), {"address_family": family})
            server_class.verify_request = lambda _s, _r, _a: trap.count()  # type: ignore[attr-defined]
            try:
                server = server_class((host, port), Handler)
            except OSError:
                continue
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)

    def count(self) -> bool:
        self.hits += 1
        return True

    def new_hits(self) -> int:
        new, self.seen = self.hits - self.seen, self.hits
        return new

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


# ---------------------------------------------------------------- sending


def send(port: int, case: hostile.Case, body: bytes | None = None, timeout: float = 60) -> hostile.Answer:
    """One case over a fresh connection; a failed send still reads what the server answered."""
    body = case.body if body is None else body
    data = body if case.raw else request_bytes(case, body, port)
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            try:
                sock.sendall(data)
            except OSError:
                pass  # the server refused the rest (an over-limit body): its answer may be there
            response = http.client.HTTPResponse(sock, method=case.method)
            response.begin()
            answer = response.read()
            headers = {key.lower(): value for key, value in response.getheaders()}
            return hostile.Answer(response.status, headers, answer, time.monotonic() - start, sent=len(body))
    except TimeoutError:
        return timed_out(start, len(body))
    except (OSError, http.client.HTTPException) as e:
        if isinstance(e, socket.timeout):
            return timed_out(start, len(body))
        return hostile.Answer(None, {}, b"", time.monotonic() - start, len(body), error=f"{type(e).__name__}: {e}")


def timed_out(start: float, sent: int) -> hostile.Answer:
    seconds = time.monotonic() - start
    return hostile.Answer(None, {}, b"", seconds, sent, error=f"no answer within {seconds:.0f} s", timed_out=True)


def request_bytes(case: hostile.Case, body: bytes, port: int) -> bytes:
    head = f"{case.method} {case.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    head += "".join(f"{key}: {value}\r\n" for key, value in case.headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


GOOD_CASE = hostile.Case(
    "good",
    "POST",
    "/",
    {},
    lambda: b"",
    hostile.Expect(frozenset({(200, hostile.FACES)}), count=1, faces=(0,)),
    hostile.EXTRACTION,
)


@dataclass(frozen=True)
class Good:
    """A good request: the body and its Content-Type (the harness's multipart encoder)."""

    body: bytes
    content_type: str

    @classmethod
    def make(cls, image: bytes, **params: Any) -> "Good":
        envelope = json.dumps({"requests": [{"image": "multipart:photo", **params}]}).encode()
        body, content_type = multipart([("request", envelope, None), ("photo", image, "photo.jpg")])
        return cls(body, content_type)

    def send(self, port: int, timeout: float = 60) -> tuple[list[str], float]:
        """(problems, seconds): a good request must give 200 and at least one face (with facen if asked)."""
        case = replace(GOOD_CASE, headers={"Content-Type": self.content_type})
        answer = send(port, case, self.body, timeout)
        found = [p for p in hostile.problems(case, answer) if not p.startswith("took")]
        if not found and b'"facen"' not in answer.body and b"need_facen" in self.body:
            found.append("no facen in the good answer")
        return found, answer.seconds


SMALL_GOOD = Good.make(hostile.good_jpeg())  # the health check after every case
LOAD_GOOD = Good.make(jpeg(astronaut()), need_facen=True)  # the good request of the load runs


def still_serving(daemon: Daemon, patience: float = 180) -> list[str]:
    """The daemon must answer a good request; it may first finish what a slow case left it (up to `patience`)."""
    deadline = time.monotonic() + patience
    found: list[str] = []
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            return [f"the daemon exited with status {daemon.process.returncode}"]
        found, _ = SMALL_GOOD.send(daemon.port, timeout=max(1.0, deadline - time.monotonic()))
        if not found:
            return []
        time.sleep(0.5)
    return [f"the daemon no longer serves a good request: {found}"]


# ---------------------------------------------------------------- figures


@dataclass
class Figures:
    """What the run measured, printed at the end and written to build/robustness.json."""

    data: dict[str, Any] = field(default_factory=dict)
    failing: dict[str, list[str]] = field(default_factory=dict)
    started: float | None = None
    finished: float = 0.0
    cases_run: int = 0
    max_peak: tuple[float, str] = (0.0, "")
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (seconds, case) of the slowest answers

    def record(self, case: hostile.Case, answer: hostile.Answer, found: list[str], start: float) -> None:
        self.started = start if self.started is None else self.started
        self.finished, self.cases_run = time.monotonic(), self.cases_run + 1
        if answer.peak_mb is not None and answer.peak_mb > self.max_peak[0]:
            self.max_peak = (answer.peak_mb, case.name)
        if found:
            self.failing[case.name] = found
        self.slowest = sorted([*self.slowest, (round(answer.seconds, 2), case.name)], reverse=True)[:10]

    def summary(self) -> dict[str, Any]:
        by_category: dict[str, int] = {}
        for name in self.failing:
            category = next(case.category for case in CASES if case.name == name)
            by_category[category] = by_category.get(category, 0) + 1
        return {
            "mode": "full" if FULL else "quick",
            "seed": hostile.SEED,
            "cases_in_corpus": len(CASES),
            "cases_run": self.cases_run,
            "unexpected_answers": len(self.failing),
            "unexpected_by_category": dict(sorted(by_category.items())),
            "corpus_wall_s": round(self.finished - self.started, 1) if self.started else 0,
            "largest_peak_rss_growth_mb": round(self.max_peak[0], 1),
            "largest_peak_rss_case": self.max_peak[1],
            "slowest_cases_s": [[name, seconds] for seconds, name in self.slowest],
            **self.data,
            "failing_cases": self.failing,
        }


@pytest.fixture(scope="module")
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    collected = Figures()
    yield collected
    summary = collected.summary()
    os.makedirs(os.path.dirname(REPORT), exist_ok=True)
    with open(REPORT, "w") as f:
        json.dump(summary, f, indent=2)
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    short = {k: v for k, v in summary.items() if k != "failing_cases"}
    lines = [f"robustness figures ({REPORT}):", json.dumps(short, indent=2)]
    for line in lines:
        reporter.write_line(line) if reporter else print(line)


@pytest.fixture(scope="module")
def trap() -> Iterator[Trap]:
    listener = Trap(TRAP_PORT)
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def corpus_daemon(daemons: Callable[..., Daemon], figures: Figures) -> Iterator[Daemon]:
    daemon = robustness_daemon(daemons, "robustness")
    figures.data["corpus_rss_before_mb"] = round(rss_mb(daemon.process.pid), 1)
    yield daemon
    if daemon.process.poll() is None:
        figures.data["corpus_rss_after_mb"] = round(rss_mb(daemon.process.pid), 1)


@pytest.fixture(scope="module")
def watch(corpus_daemon: Daemon) -> LogWatch:
    return LogWatch(corpus_daemon)


# ---------------------------------------------------------------- the corpus, case by case


def run_case(daemon: Daemon, case: hostile.Case) -> hostile.Answer:
    """Send one case, measuring how much the daemon's peak RSS grew while it answered."""
    pid = daemon.process.pid
    reset_peak(pid)
    before = rss_mb(pid)
    answer = send(daemon.port, case, timeout=max(60.0, 2 * case.expect.seconds))
    if daemon.process.poll() is None:
        answer.peak_mb = rss_mb(pid, "VmHWM") - before
    return answer


def observed(answer: hostile.Answer) -> str:
    if answer.status is None:
        return f"no answer ({answer.error})"
    return f"HTTP {answer.status} {answer.body[:300]!r}"


@pytest.mark.parametrize("case", SELECTED, ids=lambda case: case.name)
def test_hostile_case(case: hostile.Case, corpus_daemon: Daemon, trap: Trap, watch: LogWatch, figures: Figures):
    """One hostile request: an acceptable, specific, bounded answer, and the daemon fine afterwards."""
    if corpus_daemon.process.poll() is not None:
        pytest.fail(f"{case.name}: the daemon is not running (exit status {corpus_daemon.process.returncode})")
    start = time.monotonic()
    answer = run_case(corpus_daemon, case)
    found = hostile.problems(case, answer)
    found += watch.tracebacks()
    hits = trap.new_hits()
    found += [f"the SSRF trap on 127.0.0.1/::1:{TRAP_PORT} was connected to {hits} time(s)"] if hits else []
    found += still_serving(corpus_daemon)
    figures.record(case, answer, found, start)
    assert not found, f"{case.name}: " + "; ".join(found) + f"\n  observed: {observed(answer)}"


# ---------------------------------------------------------------- load runs (FFEA_ROBUSTNESS=full)

full_only = pytest.mark.skipif(not FULL, reason="set FFEA_ROBUSTNESS=full for the load, slow-client and burst runs")


@dataclass
class LoadResult:
    good_seconds: list[float] = field(default_factory=list)
    bad: int = 0
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.good_seconds, q)) if self.good_seconds else float("nan")


def load_mix(count: int = 400) -> list[tuple[hostile.Case, bytes]]:
    """Bad cases for the load runs: cheap refusals expected (no raw HTTP, no legitimately heavy work, <= 4 MB)."""
    eligible = [case for case in CASES if not case.raw and not case.legit and not case.expect.reset_ok]
    rng = random.Random(hostile.SEED)
    chosen = []
    for case in rng.sample(eligible, len(eligible)):
        body = case.body
        if len(body) <= 4 * hostile.MB:
            chosen.append((case, body))
        if len(chosen) == count:
            break
    return chosen


def run_load(port: int, bad: list[tuple[hostile.Case, bytes]], seconds: float, clients: int) -> LoadResult:
    """`clients` threads for `seconds`, each sending good (half) and bad requests back to back."""
    result = LoadResult()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        rng = random.Random(hostile.SEED + index)
        while time.monotonic() < deadline:
            if rng.random() < 0.5:
                found, took = LOAD_GOOD.send(port)
                with result.lock:
                    result.good_seconds.append(took)
                    result.unexpected += [f"good request: {'; '.join(found)}"] if found else []
            else:
                case, body = rng.choice(bad)
                answer = send(port, case, body)
                found = [p for p in hostile.problems(case, answer, busy_ok=True) if not p.startswith(("took", "peak"))]
                with result.lock:
                    result.bad += 1
                    result.unexpected += [f"{case.name}: {'; '.join(found)}"] if found else []

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


@full_only
def test_mixed_load(daemons: Callable[..., Daemon], trap: Trap, figures: Figures):
    """64 clients mixing good and bad requests for 60 s: no unexpected answer, p99 <= 2 x p50 for the good
    ones, and RSS after the run within 10 % of the steady level after a warm-up run."""
    daemon = robustness_daemon(daemons, "robustness-load")
    bad, pid = load_mix(), daemon.process.pid
    trap.new_hits()
    warm = run_load(daemon.port, bad, WARMUP_SECONDS, LOAD_CLIENTS)
    time.sleep(5)
    steady = median_rss(pid)
    result = run_load(daemon.port, bad, LOAD_SECONDS, LOAD_CLIENTS)
    time.sleep(5)
    after = median_rss(pid) if daemon.process.poll() is None else float("nan")
    p50, p99 = result.percentile(50), result.percentile(99)
    figures.data["load"] = {
        "clients": LOAD_CLIENTS,
        "seconds": LOAD_SECONDS,
        "good_requests": len(result.good_seconds),
        "bad_requests": result.bad,
        "unexpected_answers": len(result.unexpected),
        "warmup_unexpected_answers": len(warm.unexpected),
        "good_p50_s": round(p50, 3),
        "good_p99_s": round(p99, 3),
        "rss_steady_mb": round(steady, 1),
        "rss_after_mb": round(after, 1),
        "unexpected_sample": (warm.unexpected + result.unexpected)[:20],
    }
    found = []
    if not p99 <= 2 * p50:
        found.append(f"good requests: p99 {p99:.2f} s > 2 x p50 {p50:.2f} s")
    if not after <= 1.1 * steady:
        found.append(f"RSS after the run {after:.0f} MB > 110 % of the steady {steady:.0f} MB")
    unexpected = warm.unexpected + result.unexpected
    if unexpected:
        found.append(f"{len(unexpected)} unexpected answers (warm-up included), e.g. {unexpected[:10]}")
    if hits := trap.new_hits():
        found.append(f"the SSRF trap was connected to {hits} time(s)")
    found += still_serving(daemon) + summarized(LogWatch(daemon).tracebacks())
    assert not found, "mixed load: " + "; ".join(found)


def drip_connections(port: int) -> list[tuple[str, socket.socket, bytes]]:
    """Slow clients: headers one byte a second, bodies one byte a second, and connections that say nothing."""
    header = b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: "
    body = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    kinds = [("header", header)] * 20 + [("body", body)] * 20 + [("idle", b"")] * 10
    connections = []
    for kind, opening in kinds[:SLOW_CLIENTS]:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if opening:
            sock.sendall(opening)
        sock.setblocking(False)
        connections.append((kind, sock, b"a" if kind == "header" else b"{" if kind == "body" else b""))
    return connections


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed (EOF or reset); an answer before closing is read and dropped."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        while readable:
            if not sock.recv(65536):
                return True
            readable, _, _ = select.select([sock], [], [], 0)
    except OSError:
        return True
    return False


@full_only
def test_slow_clients(corpus_daemon: Daemon, figures: Figures):
    """50 slowloris connections: good requests keep succeeding within a bound, and the server closes every
    slow connection itself within SLOW_CLOSE_SECONDS."""
    connections = drip_connections(corpus_daemon.port)
    open_ones = {id(sock): (kind, sock, drip) for kind, sock, drip in connections}
    closed_at: dict[str, list[float]] = {"header": [], "body": [], "idle": []}
    good_seconds, good_problems = [], []
    start = time.monotonic()
    while open_ones and time.monotonic() - start < SLOW_CLOSE_SECONDS:
        for key, (kind, sock, drip) in list(open_ones.items()):
            if closed_by_server(sock):
                closed_at[kind].append(time.monotonic() - start)
                del open_ones[key]
                sock.close()
            elif drip:
                try:
                    sock.send(drip)
                except OSError:
                    pass  # closed: seen on the next round
        found, took = SMALL_GOOD.send(corpus_daemon.port, timeout=30)
        good_seconds.append(took)
        good_problems += found + ([f"a good request took {took:.1f} s"] if took > GOOD_BOUND_SECONDS else [])
        time.sleep(max(0.0, 1.0 - took))
    for _, sock, _ in open_ones.values():
        sock.close()
    figures.data["slow_clients"] = {
        "connections": len(connections),
        "still_open_after_s": {kind: sum(1 for k, _, _ in open_ones.values() if k == kind) for kind in closed_at},
        "closed_by_server_within_s": {
            kind: round(max(times), 1) if times else None for kind, times in closed_at.items()
        },
        "good_requests": len(good_seconds),
        "good_max_s": round(max(good_seconds), 3) if good_seconds else None,
    }
    found = good_problems[:5]
    found += [f"{len(open_ones)} slow connections still open after {SLOW_CLOSE_SECONDS:.0f} s"] if open_ones else []
    assert not found, "slow clients: " + "; ".join(found)


@full_only
def test_upload_burst(daemons: Callable[..., Daemon], figures: Figures):
    """8 concurrent ~90 MB uploads: each answered (a result, or 413/503 JSON), and the idle RSS back within
    1.5 x the pre-burst level after 60 s, unless every upload was refused."""
    daemon = robustness_daemon(daemons, "robustness-burst")
    pid = daemon.process.pid
    for _ in range(5):
        SMALL_GOOD.send(daemon.port)
    time.sleep(3)
    before = median_rss(pid)
    padding = np.random.default_rng(hostile.SEED).bytes(BURST_MB * hostile.MB)
    upload = Good.make(hostile.good_jpeg() + padding)
    case = hostile.Case(
        "burst/90MB-upload",
        "POST",
        "/",
        {"Content-Type": upload.content_type},
        lambda: upload.body,
        hostile.Expect(hostile.element(hostile.FACES, hostile.DECODING_FAILED), count=1, seconds=120),
        hostile.EXTRACTION,
    )
    answers: list[hostile.Answer] = []

    def upload_once() -> None:
        answers.append(send(daemon.port, case, upload.body, 180))

    threads = [threading.Thread(target=upload_once) for _ in range(BURST_UPLOADS)]
    peak = [before]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak.append(rss_mb(pid))
        time.sleep(0.2)
    idle = idle_rss(pid, IDLE_SECONDS)
    refused = all(answer.status in (413, 503) for answer in answers)
    figures.data["burst"] = {
        "uploads": BURST_UPLOADS,
        "mb_each": BURST_MB,
        "statuses": sorted(answer.status or 0 for answer in answers),
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(max(peak), 1),
        "rss_idle_after_60s_mb": round(idle[-1], 1),
        "rss_idle_min_mb": round(min(idle), 1),
    }
    found = []
    if not refused and idle[-1] > 1.5 * before:
        found.append(f"idle RSS {idle[-1]:.0f} MB after {IDLE_SECONDS} s > 1.5 x the pre-burst {before:.0f} MB")
    found += [f"upload {i}: {p}" for i, answer in enumerate(answers) for p in hostile.problems(case, answer)]
    found += still_serving(daemon) + summarized(LogWatch(daemon).tracebacks())
    assert not found, "upload burst: " + "; ".join(found)


@full_only
def test_bomb_envelope_does_not_starve_good_requests(corpus_daemon: Daemon, figures: Figures):
    """While one client's envelope of 100 decompression bombs is being answered, good requests from
    another client still come back within GOOD_BOUND_SECONDS."""
    bombs = next(case for case in CASES if case.name == "extraction/count/100-jpeg-bombs-6000")
    answers: list[hostile.Answer] = []
    sender = threading.Thread(target=lambda: answers.append(send(corpus_daemon.port, bombs, timeout=300)))
    sender.start()
    time.sleep(1)
    took = []
    while len(took) < 3 or (sender.is_alive() and len(took) < 10):
        _, seconds = SMALL_GOOD.send(corpus_daemon.port, timeout=300)
        took.append(seconds)
    sender.join()
    answer = answers[0]
    figures.data["bomb_envelope"] = {
        "bomb_envelope_s": round(answer.seconds, 1),
        "bomb_envelope_status": answer.status,
        "good_during_s": [round(t, 2) for t in took],
    }
    found = hostile.problems(bombs, answer)
    slow = [round(t, 1) for t in took if t > GOOD_BOUND_SECONDS]
    found += [f"good requests from another client waited {slow} s behind it"] if slow else []
    assert not found, f"{bombs.name}: " + "; ".join(found)


def test_daemon_logs_have_no_traceback():
    """At the end: no robustness daemon has logged a traceback (each case also checks its own lines)."""
    found = [f"{name}: {line}" for name, daemon in STARTED.items() for line in tracebacks(daemon.output())]
    assert not found, f"{len(found)} tracebacks: " + "; ".join(found[:20])
