"""Adafactor: the NumPy class, the op and the torch drop-in against a float64 reference written
from the formulas and against torch.optim.Adafactor; checkpoints both ways; errors; bits equal
on every ISA and thread count."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import on_every_isa_and_thread_count

import fastoptim as fo

SHAPES = [(37,), (), (64, 33), (3, 5, 7), (1, 300), (2, 3, 4, 5)]


def reference_step(p, g, state, t, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0,
                   maximize=False, eps_dtype=np.float32):
    """One Adafactor step in float64, written from the formulas (torch.optim.Adafactor's docs)."""
    p = p.astype(np.float64)
    g = -g.astype(np.float64) if maximize else g.astype(np.float64)
    eps1 = np.finfo(eps_dtype).eps if eps[0] is None else eps[0]
    w = t ** beta2_decay
    rho = min(lr, 1 / np.sqrt(t))
    alpha = max(eps[1], np.sqrt(np.mean(p * p))) * rho
    p = p * (1 - lr * weight_decay)
    if p.ndim >= 2:
        r = state["row_var"] + w * (np.mean(g * g, axis=-1, keepdims=True) - state["row_var"])
        c = state["col_var"] + w * (np.mean(g * g, axis=-2, keepdims=True) - state["col_var"])
        state = {"row_var": r, "col_var": c}
        v = r * c / np.maximum(np.mean(r, axis=-2, keepdims=True), eps1)
    else:
        v = state["variance"] + w * (g * g - state["variance"])
        state = {"variance": v}
    u = g / np.sqrt(np.maximum(v, eps1 * eps1))
    denom = max(1.0, np.sqrt(np.mean(u * u)) / d)
    return p - alpha / denom * u, state


def fresh_state(shape):
    if len(shape) >= 2:
        return {"row_var": np.zeros((*shape[:-1], 1)), "col_var": np.zeros((*shape[:-2], 1, shape[-1]))}
    return {"variance": np.zeros(shape)}


def random_config(rng):
    return {"lr": float(rng.choice([1e-2, 3e-2, 0.3])), "beta2_decay": float(rng.choice([-0.8, -0.5, -1.0])),
            "eps": (None if rng.random() < 0.5 else float(rng.choice([1e-30, 1e-8])), float(rng.choice([1e-3, 1e-2]))),
            "d": float(rng.choice([1.0, 1.5])), "weight_decay": float(rng.choice([0.0, 0.1])),
            "maximize": bool(rng.random() < 0.3)}


def scale_err(a, b):
    """max |a − b| relative to the largest |b| of the tensor (elements near zero would inflate a
    per-element relative difference)."""
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / max(np.max(np.abs(b)), 1e-300)) if b.size else 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(4))
def test_numpy_class_matches_float64_reference(dtype, seed, isa):
    rng = np.random.default_rng(seed)
    cfg = random_config(rng)
    params = [np.asarray(rng.standard_normal(s), dtype) for s in SHAPES]
    ref = [p.astype(np.float64) for p in params]
    ref_state = [fresh_state(s) for s in SHAPES]
    opt = fo.Adafactor(params, **cfg)
    for t in range(1, 6):
        grads = [np.asarray(rng.standard_normal(s) * 10.0 ** rng.integers(-3, 2), dtype) for s in SHAPES]
        opt.step(grads)
        for i, g in enumerate(grads):
            ref[i], ref_state[i] = reference_step(ref[i], g, ref_state[i], t, eps_dtype=dtype, **cfg)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for i, (p, r) in enumerate(zip(params, ref)):
        assert scale_err(p, r) < tol, (i, cfg)
        for k, v in ref_state[i].items():
            assert scale_err(opt.state[i][k], v) < tol, (i, k, cfg)
        assert opt.state[i]["step"] == 5


def test_op_matches_class(rng):
    params = [np.asarray(rng.standard_normal(s), np.float32) for s in SHAPES]
    mine = [p.copy() for p in params]
    opt = fo.Adafactor(params, lr=0.05, weight_decay=0.1)
    state = {"row_var": [], "col_var": [], "variance": []}
    for s in SHAPES:
        f = fresh_state(s)
        for k in state:
            state[k].append(f[k].astype(np.float32) if k in f else None)
    for t in range(1, 4):
        grads = [np.asarray(rng.standard_normal(s), np.float32) for s in SHAPES]
        opt.step(grads)
        fo.ops.adafactor_(mine, grads, state, step=t, lr=0.05, weight_decay=0.1)
    for a, b in zip(params, mine):
        np.testing.assert_array_equal(a, b)


def test_same_bits_on_every_isa_and_thread_count(rng, restore_threads):
    # (5, 40007): wider than a column tile (16384), with a tail that is not a multiple of 16;
    # (20000, 7): tall and narrow, two blocks of rows, each reduced 1024 rows at a time
    shapes = [(70000,), (300, 257), (3, 40, 129), (1, 5000), (5, 40007), (20000, 7)]
    p0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]

    def run():
        params = [p.copy() for p in p0]
        opt = fo.Adafactor(params, lr=0.1, weight_decay=0.01)
        for g in gs:
            opt.step(g)
        return params + [b for i in range(len(shapes)) for k, b in opt.state[i].items() if k != "step"]

    results = on_every_isa_and_thread_count(run)
    first = results[0][2]
    for name, threads, out in results[1:]:
        for a, b in zip(first, out):
            assert a.tobytes() == b.tobytes(), (name, threads)


