"""jditem: JD.com product details through a task-backed API."""

from jditem import errors
from jditem._version import __version__
from jditem.client import AsyncClient, Client
from jditem.protocol import Product

__all__ = ["AsyncClient", "Client", "Product", "__version__", "errors"]
