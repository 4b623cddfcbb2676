"""Muon (torch.optim.Muon of torch 2.13) for NumPy arrays: momentum, Nesterov blend, Newton–Schulz
orthogonalisation of each 2-D update, decoupled weight decay and the shape-adjusted learning rate.

Per param :math:`\\theta` (a matrix of shape A×B) with gradient :math:`G`, per step::

    B  = lerp(B, G, 1 − μ)                         momentum buffer ("momentum_buffer")
    U  = lerp(G, B, μ) if nesterov else B
    O  = NS_k^(a,b,c)(bfloat16(U); ε)              k Newton–Schulz steps (below)
    θ  = θ·(1 − γλ)                                decoupled weight decay
    θ  = θ − γ'·O,  γ' = γ·sqrt(max(1, A/B))       adjust_lr_fn None / "original"
                    γ' = γ·0.2·sqrt(max(A, B))     adjust_lr_fn "match_rms_adamw"

    NS: X = U (transposed if A > B);  X = X / max(‖X‖_F, ε)
        k times:  S = X·Xᵀ;  S = b·S + c·S·S;  X = a·X + S·X

The two element-wise passes (momentum and Nesterov blend with the rounding to bfloat16; weight
decay and the scaled update) are fused C++ kernels (``cpp/matrix/muon.hpp``), every ISA and
thread count giving the same bits. The matrix products run on NumPy's BLAS. torch runs
Newton–Schulz in bfloat16; NumPy has no bfloat16 matrix product, so this module multiplies in
float32 and rounds every matrix torch keeps in bfloat16 (the normalised input, ``S`` after each
product and after the blend, ``X`` after each step) to bfloat16 with the package's narrowing:
the same sequence of roundings as torch's, with float32 accumulation in another order (see the
README for the measured distance from torch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import _core
from .flat_params import aligned_full_like
from .interrupts import deferred_interrupt
from .optimizer import Optimizer, _GroupState
from .rules.descriptor import Arg, Buffer, ClassVariant, RuleDescriptor

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
"""torch's default Newton–Schulz coefficients (a, b, c) (Keller Jordan's quintic)."""
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")

_DOC = __doc__.split("\n\n", 1)[1].split("The two element-wise", 1)[0]

DESCRIPTOR = RuleDescriptor(
    rule="muon",
    doc=_DOC,
    args=(Arg("lr", 1e-3), Arg("weight_decay", 0.1), Arg("momentum", 0.95), Arg("nesterov", True, kind="bool"),
          Arg("ns_coefficients", NS_COEFFICIENTS, kind="triple"), Arg("eps", 1e-7), Arg("ns_steps", 5, kind="int"),
          Arg("adjust_lr_fn", None, kind="choice")),
    buffers=(Buffer("momentum_buffer"),),
    classes=(ClassVariant("Muon"),),
    checkpoint_keys=("lr", "momentum", "ns_coefficients", "ns_steps"),
)
"""What Python knows about Muon (torch's arguments and state key). Muon is not a rule of the
element-wise registry (its step needs each whole update matrix), so this descriptor is not in
``fastoptim.rules.REGISTRY``; the optimizer classes use its arguments, buffer and checkpoint keys."""


def _real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"invalid {name}: {value!r} (must be a number)")
    return float(value)


def check_hyperparameters(group: Mapping[str, Any]) -> None:
    """Validate Muon's options (torch's ranges, and the ones torch leaves to fail later), raising
    ``ValueError``/``TypeError`` that names the option."""
    lr = _real(group["lr"], "lr")
    if not (lr >= 0.0 and math.isfinite(lr)):
        raise ValueError(f"invalid lr: {group['lr']!r} (must be finite and >= 0)")
    for name in ("momentum", "weight_decay"):
        v = _real(group[name], name)
        if not (v >= 0.0 and math.isfinite(v)):
            raise ValueError(f"invalid {name}: {group[name]!r} (must be finite and >= 0)")
    eps = _real(group["eps"], "eps")
    if not math.isfinite(eps):
        raise ValueError(f"invalid eps: {group['eps']!r} (must be finite)")
    if not isinstance(group["nesterov"], (bool, np.bool_)):
        raise TypeError(f"invalid nesterov: {group['nesterov']!r} (must be a bool)")
    coeffs = group["ns_coefficients"]
    if not isinstance(coeffs, (tuple, list)) or len(coeffs) != 3:
        raise ValueError(f"invalid ns_coefficients: {coeffs!r} (must be three numbers (a, b, c))")
    for i, c in enumerate(coeffs):
        if not math.isfinite(_real(c, f"ns_coefficients[{i}]")):
            raise ValueError(f"invalid ns_coefficients[{i}]: {c!r} (must be finite)")
    steps = group["ns_steps"]
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 0 <= steps < 100:
        raise ValueError(f"invalid ns_steps: {steps!r} (must be an int in [0, 100))")
    if group["adjust_lr_fn"] not in ADJUST_LR_FNS:
        raise ValueError(f"invalid adjust_lr_fn: {group['adjust_lr_fn']!r} (must be None, 'original' or "
                         "'match_rms_adamw')")


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: Sequence[int]) -> float:
    """The learning rate of a param of ``shape`` (A, B): ``lr·sqrt(max(1, A/B))`` for None or
    "original", ``lr·0.2·sqrt(max(A, B))`` for "match_rms_adamw" (torch's AdjustLR)."""
    a, b = shape[0], shape[1]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, a / b))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * (0.2 * math.sqrt(max(a, b)))
    return lr


