"""The facenapi plugin hook: facenapi calls `activate(app, ctx, options)` on every plugin it
loads (plugins_dirs / plugins_enabled in findface-facenapi.ini)."""

import logging

from .extractor import ExtractionApiExtractor

log = logging.getLogger("facenapi_plugin")


def activate(app, ctx, options):
    """Replace `ctx.extractor` with ours, configured from facenapi's own extraction_api_* and
    gae options. facenapi's built-in extractor is kept as `ctx.builtin_extractor`."""
    extractor = ExtractionApiExtractor(options)
    if not isinstance(getattr(ctx, "extractor", None), ExtractionApiExtractor):
        ctx.builtin_extractor = getattr(ctx, "extractor", None)
    ctx.extractor = extractor
    log.info("facenapi_plugin: ctx.extractor -> %s (detector %s, max_clients %d, gae %s)",
             extractor.settings.url, extractor.settings.detector, extractor.settings.max_clients,
             extractor.settings.gae)
    return extractor
