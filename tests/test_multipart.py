"""api/multipart.py: malformed bodies get a reason, never an exception the handler did not expect."""

import pytest

from findface_extraction_api.api.multipart import MalformedMultipart, parts

pytestmark = pytest.mark.unit


def test_part_headers_that_are_not_utf8_are_a_malformed_body() -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="p\xff"\r\n\r\nx\r\n--b--\r\n'
    with pytest.raises(MalformedMultipart, match="not valid UTF-8"):
        parts("multipart/form-data; boundary=b", body)


def test_a_well_formed_part_is_returned() -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="p"\r\n\r\nx\r\n--b--\r\n'
    assert parts("multipart/form-data; boundary=b", body) == {"p": b"x"}
