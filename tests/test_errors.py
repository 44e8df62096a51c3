"""Bad input gets a clear, specific error; its siblings and the daemon carry on."""

import http.server
import threading

import numpy as np
import pytest

from findface_extraction_api.testing import astronaut, jpeg, png

GOOD = {"image": "multipart:photo"}


def error_of(api, request, files=None):
    status, body = api.post_multipart({"requests": [request]}, files or {"photo": png(astronaut())})
    assert status == 200, body
    return body["responses"][0]["error"]


@pytest.mark.parametrize(
    "request_,param",
    [
        ({}, "image"),
        ({"image": 42}, "image"),
        ({"image": "file:///etc/passwd"}, "image"),
        ({"image": "multipart:nope"}, "image"),
        ({**GOOD, "detector": "mtcnn"}, "detector"),
        ({**GOOD, "detector": 1}, "detector"),
        ({**GOOD, "need_facen": "yes"}, "need_facen"),
        ({**GOOD, "need_age": 1}, "need_age"),
        ({**GOOD, "auto_rotate": "true"}, "auto_rotate"),
        ({**GOOD, "roi": [0, 0, 10, 10]}, "roi"),
        ({**GOOD, "roi": {"left": 0, "top": 0, "right": 10}}, "roi"),
        ({**GOOD, "roi": {"left": 0.5, "top": 0, "right": 10, "bottom": 10}}, "roi"),
        ({**GOOD, "roi": {"left": 10, "top": 0, "right": 10, "bottom": 10}}, "roi"),
    ],
)
def test_bad_param_names_the_parameter(api, request_, param):
    error = error_of(api, request_)
    assert error["code"] == "BAD_PARAM" and error["param"] == param and error["desc"]


def test_request_that_is_not_an_object(api):
    status, body = api.post_json({"requests": ["multipart:photo"]})
    assert status == 200 and body["responses"][0]["error"]["code"] == "BAD_PARAM"


@pytest.mark.parametrize(
    "data", [b"", b"definitely not an image", jpeg(astronaut())[:200], b"\x89PNG\r\n\x1a\n" + b"\0" * 64]
)
def test_undecodable_image(api, data):
    error = error_of(api, GOOD, {"photo": data})
    assert error["code"] == "IMAGE_DECODING_FAILED" and error["desc"].startswith("Failed to decode")


def test_image_over_max_dimension_is_refused_from_its_header(api):
    wide = np.zeros((4, 6001, 3), np.uint8)
    error = error_of(api, GOOD, {"photo": png(wide)})
    assert error["code"] == "IMAGE_TOO_LARGE" and "6001x4" in error["desc"] and "6000" in error["desc"]


def test_image_at_max_dimension_is_fine(api):
    edge = np.zeros((4, 6000, 3), np.uint8)
    status, body = api.post_multipart({"requests": [GOOD]}, {"photo": png(edge)})
    assert body["responses"][0] == {"faces": []}


# ------------------------------------------------------------- URL fetching


def test_fetch_http_error(api, image_server):
    base, _ = image_server
    status, body = api.post_json({"requests": [{"image": f"{base}/missing.jpg"}]})
    error = body["responses"][0]["error"]
    assert error["code"] == "IMAGE_FETCH_FAILED" and "404" in error["desc"]


def test_fetch_over_size_limit(api, image_server):
    base, root = image_server
    noise = np.random.default_rng(0).integers(0, 255, (1200, 1200, 3), dtype=np.uint8)
    (root / "big.png").write_bytes(png(noise))  # ~4 MB, over the 2 MB limit of this daemon
    status, body = api.post_json({"requests": [{"image": f"{base}/big.png"}]})
    error = body["responses"][0]["error"]
    assert error["code"] == "IMAGE_FETCH_FAILED" and "size_limit" in error["desc"]


def test_fetch_unresolvable_host(api):
    status, body = api.post_json({"requests": [{"image": "http://no-such-host.invalid/a.jpg"}]})
    error = body["responses"][0]["error"]
    assert error["code"] == "IMAGE_FETCH_FAILED" and "does not resolve" in error["desc"]


