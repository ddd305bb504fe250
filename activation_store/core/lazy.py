"""Lazy package exports: public names are imported on first use, so ``backtrack --help`` and
``import <package>`` stay fast while ``from probes import run_probes`` still works."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, table: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` importing ``name`` from module ``table[name]`` on first use.

    A module path starting with ``.`` is relative to ``package``. The imported value is cached in
    ``namespace`` (the package's ``globals()``), so each name is resolved once.
    """

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name], package), name)
        namespace[name] = value
        return value

    return __getattr__
