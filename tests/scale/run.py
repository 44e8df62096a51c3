"""Scale-out test (issue 14): three extraction-api instances on 127.0.0.2, .3 and .4 (standing in
for three hosts) behind Debian's nginx with the shipped site file, under a steady load of
concurrent clients (alternating detection-only and all-attributes requests) throughout:

  alone          the clients straight to instance a (the baseline of the throughput ratio)
  alone_default  the same to a fourth daemon d with model_instances = 0 (a lone host's default)
  balanced       through nginx: every instance gets traffic; throughput balanced / alone
                 (the three measurements alternate, --rounds times)
  failover  stop one instance (SIGTERM), later kill another (SIGKILL), then start both again
  rolling   each instance in turn: stop (drain), start, wait for /ready 200, wait until nginx
            sends it requests again, next
  facenapi  facenapi_plugin's extract() and enrich() against the nginx URL
  after     every instance serves again

Every client request must succeed (HTTP 200, one face, the X-Request-ID echoed). Prints and
writes build/test-scale.json (--result); exits 1 on any failure.

Two ways to run the instances and nginx, one driver:
  --systemd PREFIX  the installed packages: units findface-extraction-api@a..d (the template unit,
                    /etc/findface-extraction-api-NAME.ini made from the packaged ini) and the
                    system's nginx.service with the site file from the package's examples, driven
                    by systemctl and read by journalctl, each command run as `PREFIX sh -c ...`;
                    packaging/test-scale-deb.sh (make test-scale) runs it with `nsenter -t PID -a`
                    into a booted Debian container sharing this machine's network
  (default)         daemons from this checkout on build/models (FFEA_TEST_BUNDLE), children of this
                    process, and nginx in the foreground with deploy/nginx/findface-extraction-api.conf
                    (packaging/test-scale.sh, make test-scale-host); exits 0 with "SKIP" without nginx

    .venv/bin/python tests/scale/run.py --sizing     # images/s per core and RSS, for docs/scale-out.md
"""

import argparse
import asyncio
import datetime
import functools
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections import Counter
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from findface_extraction_api.testing import BUNDLE, astronaut, facen, jpeg, multipart  # noqa: E402

SITE = os.path.join(ROOT, "deploy", "nginx", "findface-extraction-api.conf")
SPEC = os.path.join(ROOT, "findface_extraction_api", "config.spec")
RESULT = os.path.join(ROOT, "build", "test-scale.json")
SIZING = os.path.join(ROOT, "build", "scale-sizing.json")
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
ALL = {"need_facen": True, "need_gender": True, "need_age": True, "need_emotions": True, "need_normalized": True}
ACCESS_200 = re.compile(r"POST / 200 |200 POST / ")  # the daemon's access line, new and old forms
MIXES = {"detect": {}, "all": ALL}  # detection only; every attribute (what facenapi asks with gae)


def log(message: str, end: str = "\n") -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", end=end, flush=True)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def get(host: str, port: int, path: str, timeout: float = 5) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- instances


def proc_rss_kib(status: str) -> dict[str, int]:
    """VmRSS and VmHWM (peak), KiB, from the text of /proc/PID/status."""
    out = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def cpu_seconds(stats: list[str]) -> float:
    """User + system CPU time of processes, from the texts of their /proc/PID/stat."""
    total = 0
    for stat in stats:
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


class Shell:
    """Runs shell scripts where the systemd units live: PREFIX sh -c SCRIPT, e.g. with the prefix
    `nsenter -t PID -a` inside a booted container (packaging/test-scale-deb.sh), `ssh HOST sudo`
    on another machine, or no prefix on this one."""

    def __init__(self, prefix: str):
        self.prefix = shlex.split(prefix)

    def __call__(self, script: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [*self.prefix, "sh", "-c", script], input=stdin, capture_output=True, text=True, timeout=180
        )
        if check and done.returncode:
            raise RuntimeError(f"`{script}` exited {done.returncode}: {(done.stderr or done.stdout).strip()[-800:]}")
        return done.stdout


class Daemon:
    """What the test needs of one extraction-api instance on its own loopback address, however it
    is run: start, /ready, stop with a signal, its log (accumulated over restarts), its memory."""

    name: str
    host: str
    port: int
    addr: str
    where: str  # where its log is, for a failure report
    ready_probe = ""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self, sig: signal.Signals, timeout: float = 30) -> tuple[int, float]:
        """Send `sig`, wait for the exit; returns (exit status, seconds)."""
        raise NotImplementedError

    def running(self) -> bool:
        raise NotImplementedError

    def failed(self) -> str:
        """Why the daemon cannot become ready (it exited), or ""."""
        raise NotImplementedError

    def log_text(self) -> str:
        raise NotImplementedError

    def rss_kib(self) -> dict[str, int]:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU time of the running process so far (user + system, every thread)."""
        raise NotImplementedError

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds until GET /ready answers 200 (GET / while the daemon has no /ready: 404)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            why = self.failed()
            if why:
                raise RuntimeError(f"{self.name} {why}:\n{self.tail()}")
            try:
                status, _ = get(self.host, self.port, "/ready")
                if status == 404:
                    status, _ = get(self.host, self.port, "/")
                    self.ready_probe = "GET / (the daemon has no /ready)"
                else:
                    self.ready_probe = "GET /ready"
                if status == 200:
                    return time.monotonic() - start
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def served_by_phase(self) -> Counter[str]:
        """Requests this daemon logged, by the phase in their X-Request-ID (all runs of it)."""
        return Counter(m.group(1) for m in re.finditer(r" id=([a-z_]+)\.\d+\.\d+", self.log_text()))

    def served(self) -> int:
        """POST / answered 200, from the daemon's own access log (all runs of it)."""
        return sum(1 for line in self.log_text().splitlines() if ACCESS_200.search(line))


