"""Multi-layer perceptron classifier (softmax output, cross-entropy loss)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from .base import Model, glorot, log_softmax_rows, one_hot_labels

ACTIVATIONS = ("relu", "tanh")


class MLP(Model):
    r"""``X → [Linear → act]×len(hidden) → Linear → softmax``, mean cross-entropy loss,
    gradients by backpropagation written into the FlatParams arena.

    Args:
        n_features: inputs.
        hidden: sizes of the hidden layers, e.g. ``[64]`` or ``[128, 64]``.
        n_classes: outputs.
        activation: ``"relu"`` or ``"tanh"``.
        seed: Glorot-uniform initialization seed (biases 0).
    """

    metric_name = "accuracy"

    def __init__(self, n_features: int, hidden: Sequence[int], n_classes: int, *, activation: str = "relu",
                 seed: int = 0, dtype: DTypeLike = np.float32) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: one of {ACTIVATIONS}, got {activation!r}")
        sizes = [n_features, *hidden, n_classes]
        if any(int(s) < 1 for s in sizes):
            raise ValueError(f"layer sizes must be >= 1, got {sizes}")
        rng = np.random.default_rng(seed)
        arrays = {}
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            arrays[f"W{i}"] = glorot(rng, a, b)
            arrays[f"b{i}"] = np.zeros(b)
        self.sizes = sizes
        self.n_features = sizes[0]
        self.activation = activation
        self.n_classes = n_classes
        super().__init__(arrays, dtype)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def _act(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z, 0) if self.activation == "relu" else np.tanh(z)

    def _forward(self, X: np.ndarray) -> list[np.ndarray]:
        """Inputs of every layer, then the logits."""
        outs = [self._inputs(X)]
        for i in range(self.n_layers):
            z = outs[-1] @ self.params[f"W{i}"] + self.params[f"b{i}"]
            outs.append(self._act(z) if i < self.n_layers - 1 else z)
        return outs

    def logits(self, X: np.ndarray) -> np.ndarray:
        return self._forward(X)[-1]

    def _targets(self, y: np.ndarray, n: int, where: str = "y") -> np.ndarray:
        return one_hot_labels(y, self.n_classes, n, where)

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        logp = log_softmax_rows(self.logits(X).astype(np.float64))
        y = one_hot_labels(y, self.n_classes, len(logp))
        return float(-np.mean(logp[np.arange(len(y)), y]))

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray) -> float:
        outs = self._forward(X)
        y = one_hot_labels(y, self.n_classes, len(outs[0]))
        n = len(y)
        logp = log_softmax_rows(outs[-1].astype(np.float64))
        d = np.exp(logp)
        d[np.arange(n), y] -= 1.0
        d = (d / n).astype(self.dtype)
        for i in reversed(range(self.n_layers)):
            np.matmul(outs[i].T, d, out=self.params.grad_of(f"W{i}"))
            np.sum(d, axis=0, out=self.params.grad_of(f"b{i}"))
            if i:
                d = d @ self.params[f"W{i}"].T
                h = outs[i]
                d *= (h > 0) if self.activation == "relu" else (1 - h * h)
        return float(-np.mean(logp[np.arange(n), y]))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(X), axis=1)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))