def bf16_value(x: float) -> float:
    """``x`` rounded to bfloat16 (nearest, ties to even), as a Python float."""
    bits = int(np.array(x, np.float32).view(np.uint32))
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return float(np.array(bits & 0xFFFFFFFF, np.uint32).view(np.float32))


class _Workspace:
    """Per-shape float32 matrices for Newton–Schulz, kept between steps (no allocation per step)."""

    def __init__(self) -> None:
        self._arrays: dict[tuple, np.ndarray] = {}

    def get(self, tag: str, shape: tuple[int, int]) -> np.ndarray:
        key = (tag, shape)
        a = self._arrays.get(key)
        if a is None:
            a = self._arrays[key] = np.empty(shape, np.float32)
        return a


def newton_schulz_bf16(x: np.ndarray, coefficients: Sequence[float], steps: int, eps: float,
                       work: _Workspace | None = None) -> np.ndarray:
    """Newton–Schulz orthogonalisation of the float32 matrix ``x`` (bfloat16 values), in place,
    in float32 products with torch's bfloat16 roundings; returns ``x``. A tall matrix (A > B) is
    worked on as it is, with the products of its transpose (XᵀX, X·Sᵀ), which is torch's
    iteration on Xᵀ without copies."""
    work = work or _Workspace()
    a, b, c = (float(v) for v in coefficients)
    flat = x.reshape(-1)
    norm = bf16_value(math.sqrt(float(np.dot(flat, flat))))
    _core.muon_div_bf16(x, bf16_value(max(norm, float(np.float32(eps)))))
    tall = x.shape[0] > x.shape[1]
    k = min(x.shape)
    gram, square, prod = work.get("gram", (k, k)), work.get("square", (k, k)), work.get("prod", x.shape)
    for _ in range(steps):
        if tall:
            np.matmul(x.T, x, out=gram)
        else:
            np.matmul(x, x.T, out=gram)
        _core.muon_blend_bf16(gram, gram, gram, 0.0, 1.0)  # the Gram matrix in bfloat16
        np.matmul(gram, gram, out=square)
        _core.muon_blend_bf16(gram, square, gram, c, b)  # S = b·S + c·S·S
        if tall:
            np.matmul(x, gram.T, out=prod)
        else:
            np.matmul(gram, x, out=prod)
        _core.muon_blend_bf16(x, prod, x, 1.0, a)  # X = a·X + S·X
    return x


def momentum_pass(grads: Sequence[np.ndarray], bufs: Sequence[np.ndarray], group: Mapping[str, Any],
                  work: _Workspace) -> list[np.ndarray]:
    """The momentum pass over a group (one C++ call): the buffers updated in place; returns the
    Newton–Schulz inputs (float32 workspace matrices holding bfloat16 values)."""
    updates = [work.get(f"update{i}", g.shape) for i, g in enumerate(grads)]
    _core.muon_momentum(list(bufs), list(grads), updates, float(group["momentum"]), bool(group["nesterov"]))
    return updates


