"""Error codes both API adapters use, as one exception type that renders itself."""

from typing import Any

from .render import clip_text

MAX_DESC = 1000  # characters; client text quoted in a message never makes it longer

BAD_PARAM = "BAD_PARAM"
MALFORMED_JSON = "MALFORMED_JSON"
IMAGE_DECODING_FAILED = "IMAGE_DECODING_FAILED"
IMAGE_FETCH_FAILED = "IMAGE_FETCH_FAILED"
IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
INTERNAL_ERROR = "INTERNAL_ERROR"
NOT_FOUND = "NOT_FOUND"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"


class ApiError(Exception):
    """A client-facing error: a code, a human description and, for BAD_PARAM, the parameter."""

    def __init__(self, code: str, desc: str, param: str | None = None, status: int = 400):
        super().__init__(desc)
        self.code, self.desc, self.param, self.status = code, desc, param, status

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "desc": clip_text(self.desc, MAX_DESC)}
        if self.param is not None:
            body["param"] = self.param
        return body


def bad_param(param: str, desc: str) -> ApiError:
    return ApiError(BAD_PARAM, desc, param=param)
