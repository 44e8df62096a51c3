"""The OpenAPI document the daemon serves (findface_extraction_api/static/openapi.json): valid OpenAPI 3.1,
and true. Real requests to real daemons, success and every error shape of both protocols, and each
response (status, Content-Type, headers, JSON body) validated against the document with openapi-core;
the good requests are validated against its request schemas too. The last test checks that every
documented operation and response was exercised, so the document cannot drift from the daemon."""

import base64
import json
import os
import shutil
import signal
import socket
import time

import numpy as np
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from findface_extraction_api import __version__, testing
from findface_extraction_api.api import errors, extraction
from findface_extraction_api.api.imageapi import services
from findface_extraction_api.api.static import OPENAPI
from findface_extraction_api.testing import BUNDLE, Daemon, astronaut, free_port, jpeg, multipart, png

with open(OPENAPI) as _f:
    DOC = json.load(_f)
SERVER = DOC["servers"][0]["url"]
with open(os.path.join(BUNDLE, "manifest.json")) as _f:
    MANIFEST = json.load(_f)
HAVE_LIVENESS = "liveness_v2" in MANIFEST["models"]
ASTRONAUT = jpeg(astronaut())
SMALL = jpeg(astronaut()[::2, ::2].copy())  # 256x256: the face is still found, and faster
LIVENESS = "face-detector-liveness-estimator"
VALIDATED: list[tuple[str, str, int]] = []  # (method, documented path, status) of every response checked


@pytest.fixture(scope="module")
def openapi():
    return OpenAPI.from_dict(DOC)  # validates the document as well


def schema_validator(pointer):
    """A JSON Schema validator (OpenAPI 3.1 dialect) for the schema at `pointer` in the document."""
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(DOC, default_specification=DRAFT202012))
    return OAS31Validator({"$ref": f"urn:openapi#{pointer}"}, registry=registry)


def documented_path(path):
    """The document's path template that `path` falls under (the literal path when it is listed)."""
    if path in DOC["paths"]:
        return path
    parts = path.strip("/").split("/")
    return "/{service}/{version}/process/{kind}" if len(parts) == 4 else "/{service}/process/{kind}"


def check(openapi, method, path, status, headers, raw, body=b"", content_type="application/json", request=False):
    """Validate a real response against the document (and, with `request`, the request that got it)."""
    headers = dict(headers.items())
    mock = MockRequest(SERVER, method, path, data=body, content_type=content_type)
    answer = MockResponse(raw, status, headers, headers.get("Content-Type", ""))
    openapi.validate_response(mock, answer)
    if request:
        openapi.validate_request(mock)
    VALIDATED.append((method.lower(), documented_path(path), status))
    return json.loads(raw) if headers.get("Content-Type", "").startswith("application/json") else raw


def call(openapi, client, method, path, body=None, content_type="application/json", request=False):
    """Send a real request, validate its response; (status, decoded body)."""
    raw_body = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = {"Content-Type": content_type} if raw_body is not None else {}
    status, response_headers, raw = client.request(method, path, raw_body, headers)
    answer = check(openapi, method, path, status, response_headers, raw, raw_body or b"", content_type, request)
    return status, answer


def post_multipart(openapi, client, path, fields, request=False):
    body, content_type = multipart(fields)
    return call(openapi, client, "POST", path, body, content_type, request)


def extract(openapi, client, envelope, files, request_as_file=False, request=True):
    fields = [("request", json.dumps(envelope).encode(), "request.json" if request_as_file else None)]
    fields += [(name, data, f"{name}.jpg") for name, data in files.items()]
    status, answer = post_multipart(openapi, client, "/", fields, request=request)
    assert status == 200, answer
    assert len(answer["responses"]) == len(envelope["requests"])
    return answer["responses"]


def component(name, answer):
    """Validate a body against a component schema (for answers outside any documented path)."""
    schema_validator(f"/components/schemas/{name}").validate(answer)


# ---------------------------------------------------------------- the document itself


