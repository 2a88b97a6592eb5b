"""Package ``__init__``s that import a submodule only when one of its names is first used."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for ``package`` that imports each name on first use.

    Importing one part of a package (``core.ingest.media``) then does not load the others
    (the transcriber, the embedding runtime).

    Args:
        package: The package's ``__name__``.
        exports: Public name -> the submodule that defines it.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later uses skip this function
        return value

    return __getattr__
