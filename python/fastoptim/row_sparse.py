"""Row-sparse gradients for the NumPy API and ``fastoptim.ops``: ``RowSparse(indices, values)``.

An embedding table's gradient names a few rows: ``values[k]`` is the gradient of row
``indices[k]`` of the param seen as a table of equal rows (``values`` shaped ``(len(indices),
*row_shape)``, the rows of ``row_shape`` elements; for a ``(vocab, dim)`` table, ``(n, dim)``).
A step then updates only the rows named, and their state: the lazy update of SparseAdam (and of
TensorFlow's LazyAdam), whose cost is proportional to the rows named, not to the table. A row
named more than once gets the sum of its gradient rows, added in the order they appear, as
torch's ``coalesce`` sums them. Any ``(indices, values)`` tuple is taken the same way.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class RowSparse(NamedTuple):
    """A row-sparse gradient: ``values[k]`` is the gradient of row ``indices[k]``.

    Attributes:
        indices: 1-D integer array of row numbers (any order, repeats allowed).
        values: C-contiguous float array of the param's dtype, shaped ``(len(indices), *row_shape)``.
    """

    indices: np.ndarray
    values: np.ndarray