class Instance(Daemon):
    """One daemon from this checkout, a child process of this one, logging to a file."""

    def __init__(self, name: str, host: str, workdir: str, model_instances: int = 1, cpus: set[int] | None = None):
        self.name, self.host, self.cpus = name, host, cpus
        self.port = free_port(host)
        self.addr = f"{host}:{self.port}"
        self.config = os.path.join(workdir, f"{name}.ini")
        self.where = self.logpath = os.path.join(workdir, f"{name}.log")
        with open(self.config, "w") as f:
            f.write(f"listen = {self.addr}\nmodels_root = {BUNDLE}\nmodel_instances = {model_instances}\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cpus = self.cpus
        with open(self.logpath, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "findface_extraction_api.cli", "--config", self.config],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )

    def failed(self) -> str:
        assert self.process is not None
        return "" if self.process.poll() is None else f"exited with {self.process.returncode}"

    def stop(self, sig: signal.Signals, timeout: float = 30) -> tuple[int, float]:
        assert self.process is not None
        start = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        return code, time.monotonic() - start

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def rss_kib(self) -> dict[str, int]:
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/status") as f:
            return proc_rss_kib(f.read())

    def cpu_seconds(self) -> float:
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat") as f:
            return cpu_seconds([f.read()])


class Unit(Daemon):
    """One instance of the packaged template unit findface-extraction-api@NAME, with its own
    /etc/findface-extraction-api-NAME.ini made from the packaged file, driven with systemctl and
    read with journalctl through `shell`. SIGTERM is `systemctl stop` (the unit's drain); another
    signal is `systemctl kill -s SIG`, after which the unit's Restart=on-failure starts it again."""

    PACKAGED_CONFIG = "/etc/findface-extraction-api.ini"

    def __init__(self, name: str, host: str, shell: Shell, model_instances: int = 1):
        self.name, self.host, self.shell = name, host, shell
        self.unit = f"findface-extraction-api@{name}.service"
        self.where = f"journalctl -u {self.unit}"
        self.port = free_port(host)  # the container shares this machine's network
        self.addr = f"{host}:{self.port}"
        config = f"/etc/findface-extraction-api-{name}.ini"
        listen, instances = f"listen = {self.addr}", f"model_instances = {model_instances}"
        shell(
            f"sed -e 's/^listen = .*/{listen}/' -e 's/^model_instances = .*/{instances}/' {self.PACKAGED_CONFIG}"
            f" > {config} && grep -qx '{listen}' {config} && grep -qx '{instances}' {config}"
        )
        shell(f"systemctl reset-failed {self.unit} 2>/dev/null || true")

    def show(self, prop: str) -> str:
        return self.shell(f"systemctl show -P {prop} {self.unit}").strip()

    def start(self) -> None:
        self.shell(f"systemctl start {self.unit}")  # Type=notify: returns once READY=1

    def failed(self) -> str:
        state = self.shell(f"systemctl is-active {self.unit}", check=False).strip()
        return f"is {state}" if state in ("failed", "inactive") else ""

    def stop(self, sig: signal.Signals, timeout: float = 30) -> tuple[int, float]:
        start = time.monotonic()
        if sig == signal.SIGTERM:
            self.shell(f"systemctl stop {self.unit}")
        else:
            pid = self.show("MainPID")
            self.shell(f"systemctl kill -s {sig.name} {self.unit}")
            while self.show("MainPID") == pid:  # 0 once it is gone, a new one after the restart
                if time.monotonic() - start > timeout:
                    raise RuntimeError(f"{self.unit} still runs PID {pid} {timeout} s after {sig.name}")
                time.sleep(0.05)
        return int(self.show("ExecMainStatus")), time.monotonic() - start

    def running(self) -> bool:
        return self.shell(f"systemctl is-active {self.unit}", check=False).strip() == "active"

    def restarts(self) -> int:
        """Times systemd restarted the unit by itself (Restart=on-failure)."""
        return int(self.show("NRestarts"))

    def log_text(self) -> str:
        return self.shell(f"journalctl --no-pager -o cat -t findface-extraction-api-{self.name}")

    def tail(self, lines: int = 15) -> str:
        return self.shell(f"journalctl --no-pager -o short -n {lines} -u {self.unit}", check=False)

    def rss_kib(self) -> dict[str, int]:
        return proc_rss_kib(self.shell(f"cat /proc/$(systemctl show -P MainPID {self.unit})/status"))

    def cpu_seconds(self) -> float:
        return cpu_seconds([self.shell(f"cat /proc/$(systemctl show -P MainPID {self.unit})/stat")])


# ---------------------------------------------------------------- nginx


