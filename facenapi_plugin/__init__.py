"""findface-extraction-api's extractor for findface-facenapi: `ctx.extractor.extract()` and
`ctx.extractor.enrich()` over the Extraction API, as a facenapi plugin or on its own.

Written in Python 3.5 syntax on Tornado's public client API (4.5 to 6.x) so that facenapi's own
interpreter can load it; see docs/facenapi.md."""

from .errors import ExtractionError
from .extractor import ExtractionApiExtractor
from .faces import EMOTIONS, Emotions, ExtractionFace, Rectangle
from .plugin import activate
from .settings import Settings

__all__ = ["activate", "ExtractionApiExtractor", "ExtractionError", "ExtractionFace", "Rectangle",
           "Emotions", "EMOTIONS", "Settings"]