@pytest.mark.unit
def test_the_document_is_valid_openapi_3_1_and_lists_what_the_daemon_serves():
    validate_spec(DOC)  # openapi-spec-validator picks the 3.1 validator from `openapi`
    assert DOC["openapi"].startswith("3.1.") and DOC["info"]["version"] == __version__
    assert DOC["servers"] == [{"url": "http://127.0.0.1:18666"}]
    paths = DOC["paths"]
    for name in services.NAMES:
        for version in ("v1", "v2"):
            assert f"/{name}/{version}/process/sample" in paths
        assert f"/{name}/process/sample" in paths
        detects = name in services.SERVICES and services.SERVICES[name].detects
        for prefix in (f"/{name}/v1", f"/{name}/v2", f"/{name}"):
            assert (f"{prefix}/process/image" in paths) == detects, (name, prefix)
    schemas = DOC["components"]["schemas"]
    request_keys = set(schemas["ExtractionRequest"]["properties"])
    assert request_keys == {"image", "roi", "detector", *extraction.FLAGS}
    assert schemas["ExtractionRequest"]["properties"]["detector"]["enum"] == [*extraction.DETECTORS, None]
    codes = {errors.BAD_PARAM, errors.IMAGE_DECODING_FAILED, errors.IMAGE_TOO_LARGE, errors.IMAGE_FETCH_FAILED}
    assert set(schemas["ElementError"]["properties"]["code"]["enum"]) == codes | {errors.INTERNAL_ERROR}
    emotions = schemas["EmotionsObject"]["else"]["properties"]["emotions"]["items"]["properties"]["emotion"]
    assert set(emotions["enum"]) == set(services.EMOTIONS.values())
    for path, item in paths.items():  # every operation has an id and a tag
        for method, operation in item.items():
            assert operation["operationId"] and operation["tags"], (path, method)


# ---------------------------------------------------------------- Extraction API and operations


def test_banner_health_ready_metrics_and_the_document(api, openapi):
    status, banner = call(openapi, api, "GET", "/")
    assert status == 200 and banner["version"] == __version__
    assert call(openapi, api, "GET", "/health") == (200, {"status": "ok"})
    assert call(openapi, api, "GET", "/ready") == (200, {"status": "ready"})
    status, text = call(openapi, api, "GET", "/metrics")
    assert status == 200 and b"ffea_http_requests_total" in text
    status, served = call(openapi, api, "GET", "/openapi.json")
    assert status == 200 and served == DOC


def test_a_multipart_envelope_with_every_attribute_and_every_element_error(api, openapi, image_server):
    closed = free_port()  # nothing listens there: the fetch fails
    wide = png(np.zeros((1, 6001, 3), np.uint8))  # over max_dimension = 6000, from the header
    everything = {
        "need_facen": True,
        "need_gender": True,
        "need_age": True,
        "need_emotions": True,
        "need_normalized": True,
        "need_liveness": True,
    }
    envelope = {
        "requests": [
            {"image": "multipart:photo", "detector": "nnd", **everything},
            {"image": "multipart:photo", "auto_rotate": True, "need_normalized": True, "need_facen": None},
            {
                "image": "multipart:photo",
                "detector": "legacy",
                "roi": {"left": -50, "top": 0, "right": 600, "bottom": 400},
            },
            {"image": "multipart:photo", "roi": None, "unknown_key": [1, 2]},
            {"image": f"http://127.0.0.1:{closed}/sample.jpg"},
            {"image": "multipart:garbage"},
            {"image": "multipart:wide"},
            {"image": "multipart:missing"},
            {"image": "ftp://example.invalid/a.jpg"},
            {"image": "multipart:photo", "detector": "mtcnn"},
            {"image": "multipart:photo", "need_age": "yes"},
            {"image": "multipart:photo", "detector": "legacy", "auto_rotate": True},
            {"image": "multipart:photo", "roi": {"left": 10, "top": 10, "right": 5, "bottom": 20}},
            {"detector": "nnd"},
            "not an object",
        ]
    }
    files = {"photo": ASTRONAUT, "garbage": b"this is not an image", "wide": wide}
    responses = extract(openapi, api, envelope, files, request=False)
    # The request schema refuses exactly the elements a schema can see are wrong.
    valid = [schema_validator("/components/schemas/ExtractionRequest").is_valid(r) for r in envelope["requests"]]
    assert valid == [True] * 8 + [False] * 4 + [True] + [False] * 2
    first = responses[0]["faces"][0]
    assert set(first) == {"bbox", "detection_score", "facen", "gender", "age", "emotions", "normalized"} | (
        {"liveness"} if HAVE_LIVENESS else set()
    )
    assert responses[1]["faces"][0]["rotation"] == 0
    codes = [r["error"]["code"] if "error" in r else "ok" for r in responses]
    assert codes == ["ok"] * 4 + ["IMAGE_FETCH_FAILED", "IMAGE_DECODING_FAILED", "IMAGE_TOO_LARGE"] + ["BAD_PARAM"] * 8
    # The normalized face posted back (request as a file part), prenormalized: liveness is a BAD_PARAM there.
    crop = base64.b64decode(first["normalized"])
    envelope = {
        "requests": [
            {"image": "multipart:face", "detector": "prenormalized", **dict(everything, need_liveness=False)},
            {"image": "multipart:face", "detector": "prenormalized", "need_liveness": True},
        ]
    }
    responses = extract(openapi, api, envelope, {"face": crop}, request_as_file=True)
    assert responses[0]["faces"][0]["detection_score"] == 1.0
    assert responses[1]["error"]["param"] == "need_liveness"
    # JSON: images by URL, one that works and one that does not.
    url, root = image_server
    (root / "openapi-sample.jpg").write_bytes(SMALL)
    envelope = {"requests": [{"image": f"{url}/openapi-sample.jpg", "need_gender": True}, {"image": f"{url}/none.jpg"}]}
    status, answer = call(openapi, api, "POST", "/", envelope, request=True)
    assert status == 200 and answer["responses"][0]["faces"], answer
    assert answer["responses"][1]["error"]["code"] == "IMAGE_FETCH_FAILED"


