"""Every registered rule, parametrized over the registry: a rule added to cpp/rules/,
fastoptim/rules/ and tests/reference/ is run here on every ISA, 1 and 2 threads, float32 and
float64, every state format it declares, bad input, checkpoint round trips, the functional op,
and torch.optim (when installed).

The configurations are those of each rule's reference module (``CASES``, every option and
buffer in use) plus, against torch, randomized ones (``random_kwargs``)."""

from __future__ import annotations

import copy
import importlib.util
import pickle
import zlib

import numpy as np
import pytest
from conftest import DEFAULT_ISA, SHAPES, on_every_isa_and_thread_count
from reference import CLASS_CASES, CLASS_IDS, FIRST_CASES, MODULES, RTOL, STEPS, reference_for

import fastoptim as fo
from fastoptim import _core
from fastoptim.rules import REGISTRY, class_variants

HAS_ML_DTYPES = importlib.util.find_spec("ml_dtypes") is not None
FIRST_IDS = [c for c, _ in FIRST_CASES]


def test_every_rule_is_complete():
    """C++ header, Python descriptor, reference, NumPy and torch classes, op: one of each per rule."""
    assert set(_core.rule_names()) == set(REGISTRY) == set(MODULES)
    for d, v in class_variants():
        assert getattr(fo, v.name).rule == d.rule
        assert hasattr(fo.ops, f"{d.rule}_")
    assert {cls for cls, _ in CLASS_CASES} == {v.name for _, v in class_variants()}


# -- against the float64 reference ------------------------------------------------------------------
def _run_reference(cls_name, kwargs, dtype, rng, steps=STEPS):
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    initial = [p.astype(np.float64) for p in params]
    refs = [reference_for(cls_name, p, kwargs) for p in params]
    opt = getattr(fo, cls_name)(params, **kwargs)
    for _ in range(steps):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
        opt.step(grads)
        for r, g in zip(refs, grads):
            r.step(g)
    return params, initial, refs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls_name,kwargs", CLASS_CASES, ids=CLASS_IDS)
def test_matches_float64_reference(cls_name, kwargs, dtype, rng, isa):
    params, initial, refs = _run_reference(cls_name, kwargs, dtype, rng)
    lr = kwargs.get("lr", 1e-3)
    moved = max(np.max(np.abs(r.p - p0)) for r, p0 in zip(refs, initial))
    assert moved > 10 * RTOL[np.dtype(dtype)] * lr, "the reference did not move: the test shows nothing"
    for i, (p, r) in enumerate(zip(params, refs)):
        err = np.max(np.abs(p - r.p) / (np.abs(r.p) + lr))
        assert err <= RTOL[np.dtype(dtype)], f"param {i}: relative error {err:.3e}"


# -- the same bits on every ISA and thread count, in every state format ---------------------------
def _formats(cls):
    spec = _core.rule_spec(cls.rule)
    out = [("f32", np.float32, {}), ("f64", np.float64, {})]
    if "mixed" in spec["formats"]:
        out.append(("f16-params", np.float16, {}))
    if "bf16_state" in spec["formats"] and HAS_ML_DTYPES:
        out.append(("bf16-state-sr", np.float32, dict(state_bits=16, stochastic_rounding=True, seed=3)))
    if "block8" in spec["formats"]:
        out.append(("8bit", np.float32, dict(state_bits=8, min_8bit_size=0, seed=5)))
    return out


def _bytes_of(opt, params):
    out = [p.tobytes() for p in params]
    for entry in opt.state.values():
        for k in sorted(entry):
            v = entry[k]
            out.append(repr(v).encode() if not hasattr(v, "tobytes") and not hasattr(v, "codes")
                       else (v.codes.tobytes() + v.scales.tobytes() if hasattr(v, "codes") else v.tobytes()))
    return out


