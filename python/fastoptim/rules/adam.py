"""Adam and AdamW, optionally AMSGrad (torch.optim.Adam, torch.optim.AdamW)."""

from __future__ import annotations

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor


def _numpy_peer(kw, p, grads):
    lr, b1, b2, eps = kw["lr"], 0.9, 0.999, 1e-8
    decoupled = kw.get("decoupled_weight_decay", False)
    wd = kw.get("weight_decay", 0.0)
    amsgrad = kw.get("amsgrad", False)
    m, v, vmax = ([np.zeros_like(x) for x in p] for _ in range(3))
    t = [0]

    def step() -> None:
        t[0] += 1
        bc1, bc2 = 1 - b1 ** t[0], 1 - b2 ** t[0]
        for x, g, mi, vi, vm in zip(p, grads, m, v, vmax):
            if decoupled and wd:
                x *= 1 - lr * wd
            mi += (1 - b1) * (g - mi)
            vi *= b2
            vi += (1 - b2) * g * g
            if amsgrad:
                np.maximum(vm, vi, out=vm)
            denom = np.sqrt(vm if amsgrad else vi) / np.sqrt(bc2) + eps
            x -= (lr / bc1) * mi / denom
    return step


DESCRIPTOR = RuleDescriptor(
    rule="adam",
    doc=r"""Adam, with torch.optim.Adam's arguments, defaults and formula::

        d  = ±g + weight_decay·p                       (L2 penalty, coupled)
        p  = (1 − lr·weight_decay)·p, d = ±g           (decoupled_weight_decay: AdamW)
        m  = lerp(m, d, 1 − β1);   v = β2·v + (1 − β2)·d²
        v̂  = max(v̂, v)                                 (amsgrad; used in place of v)
        p  = p − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps)

    Bias corrections are computed once per step in double. eps is outside the square root.

    Row-sparse gradients (``(indices, values)`` in the NumPy API, sparse COO tensors from
    ``nn.Embedding(sparse=True)`` in fastoptim.torch, which torch.optim.Adam refuses) step only
    the rows named, with the param's step count: the rows not named, their moments included, are
    untouched (lazy Adam; duplicate indices summed).""",
    args=(
        Arg("lr", 1e-3), Arg("betas", (0.9, 0.999), kind="pair"), Arg("eps", 1e-8), Arg("weight_decay", 0.0),
        Arg("amsgrad", False, kind="bool"),
        Arg("foreach", None, torch_only=True, keyword_only=True),
        Arg("maximize", False, keyword_only=True, kind="bool"),
        Arg("capturable", False, torch_only=True, keyword_only=True),
        Arg("differentiable", False, torch_only=True, keyword_only=True),
        Arg("fused", None, torch_only=True, keyword_only=True),
        Arg("decoupled_weight_decay", False, keyword_only=True, kind="bool"),
    ),
    buffers=(Buffer("exp_avg"), Buffer("exp_avg_sq"), Buffer("max_exp_avg_sq", when="amsgrad")),
    classes=(ClassVariant("Adam"),
             ClassVariant("AdamW", doc="AdamW: Adam with decoupled weight decay, ``p = (1 − lr·weight_decay)·p`` "
                          "before the Adam update (torch.optim.AdamW; default weight_decay=1e-2).",
                          defaults={"weight_decay": 1e-2}, fixed={"decoupled_weight_decay": True})),
    options={"decoupled": "decoupled_weight_decay"},
    checkpoint_keys=("lr", "betas", "eps", "weight_decay", "amsgrad"),
    bench=(BenchCase("adam", "Adam", dict(lr=1e-3)), BenchCase("adamw", "AdamW", dict(lr=1e-3)),
           BenchCase("adam_amsgrad", "Adam", dict(lr=1e-3, amsgrad=True))),
    numpy_peer=_numpy_peer,
    sparse_grads="rows",
)
