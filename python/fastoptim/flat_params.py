"""FlatParams: many parameter arrays packed into one aligned, contiguous buffer.

An optimizer built on a FlatParams steps the whole model in one kernel call over one
buffer, however many arrays the model has; the arrays themselves are views into it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

ALIGN_BYTES = 64  # a cache line, and the widest SIMD register (AVX-512)

Structure = dict[str, np.ndarray] | list[np.ndarray]


def aligned_zeros(n: int, dtype: DTypeLike, align: int = ALIGN_BYTES) -> np.ndarray:
    """A 1-D zero array of ``n`` elements whose first element is ``align``-byte aligned."""
    dtype = np.dtype(dtype)
    raw = np.zeros(n * dtype.itemsize + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + n * dtype.itemsize].view(dtype)


def aligned_full_like(a: np.ndarray, value: float) -> np.ndarray:
    """An array shaped and typed like ``a``, filled with ``value``, 64-byte aligned (state
    buffers aligned like the params let the kernels use aligned vector loads on every stream)."""
    out = aligned_zeros(a.size, a.dtype).reshape(a.shape)
    if value:
        out.fill(value)
    return out


class FlatParams:
    """Pack a dict or list of arrays into one 64-byte-aligned float buffer plus a matching
    gradient buffer.

    ``params`` / ``grads`` are views into the buffers with the original names (or order) and
    shapes: write gradients into ``grads[...]``, read parameters from ``params[...]``. Each
    array starts on a 64-byte boundary; the padding between arrays stays zero in both
    buffers, so stepping the whole buffer leaves it zero.

    Args:
        arrays: ``{name: array}`` or ``[array, ...]``; values are copied in.
        dtype: float32 or float64 (or float16/bfloat16, stepped through float32 master
            weights); by default the arrays' common float dtype.
    """

    def __init__(self, arrays: Mapping[str, ArrayLike] | Sequence[ArrayLike],
                 dtype: DTypeLike | None = None) -> None:
        if isinstance(arrays, Mapping):
            names: list[str] | None = [str(k) for k in arrays]
            values = [np.asarray(v) for v in arrays.values()]
        elif isinstance(arrays, Sequence) and not isinstance(arrays, (str, bytes)):
            names = None
            values = [np.asarray(v) for v in arrays]
        else:
            raise TypeError(f"arrays: expected a dict or list of arrays, got {type(arrays).__name__}")
        if not values:
            raise ValueError("arrays: nothing to pack")
        dt = np.dtype(dtype) if dtype is not None else np.result_type(*values)
        if dt not in (np.float32, np.float64, np.float16) and dt.name != "bfloat16":
            raise TypeError(f"dtype: FlatParams holds float32, float64, float16 or bfloat16, got {dt} "
                            "(pass dtype=np.float32 to convert)")
        self.names = names
        self.shapes = [tuple(v.shape) for v in values]
        per_line = ALIGN_BYTES // dt.itemsize
        offsets, end = [], 0
        for v in values:
            offsets.append(end)
            end += -(-v.size // per_line) * per_line
        self.offsets = offsets
        self.data = aligned_zeros(end, dt)
        self.grad = aligned_zeros(end, dt)
        self._make_views()
        for view, v in zip(self._param_views, values):
            np.copyto(view, v, casting="same_kind")

    # -- views ---------------------------------------------------------------------------
    def _make_views(self) -> None:
        def views(buf: np.ndarray) -> list[np.ndarray]:
            return [buf[o:o + int(np.prod(s, dtype=np.int64))].reshape(s)
                    for o, s in zip(self.offsets, self.shapes)]
        self._param_views = views(self.data)
        self._grad_views = views(self.grad)

    def _structured(self, arrays: list[np.ndarray]) -> Structure:
        return dict(zip(self.names, arrays)) if self.names is not None else list(arrays)

    @property
    def params(self) -> Structure:
        """Views of the parameters, as a dict (if built from one) or a list."""
        return self._structured(self._param_views)

    @property
    def grads(self) -> Structure:
        """Views of the gradient buffer, same structure as :attr:`params`."""
        return self._structured(self._grad_views)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def numel(self) -> int:
        """Number of parameter elements (without alignment padding)."""
        return sum(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.names if self.names is not None else range(len(self.shapes)))

    def _index(self, key: str | int) -> int:
        if self.names is not None and isinstance(key, str):
            try:
                return self.names.index(key)
            except ValueError:
                raise KeyError(key) from None
        return range(len(self.shapes))[key]  # IndexError for out of range

    def __getitem__(self, key: str | int) -> np.ndarray:
        """The parameter view named (or numbered) ``key``."""
        return self._param_views[self._index(key)]

    def grad_of(self, key: str | int) -> np.ndarray:
        """The gradient view named (or numbered) ``key``."""
        return self._grad_views[self._index(key)]

    def unflatten(self) -> Structure:
        """Copies of the parameters in the original structure."""
        return self._structured([v.copy() for v in self._param_views])

    def zero_grad(self) -> None:
        """Set the whole gradient buffer to zero."""
        self.grad.fill(0)

    # -- pickling: views are rebuilt over the unpickled buffers, keeping them shared -------
    def __getstate__(self) -> dict[str, Any]:
        return {"names": self.names, "shapes": self.shapes, "offsets": self.offsets,
                "data": np.asarray(self.data), "grad": np.asarray(self.grad)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.names, self.shapes, self.offsets = state["names"], state["shapes"], state["offsets"]
        self.data = aligned_zeros(state["data"].size, state["data"].dtype)
        self.grad = aligned_zeros(state["grad"].size, state["grad"].dtype)
        np.copyto(self.data, state["data"])
        np.copyto(self.grad, state["grad"])
        self._make_views()

    def __repr__(self) -> str:
        return (f"FlatParams({len(self)} arrays, {self.numel} elements, dtype={self.dtype}, "
                f"buffer={self.data.size})")
