"""The extractor's settings, read from facenapi's options under their documented names, so the
plugin follows /etc/findface-facenapi.ini without keys of its own."""

import collections

DEFAULTS = collections.OrderedDict([
    ("extraction_api_url", "http://localhost:18666"),
    ("extraction_api_detector", "nnd"),
    ("extraction_api_connect_timeout", 10.0),
    ("extraction_api_request_timeout", 10.0),
    ("extraction_api_max_clients", 100),
    ("gae", False),
])
DETECTORS = ("nnd", "legacy")


class Settings(collections.namedtuple("Settings", "url detector connect_timeout request_timeout max_clients gae")):
    __slots__ = ()

    @classmethod
    def from_options(cls, options=None, **overrides):
        """From tornado's `options` (what facenapi passes to a plugin's activate), a dict of the
        same keys, or nothing; keys absent there take facenapi's defaults. Raises ValueError."""
        values = dict(DEFAULTS)
        for key in DEFAULTS:
            value = _lookup(options, key)
            if value is not None:
                values[key] = value
        values.update((k, v) for k, v in overrides.items() if v is not None)
        detector = str(values["extraction_api_detector"])
        if detector not in DETECTORS:
            raise ValueError("extraction_api_detector must be one of {}, not {!r}".format(DETECTORS, detector))
        max_clients = int(values["extraction_api_max_clients"])
        connect, request = float(values["extraction_api_connect_timeout"]), float(values["extraction_api_request_timeout"])
        if max_clients < 1 or connect <= 0 or request <= 0:
            raise ValueError("extraction_api_max_clients and the timeouts must be positive")
        url = str(values["extraction_api_url"])
        if not url.startswith(("http://", "https://")):
            raise ValueError("extraction_api_url must be an http(s) URL, not {!r}".format(url))
        return cls(url.rstrip("/") + "/", detector, connect, request, max_clients, bool(values["gae"]))


def _lookup(options, key):
    """options[key] or options.key; None where it is not set. tornado's OptionParser raises
    AttributeError for names nobody defined, which counts as not set."""
    if options is None:
        return None
    if isinstance(options, dict):
        return options.get(key)
    try:
        return getattr(options, key)
    except AttributeError:
        return None
