"""Running it as a service: no telemetry, health and readiness, Prometheus metrics, request ids and
the access log, reload on SIGHUP, CORS, signals during start-up. Real daemons, real signals."""

import http.client
import json
import os
import signal
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from findface_extraction_api.testing import ROOT, Daemon, astronaut, cli, free_port, jpeg, write_config


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.headers, body


def metric_values(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the Prometheus text format, via prometheus_client's parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_no_onnxruntime_telemetry_files_or_log_lines(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # "0" in the environment: only the package itself can be what switches telemetry off.
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "ORT_DISABLE_TELEMETRY": "0"}
    daemon = Daemon(tmp_path, env=env)
    try:
        assert daemon.client.extract(jpeg(astronaut()), need_facen=True)["faces"]
        log = daemon.output()
    finally:
        daemon.stop()
    left = [str(p.relative_to(home)) for p in home.rglob("*")]
    assert left == [], f"the daemon wrote {left} under $HOME"
    assert "telemetry" not in log.lower()


def test_health_ready_and_metrics(api, daemons):
    port = int(api.base.rsplit(":", 1)[1])
    assert get(port, "/health")[0::2] == (200, b'{"status": "ok"}')
    assert get(port, "/ready")[0::2] == (200, b'{"status": "ready"}')
    assert api.extract(jpeg(astronaut()), need_facen=True)["faces"]
    status, headers, body = get(port, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    values = metric_values(body.decode())
    names = {name for name, _ in values}
    for name in (
        "ffea_http_requests_total",
        "ffea_http_request_duration_seconds_bucket",
        "ffea_images_total",
        "ffea_stage_duration_seconds_bucket",
        "ffea_faces_per_image_bucket",
        "ffea_http_requests_in_flight",
        "ffea_work_queued",
        "ffea_workers_busy",
        "ffea_worker_busy_seconds_total",
        "ffea_model_load_seconds",
        "ffea_ready",
        "ffea_build_info",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
    ):
        assert name in names, name
    stages = {dict(labels).get("stage") for name, labels in values if name == "ffea_stage_duration_seconds_count"}
    assert {"queue_wait", "decode", "detect", "landmarks", "normalize", "facen"} <= stages, stages
    ok = values[("ffea_http_requests_total", (("code", "ok"), ("protocol", "extraction"), ("route", "/")))]
    assert ok >= 1
    assert values[("ffea_ready", ())] == 1.0


def test_metrics_count_refusals_and_fetches(api):
    port = int(api.base.rsplit(":", 1)[1])
    before = metric_values(get(port, "/metrics")[2].decode())
    api.post_multipart({"requests": [{"image": "multipart:photo"}]}, {"photo": b"not an image"})
    api.post_json({"requests": [{"image": "http://127.0.0.1:9/none.jpg"}]})
    after = metric_values(get(port, "/metrics")[2].decode())

    def grew(key: tuple) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew(("ffea_decode_refusals_total", (("reason", "decode_failed"),))) == 1
    assert grew(("ffea_images_total", (("code", "IMAGE_DECODING_FAILED"), ("protocol", "extraction")))) == 1
    assert grew(("ffea_fetch_total", (("outcome", "failed"),))) == 1


def test_request_ids_are_echoed_or_made_and_logged(api, daemons):
    port = int(api.base.rsplit(":", 1)[1])
    _, headers, _ = get(port, "/health", {"X-Request-ID": "abc-123"})
    assert headers["X-Request-ID"] == "abc-123"
    _, headers, _ = get(port, "/health", {"X-Request-ID": "bad id with spaces" + "x" * 300})
    assert len(headers["X-Request-ID"]) == 32 and " " not in headers["X-Request-ID"]
    time.sleep(0.2)
    log = daemons("main").output()
    assert "GET /health 200 ok" in log and "id=abc-123" in log


def test_static_routes_answer_errors_as_json_with_a_request_id(api):
    """The demo page and the OpenAPI document carry ids like the API, and their errors are JSON."""
    port = int(api.base.rsplit(":", 1)[1])
    for path, want in (("/openapi.json", 200), ("/demo/", 200), ("/demo", 301), ("/demo/no-such.js", 404)):
        status, headers, body = get(port, path, {"X-Request-ID": f"static-{want}"})
        assert status == want and headers["X-Request-ID"] == f"static-{want}", (path, status)
        if status == 404:
            assert headers["Content-Type"].startswith("application/json") and json.loads(body)["code"] == "NOT_FOUND"
    status, headers, body = api.request("POST", "/demo/", b"{}", {"Content-Type": "application/json"})
    assert status == 405 and json.loads(body)["code"] == "METHOD_NOT_ALLOWED" and headers["X-Request-ID"]


def test_head_answers_like_get_without_a_body_and_405s_say_what_is_allowed(api):
    """Load balancers and monitors check health with HEAD (HAProxy's httpchk, curl -I). Was: 405
    on every route, and no 405 carried the Allow header that RFC 9110 requires."""
    port = int(api.base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for path in ("/health", "/ready", "/metrics", "/", "/openapi.json", "/demo/"):
        conn.request("GET", path)
        got = conn.getresponse()
        size = len(got.read())
        conn.request("HEAD", path)  # the same keep-alive connection: a stray body would break the next answer
        head = conn.getresponse()
        assert head.status == 200 and head.read() == b"", path
        assert head.getheader("Content-Type") == got.getheader("Content-Type") and head.getheader("X-Request-ID")
        if path != "/metrics":  # the metrics text changes between the two requests
            assert int(head.getheader("Content-Length")) == size, path
    allowed = {
        ("PUT", "/health"): "GET, HEAD, OPTIONS",
        ("DELETE", "/"): "GET, HEAD, POST, OPTIONS",
        ("GET", "/age-estimator/v2/process/sample"): "POST, OPTIONS",
        ("HEAD", "/age-estimator/v2/process/sample"): "POST, OPTIONS",
        ("POST", "/openapi.json"): "GET, HEAD",
    }
    for (method, path), allow in allowed.items():
        conn.request(method, path)
        answer = conn.getresponse()
        body = answer.read()
        assert answer.status == 405 and answer.getheader("Allow") == allow, (method, path, answer.getheader("Allow"))
        assert (body == b"") == (method == "HEAD"), (method, path, body)
    conn.request("OPTIONS", "/health", headers={"Origin": "https://x.example", "Access-Control-Request-Method": "HEAD"})
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 204 and answer.getheader("Access-Control-Allow-Methods") == "GET, HEAD, OPTIONS"
    conn.close()


def test_metrics_on_their_own_address_and_the_access_log_off(tmp_path):
    metrics_port = free_port()
    daemon = Daemon(tmp_path, metrics={"listen": f"127.0.0.1:{metrics_port}"}, log={"access_log": "false"})
    try:
        assert get(metrics_port, "/metrics")[0] == 200
        assert get(daemon.port, "/metrics")[0] == 404
        assert daemon.client.extract(jpeg(astronaut()))["faces"]
        time.sleep(0.2)
        assert "POST / 200" not in daemon.output()
    finally:
        daemon.stop()


def test_cors_follows_allow_cors(tmp_path):
    daemon = Daemon(tmp_path, top={"allow_cors": "https://app.example.com"})
    try:
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
        conn.request(
            "OPTIONS", "/", headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
        )
        response = conn.getresponse()
        response.read()
        assert response.status == 204
        assert response.getheader("Access-Control-Allow-Origin") == "https://app.example.com"
        assert "POST" in response.getheader("Access-Control-Allow-Methods")
        _, headers, _ = get(daemon.port, "/health", {"Origin": "https://evil.example.net"})
        assert "Access-Control-Allow-Origin" not in headers
    finally:
        daemon.stop()


def test_sighup_reloads_what_it_can_and_never_stops(tmp_path):
    daemon = Daemon(tmp_path)
    try:
        _, headers, _ = get(daemon.port, "/health", {"Origin": "https://a.example"})
        assert "Access-Control-Allow-Origin" not in headers
        write_config(
            daemon.config, daemon.port, top={"allow_cors": "true", "max_dimension": 4000}, log={"level": "debug"}
        )
        os.kill(daemon.process.pid, signal.SIGHUP)
        time.sleep(1.0)
        assert daemon.process.poll() is None
        _, headers, _ = get(daemon.port, "/health", {"Origin": "https://a.example"})
        assert headers.get("Access-Control-Allow-Origin") == "*"
        log = daemon.output()
        assert "configuration reloaded: allow_cors, log.level, max_dimension changed" in log, log[-2000:]
        # A key that needs a restart is named; a broken file keeps the running configuration.
        write_config(daemon.config, free_port(), top={"allow_cors": "true"}, demo={"enabled": "false"})
        os.kill(daemon.process.pid, signal.SIGHUP)
        time.sleep(1.0)
        assert "take effect only after a restart: demo.enabled, listen" in daemon.output()
        with open(daemon.config, "a") as f:
            f.write("no_such_key = 1\n")
        os.kill(daemon.process.pid, signal.SIGHUP)
        time.sleep(1.0)
        assert daemon.process.poll() is None
        assert "reload failed, the running configuration stays" in daemon.output()
        assert daemon.client.extract(jpeg(astronaut()))["faces"]
    finally:
        daemon.stop()


def test_draining_answers_ready_503_on_open_connections_and_finishes_work(tmp_path):
    daemon = Daemon(tmp_path)
    keep_alive = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
    keep_alive.request("GET", "/ready")
    first = keep_alive.getresponse()
    assert first.status == 200 and first.read()
    result = {}

    def slow():
        result["answer"] = daemon.client.post_multipart(
            # legacy (dlib HOG) detection: seconds of work whatever the facen costs, so it is in flight
            {
                "requests": [{"image": "multipart:photo", "detector": "legacy", "need_facen": True, "need_age": True}]
                * 40
            },
            {"photo": jpeg(astronaut())},
        )

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)
    daemon.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert thread.is_alive(), "the envelope was already answered: the test needs work in flight"
    keep_alive.request("GET", "/ready")
    draining = keep_alive.getresponse()
    assert draining.status == 503 and json.loads(draining.read()) == {"status": "draining"}
    thread.join()
    status, body = result["answer"]
    assert status == 200 and all("faces" in r for r in body["responses"])
    assert daemon.process.wait(30) == 0
    assert "Traceback" not in daemon.output()
    daemon.stop()


def test_sigterm_during_start_up_exits_cleanly(tmp_path):
    daemon = Daemon(tmp_path, wait=False)
    time.sleep(1.0)  # loading the models
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(30) == 0
    assert "Traceback" not in daemon.output()
    daemon.stop()


def test_a_config_error_is_logged_as_an_error_and_exits_2(tmp_path):
    path = tmp_path / "bad.ini"
    write_config(str(path), free_port(), top={"max_dimension": "many"})
    result = cli("--config", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ERROR findface_extraction_api: ") and "max_dimension" in result.stderr


@pytest.mark.parametrize("unit", ["findface-extraction-api.service", "findface-extraction-api@.service"])
def test_the_units_give_up_on_failing_starts_and_reload_by_signal(unit):
    text = open(os.path.join(ROOT, "systemd", unit)).read()
    for line in (
        "RestartPreventExitStatus=2",
        "StartLimitBurst=3",
        "ExecReload=/bin/sh -c 'kill -HUP \"$MAINPID\"'",
        "Environment=ORT_DISABLE_TELEMETRY=1",
        "LimitNOFILE=",
    ):
        assert f"\n{line}" in text, line