@pytest.mark.parametrize("cls_name,kwargs", FIRST_CASES, ids=FIRST_IDS)
def test_same_bits_on_every_isa_thread_count_and_format(cls_name, kwargs, restore_threads):
    cls = getattr(fo, cls_name)
    rng = np.random.default_rng(7)
    shapes = [(3001,), (17, 5), (1,)]
    for label, dtype, extra in _formats(cls):
        if "state_bits" in extra and extra["state_bits"] == 8 and not _core.block8_supports(
                cls.rule, {o: bool(kwargs.get(k, False)) for o, k in cls.descriptor.options.items()},
                [b.present({**cls(np.zeros(1, np.float32)).defaults, **kwargs}) for b in cls.descriptor.buffers]):
            continue
        init = [rng.standard_normal(s).astype(dtype) for s in shapes]
        grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(3)]

        def run(init=init, grads=grads, extra=extra):
            params = [p.copy() for p in init]
            opt = cls(params, **kwargs, **extra)
            for g in grads:
                opt.step(g)
            return _bytes_of(opt, params)

        results = on_every_isa_and_thread_count(run)
        first = results[0][2]
        assert any(a != b for a, b in zip(first, [p.tobytes() for p in init])), f"{label}: nothing moved"
        for isa, threads, got in results[1:]:
            assert got == first, f"{label}: {isa} with {threads} threads differs from {results[0][0]}"


# -- checkpoints, pickling, bad input ----------------------------------------------------------------
@pytest.mark.parametrize("cls_name,kwargs", CLASS_CASES, ids=CLASS_IDS)
def test_checkpoint_round_trip_continues_bit_for_bit(cls_name, kwargs, rng):
    cls = getattr(fo, cls_name)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(6)]
    a = [p.copy() for p in init]
    opt = cls(a, **kwargs)
    for g in grads[:3]:
        opt.step(g)
    sd = copy.deepcopy(opt.state_dict())
    assert sd["rule"] == cls.rule
    b = [p.copy() for p in a]
    resumed = cls(b, **kwargs)
    resumed.load_state_dict(sd)
    unpickled = pickle.loads(pickle.dumps(opt))
    c = unpickled._groups[0].layout.arrays
    for g in grads[3:]:
        opt.step(g)
        resumed.step(g)
        unpickled.step(g)
    for x, y, z in zip(a, b, c):
        assert x.tobytes() == y.tobytes() == z.tobytes()


@pytest.mark.parametrize("cls_name,kwargs", FIRST_CASES, ids=FIRST_IDS)
def test_bad_hyperparameters_are_refused_naming_them(cls_name, kwargs):
    cls = getattr(fo, cls_name)
    p = np.ones(4, np.float32)
    reals = [a.name for a in cls.descriptor.args if a.kind == "real" and not a.torch_only and a.name != "lr"]
    for name in ["lr", *reals[:2]]:
        with pytest.raises(ValueError, match=name):
            cls([p], **{**kwargs, name: float("nan")})
    for a in cls.descriptor.args:
        if a.kind == "pair" and not a.torch_only:
            with pytest.raises(ValueError, match=a.name):
                cls([p], **{**kwargs, a.name: (float("nan"), a.default[1])})
    opt = cls([p], **kwargs)
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt.step([np.ones(4, np.float32)])
    assert p.tobytes() == np.ones(4, np.float32).tobytes()
    assert opt.state_dict()["state"][0]["step"] == 0


def test_state_starts_from_the_options_at_the_first_step():
    """torch creates state at the first step: an lr changed after construction counts (ASGD's eta,
    Rprop's step sizes start at lr)."""
    p = np.ones(3, np.float32)
    opt = fo.Rprop([p], lr=0.5)
    opt.param_groups[0]["lr"] = 0.25
    opt.step([np.ones(3, np.float32)])
    np.testing.assert_array_equal(p, np.float32(0.75))
    opt = fo.ASGD([np.ones(3, np.float32)], lr=0.5)
    opt.param_groups[0]["lr"] = 0.25
    opt.step([np.ones(3, np.float32)])
    assert opt.state[0]["eta"] == np.float32(0.25 / (1 + 1e-4 * 0.25) ** 0.75)


# -- torch.optim ---------------------------------------------------------------------------------------
def _random_cases():
    out = []
    for rule, mod in MODULES.items():
        # seeded by the rule's name through crc32: hash() of a str changes from run to run
        # (PYTHONHASHSEED), which made these configurations, and so the suite, differ per run
        rng = np.random.default_rng(zlib.crc32(rule.encode()))
        for i in range(3):
            out.append((rule, i, *mod.random_case(rng)))
    return out


RANDOM_CASES = _random_cases()


def torch_peer(cls_name: str):
    """The torch optimizer class ``cls_name`` is tested against: torch.optim's namesake, or the
    reference package its descriptor names (pytorch-optimizer's Lion); skips when not installed."""
    import importlib

    path = getattr(fo, cls_name).descriptor.torch_peer or f"torch.optim.{cls_name}"
    module, name = path.rsplit(".", 1)
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        pytest.skip(f"{module} is not installed: {cls_name} is compared with {path} (extra 'peers')")