def test_envelope_errors_404_and_405(api, openapi):
    for body, content_type, code, param in (
        (b"{not json", "application/json", "MALFORMED_JSON", None),
        (b'{"requests": [NaN]}', "application/json", "MALFORMED_JSON", None),
        (b"[" * 100 + b"]" * 100, "application/json", "MALFORMED_JSON", None),
        (b'{"requests": {}}', "application/json", "BAD_PARAM", "requests"),
        (
            json.dumps({"requests": [{"image": "multipart:a"}] * 101}).encode(),
            "application/json",
            "BAD_PARAM",
            "requests",
        ),
        (b"--x\r\ntruncated", "multipart/form-data; boundary=x", "BAD_PARAM", "request"),
        (b"--x--\r\n", "multipart/form-data", "BAD_PARAM", "request"),
        (b'{"response_format": "msgpack", "requests": []}', "application/json", "BAD_PARAM", "response_format"),
    ):
        status, answer = call(openapi, api, "POST", "/", body, content_type)
        assert status == 400 and answer["code"] == code and answer.get("param") == param, answer
    for fields in ([("photo", ASTRONAUT, "a.jpg")], [("request", b"{oops", None)]):
        status, answer = post_multipart(openapi, api, "/", fields)
        assert status == 400, answer
    # Other paths and methods, outside any documented operation: the HttpError component.
    for method, path, status_code in (("GET", "/no/such/path", 404), ("PUT", "/", 405), ("POST", "/health", 405)):
        status, headers, raw = api.request(method, path, b"{}" if method != "GET" else None)
        assert status == status_code and headers["Content-Type"].startswith("application/json")
        assert headers["X-Request-ID"]
        component("HttpError", json.loads(raw))


def test_413_and_503_in_each_protocol(daemons, openapi):
    client = daemons("openapi-limits", limits={"max_body_size": 100_000, "buffered_bodies": 150_000}).client
    big = b"x" * 100_001
    for path in ("/", "/face-detector-face-fitter/v1/process/sample", "/age-estimator/v2/process/sample"):
        status, answer = call(openapi, client, "POST", path, big)
        assert status == 413, answer
    port = int(client.base.rsplit(":", 1)[1])
    held = socket.create_connection(("127.0.0.1", port), timeout=10)  # headers of a 90 kB body, body not sent
    try:
        held.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 90000\r\n\r\n"
        )
        time.sleep(0.2)
        for path in ("/", "/gender-estimator/v1/process/sample", "/no-such-service/v2/process/sample"):
            status, answer = call(openapi, client, "POST", path, b"x" * 90_000)
            assert status == 503, answer
    finally:
        held.close()


# ---------------------------------------------------------------- Image API


