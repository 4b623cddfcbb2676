"""The model interface shared by the NumPy models."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from ..flat_params import FlatParams


class Model:
    """A differentiable model whose parameters live in ``self.params`` (a FlatParams).

    Subclasses implement :meth:`loss_and_grad` (writes ``self.params.grads``), :meth:`loss`,
    :meth:`predict` and :meth:`score` (accuracy for classifiers, R² for regression).
    """

    params: FlatParams
    metric_name = "score"

    def __init__(self, arrays: dict[str, np.ndarray], dtype: DTypeLike) -> None:
        self.params = FlatParams(arrays, dtype=dtype)
        self.dtype = self.params.dtype

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=self.dtype)
        if X.ndim != 2:
            raise ValueError(f"X: expected a 2-D array (examples, features), got shape {X.shape}")
        return X

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean loss over the batch; its gradient is written into ``self.params.grads``."""
        raise NotImplementedError

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean loss over the batch, no gradient."""
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.params.items())
        return f"{type(self).__name__}({shapes}, dtype={self.dtype})"


def glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot/Xavier uniform initialization."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def one_hot_labels(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Integer labels in [0, n_classes) as an int array, validated."""
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y: expected 1-D integer class labels, got {y.dtype} with shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y: labels must be in [0, {n_classes}), got [{y.min()}, {y.max()}]")
    return y


def log_softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
