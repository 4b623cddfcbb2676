"""fastoptim.torch.Muon: torch.optim.Muon (torch 2.13) with fastoptim's fused element-wise passes.

Same constructor arguments, defaults, errors, parameter groups and state (``momentum_buffer``;
no ``step``) as ``torch.optim.Muon``; checkpoints move both ways. A step is: one C++ call for the
momentum pass of every param (buffer lerp, Nesterov blend and the rounding to bfloat16 in one
pass), Newton–Schulz in bfloat16 with torch's own matrix products in torch's order (so the same
input gives torch's bits), one C++ call for decoupled weight decay and the scaled update.

The element-wise passes round like fastoptim's other kernels (IEEE multiply then add, where
torch's vectorized lerp and add fuse a multiply-add), so the buffers may differ from torch's
in the last bit; the bfloat16 input of Newton–Schulz almost never does.

Differences from torch.optim.Muon: float16/bfloat16 params, DTensor shards (FSDP2: a shard
cannot be orthogonalised alone) and a 2-D check again in ``add_param_group`` (torch checks
params only at construction and fails at ``step``) are refused with ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import _core
from ..interrupts import deferred_interrupt
from ..muon import ADJUST_LR_FNS, DESCRIPTOR, NS_COEFFICIENTS, adjusted_lr
from .layout import ContiguousWork, local
from .optimizer import _check_param, _FastOptimizer, group_params

_KEYS = ("lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "eps", "ns_steps", "adjust_lr_fn")


def _numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of a contiguous tensor's memory (bfloat16 as its uint16 bits)."""
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def orthogonalise(update: torch.Tensor, coefficients: tuple[float, float, float], steps: int,
                  eps: float) -> torch.Tensor:
    """Newton–Schulz on the bfloat16 matrix ``update`` (overwritten), with torch's products in
    torch's order: the result has torch.optim.Muon's bits for the same input."""
    a, b, c = coefficients
    tall = update.size(0) > update.size(1)
    x = update.T if tall else update
    x.div_(x.norm().clamp(min=eps))
    for _ in range(steps):
        gram = x @ x.T
        gram = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, gram, x, beta=a)
    return x.T if tall else x


