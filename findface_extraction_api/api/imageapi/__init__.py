"""3DiVi Image API "service pipelines" on the same daemon: POST /<service>/{v1|v2}/process/{sample|image}.

Each service takes a sample ({"$image": base64, "objects": [...]} in v1, {"_image": {"blob",
"format"}, "objects": [...]} in v2) and answers the same sample with its attributes merged into
the objects, so the response of one service is the request of the next. Detector services
(face-detector-*) find the faces themselves and also take a raw image (`process/image`,
multipart field `image`); the estimators take the objects' `bbox` and never re-detect; the
verify-matcher compares two objects' templates. The un-versioned /<service>/process/... paths
of Image API 1.x are v1. Validation errors are HTTP 422 {"detail": [{"loc", "msg", "type"}]}.

samples.py parses and validates the envelopes, services.py is the registry of services (what
each asks of the pipeline and what it writes), handler.py ties them to HTTP. Everything about
pixels and models is the pipeline's. docs/imageapi.md documents the protocol as served.
"""

import re
from typing import Any

from ..service import Service
from .handler import ImageApiHandler

# A trailing slash is accepted: FastAPI (3DiVi's server) redirects it to the path without one.
ROUTES = (
    r"/(?P<name>[A-Za-z0-9_.-]+)/(?P<version>v1|v2)/process/(?P<kind>sample|image)/?",
    r"/(?P<name>[A-Za-z0-9_.-]+)/process/(?P<kind>sample|image)/?",
)
_ROUTE = re.compile("|".join(f"(?:{re.sub(r'[?]P<[a-z]+>', '', route)})" for route in ROUTES))


def routes(service: Service) -> list[tuple[str, type, dict[str, Any]]]:
    """Tornado routes for every service, versioned and (as v1) un-versioned."""
    return [(route, ImageApiHandler, {"service": service}) for route in ROUTES]


def is_imageapi_path(path: str) -> bool:
    """Whether `path` is an Image API route (its errors are {"detail": ...}, not FindFace's)."""
    return _ROUTE.fullmatch(path) is not None
