"""Schedule-free AdamW (Defazio et al. 2024), with the schedulefree package's arguments."""

from __future__ import annotations

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, Group, RuleDescriptor


def _mode_weight(group: Group, to_train: bool) -> float:
    """The lerp weight towards z that moves the params from x to y (train) or y to x (eval)."""
    beta1 = group["betas"][0]
    return 1 - beta1 if to_train else 1 - 1 / beta1


def _numpy_peer(kw, p, grads):
    lr0, (b1, b2), eps, wd = kw["lr"], kw["betas"], kw["eps"], kw["weight_decay"]
    z = [x.copy() for x in p]
    v = [np.zeros_like(x) for x in p]
    k, acc = [0], {"lr_max": -1.0, "weight_sum": 0.0}

    def step() -> None:
        lr = lr0
        acc["lr_max"] = max(lr, acc["lr_max"])
        weight = acc["lr_max"] ** 2
        acc["weight_sum"] += weight
        c = weight / acc["weight_sum"] if acc["weight_sum"] else 0.0
        bc2 = 1 - b2 ** (k[0] + 1)
        for y, g, zi, vi in zip(p, grads, z, v):
            vi *= b2
            vi += (1 - b2) * g * g
            gn = g / (np.sqrt(vi / bc2) + eps)
            if wd:
                gn += wd * y
            y += c * (zi - y)
            y += lr * (b1 * (1 - c) - 1) * gn
            zi -= lr * gn
        k[0] += 1
    return step


DESCRIPTOR = RuleDescriptor(
    rule="adamw_schedulefree",
    doc=r"""Schedule-free AdamW (Defazio et al. 2024, "The Road Less Scheduled"), with the
    arguments, defaults and train-mode step of the schedulefree package's ``AdamWScheduleFree``::

        lr_k = lr·min(1, (k+1)/warmup_steps);  lr_max = max(lr_max, lr_k)
        w = (k+1)^r · lr_max^weight_lr_power;   W = W + w;   c = w/W
        v = β2·v + (1 − β2)·g²;   ĝ = g/(sqrt(v/(1 − β2^(k+1))) + eps) + weight_decay·y
        y = lerp(y, z, c) + lr_k·(β1·(1 − c) − 1)·ĝ;   z = z − lr_k·ĝ

    The params hold y while training: call ``train()`` before stepping and ``eval()`` before
    evaluating (the params then hold x, the average), as with schedulefree. ``z`` starts as a
    copy of the params; ``lr_max`` and ``weight_sum`` are kept as scalar state.""",
    args=(
        Arg("lr", 0.0025), Arg("betas", (0.9, 0.999), kind="pair"), Arg("eps", 1e-8), Arg("weight_decay", 0.0),
        Arg("warmup_steps", 0), Arg("r", 0.0), Arg("weight_lr_power", 2.0), Arg("foreach", None, torch_only=True),
    ),
    buffers=(Buffer("z", copy_param=True), Buffer("exp_avg_sq")),
    classes=(ClassVariant("AdamWScheduleFree"),),
    checkpoint_keys=("lr", "betas", "eps", "weight_decay", "warmup_steps", "r", "weight_lr_power"),
    torch_peer="schedulefree.AdamWScheduleFree",
    train_eval=("z", _mode_weight),
    scalar_state_dtype="float64",
    bench=(BenchCase("adamw_schedulefree", "AdamWScheduleFree", dict(lr=2.5e-3)),),
    numpy_peer=_numpy_peer,
)
