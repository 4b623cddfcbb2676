"""Files the demo and the benchmarks write: output folders checked before any work, and JSON
that every JSON parser reads.

Python's ``json`` writes ``NaN``/``Infinity`` by default, which ``JSON.parse`` and most other
parsers reject; here non-finite floats become ``null``, and whoever writes the record says what
``null`` means (the demo's learning-rate sweep, for instance, writes ``"diverged": [...]``
beside its losses).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np


def finite_or_none(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None, NumPy scalars and arrays turned
    into Python numbers and lists, tuples into lists (recursively)."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return finite_or_none(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    raise TypeError(f"JSON output: cannot write a {type(obj).__name__} as JSON")


def dumps(obj: Any, indent: int | None = 1) -> str:
    """Strict JSON text of ``obj`` (see :func:`finite_or_none`)."""
    return json.dumps(finite_or_none(obj), indent=indent, allow_nan=False)


def write_json(path: str, obj: Any, indent: int | None = 1) -> None:
    """Write ``obj`` as strict JSON to ``path`` (its folder is created)."""
    text = dumps(obj, indent)  # before opening: a failure leaves no half-written file
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text + "\n")


def prepare_dir(path: str) -> None:
    """Create the output folder ``path`` (and its parents) and check that a file can be
    written in it, so that a bad output folder fails before a long run rather than after it.
    Raises ValueError with the reason."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"output folder: expected a non-empty path, got {path!r}")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{path!r} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ValueError(f"cannot write into {path!r}: {exc.strerror or exc}") from exc
