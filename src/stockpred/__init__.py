"""stockpred: stock-price prediction as a continuous service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stockpred")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
