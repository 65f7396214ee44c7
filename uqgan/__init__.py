"""uqgan: uncertainty quantification in a submodel zone under fast dynamics.

``import uqgan`` is light: numpy-free at import, and dolfinx, torch and matplotlib load only
inside the functions that use them. The public names below resolve lazily.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("uqgan")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# public name -> module that defines it
_LAZY = {
    "CaseConfig": "uqgan.config",
    "load_case": "uqgan.config",
    "default_case": "uqgan.config",
    "ConfigError": "uqgan.config",
    "open_dataset": "uqgan.data.dataset",
    "DatasetError": "uqgan.data.dataset",
    "run_campaign": "uqgan.data.campaign",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'uqgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