def torch_grad(torch, cls_name: str, g: np.ndarray):
    """``g`` as the gradient torch's ``cls_name`` takes: dense, or for the classes that take only
    sparse ones (SparseAdam) a sparse COO tensor naming every row (the NumPy API then gets the
    dense gradient: every row named, the same step)."""
    t = torch.from_numpy(g.copy())
    return t.to_sparse(1) if getattr(fo, cls_name).descriptor.sparse_grads == "only" else t


def _torch_steps(torch, cls, init, grads, kwargs, dtype, cls_name):
    tparams = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in init]
    opt = cls(tparams, **kwargs)
    if hasattr(opt, "train"):  # schedule-free: the reference package needs train mode set
        opt.train()
    for g in grads:
        for tp, gi in zip(tparams, g):
            tp.grad = torch_grad(torch, cls_name, gi)
        opt.step()
    return [tp.detach().numpy() for tp in tparams], opt


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule,i,cls_name,kwargs", RANDOM_CASES, ids=[f"{r}-{i}" for r, i, _, _ in RANDOM_CASES])
def test_matches_torch_optim_on_random_configurations(rule, i, cls_name, kwargs, dtype):
    """fastoptim (NumPy API) and fastoptim.torch against torch.optim's for-loop, same inputs."""
    torch = pytest.importorskip("torch", reason="torch is not installed: the differential tests need it")
    import fastoptim.torch as fot

    rng = np.random.default_rng(i)
    shapes = [(64, 33), (7,), (300,)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(40)]
    has_foreach = any(a.name == "foreach" for a in getattr(fo, cls_name).descriptor.args)
    ref, ref_opt = _torch_steps(torch, torch_peer(cls_name), init, grads,
                                dict(kwargs, foreach=False) if has_foreach else kwargs, dtype, cls_name)
    drop_in, drop_opt = _torch_steps(torch, getattr(fot, cls_name), init, grads, kwargs, dtype, cls_name)
    ours = [p.copy() for p in init]
    opt = getattr(fo, cls_name)(ours, **kwargs)
    for g in grads:
        opt.step(g)
    lr = float(kwargs.get("lr", 1e-3))
    # float32: the roundings of two evaluations of one formula (torch contracts to FMA in its
    # vectorized kernels, we never do) over 40 steps, as test_torch_parity.py argues; float64:
    # the same over 40 steps, far below any formula error.
    rtol = 3e-4 if dtype == np.float32 else 1e-9
    for k, (p, q, r, p0) in enumerate(zip(ours, drop_in, ref, init)):
        assert not np.array_equal(r, p0), "torch did not move: the test shows nothing"
        assert p.tobytes() == q.tobytes(), f"param {k}: the NumPy API and fastoptim.torch differ"
        err = np.max(np.abs(p - r) / (np.abs(r) + lr))
        assert err <= rtol, f"param {k}: {err:.2e} from torch.optim.{cls_name}"
    # the state too, key for key, under torch's names
    for k, tp in enumerate(ref_opt.param_groups[0]["params"]):
        ts, fs = ref_opt.state[tp], drop_opt.state[drop_opt.param_groups[0]["params"][k]]
        if type(ref_opt).__module__.startswith("torch.optim"):
            assert set(ts) == set(fs), (sorted(ts), sorted(fs))
        else:  # a reference package keeps its counters elsewhere (schedulefree: in the group)
            assert set(ts) <= set(fs), (sorted(ts), sorted(fs))
        for key, tv in ts.items():
            fv = fs[key]
            if not isinstance(tv, torch.Tensor):  # a Python number (SparseAdam's step)
                assert type(fv) is type(tv) and fv == tv, key
                continue
            assert fv.dtype == tv.dtype and fv.shape == tv.shape, key
            scale = np.abs(tv.numpy()) + np.max(np.abs(tv.numpy())) * 1e-3 + 1e-30
            assert np.max(np.abs(fv.numpy() - tv.numpy()) / scale) <= max(rtol * 10, 1e-6), key


