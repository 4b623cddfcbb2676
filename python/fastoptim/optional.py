"""Optional dependencies: one way to import them and one install hint when they are missing.

Every feature that needs a package outside the core install (``numpy``) imports it through
:func:`require`, so that a missing package always reads the same way, in one line::

    keeping bfloat16 state needs ml_dtypes: pip install 'fastoptim[bf16]'
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependency(ImportError):
    """An optional package a requested feature needs is not installed; the message is the
    one-line install hint."""


def install_hint(what: str, package: str, extra: str | None) -> str:
    """``"<what> needs <package>: pip install 'fastoptim[<extra>]'"`` (``pip install <package>``
    for a package no fastoptim extra installs)."""
    return f"{what} needs {package}: pip install " + (f"'fastoptim[{extra}]'" if extra else package)


def require(module: str, *, what: str, extra: str | None, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` with :func:`install_hint`.

    Args:
        module: the import name (``"sklearn"``).
        what: the feature that needs it, as the user asked for it (``"loading the demo's data sets"``).
        extra: the fastoptim extra that installs it (``"demo"``), or None.
        package: the distribution name when it differs from ``module`` (``"scikit-learn"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(install_hint(what, package or module.split(".")[0], extra)) from exc