def orthogonalise_and_apply(params: Sequence[np.ndarray], updates: list[np.ndarray], group: Mapping[str, Any],
                            work: _Workspace) -> None:
    """Newton–Schulz of each update (NumPy's BLAS), then the apply pass over the group (one C++ call)."""
    for u in updates:
        newton_schulz_bf16(u, group["ns_coefficients"], int(group["ns_steps"]), float(group["eps"]), work)
    lr = float(group["lr"])
    decay = 1 - lr * float(group["weight_decay"])
    neg = [-adjusted_lr(lr, group["adjust_lr_fn"], p.shape) for p in params]
    _core.muon_apply(list(params), updates, [decay] * len(params), neg)


def muon_numpy_step(params: Sequence[np.ndarray], grads: Sequence[np.ndarray], bufs: Sequence[np.ndarray],
                    group: Mapping[str, Any], work: _Workspace | None = None) -> None:
    """One Muon step of float32/float64 2-D ``params`` with ``grads`` and momentum ``bufs``, in
    place, with ``group``'s options (already validated): the momentum pass over all params (one
    C++ call), Newton–Schulz per param (NumPy's BLAS), the apply pass (one C++ call)."""
    work = work or _Workspace()
    orthogonalise_and_apply(params, momentum_pass(grads, bufs, group, work), group, work)


def check_matrices(arrays: Sequence[np.ndarray], where: str) -> None:
    """Muon steps float32/float64 matrices; anything else raises naming the array."""
    for i, a in enumerate(arrays):
        if a.ndim != 2:
            raise ValueError(f"{where}[{i}]: has shape {a.shape}; Muon only steps 2-D parameters (optimise "
                             "biases, embeddings and other parameters with another optimizer, e.g. AdamW)")
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{where}[{i}]: has dtype {a.dtype}; Muon steps float32 and float64 arrays")


def check_grads(params: Sequence[np.ndarray], grads: Sequence[np.ndarray], where: str) -> None:
    for i, (p, g) in enumerate(zip(params, grads)):
        if not isinstance(g, np.ndarray):
            raise TypeError(f"{where}[{i}]: must be a numpy.ndarray, got {type(g).__name__}")
        if g.shape != p.shape:
            raise ValueError(f"{where}[{i}] has shape {g.shape} but its parameter has shape {p.shape}")
        if g.dtype != p.dtype:
            raise TypeError(f"{where}[{i}] has dtype {g.dtype} but its parameter has dtype {p.dtype}")
        if np.may_share_memory(g, p):
            raise ValueError(f"{where}[{i}] shares memory with its parameter")