class Muon(_FastOptimizer):
    __doc__ = ("torch.optim.Muon on fastoptim's kernels (same arguments, defaults, errors and state); "
               "see :mod:`fastoptim.torch.muon`.\n\n    " + DESCRIPTOR.doc)

    _rule = "muon"
    descriptor = DESCRIPTOR
    _step_supports_amp_scaling = False  # as torch.optim.Muon: GradScaler unscales the gradients itself

    def __init__(self, params: Any, lr: float | torch.Tensor = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True,
                 ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS, eps: float = 1e-7,
                 ns_steps: int = 5, adjust_lr_fn: str | None = None) -> None:
        args = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum, "nesterov": nesterov,
                "ns_coefficients": ns_coefficients, "eps": eps, "ns_steps": ns_steps, "adjust_lr_fn": adjust_lr_fn}
        if not isinstance(params, (torch.Tensor, list, tuple, set, dict)):
            params = list(params)  # a generator is read once, for torch's checks and ours
        # torch's constructor checks the arguments and the params (2-D) first and raises its errors
        torch.optim.Muon(params, **args)
        _FastOptimizer.__init__(self, params, args)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        gi = len(self.param_groups)
        params, tensors = group_params(param_group)
        for i, p in enumerate(tensors):
            where = f"param_groups[{gi}]['params'][{i}]"
            _check_param(p, where)
            if local(p) is not p:
                raise ValueError(f"{where}: is a DTensor; Muon orthogonalises whole matrices and fastoptim.torch.Muon "
                                 "does not step shards (use torch.optim.Muon)")
            if p.dtype in (torch.float16, torch.bfloat16):
                raise ValueError(f"{where}: has dtype {p.dtype}; fastoptim.torch.Muon steps float32 and float64 "
                                 "params (use torch.optim.Muon for 16-bit ones)")
            if p.dim() != 2:
                raise ValueError(f"{where}: has shape {tuple(p.shape)}; Muon only supports 2D parameters")
        group = {**self.defaults, **param_group}
        if group["adjust_lr_fn"] not in ADJUST_LR_FNS:
            raise ValueError(f"invalid adjust_lr_fn: {group['adjust_lr_fn']!r} (None, 'original' or "
                             "'match_rms_adamw')")
        torch.optim.Optimizer.add_param_group(self, {**param_group, "params": params})
        self._plans.clear()

    def state_dict(self, format: str = "fastoptim") -> dict[str, Any]:  # noqa: A002
        """torch.optim.Muon's ``state_dict`` (plain dicts; ``format="torch"`` is the same: Muon
        keeps nothing torch does not)."""
        if format not in ("fastoptim", "torch"):
            raise ValueError(f"format: 'fastoptim' or 'torch', got {format!r}")
        return _FastOptimizer.state_dict(self, "fastoptim")

    def _check_state(self, p: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
                     partial: bool = False) -> None:
        """``momentum_buffer`` must be a dense CPU floating tensor of ``p``'s shape; another
        floating dtype is converted to ``p``'s."""
        if "momentum_buffer" not in state:
            if partial:
                return
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        t = state["momentum_buffer"]
        if not (isinstance(t, torch.Tensor) and t.shape == p.shape and t.device == p.device
                and t.layout == torch.strided and t.is_floating_point()):
            desc = f"{t.dtype}, {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"state['momentum_buffer'] of a parameter of shape {tuple(p.shape)} is ({desc}); it must "
                             f"be a dense {p.dtype} CPU tensor of the parameter's shape")
        if t.dtype != p.dtype:
            state["momentum_buffer"] = t.to(p.dtype)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One Muon step of every param with a gradient, as torch.optim.Muon's. Everything is
        checked before anything is written; the momentum passes (which read the gradients) all
        run before any param is written."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with self._step_lock:
            work = []  # (group, [(param, grad, buf)])
            for gi, group in enumerate(self.param_groups):
                items = []
                for i, p in enumerate(group["params"]):
                    g = p.grad
                    if g is None:
                        continue
                    if torch.is_complex(p):
                        raise RuntimeError("Muon does not support complex parameters")
                    if g.is_sparse:
                        raise RuntimeError("Muon does not support sparse gradients")
                    where = f"param_groups[{gi}]['params'][{i}]"
                    if p.dim() != 2 or g.shape != p.shape or g.dtype != p.dtype:
                        raise ValueError(f"{where}: Muon steps 2-D params with a gradient of the same shape and "
                                         f"dtype; got {p.dtype} {tuple(p.shape)}, grad {g.dtype} {tuple(g.shape)}")
                    if p.dtype not in (torch.float32, torch.float64) or local(p) is not p:
                        raise ValueError(f"{where}: fastoptim.torch.Muon steps float32/float64 CPU tensors")
                    items.append((p, g))
                if not items:
                    continue
                steps = group["ns_steps"]
                if steps >= 100:
                    raise ValueError(f"invalid ns_steps: {steps} (must be less than 100)")
                if len(group["ns_coefficients"]) != 3:
                    raise ValueError("invalid ns_coefficients: must be three numbers (a, b, c)")
                work.append((group, items))
            self._building = True
            try:
                for group, items in work:
                    for p, _ in items:
                        self._check_state(p, self.state[p], group)
            finally:
                self._building = False
            with deferred_interrupt():  # a Ctrl-C waits for the whole step (momentum, Newton–Schulz, update)
                self._passes(work)
        return loss

    def _passes(self, work: list) -> None:
        """The checked step's passes: momentum for every group, then Newton–Schulz and update."""
        # momentum pass: one C++ call per group and dtype
        passes = []
        for group, items in work:
            for dtype in dict.fromkeys(p.dtype for p, _ in items):
                sel = [(p, g, self.state[p]["momentum_buffer"]) for p, g in items if p.dtype == dtype]
                grads = [ContiguousWork(g, False) for _, g, _ in sel]
                bufs = [ContiguousWork(b, True) for _, _, b in sel]
                updates = [torch.empty(p.shape, dtype=torch.bfloat16) for p, _, _ in sel]
                _core.muon_momentum([_numpy(b.work) for b in bufs], [_numpy(g.work) for g in grads],
                                    [_numpy(u) for u in updates], float(group["momentum"]), bool(group["nesterov"]))
                for b in bufs:
                    b.done()
                passes.append((group, [p for p, _, _ in sel], updates))
        # Newton–Schulz (torch's bfloat16 products), then decay and update: one C++ call per part
        for group, params, updates in passes:
            lr = group["lr"]
            lr = float(lr.item()) if isinstance(lr, torch.Tensor) else float(lr)
            coefficients = tuple(group["ns_coefficients"])
            outs = [orthogonalise(u, coefficients, int(group["ns_steps"]), group["eps"]).contiguous()
                    for u in updates]
            dense = [ContiguousWork(p, True) for p in params]
            decay = 1 - lr * group["weight_decay"]
            _core.muon_apply([_numpy(d.work) for d in dense], [_numpy(o) for o in outs], [decay] * len(params),
                             [-adjusted_lr(lr, group["adjust_lr_fn"], p.shape) for p in params])
            for d in dense:
                d.done()
