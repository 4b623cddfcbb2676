"""SparseAdam (torch.optim.SparseAdam): Adam over the rows a sparse gradient names."""

from __future__ import annotations

import math

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, Group, RuleDescriptor


def _check(group: Group) -> None:
    # torch requires both strictly positive (the kernel's ranges allow 0)
    for name, what in (("lr", "learning rate"), ("eps", "epsilon value")):
        v = group[name]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and not v > 0:
            raise ValueError(f"Invalid {what}: {v}")


def _numpy_peer(kw, p, grads):
    lr, (b1, b2), eps = kw["lr"], kw["betas"], kw.get("eps", 1e-8)
    m = [np.zeros_like(x) for x in p]
    v = [np.zeros_like(x) for x in p]
    t = [0]

    def step() -> None:
        t[0] += 1
        size = lr * math.sqrt(1 - b2 ** t[0]) / (1 - b1 ** t[0])
        for x, g, mi, vi in zip(p, grads, m, v):
            mi += (g - mi) * (1 - b1)
            vi += (g * g - vi) * (1 - b2)
            x -= size * (mi / (np.sqrt(vi) + eps))
    return step


DESCRIPTOR = RuleDescriptor(
    rule="sparse_adam",
    doc=r"""SparseAdam, with torch.optim.SparseAdam's arguments, defaults and formula, for
    embedding tables and other params whose gradients name a few rows::

        m  = m + (±g − m)·(1 − β1);   v = v + (g² − v)·(1 − β2)
        p  = p − lr·sqrt(1 − β2^t)/(1 − β1^t) · m / (sqrt(v) + eps)

    over the rows the gradient names only (the others, their moments included, are untouched;
    a row named several times gets the sum of its gradient rows), in one fused pass whose cost
    is proportional to the rows named. Gradients: ``(indices, values)`` pairs
    (:class:`fastoptim.RowSparse`) in the NumPy API, sparse COO tensors in fastoptim.torch
    (``nn.Embedding(sparse=True)``), which refuses dense ones as torch does; the NumPy API also
    takes dense gradients (every row named). eps is added to sqrt(v) itself, as torch's SparseAdam
    does (Adam divides by sqrt(v)/sqrt(1 − β2^t) + eps).""",
    args=(
        Arg("lr", 1e-3), Arg("betas", (0.9, 0.999), kind="pair"), Arg("eps", 1e-8),
        Arg("maximize", False, kind="bool"),
    ),
    buffers=(Buffer("exp_avg"), Buffer("exp_avg_sq")),
    classes=(ClassVariant("SparseAdam"),),
    checkpoint_keys=("lr", "betas", "eps"),
    check=_check,
    bench=(BenchCase("sparse_adam", "SparseAdam", dict(lr=1e-3)),),
    numpy_peer=_numpy_peer,
    sparse_grads="only",
    int_step=True,
    takes_complex=False,
)