@pytest.mark.parametrize("kwargs,match", [
    ({"lr": -1.0}, "lr"), ({"beta2_decay": 0.5}, "beta2_decay"), ({"eps": (-1.0, 1e-3)}, r"eps\[0\]"),
    ({"eps": (None, -1.0)}, r"eps\[1\]"), ({"d": 0.5}, "d"), ({"weight_decay": -1.0}, "weight_decay"),
    ({"lr": float("nan")}, "lr"), ({"eps": 1e-3}, "eps"),
])
def test_bad_options_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fo.Adafactor([np.zeros(3, np.float32)], **kwargs)


def test_bad_grads_change_nothing(rng):
    params = [rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal(7).astype(np.float32)]
    opt = fo.Adafactor(params)
    opt.step([np.ones((8, 5), np.float32), np.ones(7, np.float32)])
    before = copy.deepcopy(opt.state_dict())
    saved = [p.copy() for p in params]
    bad = [
        ([np.ones((5, 8), np.float32), np.ones(7, np.float32)], "shape"),
        ([np.ones((8, 5), np.float64), np.ones(7, np.float32)], "dtype|float32"),
        ([np.ones((8, 5), np.float32), params[1]], "shares memory|grads"),
    ]
    for grads, match in bad:
        with pytest.raises((ValueError, TypeError), match=match):
            opt.step(grads)
        for p, s in zip(params, saved):
            np.testing.assert_array_equal(p, s)
        after = opt.state_dict()
        assert after["state"][0]["step"] == before["state"][0]["step"] == 1
        np.testing.assert_array_equal(after["state"][0]["row_var"], before["state"][0]["row_var"])


def test_op_checks_state_buffers_by_name():
    p, g = np.zeros((4, 3), np.float32), np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"row_vars\[0\]"):
        fo.ops.adafactor_([p], [g], {"row_var": [np.zeros((4, 3), np.float32)],
                                     "col_var": [np.zeros((1, 3), np.float32)]}, step=1)
    with pytest.raises(ValueError, match=r"variances\[0\]"):
        fo.ops.adafactor_([p], [g], {"row_var": [np.zeros((4, 1), np.float32)],
                                     "col_var": [np.zeros((1, 3), np.float32)],
                                     "variance": [np.zeros((4, 3), np.float32)]}, step=1)
    np.testing.assert_array_equal(p, 0)


def test_numpy_checkpoint_round_trip_and_bad_checkpoint(rng):
    shapes = [(6, 4), (5,)]
    a = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    b = [x.copy() for x in a]
    oa, ob = fo.Adafactor(a, lr=0.05), fo.Adafactor(b, lr=0.05)
    oa.step([rng.standard_normal(s).astype(np.float32) for s in shapes])
    b[0][...], b[1][...] = a[0], a[1]
    sd = oa.state_dict()
    bad = copy.deepcopy(sd)
    bad["state"][0]["row_var"] = np.zeros((4, 1), np.float32)
    with pytest.raises(ValueError, match="row_var"):
        ob.load_state_dict(bad)
    assert ob.state[0]["step"] == 0
    ob.load_state_dict(sd)
    g = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    oa.step(g)
    ob.step(g)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# -- against torch.optim.Adafactor ------------------------------------------------------------------
torch = pytest.importorskip("torch", reason="torch is not installed: the torch.optim.Adafactor parity tests need it")
import fastoptim.torch as fot  # noqa: E402

TDTYPES = {np.float32: torch.float32, np.float64: torch.float64}


def _torch_pair(rng, dtype, shapes, cfg):
    init = [np.asarray(rng.standard_normal(s), dtype) for s in shapes]
    ours = [torch.nn.Parameter(torch.tensor(x)) for x in init]
    theirs = [torch.nn.Parameter(torch.tensor(x)) for x in init]
    return ours, theirs, fot.Adafactor(ours, **cfg), torch.optim.Adafactor(theirs, **cfg)


def _grads(rng, params_lists, dtype):
    g = [np.asarray(rng.standard_normal(tuple(p.shape)), dtype) for p in params_lists[0]]
    for params in params_lists:
        for p, x in zip(params, g):
            p.grad = torch.tensor(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(6))
