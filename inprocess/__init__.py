"""rampart's sink guard: ``app = inprocess.install(app, mode="block")`` guards an aiohttp,
ASGI or WSGI application (see :mod:`inprocess.install`)."""

from inprocess import install as _install_module  # first: the function below keeps the name
from inprocess.install import install

__all__ = ["install"]

del _install_module
