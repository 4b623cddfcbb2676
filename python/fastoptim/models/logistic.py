"""Binary logistic regression."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from .base import Model, check_count


class LogisticRegression(Model):
    r"""``p = σ(X·w + b)`` with the mean binary cross-entropy; gradient ``Xᵀ(p − y)/n``.

    Labels are 0/1. Args: ``n_features``, ``seed`` (weights ~ N(0, 0.01²)), ``dtype``.
    """

    metric_name = "accuracy"

    def __init__(self, n_features: int, *, seed: int = 0, dtype: DTypeLike = np.float32) -> None:
        rng = np.random.default_rng(seed)
        self.n_features = check_count(n_features)
        super().__init__({"w": rng.normal(0, 0.01, n_features), "b": np.zeros(1)}, dtype)

    def logits(self, X: np.ndarray) -> np.ndarray:
        return self._inputs(X) @ self.params["w"] + self.params["b"][0]

    def _targets(self, y: np.ndarray, n: int, where: str = "y") -> np.ndarray:
        y = np.asarray(y)
        if y.shape != (n,) or not np.all((y == 0) | (y == 1)):
            raise ValueError(f"{where}: expected {n} labels in {{0, 1}}, got shape {y.shape}"
                             + ("" if y.shape != (n,) else f", values in [{y.min()}, {y.max()}]"))
        return y.astype(self.dtype)

    @staticmethod
    def _bce(z: np.ndarray, y: np.ndarray) -> float:
        z = z.astype(np.float64)
        # log(1 + e^z) − y·z, computed without overflow
        return float(np.mean(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z))

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        return self._bce(self.logits(X), self._targets(y, len(X)))

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray) -> float:
        X = self._inputs(X)
        y = self._targets(y, len(X))
        z = self.logits(X)
        r = (1.0 / (1.0 + np.exp(-z))).astype(self.dtype) - y
        n = len(X)
        np.matmul(X.T, r, out=self.params.grad_of("w"))
        self.params.grad_of("w")[...] /= n
        self.params.grad_of("b")[0] = r.sum() / n
        return self._bce(z, y)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(X)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.logits(X) > 0).astype(np.int64)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))
