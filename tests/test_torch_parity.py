"""Trajectories against torch.optim (fp32, same inputs, 60 steps), when torch is installed.

Tolerance: fastoptim and torch evaluate the same formulas in float32 but round differently
(torch fuses multiply-adds into FMAs in its vectorized kernels; fastoptim keeps IEEE
mul-then-add so that every ISA gives the same bits). Each step may thus differ by a few ulps
of the update, u = 6e-8; over T = 60 steps, with momentum-like accumulators amplifying by up
to 10, the gap stays below 60 · 10 · 8u ≈ 3e-4 relative to (|p| + lr). Measured on
these cases: ≤ 2.7e-5 (centered RMSprop with momentum), ≤ 1.5e-6 for Adam/AdamW.
"""

import numpy as np
import pytest

import fastoptim as fo

torch = pytest.importorskip("torch", reason="torch is not installed: the differential tests need it")

STEPS = 60
RTOL = 3e-4

CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.05, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.3, centered=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9), weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]
HAS_FUSED = {"SGD", "Adagrad", "Adam", "AdamW"}


def torch_variants(name):
    yield "foreach", dict(foreach=True)
    if name in HAS_FUSED:
        yield "fused", dict(fused=True)


@pytest.mark.parametrize("name,kw", CASES, ids=lambda x: str(x))
def test_trajectory_matches_torch(name, kw):
    rng = np.random.default_rng(2024)
    shapes = [(64, 33), (7,), (1000,)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(STEPS)]
    ours = [p.copy() for p in init]
    opt = getattr(fo, name)(ours, **kw)
    for g in grads:
        opt.step(g)
    for variant, extra in torch_variants(name):
        tparams = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in init]
        topt = getattr(torch.optim, name)(tparams, **kw, **extra)
        for g in grads:
            for tp, gi in zip(tparams, g):
                tp.grad = torch.from_numpy(gi.copy())
            topt.step()
        for i, (p, tp) in enumerate(zip(ours, tparams)):
            ref = tp.detach().numpy()
            assert not np.array_equal(ref, init[i]), "torch did not move: the test shows nothing"
            err = np.max(np.abs(p - ref) / (np.abs(ref) + kw["lr"]))
            assert err <= RTOL, f"{variant} param {i}: {err:.2e}"


def test_clip_and_skip_match_torch_grad_clipping():
    rng = np.random.default_rng(1)
    init = [rng.standard_normal(s).astype(np.float32) for s in [(50,), (10, 10)]]
    ours = [p.copy() for p in init]
    opt = fo.Adam(ours, lr=0.01)
    tparams = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in init]
    topt = torch.optim.Adam(tparams, lr=0.01, fused=True)
    for _step in range(STEPS):
        g = [rng.standard_normal(p.shape).astype(np.float32) * 3 for p in init]
        res = opt.step(g, max_grad_norm=1.0)
        for tp, gi in zip(tparams, g):
            tp.grad = torch.from_numpy(gi.copy())
        tnorm = torch.nn.utils.clip_grad_norm_(tparams, 1.0)
        topt.step()
        assert res.grad_norm == pytest.approx(float(tnorm), rel=1e-5)
    for p, tp in zip(ours, tparams):
        ref = tp.detach().numpy()
        assert np.max(np.abs(p - ref) / (np.abs(ref) + 0.01)) <= RTOL
