"""The one exception the extractor raises, so facenapi code needs a single `except`."""

# Transport failures, named like the service's own codes so callers can treat both alike.
CONNECTION_FAILED = "CONNECTION_FAILED"  # refused, reset, closed before an answer, unresolvable host
TIMEOUT = "TIMEOUT"                      # extraction_api_connect_timeout / _request_timeout ran out
BAD_RESPONSE = "BAD_RESPONSE"            # an answer that is not the extraction-api protocol
BAD_PARAM = "BAD_PARAM"                  # also raised locally, e.g. enrich() on a face without `normalized`


class ExtractionError(Exception):
    """A failed extraction: `code` is the service's error code (IMAGE_DECODING_FAILED, BAD_PARAM,
    ...) or one of the transport codes above; `index` is the image's position in a batch."""

    def __init__(self, code, desc, param=None, status=None, index=None):
        super().__init__("{}: {}".format(code, desc))
        self.code, self.desc, self.param, self.status, self.index = code, desc, param, status, index

    @classmethod
    def from_body(cls, error, status=None, index=None):
        """From an extraction-api error object {"code", "desc"[, "param"]}."""
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            return cls(BAD_RESPONSE, "unexpected error object: {!r}".format(error)[:300], status=status, index=index)
        return cls(error["code"], str(error.get("desc", "")), error.get("param"), status, index)
