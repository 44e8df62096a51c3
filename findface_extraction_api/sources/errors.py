"""The ways getting an image can fail; `str()` is the sentence to show the client."""


class SourceError(Exception):
    """An image that could not be had; subclasses say why."""


class DecodeFailed(SourceError):
    """The bytes are not an image we read: empty, unknown format, corrupt or truncated."""


class ImageTooLarge(SourceError):
    """The image's dimensions or pixel count exceed the configured budget (read before decoding)."""


class FetchFailed(SourceError):
    """A URL could not be fetched: disabled, refused target, HTTP error, timeout, over the size limit."""
