"""How the user's ``params`` argument is laid out, so that ``step(grads)`` can take gradients
in the same layout and hand each parameter group a flat list of arrays.

Accepted layouts (mirrored by ``grads``; any single gradient may instead be row-sparse, an
``(indices, values)`` pair, see :mod:`fastoptim.row_sparse`):

* one array                      -> grads: one array
* a list/tuple of arrays         -> grads: a list/tuple of the same length
* a dict ``name -> array``       -> grads: a mapping with the same keys
* a :class:`~fastoptim.FlatParams` arena -> grads: ``None`` (the arena's own gradient buffer)
* a list of parameter-group dicts, each with ``"params"`` in one of the layouts above
                                 -> grads: a list with one entry per group, each mirroring
                                    that group's ``"params"``
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .flat_params import FlatParams
from .row_sparse import RowSparse


@dataclass
class GroupLayout:
    """Layout of one group's ``"params"``: arrays stepped, and how grads map onto them."""

    kind: str  # "array" | "list" | "dict" | "flat"
    arrays: list[np.ndarray]
    names: list[str] | None = None
    flat: FlatParams | None = None

    def __post_init__(self) -> None:
        if self.flat is not None:
            self._flat_grads = [self.flat.grad]

    def __getstate__(self) -> dict[str, Any]:
        # An arena's buffers are re-read from the unpickled FlatParams, which re-aligns them.
        state = dict(self.__dict__)
        if self.kind == "flat":
            state["arrays"] = state["_flat_grads"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.kind == "flat":
            assert self.flat is not None
            self.arrays = [self.flat.data]
            self._flat_grads = [self.flat.grad]

    def grads(self, grads: Any, where: str) -> list[np.ndarray]:
        """The group's gradients as a list aligned with ``arrays``; ValueError/TypeError
        naming ``where`` if they do not mirror the params."""
        if self.kind == "list" and type(grads) is list and len(grads) == len(self.arrays):
            return grads  # the common case, checked array by array in C++
        if isinstance(grads, RowSparse) and len(self.arrays) == 1 and self.kind != "flat":
            return [grads]  # the one param's row-sparse gradient, not wrapped in a list
        if self.kind == "flat":
            assert self.flat is not None
            if grads is None or grads is self.flat or grads is self.flat.grad:
                return self._flat_grads
            raise TypeError(
                f"{where}: an optimizer over a FlatParams arena reads its gradient buffer; "
                f"pass None (write gradients into FlatParams.grads first), got {type(grads).__name__}"
            )
        if grads is None:
            raise TypeError(f"{where}: gradients are required (got None)")
        if self.kind == "array":
            if isinstance(grads, np.ndarray) or (isinstance(grads, tuple) and len(grads) == 2):
                return [grads]  # an array, or a row-sparse (indices, values) pair
            if isinstance(grads, (list, tuple)) and len(grads) == 1:
                return list(grads)
            raise TypeError(f"{where}: expected one array like params, got {type(grads).__name__}")
        if self.kind == "dict":
            assert self.names is not None
            if not isinstance(grads, Mapping):
                raise TypeError(f"{where}: params were a dict, so grads must be a mapping with the same "
                                f"keys, got {type(grads).__name__}")
            if len(grads) != len(self.names) or any(k not in grads for k in self.names):
                missing = [k for k in self.names if k not in grads]
                extra = [k for k in grads if k not in set(self.names)]
                raise ValueError(f"{where}: keys do not match params (missing {missing}, unexpected {extra})")
            return [grads[k] for k in self.names]
        if isinstance(grads, (np.ndarray, Mapping)) or not isinstance(grads, Sequence):
            raise TypeError(f"{where}: params were a list, so grads must be a list of arrays, "
                            f"got {type(grads).__name__}")
        if len(grads) != len(self.arrays):
            raise ValueError(f"{where}: {len(grads)} gradients for {len(self.arrays)} params")
        return list(grads)


def group_layout(params: Any, where: str) -> GroupLayout:
    """Parse one group's params (array, list, dict or FlatParams)."""
    if isinstance(params, FlatParams):
        return GroupLayout("flat", [params.data], flat=params)
    if isinstance(params, np.ndarray):
        return GroupLayout("array", [params])
    if isinstance(params, Mapping):
        names = [str(k) for k in params]
        arrays = list(params.values())
        _require_arrays(arrays, where, names)
        return GroupLayout("dict", arrays, names=names)
    if isinstance(params, (list, tuple)):
        arrays = list(params)
        _require_arrays(arrays, where, None)
        return GroupLayout("list", arrays)
    raise TypeError(f"{where}: expected an array, a list or dict of arrays, or a FlatParams; "
                    f"got {type(params).__name__}")


def _require_arrays(arrays: list, where: str, names: list[str] | None) -> None:
    if not arrays:
        raise ValueError(f"{where}: an empty parameter list")
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray):
            label = f"{where}[{names[i]!r}]" if names else f"{where}[{i}]"
            raise TypeError(f"{label}: must be a numpy.ndarray, got {type(a).__name__}")


def is_group_list(params: Any) -> bool:
    """True if ``params`` is a list of parameter-group dicts (torch's param_groups form)."""
    return (isinstance(params, (list, tuple)) and len(params) > 0
            and all(isinstance(g, Mapping) and "params" in g for g in params))