def sample(version, data=SMALL, objects=None, **extra):
    blob = base64.b64encode(data).decode("ascii")
    body = {"$image": blob} if version == "v1" else {"_image": {"blob": blob, "format": "IMAGE"}}
    if objects is not None:
        body["objects"] = objects
    return {**body, **extra}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_every_image_api_service(api, openapi, version):
    prefix = f"/{version}" if version == "v2" else ""  # v1 through the Image API 1.x paths as well
    detectors = [s for s in services.SERVICES if services.SERVICES[s].detects and (HAVE_LIVENESS or s != LIVENESS)]
    found = {}
    one = lambda service, objects: len(objects) == 1 if service != "body-detector" else len(objects) >= 1  # noqa: E731
    for service in detectors:
        for path in {f"/{service}/{version}/process/sample", f"/{service}{prefix}/process/sample"}:
            status, answer = call(openapi, api, "POST", path, sample(version, extra_key={"kept": True}), request=True)
            assert status == 200 and one(service, answer["objects"]) and answer["extra_key"] == {"kept": True}, answer
            found[service] = answer
        for path in {f"/{service}/{version}/process/image", f"/{service}{prefix}/process/image"}:
            status, answer = post_multipart(openapi, api, path, [("image", SMALL, "a.jpg")], request=True)
            assert status == 200 and one(service, answer["objects"]), answer
    # Estimators on the fitter's objects, plus a client's own box and a non-face object (kept as is).
    objects = found["face-detector-face-fitter"]["objects"] + [
        {"bbox": [0.3, 0.1, 0.55, 0.35], "note": "client box"},
        {"class": "body", "bbox": [0, 0, 1, 1]},
    ]
    answer = sample(version, objects=objects)
    for service in ("age-estimator", "gender-estimator", "emotion-estimator", "quality-assessment-estimator"):
        for path in {f"/{service}/{version}/process/sample", f"/{service}{prefix}/process/sample"}:
            status, result = call(openapi, api, "POST", path, answer, request=True)
            assert status == 200 and result["objects"][2] == {"class": "body", "bbox": [0, 0, 1, 1]}, result
        answer = result
    assert {"age", "gender", "emotions", "quality"} <= set(answer["objects"][0]) and "age" in answer["objects"][1]
    for path in {f"/mask-estimator/{version}/process/sample", f"/mask-estimator{prefix}/process/sample"}:
        status, result = call(openapi, api, "POST", path, answer, request=True)
        assert status == 501 and "not available" in result["detail"][0]["msg"], result
    # verify-matcher: the same face twice (without the image), then a face against itself mirrored.
    template = found["face-detector-template-extractor"]["objects"][0]
    mirrored = call(
        openapi,
        api,
        "POST",
        f"/face-detector-template-extractor/{version}/process/sample",
        sample(version, jpeg(astronaut()[::2, ::-2].copy())),
    )[1]["objects"][0]
    for objects, value in (([template, template], "SAME"), ([template, mirrored], None)):
        for path in {f"/verify-matcher/{version}/process/sample", f"/verify-matcher{prefix}/process/sample"}:
            status, result = call(openapi, api, "POST", path, {"objects": objects}, request=True)
            assert status == 200 and (value is None or result["verification"]["value"] == value), result
    if version == "v2":  # 3DiVi's platform form: the template nested under an extractor name
        nested = dict(template, template={"face_template_extractor": template["template"]})
        status, result = call(
            openapi, api, "POST", "/verify-matcher/v2/process/sample", {"objects": [nested, template]}, request=True
        )
        assert status == 200 and result["verification"]["value"] == "SAME", result


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_image_api_errors(api, openapi, version):
    other_key = "_image" if version == "v1" else "$image"
    good = sample(version)
    blob = base64.b64encode(SMALL).decode()
    template_key = "$template" if version == "v1" else "template"
    template = "AAAA" if version == "v1" else {"blob": "AAAA", "format": "NDARRAY", "dtype": "float32", "shape": [1]}
    wide = base64.b64encode(png(np.zeros((1, 6001, 3), np.uint8))).decode()
    cases = [
        ("face-detector-face-fitter", b"{not json", "value_error.jsondecode"),
        ("face-detector-face-fitter", [1, 2], "type_error.dict"),
        ("face-detector-face-fitter", {}, "value_error.missing"),
        ("face-detector-face-fitter", {**good, other_key: blob}, "value_error.version"),
        ("face-detector-template-extractor", sample(version, b"\x00not an image"), "value_error.image"),
        ("face-detector-template-extractor", {**good, "objects": {}}, "type_error.list"),
        ("face-detector-template-extractor", {**good, "objects": [1]}, "type_error.dict"),
        ("age-estimator", {**good, "objects": [{"class": "face"}]}, "value_error.missing"),
        ("age-estimator", {**good, "objects": [{"bbox": [10, 20, 100, 200]}]}, "value_error.number.not_in_range"),
        ("gender-estimator", {**good, "objects": [{"bbox": [0.5, 0.5, 0.5, 0.6]}]}, "value_error"),
        ("gender-estimator", {**good, "objects": [{"bbox": "0 0 1 1"}]}, "type_error.list"),
        ("emotion-estimator", {**good, "objects": [{"bbox": [0, 0, 1, 1]}] * 101}, "value_error.list.max_items"),
        ("emotion-estimator", {"objects": [{"bbox": [0, 0, 1, 1]}]}, "value_error.missing"),
        ("verify-matcher", {"objects": [{template_key: template}]}, "value_error.list.size"),
        ("verify-matcher", {"objects": [{template_key: template}] * 2}, "value_error"),
        ("verify-matcher", {"objects": [{}, {}]}, "value_error.missing"),
    ]
    if version == "v1":
        cases += [
            ("face-detector-face-fitter", {"$image": 5}, "type_error.str"),
            ("face-detector-face-fitter", {"$image": "not base64!"}, "value_error.base64"),
            ("face-detector-face-fitter", {"$image": wide}, "value_error.image"),
            ("verify-matcher", {"objects": [{"template": {"blob": "AAAA"}}] * 2}, "value_error.version"),
        ]
    else:
        cases += [
            ("face-detector-face-fitter", {"_image": blob}, "type_error.dict"),
            ("face-detector-face-fitter", {"_image": {"blob": blob, "format": "NDARRAY"}}, "value_error.const"),
            ("face-detector-face-fitter", {"_image": {"format": "IMAGE"}}, "value_error.missing"),
            ("age-estimator", {**good, "objects": [{"$template": "AAAA"}]}, "value_error.version"),
            (
                "verify-matcher",
                {"objects": [{"template": {"blob": "AAAA", "dtype": "float16"}}] * 2},
                "value_error.const",
            ),
        ]
    if HAVE_LIVENESS:
        cases.append((LIVENESS, {"objects": []}, "value_error.missing"))
    for service, body, kind in cases:
        status, answer = call(openapi, api, "POST", f"/{service}/{version}/process/sample", body)
        assert status == 422 and answer["detail"][0]["type"] == kind, (
            service,
            body if len(str(body)) < 300 else "",
            answer,
        )
    assert answer["detail"][0]["loc"][0] == "body"
    # process/image: no field `image`, not multipart, a malformed multipart body.
    fields = [("file", SMALL, "a.jpg")]
    status, answer = post_multipart(openapi, api, f"/face-detector-face-fitter/{version}/process/image", fields)
    assert status == 422 and answer["detail"][0] == {
        "loc": ["body", "image"],
        "msg": answer["detail"][0]["msg"],
        "type": "value_error.missing",
    }, answer
    for body, content_type, kind in (
        (json.dumps(good).encode(), "application/json", "value_error.missing"),
        (b"--x\r\ntruncated", "multipart/form-data; boundary=x", "value_error.multipart"),
    ):
        status, answer = call(
            openapi, api, "POST", f"/face-detector-template-extractor/{version}/process/image", body, content_type
        )
        assert status == 422 and answer["detail"][0]["type"] == kind, answer
    # 404: an unknown service, and process/image of a service that needs objects.
    for path in (
        f"/no-such-service/{version}/process/sample",
        "/no-such-service/process/image",
        f"/age-estimator/{version}/process/image",
        "/verify-matcher/process/image",
    ):
        status, answer = call(openapi, api, "POST", path, good)
        assert status == 404 and answer["detail"].startswith("Not Found"), answer
    # 405, outside any documented operation: the DetailMessage component.
    status, headers, raw = api.request("GET", f"/age-estimator/{version}/process/sample")
    assert status == 405 and headers["X-Request-ID"]
    component("DetailMessage", json.loads(raw))
    assert json.loads(raw) == {"detail": "Method Not Allowed"}


