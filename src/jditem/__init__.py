"""jditem: JD.com product details through a task-backed API."""

from jditem._version import __version__
from jditem.protocol import Product

__all__ = ["Product", "__version__"]
