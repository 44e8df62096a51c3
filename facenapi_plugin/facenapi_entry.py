"""The file to put in one of facenapi's plugins_dirs (a symlink to this file is best).

facenapi runs on its own interpreter, where this package is usually not installed: this file
loads the package from the directory named by $FACENAPI_PLUGIN_PACKAGE, else the symlink's
target, else the venv of the findface-extraction-api Debian package, without putting that venv's
site-packages on facenapi's sys.path, so facenapi keeps its own Tornado."""

import glob
import importlib.util
import os
import sys

PACKAGE = "facenapi_plugin"
# The Debian package's venv (debian/rules), then dh-virtualenv's default location.
VENV_GLOBS = ("/usr/lib/findface-extraction-api/venv/lib/python3*/site-packages/" + PACKAGE,
              "/opt/venvs/findface-extraction-api/lib/python3*/site-packages/" + PACKAGE)


def _candidates():
    yield os.environ.get("FACENAPI_PLUGIN_PACKAGE", "")
    yield os.path.dirname(os.path.realpath(__file__))
    for pattern in VENV_GLOBS:
        for path in sorted(glob.glob(pattern), reverse=True):
            yield path


def _load():
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    for path in _candidates():
        init = os.path.join(path, "__init__.py")
        if path and os.path.basename(path.rstrip("/")) == PACKAGE and os.path.isfile(init):
            spec = importlib.util.spec_from_file_location(PACKAGE, init, submodule_search_locations=[path])
            module = importlib.util.module_from_spec(spec)
            sys.modules[PACKAGE] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[PACKAGE]
                raise
            return module
    import facenapi_plugin  # installed into facenapi's interpreter after all
    return facenapi_plugin


def activate(app, ctx, options):
    return _load().activate(app, ctx, options)
