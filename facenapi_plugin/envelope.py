"""The extraction-api request: several images in one `requests` envelope, one multipart part
each, so a photo batch or a set of faces to enrich costs one HTTP round trip."""

import json
import uuid

MAX_REQUESTS = 100  # the service's limit per envelope


def is_url(photo):
    return isinstance(photo, str) and photo.startswith(("http://", "https://"))


def image_ref(photo, part):
    """The request's `image`: a URL is passed through (the service fetches it under its own
    [fetch] policy); bytes travel as the multipart part `part`."""
    if is_url(photo):
        return photo, None
    if not isinstance(photo, (bytes, bytearray)):
        raise TypeError("a photo is bytes or an http(s) URL, not {}".format(type(photo).__name__))
    return "multipart:" + part, bytes(photo)


def multipart(requests, parts):
    """(body, content type): the envelope as the field `request` (as `curl -F request=...`
    sends it), then one file part per image, named as its request's `multipart:` reference."""
    boundary = uuid.uuid4().hex
    heads = ['Content-Disposition: form-data; name="request"']
    datas = [json.dumps({"requests": requests}).encode("utf-8")]
    for name, data in parts:
        heads.append('Content-Disposition: form-data; name="{0}"; filename="{0}"\r\n'
                     'Content-Type: application/octet-stream'.format(name))
        datas.append(data)
    body = b"".join("--{}\r\n{}\r\n\r\n".format(boundary, head).encode("ascii") + data + b"\r\n"
                    for head, data in zip(heads, datas))
    body += "--{}--\r\n".format(boundary).encode("ascii")
    return body, "multipart/form-data; boundary=" + boundary


def chunks(items, size=MAX_REQUESTS):
    return [items[i:i + size] for i in range(0, len(items), size)]