@pytest.mark.parametrize("cls_name,kwargs", FIRST_CASES, ids=FIRST_IDS)
def test_checkpoints_interchange_with_torch_optim(cls_name, kwargs):
    """torch.optim -> fastoptim.torch and the NumPy API, and fastoptim.torch -> torch.optim: the
    loaded optimizer continues the run (to the parity tolerance)."""
    torch = pytest.importorskip("torch", reason="torch is not installed: the differential tests need it")
    import fastoptim.torch as fot

    rng = np.random.default_rng(3)
    shapes = [(20, 5), (9,)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(8)]

    def run(cls, params, steps):
        opt = cls(params, **kwargs)
        if hasattr(opt, "train"):
            opt.train()
        for g in steps:
            for tp, gi in zip(params, g):
                tp.grad = torch_grad(torch, cls_name, gi)
            opt.step()
        return opt

    peer = torch_peer(cls_name)
    if getattr(fo, cls_name).descriptor.train_eval is not None:
        pytest.skip("schedulefree keeps its step count, lr_max and weight sum in the param groups and "
                    "fastoptim in the state (torch's place for scalar state): their checkpoints do not map "
                    "onto each other; fastoptim's own round trip is tested above")
    for first, second in [(peer, getattr(fot, cls_name)), (getattr(fot, cls_name), peer)]:
        straight = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in init]
        run(first, straight, grads)
        split = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in init]
        sd = copy.deepcopy(run(first, split, grads[:4]).state_dict())
        opt = second(split, **kwargs)
        opt.load_state_dict(copy.deepcopy(sd))  # torch's load may keep sd's tensors as the state
        if hasattr(opt, "train"):
            opt.train()
        for g in grads[4:]:
            for tp, gi in zip(split, g):
                tp.grad = torch_grad(torch, cls_name, gi)
            opt.step()
        for a, b in zip(straight, split):
            err = np.max(np.abs(a.detach().numpy() - b.detach().numpy()) / (np.abs(a.detach().numpy()) + 1e-3))
            assert err <= 3e-4, f"{first.__module__} -> {second.__module__}: {err:.2e}"
        if first is peer:  # the NumPy API loads torch's checkpoint as well
            ours = [p.detach().numpy().copy() for p in run(first, [torch.nn.Parameter(torch.from_numpy(
                p.copy())) for p in init], grads[:4]).param_groups[0]["params"]]
            np_opt = getattr(fo, cls_name)(ours, **kwargs)
            np_opt.load_state_dict(copy.deepcopy(sd))
            for g in grads[4:]:
                np_opt.step(g)
            for a, b in zip(straight, ours):
                err = np.max(np.abs(a.detach().numpy() - b) / (np.abs(a.detach().numpy()) + 1e-3))
                assert err <= 3e-4, f"torch.optim -> fastoptim (NumPy): {err:.2e}"


def test_default_isa_restored():
    assert fo.active_isa() == DEFAULT_ISA


@pytest.mark.parametrize("cls_name,kwargs", FIRST_CASES, ids=FIRST_IDS)
def test_unscale_clip_and_skip_pipeline(cls_name, kwargs, rng):
    """The fused pipeline works for every rule: gradients scaled by 2^k with grad_scale=2^k give
    the unscaled run's bits; clipping equals stepping the clipped gradients (to rounding); a
    non-finite gradient with skip_nonfinite changes nothing, step count included."""
    cls = getattr(fo, cls_name)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(4)]
    a, b, c, d = ([p.copy() for p in init] for _ in range(4))
    plain, scaled, clipped, by_hand = (cls(x, **kwargs) for x in (a, b, c, d))
    for g in grads:
        plain.step(g)
        scaled.step([x * np.float32(1024) for x in g], grad_scale=1024.0)
        norm = float(np.sqrt(sum(np.sum(x.astype(np.float64) ** 2) for x in g)))
        result = clipped.step(g, max_grad_norm=0.5 * norm)
        assert result.grad_norm == pytest.approx(norm, rel=1e-12)
        by_hand.step([(x * np.float64(0.5 * norm / (norm + 1e-6))).astype(np.float32) for x in g])
    for x, y, z, w in zip(a, b, c, d):
        assert x.tobytes() == y.tobytes()
        np.testing.assert_allclose(z, w, rtol=1e-4, atol=1e-6)
    before = [x.copy() for x in a]
    bad = [x.copy() for x in grads[0]]
    bad[1][0, 0] = np.nan
    assert plain.step(bad, skip_nonfinite=True).skipped
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a, before))
    assert plain.state_dict()["state"][0]["step"] == 4
