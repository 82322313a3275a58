"""rampart's sink guard: ``app = rampart.inprocess.install(app, mode="block")`` guards an aiohttp,
ASGI or WSGI application (see :mod:`rampart.inprocess.install`)."""

from rampart.inprocess import install as _install_module  # first: the function below keeps the name
from rampart.inprocess.install import install

__all__ = ["install"]

del _install_module
