"""Mini-batches over NumPy arrays: full batch, stochastic (one example) or mini-batch, with
seeded shuffling each epoch.

``batch_size=None`` gives the whole data set as one batch (batch gradient descent),
``1`` one example at a time (stochastic gradient descent), ``k`` mini-batches of k.
Per epoch the only data-sized allocation is one permutation index; each batch is gathered
from it (a full unshuffled batch is the arrays themselves, no copy).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class Batches:
    """Iterate ``(X_batch, y_batch)`` over an epoch; iterate again for the next epoch.

    Args:
        X, y: arrays with the same first dimension (examples).
        batch_size: ``None`` for the full batch, else a positive int.
        shuffle: draw a new permutation each epoch (ignored for the full batch, whose
            gradient does not depend on order).
        drop_last: drop a last batch smaller than ``batch_size``.
        seed: an int or a ``numpy.random.Generator``; the same seed gives the same batches.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int | None = None, *, shuffle: bool = True,
                 drop_last: bool = False, seed: int | np.random.Generator | None = 0) -> None:
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim == 0 or y.ndim == 0:
            raise ValueError("X, y: need at least one dimension (examples first)")
        if len(X) != len(y):
            raise ValueError(f"X, y: {len(X)} examples in X but {len(y)} in y")
        if len(X) == 0:
            raise ValueError("X: no examples")
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
                raise ValueError(f"batch_size: must be None (full batch) or an int >= 1, got {batch_size!r}")
            batch_size = int(batch_size)
        self.X, self.y = X, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    @property
    def n(self) -> int:
        return len(self.X)

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.batch_size is None or self.batch_size >= self.n:
            return 0 if (self.drop_last and self.batch_size is not None and self.batch_size > self.n) else 1
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self.batch_size is None:
            yield self.X, self.y
            return
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.X[idx], self.y[idx]


def train_test_split(X: np.ndarray, y: np.ndarray, test_fraction: float = 0.2,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded shuffle and split: ``X_train, X_test, y_train, y_test``."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = max(1, int(round(len(X) * test_fraction)))
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]