def test_fetch_disabled(daemons, image_server):
    base, root = image_server
    (root / "face.png").write_bytes(png(astronaut()))
    client = daemons("nofetch", fetch={"enabled": "false"}).client
    status, body = client.post_json({"requests": [{"image": f"{base}/face.png"}]})
    error = body["responses"][0]["error"]
    assert error["code"] == "IMAGE_FETCH_FAILED" and "disabled" in error["desc"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.169.254", "0.0.0.0"])
def test_fetch_refuses_private_targets_by_default(daemons, host):
    """No request here reaches any address: the resolver refuses before connecting."""
    client = daemons("default").client
    status, body = client.post_json({"requests": [{"image": f"http://{host}:9/face.png"}]})
    error = body["responses"][0]["error"]
    assert error["code"] == "IMAGE_FETCH_FAILED" and "non-public" in error["desc"]


class _RedirectToLoopback(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/face.png":
            data = png(astronaut())
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:9/secret")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_allowed_networks_and_every_redirect_hop_is_checked(daemons):
    """127.0.0.2 is allowed by allowed_networks, 127.0.0.1 is not: a redirect from the allowed
    host to the refused one is caught, because each hop is resolved and checked again."""
    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), _RedirectToLoopback)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = daemons("allowlist", fetch={"allowed_networks": "127.0.0.2/32"}).client
        base = f"http://127.0.0.2:{server.server_port}"
        status, body = client.post_json({"requests": [{"image": f"{base}/face.png"}, {"image": f"{base}/redirect"}]})
        assert len(body["responses"][0]["faces"]) == 1
        error = body["responses"][1]["error"]
        assert error["code"] == "IMAGE_FETCH_FAILED" and "127.0.0.1" in error["desc"] and "non-public" in error["desc"]
    finally:
        server.shutdown()


# ------------------------------------------------------------- envelopes


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe"])
def test_malformed_json_envelope(api, body):
    status, _, raw = api.request("POST", "/", body, {"Content-Type": "application/json"})
    assert status == 400
    import json

    assert json.loads(raw)["code"] == "MALFORMED_JSON"


@pytest.mark.parametrize("envelope", [[], {"request": []}, {"requests": {}}, {"requests": "x"}])
def test_envelope_without_a_requests_list(api, envelope):
    status, body = api.post_json(envelope)
    assert status == 400 and body["code"] == "BAD_PARAM" and body["param"] == "requests"


def test_multipart_without_request_part(api):
    status, body = api.post_multipart(None, {"photo": png(astronaut())})
    assert status == 400 and body["code"] == "BAD_PARAM" and body["param"] == "request"


def test_malformed_json_in_request_part(api):
    status, body = api.post_multipart("{oops", {"photo": png(astronaut())})
    assert status == 400 and body["code"] == "MALFORMED_JSON"


def test_empty_requests_list(api):
    assert api.post_json({"requests": []}) == (200, {"responses": []})


def test_unknown_path_and_method_answer_json(api):
    import json

    status, _, raw = api.request("GET", "/nope")
    assert status == 404 and json.loads(raw)["code"] == "NOT_FOUND"
    status, _, raw = api.request("DELETE", "/")
    assert status == 405 and json.loads(raw)["code"] == "METHOD_NOT_ALLOWED"


def test_one_bad_request_never_fails_its_siblings(api):
    envelope = {
        "requests": [
            {"image": "multipart:photo", "need_facen": True},
            {"image": "multipart:garbage", "need_facen": True},
            {"image": "multipart:missing"},
            {"image": "multipart:photo", "detector": "nope"},
            {"image": "multipart:photo", "need_age": True},
        ]
    }
    status, body = api.post_multipart(envelope, {"photo": jpeg(astronaut()), "garbage": b"GIF89a broken"})
    assert status == 200
    codes = [r.get("error", {}).get("code") for r in body["responses"]]
    assert codes == [None, "IMAGE_DECODING_FAILED", "BAD_PARAM", "BAD_PARAM", None]
    assert "facen" in body["responses"][0]["faces"][0] and "age" in body["responses"][4]["faces"][0]


def test_no_traceback_reaches_a_client_and_the_daemon_keeps_serving(api):
    for data in (b"\x00" * 10, b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM" + b"\xff" * 60):
        status, body = api.post_multipart({"requests": [GOOD]}, {"photo": data})
        assert status == 200 and "Traceback" not in str(body)
    assert len(api.extract(jpeg(astronaut()))["faces"]) == 1
