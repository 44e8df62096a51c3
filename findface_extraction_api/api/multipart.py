"""multipart/form-data bodies -> {part name: bytes}, for both protocols, with a reason when malformed."""

from tornado import httputil

from .render import clip_text

# An envelope holds up to 100 requests, each may have its own part, plus the `request` part.
LIMITS = httputil.ParseMultipartConfig(max_parts=128, max_part_header_size=10 * 1024)


class MalformedMultipart(ValueError):
    """The body is not the multipart/form-data its Content-Type says; str() says how."""


def parts(content_type: str, body: bytes) -> dict[str, bytes]:
    """Every part of a multipart/form-data body by name (fields and files alike; a file wins over a field)."""
    fields: dict[str, list[bytes]] = {}
    files: dict[str, list[httputil.HTTPFile]] = {}
    boundary = ""
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        raise MalformedMultipart("the multipart/form-data Content-Type has no boundary")
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    if delimiter not in body:
        raise MalformedMultipart(
            f"the body does not contain the boundary '{clip_text(boundary, 80)}' its Content-Type names"
        )
    if delimiter + b"--" not in body:
        raise MalformedMultipart("the multipart body has no closing boundary (truncated?)")
    try:
        httputil.parse_multipart_form_data(delimiter[2:], body, fields, files, config=LIMITS)
    except httputil.HTTPInputError as e:
        raise MalformedMultipart(str(e).removeprefix("Invalid multipart/form-data: ")) from None
    except UnicodeDecodeError:  # Tornado decodes part headers as UTF-8
        raise MalformedMultipart("a part's headers are not valid UTF-8") from None
    found = {name: values[0] for name, values in fields.items()}
    found.update({name: uploads[0]["body"] for name, uploads in files.items()})
    return found
