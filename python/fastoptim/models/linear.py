"""Linear regression with the mean squared error."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from .base import Model, check_count


class LinearRegression(Model):
    r"""``ŷ = X·w + b`` with loss ``½·mean((ŷ − y)²)``; gradient ``Xᵀr/n``, ``mean(r)``.

    Args:
        n_features: columns of X.
        seed: initialization seed (weights ~ N(0, 0.01²), bias 0).
    """

    metric_name = "r2"

    def __init__(self, n_features: int, *, seed: int = 0, dtype: DTypeLike = np.float32) -> None:
        rng = np.random.default_rng(seed)
        self.n_features = check_count(n_features)
        super().__init__({"w": rng.normal(0, 0.01, n_features), "b": np.zeros(1)}, dtype)

    def predict(self, X: np.ndarray) -> np.ndarray:
        p = self.params
        return self._inputs(X) @ p["w"] + p["b"][0]

    def _targets(self, y: np.ndarray, n: int, where: str = "y") -> np.ndarray:
        shape = np.shape(y)
        if shape != (n,):
            raise ValueError(f"{where}: expected {n} targets, shape ({n},), got shape {shape}")
        dtype = np.asarray(y).dtype
        if dtype.kind not in "biuf" and dtype.name != "bfloat16":
            raise ValueError(f"{where}: expected real numbers, got dtype {dtype}")
        return np.asarray(y, dtype=self.dtype)

    def _residual(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.predict(X) - self._targets(y, len(X))

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        r = self._residual(X, y)
        return float(0.5 * np.mean(r.astype(np.float64) ** 2))

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray) -> float:
        X = self._inputs(X)
        r = self._residual(X, y)
        n = len(X)
        np.matmul(X.T, r, out=self.params.grad_of("w"))
        self.params.grad_of("w")[...] /= n
        self.params.grad_of("b")[0] = r.sum() / n
        return float(0.5 * np.mean(r.astype(np.float64) ** 2))

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Coefficient of determination R²."""
        y = np.asarray(y, dtype=np.float64)
        r = self._residual(X, y).astype(np.float64)
        return float(1.0 - np.sum(r**2) / np.sum((y - y.mean()) ** 2))
