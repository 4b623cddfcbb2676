"""SGD: momentum, dampening, Nesterov and weight decay (torch.optim.SGD)."""

from __future__ import annotations

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor


def _numpy_peer(kw, p, grads):
    lr, mu = kw["lr"], kw.get("momentum", 0.0)
    buf = [np.zeros_like(x) for x in p]
    t = [0]

    def step() -> None:
        for x, g, b in zip(p, grads, buf):
            if mu:
                if t[0] == 0:
                    b[...] = g
                else:
                    b *= mu
                    b += g
                x -= lr * b
            else:
                x -= lr * g
        t[0] += 1
    return step


def _torch_sparse_step(param, grad, state, group, check_only: bool) -> None:
    """torch.optim.SGD's step from a sparse gradient, in torch's own operations (the momentum
    buffer, if any, is then sparse as well, as torch keeps it)."""
    if check_only:
        return
    if group.get("maximize"):
        grad = -grad
    if group["weight_decay"] != 0:
        grad = grad.add(param, alpha=group["weight_decay"])
    if group["momentum"] != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = grad.detach().clone()
        else:
            buf.mul_(group["momentum"]).add_(grad, alpha=1 - group["dampening"])
        grad = grad.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
    param.add_(grad, alpha=-float(group["lr"]))


DESCRIPTOR = RuleDescriptor(
    rule="sgd",
    doc=r"""SGD, with torch.optim.SGD's arguments, defaults and formula::

        d = ±g + weight_decay·p
        b = d (first step), then b = momentum·b + (1 − dampening)·d
        d = d + momentum·b (nesterov) or d = b
        p = p − lr·d

    The momentum buffer starts as the first gradient (torch's convention; the textbook's
    ``v = μv − lr·g`` form is the same trajectory for dampening=0 up to rounding).""",
    args=(
        Arg("lr", 1e-3), Arg("momentum", 0.0), Arg("dampening", 0.0), Arg("weight_decay", 0.0),
        Arg("nesterov", False, kind="bool"),
        Arg("maximize", False, keyword_only=True, kind="bool"),
        Arg("foreach", None, torch_only=True, keyword_only=True),
        Arg("differentiable", False, torch_only=True, keyword_only=True),
        Arg("fused", None, torch_only=True, keyword_only=True),
    ),
    buffers=(Buffer("momentum_buffer", when="momentum"),),
    classes=(ClassVariant("SGD"),),
    options={"nesterov": "nesterov"},
    checkpoint_keys=("lr", "momentum", "dampening", "weight_decay", "nesterov"),
    stepless=True,
    bench=(BenchCase("sgd", "SGD", dict(lr=1e-3)), BenchCase("sgd_momentum", "SGD", dict(lr=1e-3, momentum=0.9))),
    numpy_peer=_numpy_peer,
    torch_sparse_step=_torch_sparse_step,
)