class Muon(Optimizer):
    """torch.optim.Muon's algorithm, arguments, defaults and state (``momentum_buffer``) for
    NumPy matrices (float32/float64, 2-D; other params go to another optimizer, e.g. AdamW).

    Args:
        params: a 2-D array, a list or dict of them, a FlatParams of matrices, or parameter-group dicts.
        lr: learning rate γ (before the shape adjustment).
        weight_decay: decoupled weight decay λ (θ ← θ·(1 − γλ)).
        momentum: μ.
        nesterov: blend the gradient with the buffer (U = lerp(G, B, μ)).
        ns_coefficients: (a, b, c) of the Newton–Schulz polynomial.
        eps: lower bound of the Frobenius norm Newton–Schulz divides by.
        ns_steps: Newton–Schulz steps, in [0, 100).
        adjust_lr_fn: None or "original" (γ·sqrt(max(1, A/B))), or "match_rms_adamw"
            (γ·0.2·sqrt(max(A, B))).
    """

    rule = "muon"
    descriptor = DESCRIPTOR

    def __init__(self, params: Any, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
                 eps: float = 1e-7, ns_steps: int = 5, adjust_lr_fn: str | None = None) -> None:
        if isinstance(ns_coefficients, list):
            ns_coefficients = tuple(ns_coefficients)
        self._work: dict[int, _Workspace] = {}
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "momentum": momentum, "nesterov": nesterov,
                                  "ns_coefficients": ns_coefficients, "eps": eps, "ns_steps": ns_steps,
                                  "adjust_lr_fn": adjust_lr_fn})

    # -- the base's hooks ---------------------------------------------------------------------------
    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_hyperparameters(group)
        check_matrices(group["params"], "params")

    def _state_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",)

    def _scalar_state_names(self) -> tuple[str, ...]:
        return ()

    def _sync_plan(self, group: Mapping[str, Any], gs: _GroupState) -> list:
        """Muon keeps no StepPlan: its buffers are made here (zeros, as torch starts them)."""
        if "momentum_buffer" not in gs.buffers:
            gs.buffers["momentum_buffer"] = [aligned_full_like(a, 0.0) for a in gs.stepped]
            gs.born["momentum_buffer"] = gs.step
        return []

    def _start_state(self, group: Mapping[str, Any], gs: _GroupState) -> None:
        pass

    # -- stepping ---------------------------------------------------------------------------------
    def step(self, grads: Any = None) -> None:  # type: ignore[override]
        """Update every matrix in place from ``grads`` (same structure as the params). Every
        gradient is checked before anything is written; the momentum passes of all groups run
        before any param is written."""
        with self._lock:
            per_group = self._split_grads(grads)
            for gi, (group, gs, g) in enumerate(zip(self.param_groups, self._groups, per_group)):
                check_hyperparameters(group)  # an option changed through param_groups
                check_grads(gs.layout.arrays, g, "grads" if not self._grouped else f"grads[{gi}]")
                self._sync_plan(group, gs)
            # Every group's momentum pass (which reads the gradients) before any param is written;
            # a Ctrl-C is held until all passes are done (the step is applied whole).
            with deferred_interrupt():
                updates = [momentum_pass(g, gs.buffers["momentum_buffer"], group,
                                         self._work.setdefault(gi, _Workspace()))
                           for gi, (group, gs, g) in enumerate(zip(self.param_groups, self._groups, per_group))]
                for gi, (group, gs, u) in enumerate(zip(self.param_groups, self._groups, updates)):
                    orthogonalise_and_apply(gs.layout.arrays, u, group, self._work[gi])
                for gs in self._groups:
                    gs.counter[0] += 1
            self.last_step = None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_work"] = {}
        return state


def muon_(params: Sequence[np.ndarray], grads: Sequence[np.ndarray], state: Mapping[str, Sequence[np.ndarray]],
          *, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95, nesterov: bool = True,
          ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315), eps: float = 1e-7,
          ns_steps: int = 5, adjust_lr_fn: str | None = None) -> None:
    """One Muon step (torch.optim.Muon's formulas, see :mod:`fastoptim.muon`) over caller-owned 2-D
    float32/float64 ``params`` and ``state={"momentum_buffer": bufs}``, in place: the momentum
    pass in one C++ call, Newton–Schulz per matrix on NumPy's BLAS (float32 products rounded to
    bfloat16 as torch rounds them), the decay-and-update pass in one C++ call. Everything is
    checked before anything is written."""
    params, grads = list(params), list(grads)
    if not isinstance(state, Mapping) or set(state) != {"momentum_buffer"}:
        raise ValueError("state: Muon keeps one buffer per param, {'momentum_buffer': [...]}")
    bufs = list(state["momentum_buffer"])
    if not len(params) == len(grads) == len(bufs):
        raise ValueError(f"params, grads, state['momentum_buffer']: {len(params)}, {len(grads)} and {len(bufs)} "
                         "arrays; one each per param expected")
    group = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum, "nesterov": nesterov,
             "ns_coefficients": ns_coefficients, "eps": eps, "ns_steps": ns_steps, "adjust_lr_fn": adjust_lr_fn}
    check_hyperparameters(group)
    check_matrices(params, "params")
    check_grads(params, grads, "grads")
    check_grads(params, bufs, "state['momentum_buffer']")
    with deferred_interrupt():
        muon_numpy_step(params, grads, bufs, group)