def test_torch_class_matches_torch_optim(dtype, seed):
    rng = np.random.default_rng(100 + seed)
    cfg = random_config(rng)
    cfg["foreach"] = bool(rng.random() < 0.5)
    ours, theirs, a, b = _torch_pair(rng, dtype, SHAPES, cfg)
    for _ in range(8):
        _grads(rng, [ours, theirs], dtype)
        a.step()
        b.step()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for i, (x, y) in enumerate(zip(ours, theirs)):
        assert scale_err(x.detach().numpy(), y.detach().numpy()) < tol, (i, cfg)
        sa, sb = a.state[x], b.state[y]
        assert set(sa) == set(sb)
        assert sa["step"].dtype == sb["step"].dtype and float(sa["step"]) == float(sb["step"]) == 8
        for k in sa:
            if k != "step":
                assert sa[k].dtype == sb[k].dtype and sa[k].shape == sb[k].shape
                assert scale_err(sa[k].numpy(), sb[k].numpy()) < tol, (i, k, cfg)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_matrices_in_column_tiles_match_torch_optim(dtype, rng):
    """Matrices wider than a column tile (16384) are stepped in tiles whose row and column sums
    are combined afterwards: still torch's step."""
    shapes = [(3, 40007), (2, 2, 16400), (40, 16384)]
    ours, theirs, a, b = _torch_pair(rng, dtype, shapes, {"lr": 0.05, "weight_decay": 0.1})
    for _ in range(4):
        _grads(rng, [ours, theirs], dtype)
        a.step()
        b.step()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for i, (x, y) in enumerate(zip(ours, theirs)):
        assert scale_err(x.detach().numpy(), y.detach().numpy()) < tol, i
        for k in ("row_var", "col_var"):
            assert scale_err(a.state[x][k].numpy(), b.state[y][k].numpy()) < tol, (i, k)


@pytest.mark.parametrize("direction", ["torch->fastoptim", "fastoptim->torch"])
def test_checkpoints_move_both_ways(direction, rng):
    shapes = [(6, 4), (2, 3, 5), (7,)]
    cfg = {"lr": 0.05, "weight_decay": 0.1}
    src_cls, dst_cls = ((torch.optim.Adafactor, fot.Adafactor) if direction == "torch->fastoptim"
                        else (fot.Adafactor, torch.optim.Adafactor))
    src_p = [torch.nn.Parameter(torch.randn(s, dtype=torch.float64)) for s in shapes]
    src = src_cls(src_p, **cfg)
    for _ in range(3):
        _grads(rng, [src_p], np.float64)
        src.step()
    dst_p = [torch.nn.Parameter(p.detach().clone()) for p in src_p]
    dst = dst_cls(dst_p, **cfg)
    dst.load_state_dict(copy.deepcopy(src.state_dict()))
    for _ in range(3):
        _grads(rng, [src_p, dst_p], np.float64)
        src.step()
        dst.step()
    for x, y in zip(src_p, dst_p):
        assert scale_err(y.detach().numpy(), x.detach().numpy()) < 1e-12
        assert set(src.state[x]) == set(dst.state[y])
        assert float(dst.state[y]["step"]) == 6


def test_torch_checkpoint_into_numpy_class(rng):
    shapes = [(6, 4), (7,)]
    tp = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
    topt = torch.optim.Adafactor(tp, lr=0.05)
    _grads(rng, [tp], np.float32)
    topt.step()
    arrays = [p.detach().numpy().copy() for p in tp]
    opt = fo.Adafactor(arrays, lr=0.05)
    opt.load_state_dict(topt.state_dict())
    assert opt.state[0]["step"] == 1
    np.testing.assert_array_equal(opt.state[0]["col_var"], topt.state[tp[0]]["col_var"].numpy())


def test_torch_errors_are_torchs():
    p = [torch.nn.Parameter(torch.zeros(3))]
    for kwargs in [{"lr": -1.0}, {"beta2_decay": 0.1}, {"eps": (-1.0, 1e-3)}, {"eps": (None, -1.0)}, {"d": 0.5},
                   {"weight_decay": -0.1}]:
        with pytest.raises(ValueError) as theirs:
            torch.optim.Adafactor(p, **kwargs)
        with pytest.raises(ValueError) as ours:
            fot.Adafactor(p, **kwargs)
        assert str(ours.value) == str(theirs.value)
    c = torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.complex64))
    c.grad = torch.ones_like(c)
    with pytest.raises(RuntimeError, match="complex"):
        fot.Adafactor([c]).step()


def test_torch_noncontiguous_and_16bit_params(rng):
    base = torch.randn(8, 6, 2)
    ours, theirs = torch.nn.Parameter(base.clone()[..., 0]), torch.nn.Parameter(base.clone()[..., 0])
    half = [torch.nn.Parameter(torch.randn(5, 4).to(torch.bfloat16)) for _ in range(2)]
    half[1].data.copy_(half[0].data)
    a, b = fot.Adafactor([ours, half[0]]), torch.optim.Adafactor([theirs, half[1]])
    for _ in range(3):
        g = torch.randn(8, 6)
        ours.grad, theirs.grad = g.clone(), g.clone()
        h = torch.randn(5, 4).to(torch.bfloat16)
        half[0].grad, half[1].grad = h.clone(), h.clone()
        a.step()
        b.step()
    assert scale_err(ours.detach().numpy(), theirs.detach().numpy()) < 1e-5
    assert torch.equal(half[0], half[1])