def render_site(text: str, servers: list[str], listen: str, logdir: str) -> str:
    """The shipped site file with the test's upstream servers, listen address and log directory.
    Everything else is used as shipped; a file that no longer has these lines fails loudly."""
    block = re.search(r"^upstream findface_extraction_api \{\n(.*?)^\}", text, re.M | re.S)
    assert block, "no `upstream findface_extraction_api { }` block"
    body = block.group(1)
    lines = re.findall(r"^[ \t]*server[ \t]+(\S+)([^;\n]*);[ \t]*\n", body, re.M)
    assert lines, "no server line in the upstream"
    params = lines[0][1]
    new = re.sub(r"^[ \t]*server[ \t]+\S+[^;\n]*;[ \t]*\n", "", body, flags=re.M)
    new = "".join(f"    server {s}{params};\n" for s in servers) + new
    text = text[: block.start(1)] + new + text[block.end(1) :]
    text, n = re.subn(r"^([ \t]*)listen[ \t]+[^;\n]+;", rf"\g<1>listen {listen};", text, flags=re.M)
    assert n == 1, f"{n} listen lines"
    assert "/var/log/nginx/" in text
    return text.replace("/var/log/nginx/", logdir.rstrip("/") + "/")


def site_directive(text: str, name: str) -> str:
    found = re.findall(rf"^[ \t]*{name}[ \t]+([^;\n]+);", text, re.M)
    assert len(found) == 1, f"{name}: {found}"
    return found[0].strip()


