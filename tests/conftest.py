"""Fixtures on the shared harness (findface_extraction_api/testing.py): real daemons on the real
model bundle, a local image server, the vendor examples' sample.jpg."""

import os

import pytest

from findface_extraction_api import testing
from findface_extraction_api.testing import Daemon, astronaut, jpeg


@pytest.fixture(autouse=True)
def bundle(request):
    """Every test but the in-process `unit` ones needs the model bundle."""
    if request.node.get_closest_marker("unit") is None and not os.path.exists(
        os.path.join(testing.BUNDLE, "manifest.json")
    ):
        pytest.exit(f"no model bundle at {testing.BUNDLE}: run `make models` (or `make test`, which builds it)", 2)
    return testing.BUNDLE


@pytest.fixture(scope="session")
def daemons(tmp_path_factory):
    """Daemons by configuration, started on first use and shared by the whole session."""
    started = {}

    def get(name, **config):
        if name not in started:
            started[name] = Daemon(tmp_path_factory.mktemp(name), **config)
        return started[name]

    yield get
    for daemon in started.values():
        daemon.stop()


@pytest.fixture(scope="session")
def api(daemons):
    """The main daemon: private fetch targets allowed (for the local image server), 2 MB fetch limit."""
    return daemons("main", fetch={"allow_private_addresses": "true", "size_limit": 2_000_000}).client


@pytest.fixture(scope="session")
def image_server(tmp_path_factory):
    """A local HTTP server for URL-fetch tests; returns (base URL, directory it serves)."""
    root = tmp_path_factory.mktemp("www")
    server, url = testing.image_server(str(root))
    yield url, root
    server.shutdown()


@pytest.fixture(scope="session")
def sample_jpg(tmp_path_factory):
    """sample.jpg for the vendor's curl examples."""
    path = tmp_path_factory.mktemp("curl") / "sample.jpg"
    path.write_bytes(jpeg(astronaut()))
    return path
