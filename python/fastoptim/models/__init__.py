"""Small NumPy models with analytic gradients, their parameters in a FlatParams arena.

Each model writes its gradient into ``model.params.grads`` from ``loss_and_grad(X, y)``, so
an optimizer built on ``model.params`` steps the whole model in one kernel call::

    model = fo.models.MLP(64, [32], 10, seed=0)
    opt = fo.Adam(model.params, lr=1e-3)
    loss = model.loss_and_grad(X, y); opt.step()
"""

from .base import Model
from .linear import LinearRegression
from .logistic import LogisticRegression
from .mlp import MLP
from .softmax import SoftmaxRegression

__all__ = ["Model", "LinearRegression", "LogisticRegression", "SoftmaxRegression", "MLP"]
