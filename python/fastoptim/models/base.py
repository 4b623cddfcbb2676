"""The model interface shared by the NumPy models."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from ..flat_params import FlatParams


class Model:
    """A differentiable model whose parameters live in ``self.params`` (a FlatParams).

    Subclasses set ``n_features`` and implement :meth:`_targets` (validated labels or
    targets), :meth:`loss_and_grad` (writes ``self.params.grads``), :meth:`loss`,
    :meth:`predict` and :meth:`score` (accuracy for classifiers, R² for regression).
    """

    params: FlatParams
    n_features: int
    metric_name = "score"

    def __init__(self, arrays: dict[str, np.ndarray], dtype: DTypeLike) -> None:
        self.params = FlatParams(arrays, dtype=dtype)
        self.dtype = self.params.dtype

    def _inputs(self, X: np.ndarray, where: str = "X") -> np.ndarray:
        check_inputs(X, self.n_features, where)
        return np.asarray(X, dtype=self.dtype)

    def _targets(self, y: np.ndarray, n: int, where: str = "y") -> np.ndarray:
        """``y`` validated for ``n`` examples (ValueError naming ``where``), as the model uses it."""
        raise NotImplementedError

    def check_data(self, X: np.ndarray, y: np.ndarray, names: tuple[str, str] = ("X", "y")) -> None:
        """ValueError naming ``names[0]``/``names[1]`` unless ``X`` has one row of
        ``n_features`` columns per example and ``y`` one valid target per row. Copies nothing
        large: what :func:`~fastoptim.fit` checks before training."""
        check_inputs(X, self.n_features, names[0])
        self._targets(y, len(X), names[1])

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


def one_hot_labels(y: np.ndarray, n_classes: int, n: int | None = None, where: str = "y") -> np.ndarray:
    """Integer labels in [0, n_classes) as an int array (``n`` of them, when given), validated."""
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{where}: expected 1-D integer class labels, got {y.dtype} with shape {y.shape}")
    if n is not None and len(y) != n:
        raise ValueError(f"{where}: {len(y)} labels for {n} examples")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{where}: labels must be in [0, {n_classes}), got [{y.min()}, {y.max()}]")
    return y


def log_softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def check_inputs(X: np.ndarray, n_features: int, where: str = "X") -> None:
    """ValueError naming ``where`` unless ``X`` is a 2-D real array with ``n_features`` columns."""
    shape = np.shape(X)
    if len(shape) != 2 or shape[1] != n_features:
        raise ValueError(f"{where}: expected a 2-D array (examples, {n_features} features), got shape {shape}")
    dtype = np.asarray(X).dtype
    if dtype.kind not in "biuf" and dtype.name != "bfloat16":
        raise ValueError(f"{where}: expected real numbers, got dtype {dtype}")


def check_count(n: int, name: str = "n_features") -> int:
    """``n`` as an int; ValueError naming ``name`` unless it is an int >= 1."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name}: must be an int >= 1, got {n!r}")
    return int(n)