# ---------------------------------------------------------------- 501 without the pack, /ready 503 while draining


@pytest.fixture
def no_pack_daemon(tmp_path, monkeypatch):
    """A daemon on a copy of the bundle whose manifest lists no liveness models."""
    bundle = tmp_path / "models"
    bundle.mkdir()
    manifest = dict(MANIFEST, models={k: v for k, v in MANIFEST["models"].items() if not k.startswith("liveness")})
    for entry in manifest["models"].values():
        os.symlink(os.path.join(BUNDLE, entry["file"]), bundle / entry["file"])
    shutil.copytree(os.path.join(BUNDLE, "licenses"), bundle / "licenses")
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(testing, "BUNDLE", str(bundle))
    daemon = Daemon(tmp_path)
    yield daemon
    daemon.stop()


def test_501_without_the_liveness_pack_and_ready_503_while_draining(no_pack_daemon, openapi):
    client = no_pack_daemon.client
    for version in ("v1", "v2"):
        status, answer = call(openapi, client, "POST", f"/{LIVENESS}/{version}/process/sample", sample(version))
        assert status == 501 and answer["detail"][0]["type"] == "model_not_installed", answer
        status, answer = post_multipart(
            openapi, client, f"/{LIVENESS}/{version}/process/image", [("image", SMALL, "a")]
        )
        assert status == 501, answer
    status, answer = call(openapi, client, "POST", f"/{LIVENESS}/process/sample", sample("v1"))
    assert status == 501, answer
    # Draining: a request in flight (its body not sent yet) keeps the daemon up after SIGTERM.
    held = socket.create_connection(("127.0.0.1", no_pack_daemon.port), timeout=10)
    keep_alive = socket.create_connection(("127.0.0.1", no_pack_daemon.port), timeout=10)
    try:
        held.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n"
        )
        keep_alive.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        read_response(keep_alive)
        time.sleep(0.2)
        no_pack_daemon.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        keep_alive.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, headers, raw = read_response(keep_alive)
        assert status == 503 and json.loads(raw) == {"status": "draining"}, raw
        check(openapi, "GET", "/ready", status, headers, raw)
    finally:
        held.close()
        keep_alive.close()
    assert no_pack_daemon.process.wait(30) == 0