def nginx_size(value: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(value[:-1]) * units[value[-1].lower()] if value[-1].lower() in units else int(value)


def check_limits(text: str) -> dict[str, Any]:
    """The site file's client limits equal the daemon's [limits] defaults (config.spec)."""
    with open(SPEC) as f:
        spec = f.read()

    def default(key: str) -> float:
        found = re.search(rf"^{key} = \w+\(.*default=([0-9.]+)\)", spec, re.M)
        assert found, key
        return float(found.group(1))

    pairs = {
        "client_max_body_size": (nginx_size(site_directive(text, "client_max_body_size")), default("max_body_size")),
        "client_header_timeout": (
            float(site_directive(text, "client_header_timeout").rstrip("s")),
            default("header_timeout"),
        ),
        "client_body_timeout": (
            float(site_directive(text, "client_body_timeout").rstrip("s")),
            default("body_timeout"),
        ),
    }
    for key, (ours, theirs) in pairs.items():
        assert ours == theirs, f"{key} {ours} != the daemon's {theirs}"
    upstream_idle = float(re.findall(r"keepalive_timeout[ \t]+([0-9]+)s;", text)[0])
    assert upstream_idle < default("header_timeout"), "upstream keepalive_timeout must be below header_timeout"
    return {key: ours for key, (ours, _) in pairs.items()}


class Balancer:
    """nginx with the shipped site file, its upstream `server` lines and `listen` set for the test
    and everything else as shipped; how it runs and where its logs are is up to the subclass."""

    port: int
    shipped: str
    limits: dict[str, Any]
    version: str

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU time of the master and its workers so far (user + system)."""
        raise NotImplementedError

    def access_text(self) -> str:
        raise NotImplementedError

    def error_text(self) -> str:
        raise NotImplementedError

    def wait_answering(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if get("127.0.0.1", self.port, "/")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx does not answer")

    def entries(self) -> list[dict[str, Any]]:
        """The access log: request id, final upstream, every upstream tried, their statuses."""
        out = []
        pattern = re.compile(r" (\d{3}) \d+ \S+ upstream=(.*) upstream_status=(.*) upstream_time=.* request_id=(\S+)$")
        for line in self.access_text().splitlines():
            found = pattern.search(line)
            if found:
                status, upstreams, statuses, rid = found.groups()
                tried = [u.strip() for u in upstreams.replace(" : ", ", ").split(",")]
                out.append({"status": status, "upstream": tried[-1], "tried": tried, "statuses": statuses, "id": rid})
        return out


class Nginx(Balancer):
    """nginx in the foreground, a child of this process, with its own nginx.conf in a work directory."""

    def __init__(self, workdir: str, servers: list[str], site: str = SITE):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(self.dir, "temp"))
        os.chmod(workdir, 0o755)  # nginx workers run as nobody when started by root
        os.chmod(self.dir, 0o755)
        os.chmod(os.path.join(self.dir, "temp"), 0o777)
        self.port = free_port("127.0.0.1")
        self.version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
        with open(site) as f:
            self.shipped = f.read()
        self.limits = check_limits(self.shipped)
        with open(os.path.join(self.dir, "site.conf"), "w") as f:
            f.write(render_site(self.shipped, servers, f"127.0.0.1:{self.port}", self.dir))
        temp = "".join(
            f"    {kind}_temp_path {self.dir}/temp/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(
                f"worker_processes 1;\npid {self.dir}/nginx.pid;\nerror_log {self.dir}/error.log warn;\n"
                f"events {{ worker_connections 1024; }}\n"
                f"http {{\n{temp}    access_log off;\n    include {self.dir}/site.conf;\n}}\n"
            )
        self.access_log = os.path.join(self.dir, "findface-extraction-api.access.log")
        self.error_log = os.path.join(self.dir, "findface-extraction-api.error.log")
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> list[str]:
        return ["nginx", "-p", self.dir + "/", "-c", os.path.join(self.dir, "nginx.conf"), *args]

    def start(self) -> None:
        check = subprocess.run(self.command("-t"), capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "stderr"), "w"),
        )
        self.wait_answering()

    def cpu_seconds(self) -> float:
        assert self.process is not None
        pids = [self.process.pid]
        with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
        stats = []
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                stats.append(f.read())
        return cpu_seconds(stats)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def access_text(self) -> str:
        if not os.path.exists(self.access_log):
            return ""
        with open(self.access_log, errors="replace") as f:
            return f.read()

    def error_text(self) -> str:
        if not os.path.exists(self.error_log):
            return ""
        with open(self.error_log, errors="replace") as f:
            return f.read()


class SystemNginx(Balancer):
    """The system's nginx.service (Debian's nginx) with the site file as the package installs it
    (SHIPPED), written to sites-available and enabled the way docs/scale-out.md says, its logs in
    /var/log/nginx; everything through `shell`."""

    SHIPPED = "/usr/share/doc/findface-extraction-api/examples/findface-extraction-api.conf"
    SITE = "/etc/nginx/sites-available/findface-extraction-api"
    LOGS = "/var/log/nginx/findface-extraction-api"

    def __init__(self, shell: Shell, servers: list[str]):
        self.shell = shell
        self.port = free_port("127.0.0.1")  # the container shares this machine's network
        self.version = shell("nginx -v 2>&1").strip()
        self.shipped = shell(f"if [ -f {self.SHIPPED} ]; then cat {self.SHIPPED}; else zcat {self.SHIPPED}.gz; fi")
        self.limits = check_limits(self.shipped)
        self.site = render_site(self.shipped, servers, f"127.0.0.1:{self.port}", "/var/log/nginx")

    def start(self) -> None:
        self.shell(
            f"cat > {self.SITE} && ln -sfn ../sites-available/findface-extraction-api /etc/nginx/sites-enabled/"
            " && nginx -t -q && systemctl restart nginx",
            stdin=self.site,
        )
        self.wait_answering()

    def stop(self) -> None:
        pass  # it stays with the system (the container is powered off after the test)

    def cpu_seconds(self) -> float:
        stats = self.shell(
            'for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = nginx ] && cat $d/stat; done; true'
        )
        return cpu_seconds(stats.splitlines())

    def access_text(self) -> str:
        return self.shell(f"cat {self.LOGS}.access.log 2>/dev/null || true")

    def error_text(self) -> str:
        return self.shell(f"cat {self.LOGS}.error.log 2>/dev/null || true")


# ---------------------------------------------------------------- load


class Load:
    """`threads` clients posting the astronaut JPEG in a loop over keep-alive connections to
    host:port, alternating detection-only and all-attributes requests. Each request carries
    X-Request-ID "<phase>.<thread>.<n>"; a success is HTTP 200, one face, the id echoed back
    (through nginx)."""

    def __init__(self, host: str, port: int, threads: int, phase: str, via_nginx: bool, mixes: list[str] | None = None):
        self.host, self.port, self.via_nginx = host, port, via_nginx
        self.phase = phase
        photo = jpeg(astronaut())
        self.bodies = {}
        for name in mixes or list(MIXES):
            envelope = json.dumps({"requests": [{"image": "multipart:photo", **MIXES[name]}]}).encode()
            self.bodies[name] = multipart([("request", envelope, None), ("photo", photo, "photo.jpg")])
        self.lock = threading.Lock()
        self.records: list[tuple[str, float, bool, str]] = []  # (phase, end time, ok, mix)
        self.failures: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(threads)]

    def start(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(60)

    def client(self, index: int) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        names = list(self.bodies)
        n = 0
        while not self.stopping.is_set():
            mix = names[(index + n) % len(names)]
            body, content_type = self.bodies[mix]
            phase = self.phase
            rid = f"{phase}.{index}.{n}"
            n += 1
            ok, detail = False, ""
            try:
                conn.request("POST", "/", body, {"Content-Type": content_type, "X-Request-ID": rid})
                response = conn.getresponse()
                raw = response.read()
                if response.status != 200:
                    detail = f"HTTP {response.status}: {raw[:200]!r}"
                elif self.via_nginx and response.getheader("X-Request-ID") != rid:
                    detail = f"X-Request-ID {response.getheader('X-Request-ID')!r}, sent {rid!r}"
                else:
                    faces = json.loads(raw)["responses"][0].get("faces")
                    ok = isinstance(faces, list) and len(faces) == 1
                    detail = "" if ok else f"faces: {raw[:200]!r}"
            except (OSError, http.client.HTTPException, ValueError) as e:
                detail = f"{type(e).__name__}: {e}"
                conn.close()
            with self.lock:
                self.records.append((phase, time.monotonic(), ok, mix))
                if not ok:
                    self.failures.append({"id": rid, "phase": phase, "error": detail})
        conn.close()

    def count(self, since: float = 0.0, until: float = float("inf")) -> int:
        with self.lock:
            return sum(1 for _, t, ok, _ in self.records if ok and since <= t < until)

    def measure(self, seconds: float, cpu: Callable[[], float], warmup: float = 1.5) -> tuple[float, float]:
        """(requests/s, CPU milliseconds per request) over `seconds` after `warmup`, where `cpu`
        reads the CPU seconds used so far by the processes serving the requests. The window runs
        from the midpoint of one reading to the midpoint of the next."""
        time.sleep(warmup)

        def read() -> tuple[float, float]:
            before = time.monotonic()
            used = cpu()
            return used, (before + time.monotonic()) / 2

        cpu0, t0 = read()
        time.sleep(seconds)
        cpu1, t1 = read()
        done = self.count(t0, t1)
        return done / (t1 - t0), 1000 * (cpu1 - cpu0) / max(1, done)

    def summary(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with self.lock:
            for phase, _, ok, _ in self.records:
                entry = out.setdefault(phase, {"requests": 0, "failed": 0})
                entry["requests"] += 1
                entry["failed"] += not ok
        return out


class DrainWatch(threading.Thread):
    """GET /ready every 50 ms on one keep-alive connection to an instance, opened before it is told
    to stop: what a client holding a connection (nginx's keep-alive) sees during the drain, e.g.
    ["200 ready", "503 draining", "closed"]."""

    def __init__(self, target: Daemon):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection(target.host, target.port, timeout=5)
        self.seen: list[str] = []
        self.done = threading.Event()
        self.poll()

    def poll(self) -> bool:
        try:
            self.conn.request("GET", "/ready")
            response = self.conn.getresponse()
            entry = f"{response.status} {json.loads(response.read()).get('status')}"
        except (OSError, http.client.HTTPException, ValueError):
            entry = "closed"
        if not self.seen or self.seen[-1] != entry:
            self.seen.append(entry)
        return entry != "closed"

    def run(self) -> None:
        while not self.done.is_set() and self.poll():
            time.sleep(0.05)
        self.conn.close()

    def stop(self) -> list[str]:
        self.done.set()
        self.join(10)
        return self.seen


# ---------------------------------------------------------------- the test


def wait_in_rotation(nginx: Balancer, load: Load, addr: str, timeout: float = 20) -> float:
    """Seconds until nginx's access log shows `addr` answering a request of the current phase again."""
    start = time.monotonic()
    prefix = load.phase + "."
    seen = sum(1 for e in nginx.entries() if e["upstream"] == addr and e["id"].startswith(prefix))
    while time.monotonic() - start < timeout:
        now = sum(1 for e in nginx.entries() if e["upstream"] == addr and e["id"].startswith(prefix))
        if now > seen:
            return time.monotonic() - start
        time.sleep(0.2)
    raise RuntimeError(f"nginx sent no request to {addr} within {timeout} s")


def test(args: argparse.Namespace) -> int:
    workdir = tempfile.mkdtemp(prefix="test-scale-")
    instances: list[Daemon]
    if args.systemd is not None:  # the packaged units and the system's nginx, through `shell`
        shell = Shell(args.systemd)
        instances = [Unit(name, host, shell) for name, host in zip("abc", HOSTS, strict=True)]
        nginx: Balancer = SystemNginx(shell, [i.addr for i in instances])
        d: Daemon = Unit("d", HOSTS[0], shell, model_instances=0)
        site = SystemNginx.SHIPPED
    else:  # daemons and nginx from this checkout, children of this process
        if not shutil.which("nginx"):
            print("SKIP: test-scale needs Debian's nginx (apt-get install nginx-light)")
            return 0
        if not os.path.exists(os.path.join(BUNDLE, "manifest.json")):
            print(f"FAIL: no model bundle at {BUNDLE}: run `make models`")
            return 1
        instances = [Instance(name, host, workdir) for name, host in zip("abc", HOSTS, strict=True)]
        nginx = Nginx(workdir, [i.addr for i in instances], args.site)
        d = Instance("d", HOSTS[0], workdir, model_instances=0)
        site = os.path.relpath(args.site, ROOT)
    # d: one daemon as a lone host runs it (model_instances = 0: every core), the second baseline
    version = nginx.version
    result: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "mode": "systemd units through: " + args.systemd if args.systemd is not None else "processes from the checkout",
        "nginx": version,
        "cpus": len(os.sched_getaffinity(0)),
        "clients": args.clients,
        "load": "alternating detection-only and all-attributes POST / of the 512x512 astronaut JPEG",
        "checks": {},
        "site": site,
        "nginx_limits": nginx.limits,
    }
    problems: list[str] = []
    by_addr = {i.addr: i.name for i in instances}
    measured: list[Load] = []  # the throughput rounds, alone and balanced
    load: Load | None = None  # the steady load through nginx, from the failover phase on
    started: dict[str, str] = {}  # phase -> wall-clock start, to read nginx's error log by phase

    def enter(name: str) -> None:
        assert load is not None
        load.phase = name
        started[name] = time.strftime("%H:%M:%S")

    try:
        log(f"starting 3 instances: {', '.join(by_addr)} (model_instances = 1 each); work dir {workdir}")
        for i in [*instances, d]:
            i.start()
        for i in [*instances, d]:
            i.wait_ready()
        result["ready_probe"] = instances[0].ready_probe
        log(f"ready, probed with {instances[0].ready_probe}")

        nginx.start()
        url = f"http://127.0.0.1:{nginx.port}"
        log(f"nginx ({version}) on {url} with {result['site']}")
        conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        generated = response.getheader("X-Request-ID") or ""
        conn.close()
        result["checks"]["request_id_generated"] = bool(re.fullmatch(r"[0-9a-f]{32}", generated))
        if not result["checks"]["request_id_generated"]:
            problems.append(f"nginx did not generate an X-Request-ID: {generated!r}")

        # throughput: the same clients straight to instance a (b and c idle), then through nginx to
        # all three, alternated over `rounds` so that drifting load from others on the machine
        # weighs on both alike; and the CPU time each request cost the processes that served it (the daemons, plus nginx
        # when balanced): on a machine shared with other work, requests/s follow the share of the
        # CPUs the test gets (three processes get more than one), CPU time per request does not
        rps: dict[str, list[float]] = {"alone": [], "alone_default": [], "balanced": []}
        cpu_ms: dict[str, list[float]] = {name: [] for name in rps}
        a = instances[0]
        targets = (("alone", a.host, a.port), ("alone_default", d.host, d.port), ("balanced", "127.0.0.1", nginx.port))
        servers: dict[str, list[Daemon]] = {"alone": [a], "alone_default": [d], "balanced": instances}

        def cpu_of(name: str) -> float:
            """CPU seconds so far of the processes that serve `name` (nginx's too when balanced)."""
            used = sum(x.cpu_seconds() for x in servers[name])
            return used + nginx.cpu_seconds() if name == "balanced" else used

        for _ in range(args.rounds):
            for name, host, port in targets:
                started.setdefault(name, time.strftime("%H:%M:%S"))
                run = Load(host, port, args.clients, name, via_nginx=name == "balanced").start()
                measured.append(run)
                per_s, per_request = run.measure(args.measure / args.rounds, functools.partial(cpu_of, name))
                rps[name].append(per_s)
                cpu_ms[name].append(per_request)
                run.stop()
        d.stop(signal.SIGTERM)
        alone_rps, default_rps, balanced_rps = (sum(v) / len(v) for v in rps.values())
        alone_ms, default_ms, balanced_ms = (sum(v) / len(v) for v in cpu_ms.values())
        result["throughput"] = {
            "alone_rps": round(alone_rps, 2),
            "alone_default_rps": round(default_rps, 2),
            "balanced_rps": round(balanced_rps, 2),
            "ratio_balanced_alone": round(balanced_rps / alone_rps, 3),
            "ratio_balanced_alone_default": round(balanced_rps / default_rps, 3),
            "cpu_ms_per_request": {
                "alone": round(alone_ms, 1),
                "alone_default": round(default_ms, 1),
                "balanced": round(balanced_ms, 1),
            },
            "cpu_ratio_balanced_alone_default": round(balanced_ms / default_ms, 3),
            "alone": "instance a by itself (model_instances = 1, like each balanced instance)",
            "alone_default": "one more daemon with model_instances = 0 (every core: a lone host's default)",
            "rounds": {k: [round(v, 2) for v in rps[k]] for k in rps},
            "cpu_ms_rounds": {k: [round(v, 1) for v in cpu_ms[k]] for k in cpu_ms},
            "seconds": args.measure,
        }
        result["rss_kib_after_balanced"] = {i.name: i.rss_kib() for i in instances}
        log(f"requests/s: alone {alone_rps:.1f} (instance a), alone {default_rps:.1f} (model_instances = 0),", end="")
        print(f" balanced {balanced_rps:.1f}; rounds {result['throughput']['rounds']}", flush=True)
        log(f"CPU ms per request: alone {alone_ms:.1f}, alone {default_ms:.1f} (model_instances = 0),", end="")
        print(f" balanced {balanced_ms:.1f} (3 instances + nginx); rounds {result['throughput']['cpu_ms_rounds']}")

        # failover: SIGTERM b, later SIGKILL c, then start both again
        a, b, c = instances
        load = Load("127.0.0.1", nginx.port, args.clients, "failover", via_nginx=True).start()
        enter("failover")
        time.sleep(2)
        code, seconds = b.stop(signal.SIGTERM)
        result["checks"]["sigterm_exit"] = {"status": code, "seconds": round(seconds, 2)}
        log(f"failover: b stopped by SIGTERM: exit {code} after {seconds:.2f} s")
        if code != 0:
            problems.append(f"instance b exited {code} on SIGTERM")
        time.sleep(3)
        code, _ = c.stop(signal.SIGKILL)
        log(f"failover: c killed by SIGKILL (exit {code}); only a serves")
        time.sleep(3)
        for i in (b, c):
            i.start()
        for i in (b, c):
            i.wait_ready()
        back = {i.name: round(wait_in_rotation(nginx, load, i.addr), 2) for i in (b, c)}
        log(f"failover: b and c started again, back in rotation after {back} s")
        if isinstance(c, Unit):  # Restart=on-failure started it before we did
            result["checks"]["killed_unit_restarts"] = c.restarts()
            log(f"failover: systemd restarted the killed unit by itself {c.restarts()} time(s) (NRestarts)")
        result["failover_back_in_rotation_s"] = back

        # rolling restart
        enter("rolling")
        time.sleep(2)
        rolling = {}
        for i in instances:
            watch = DrainWatch(i)
            watch.start()
            code, drained = i.stop(signal.SIGTERM)
            seen = watch.stop()
            restart = time.monotonic()
            i.start()
            i.wait_ready()
            ready = time.monotonic() - restart
            rotation = wait_in_rotation(nginx, load, i.addr)
            rolling[i.name] = {
                "exit": code,
                "drain_s": round(drained, 2),
                "ready_s": round(ready, 2),
                "in_rotation_s": round(time.monotonic() - restart, 2),
                "ready_on_an_open_connection_during_stop": seen,
            }
            if code != 0:
                problems.append(f"instance {i.name} exited {code} on SIGTERM")
            log(f"rolling: {i.name} exit {code} after {drained:.2f} s, ready {ready:.2f} s after the start, ", end="")
            print(f"nginx sends it requests {rotation:.2f} s later", flush=True)
            log(f"rolling: {i.name}: GET /ready on a connection opened before the stop: {' -> '.join(seen)}")
        result["rolling"] = rolling

        # facenapi plugin against the balancer, under the same load
        enter("facenapi")
        result["checks"]["facenapi"] = facenapi_check(url)
        log(f"facenapi plugin via nginx: {result['checks']['facenapi']}")
        if not result["checks"]["facenapi"].get("ok"):
            problems.append(f"facenapi plugin: {result['checks']['facenapi']}")

        enter("after")
        time.sleep(args.measure / 2)
        result["nginx_cpu_s"] = round(nginx.cpu_seconds(), 2)
    except Exception as e:  # report what was measured so far
        problems.append(f"{type(e).__name__}: {e}")
    finally:
        if load is not None:
            load.stop()
        nginx.stop()
        for i in [*instances, d]:
            if i.running():
                i.stop(signal.SIGTERM)

    # the figures
    phases: dict[str, dict[str, Any]] = {}
    for each in [*measured, *([load] if load else [])]:
        for name, entry in each.summary().items():
            total = phases.setdefault(name, {"requests": 0, "failed": 0})
            total["requests"] += entry["requests"]
            total["failed"] += entry["failed"]
    entries = nginx.entries()
    for phase, entry in phases.items():
        logged = [e for e in entries if e["id"].startswith(phase + ".")]
        if logged:
            entry["distribution"] = dict(
                sorted(Counter(by_addr.get(e["upstream"], e["upstream"]) for e in logged).items())
            )
            entry["retried"] = sum(1 for e in logged if len(e["tried"]) > 1)
    failures = [f for each in [*measured, *([load] if load else [])] for f in each.failures]
    sent = sum(p["requests"] for p in phases.values())
    through_nginx = [e for e in entries if e["id"].split(".")[0] in phases]
    result.update(
        requests=sent,
        failed=len(failures),
        phases=phases,
        distribution=dict(sorted(Counter(by_addr.get(e["upstream"], e["upstream"]) for e in through_nginx).items())),
        phase_started=started,
        nginx_cpu_ms_per_request=round(1000 * result.get("nginx_cpu_s", 0) / max(1, len(through_nginx)), 3),
        retried_by_nginx=sum(1 for e in through_nginx if len(e["tried"]) > 1),
        served_per_daemon_log={i.name: i.served() for i in instances},
        served_per_daemon_log_by_phase={i.name: dict(i.served_by_phase()) for i in instances},
        failures=failures[:20],
    )
    lines = nginx.error_text().splitlines()
    if lines:
        # what nginx saw fail and retried: "HH:MM:SS [level] what ... upstream: ..." per line
        result["nginx_error_log"] = [
            re.sub(r"^\S+ (\S+) \[(\w+)\] \d+#\d+: \*\d+ ([^,]*),.*?(upstream: \S+).*", r"\1 \2: \3, \4", line)
            for line in lines[:60]
        ]
    for phase in ("balanced", "after"):
        dist = phases.get(phase, {}).get("distribution", {})
        if phases.get(phase) and len(dist) != 3:
            problems.append(f"{phase}: not every instance got traffic: {dist}")
    if failures:
        problems.append(f"{len(failures)} failed client request(s), first: {failures[0]}")
    for phase in ("alone", "alone_default", "balanced", "failover", "rolling", "facenapi", "after"):
        if phase not in phases:
            problems.append(f"phase {phase} did not run")
    result["problems"] = problems
    result["passed"] = not problems
    os.makedirs(os.path.dirname(os.path.abspath(args.result)), exist_ok=True)
    with open(args.result, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    print()
    print(f"requests sent: {sent}, failed: {len(failures)}", end="")
    print(f" (nginx retried {result['retried_by_nginx']} of them on another instance)")
    for name, entry in phases.items():
        print(f"  {name:13} {entry['requests']:6} requests, {entry['failed']} failed", end="")
        print(f", per instance {entry.get('distribution', '-')}, retried {entry.get('retried', '-')}")
    print(f"distribution through nginx: {result['distribution']}")
    if "throughput" in result:
        t = result["throughput"]
        print(
            f"throughput: balanced {t['balanced_rps']} req/s; alone {t['alone_rps']} req/s (instance a), ratio", end=""
        )
        print(
            f" {t['ratio_balanced_alone']}; alone {t['alone_default_rps']} req/s (model_instances = 0), ratio", end=""
        )
        print(f" {t['ratio_balanced_alone_default']}")
        cost = t["cpu_ms_per_request"]
        print(
            f"CPU per request: balanced {cost['balanced']} ms (3 instances + nginx); alone {cost['alone']} ms", end=""
        )
        print(f" (instance a), {cost['alone_default']} ms (model_instances = 0);", end="")
        print(f" ratio balanced/alone {t['cpu_ratio_balanced_alone_default']}")
    print(f"nginx CPU: {result.get('nginx_cpu_s')} s for {len(through_nginx)} requests", end="")
    print(f" ({result['nginx_cpu_ms_per_request']} ms each)")
    print(f"written: {os.path.relpath(args.result, ROOT)}")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        for i in instances:
            print(f"--- {i.name} log tail ({i.where})\n{i.tail(8)}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("PASS")
    return 0


def facenapi_check(url: str) -> dict[str, Any]:
    """facenapi_plugin as findface-facenapi loads it (activate() with facenapi's tornado options,
    extraction_api_url = the balancer, gae on), then ctx.extractor's extract() and enrich()."""
    from tornado.options import OptionParser

    from facenapi_plugin.plugin import activate

    photo = jpeg(astronaut())
    options = OptionParser()
    options.define("extraction_api_url", default=url)
    options.define("gae", default=True)

    async def main() -> dict[str, Any]:
        ctx = types.SimpleNamespace(extractor="facenapi's built-in extractor")
        extractor = activate(None, ctx, options)
        assert ctx.extractor is extractor and extractor.settings.url == url + "/", extractor.settings
        try:
            faces = await extractor.extract(photo)
            again = await extractor.enrich([{"normalized": faces[0]["normalized"]}]) if faces else []
        finally:
            extractor.close()
        face = faces[0] if faces else {}
        dot = float(facen(face) @ facen(again[0])) if again else 0.0  # base64 float32, as extraction-api sends
        return {
            "ok": len(faces) == 1 and face.get("gender") == "female" and dot > 0.99,
            "faces": len(faces),
            "gender": face.get("gender"),
            "age": round(face["age"], 1) if "age" in face else None,
            "enrich_facen_cosine": round(dot, 4),
        }

    try:
        return asyncio.run(main())
    except Exception as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


# ---------------------------------------------------------------- sizing


def sizing(args: argparse.Namespace) -> int:
    """Images/s per core for each mix: one daemon pinned to one core (model_instances = 0 -> 1 x 1
    thread), then on every core this process may use; the daemon's CPU time per image (what a core
    busy with nothing else serves, even on a machine shared with other work); RSS after each."""
    workdir = tempfile.mkdtemp(prefix="scale-sizing-")
    cpus = sorted(os.sched_getaffinity(0))
    out: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "cpus": len(cpus),
        "seconds": args.measure,
        "runs": [],
    }
    for label, pinned in (("1 core", {cpus[0]}), (f"{len(cpus)} cores", set(cpus))):
        inst = Instance(f"sizing-{len(pinned)}", "127.0.0.2", workdir, model_instances=0, cpus=pinned)
        inst.start()
        inst.wait_ready()
        run: dict[str, Any] = {"cores": len(pinned)}
        for mix in MIXES:
            load = Load(inst.host, inst.port, 2 * len(pinned), mix, via_nginx=False, mixes=[mix]).start()
            rps, cpu_ms = load.measure(args.measure, inst.cpu_seconds, warmup=2.0)
            load.stop()
            assert not load.failures, load.failures[:3]
            run[mix] = {
                "images_per_s": round(rps, 1),
                "images_per_s_per_core": round(rps / len(pinned), 1),
                "cpu_ms_per_image": round(cpu_ms, 1),
                "images_per_cpu_second": round(1000 / cpu_ms, 1),
            }
            log(f"{label}, {mix}: {rps:.1f} images/s, {rps / len(pinned):.1f} per core;", end="")
            print(f" {cpu_ms:.1f} ms of CPU per image = {1000 / cpu_ms:.1f} images per CPU-second", flush=True)
        run["rss_kib"] = inst.rss_kib()
        log(f"{label}: RSS {run['rss_kib']}")
        inst.stop(signal.SIGTERM)
        out["runs"].append(run)
    os.makedirs(os.path.dirname(SIZING), exist_ok=True)
    with open(SIZING, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(f"written: {os.path.relpath(SIZING, ROOT)}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizing", action="store_true", help="measure images/s per core and RSS instead")
    parser.add_argument("--clients", type=int, default=6, help="concurrent clients (default %(default)s)")
    parser.add_argument("--measure", type=float, default=12.0, help="seconds per throughput measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alone/balanced alternations (default %(default)s)")
    parser.add_argument("--site", default=SITE, help="the nginx site file to test (default: the shipped one)")
    parser.add_argument(
        "--systemd",
        metavar="PREFIX",
        help="drive the installed packages instead: units findface-extraction-api@a..d and nginx.service,"
        " each command run as `PREFIX sh -c ...` (e.g. 'nsenter -t PID -a' into a booted container"
        " that shares this machine's network)",
    )
    parser.add_argument("--result", default=RESULT, help="where to write the figures (default %(default)s)")
    args = parser.parse_args()
    return sizing(args) if args.sizing else test(args)


if __name__ == "__main__":
    sys.exit(main())
