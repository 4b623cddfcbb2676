"""Softmax (multinomial logistic) regression."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from .base import Model, check_count, log_softmax_rows, one_hot_labels


class SoftmaxRegression(Model):
    r"""``P = softmax(X·W + b)`` with the mean cross-entropy; gradient ``Xᵀ(P − Y)/n``.

    Labels are integers in ``[0, n_classes)``. Args: ``n_features``, ``n_classes``, ``seed``
    (weights ~ N(0, 0.01²)), ``dtype``.
    """

    metric_name = "accuracy"

    def __init__(self, n_features: int, n_classes: int, *, seed: int = 0, dtype: DTypeLike = np.float32) -> None:
        rng = np.random.default_rng(seed)
        self.n_features = check_count(n_features)
        self.n_classes = check_count(n_classes, "n_classes")
        super().__init__({"W": rng.normal(0, 0.01, (n_features, n_classes)), "b": np.zeros(n_classes)}, dtype)

    def logits(self, X: np.ndarray) -> np.ndarray:
        return self._inputs(X) @ self.params["W"] + self.params["b"]

    def _targets(self, y: np.ndarray, n: int, where: str = "y") -> np.ndarray:
        return one_hot_labels(y, self.n_classes, n, where)

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        logp = log_softmax_rows(self.logits(X).astype(np.float64))
        y = one_hot_labels(y, self.n_classes, len(logp))
        return float(-np.mean(logp[np.arange(len(y)), y]))

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray) -> float:
        X = self._inputs(X)
        y = one_hot_labels(y, self.n_classes, len(X))
        logp = log_softmax_rows(self.logits(X).astype(np.float64))
        n = len(X)
        d = np.exp(logp)
        d[np.arange(n), y] -= 1.0
        d = (d / n).astype(self.dtype)
        np.matmul(X.T, d, out=self.params.grad_of("W"))
        np.sum(d, axis=0, out=self.params.grad_of("b"))
        return float(-np.mean(logp[np.arange(n), y]))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(X), axis=1)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))