def read_response(sock):
    """(status, headers, body) of one HTTP/1.1 response with a Content-Length, read from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int(next(v for k, v in headers.items() if k.lower() == "content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


# ---------------------------------------------------------------- coverage of the document


@pytest.mark.parametrize("facen, name", [("sface+dlib", "fused"), ("mobilefacenet", "mobilefacenet")])
def test_each_opt_in_facen_is_in_the_contract(daemons, openapi, facen, name):
    """The banner, the Extraction API's facen, the v1/v2 templates and verify-matcher of a daemon
    with a non-default [facen] model (the same daemons as tests/test_facen_*.py) match the document."""
    client = daemons(name, facen={"model": facen}).client
    status, banner = call(openapi, client, "GET", "/")
    assert status == 200 and banner["facen"]["model"] == facen
    dimension = banner["facen"]["dimension"]
    [response] = extract(
        openapi, client, {"requests": [{"image": "multipart:photo", "need_facen": True}]}, {"photo": SMALL}
    )
    assert len(base64.b64decode(response["faces"][0]["facen"])) == 4 * dimension
    for version in ("v1", "v2"):
        path = f"/face-detector-template-extractor/{version}/process/sample"
        status, answer = call(openapi, client, "POST", path, sample(version), request=True)
        assert status == 200, answer
        template = answer["objects"][0]
        status, result = call(
            openapi, client, "POST", f"/verify-matcher/{version}/process/sample", {"objects": [template, template]}
        )
        assert status == 200 and result["verification"]["value"] == "SAME", result
        assert result["verification"]["threshold"] == banner["facen"]["same_person_threshold"]


def test_every_documented_operation_and_response_was_exercised(request):
    tests = {name for name in request.module.__dict__ if name.startswith("test_")}
    selected = {item.originalname for item in request.session.items if item.module is request.module}
    if selected != tests:
        pytest.skip("only meaningful when the whole module runs")
    ran = {(method, path) for method, path, _ in VALIDATED}
    statuses = {(method, path, status) for method, path, status in VALIDATED}
    missing_operations, missing_responses = [], []
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            if not HAVE_LIVENESS and LIVENESS in path:
                continue
            if (method, path) not in ran:
                missing_operations.append(f"{method.upper()} {path}")
            for code in operation["responses"]:
                if code == "500":  # unexpected failures: nothing to provoke
                    continue
                if (method, path, int(code)) in statuses:
                    continue
                if code in ("413", "422", "501", "503") and any(s == int(code) for _, _, s in VALIDATED):
                    continue  # a shared response component, exercised on other paths
                missing_responses.append(f"{method.upper()} {path} {code}")
    assert not missing_operations, missing_operations
    assert not missing_responses, missing_responses
    print(f"\n{len(VALIDATED)} responses validated against {OPENAPI}")
