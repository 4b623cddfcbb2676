"""Muon: the fused kernels against float64 formulas, the NumPy API against a float64 reference,
both APIs against torch.optim.Muon (randomized configurations, float32 and float64, checkpoints
both ways), every ISA and thread count giving the same bits, bad input refused by name.

Tolerance against torch. The element-wise passes agree with torch's to the last bit or one ulp
(torch's vectorized lerp and add fuse a multiply-add; fastoptim multiplies then adds). The
Newton–Schulz input is rounded to bfloat16, so a one-ulp difference can flip one bfloat16
element (rarely); that changes the norm and every later bfloat16 rounding, so the orthogonalised
update O (entries below ~1.5) can then differ by a few bfloat16 ulps, 2^-8 relative each. Per
step a param thus differs by at most ~adjusted_lr·1.5·4·2^-8 ≈ adjusted_lr/40; the tests allow
adjusted_lr/20 per step and require torch's params to have moved more than ten times that.
The NumPy API multiplies in float32 (torch: bfloat16 products accumulated in float32, in
another order), which gives the same order of difference.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from conftest import on_every_isa_and_thread_count

import fastoptim as fo
from fastoptim import _core
from fastoptim.muon import NS_COEFFICIENTS, adjusted_lr

SHAPES = [(33, 17), (17, 33), (24, 24), (1, 40), (130, 9)]


# -- float64 references written from the formulas -------------------------------------------------
def lerp(a, b, w):
    """torch.lerp: a + w·(b − a) for |w| < 0.5, else b − (b − a)·(1 − w)."""
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1 - w)


def bf16(x):
    """float32 values rounded to bfloat16 (nearest, ties to even), as float32."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return (bits & 0xFFFFFFFF).astype(np.uint32).view(np.float32)


def reference_step(p, g, buf, *, lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps,
                   adjust_lr_fn):
    """One Muon step in float64 (Newton–Schulz in float64 too); returns (p, buf)."""
    buf = lerp(buf, g, 1 - momentum)
    u = lerp(g, buf, momentum) if nesterov else buf
    a, b, c = ns_coefficients
    x = u.T if u.shape[0] > u.shape[1] else u
    x = x / max(np.linalg.norm(x), eps)
    for _ in range(ns_steps):
        s = x @ x.T
        s = b * s + c * (s @ s)
        x = a * x + s @ x
    o = x.T if u.shape[0] > u.shape[1] else x
    p = p * (1 - lr * weight_decay) - adjusted_lr(lr, adjust_lr_fn, p.shape) * o
    return p, buf


def random_config(rng):
    return dict(lr=float(rng.choice([1e-3, 0.02, 0.1])), weight_decay=float(rng.choice([0.0, 0.1, 0.3])),
                momentum=float(rng.choice([0.0, 0.5, 0.9, 0.95])), nesterov=bool(rng.integers(2)),
                ns_coefficients=tuple(NS_COEFFICIENTS if rng.integers(2) else (3.4, -4.7, 2.0)),
                eps=1e-7, ns_steps=int(rng.choice([1, 2, 5, 6])),
                adjust_lr_fn=[None, "original", "match_rms_adamw"][int(rng.integers(3))])


def allowance(kw, shape, steps):
    return steps * adjusted_lr(kw["lr"], kw.get("adjust_lr_fn"), shape) / 20


# -- the kernels ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("momentum", [0.95, 0.3, 0.0])
def test_momentum_pass_is_the_formula(rng, dtype, nesterov, momentum):
    g = rng.standard_normal((37, 29)).astype(dtype)
    b0 = rng.standard_normal((37, 29)).astype(dtype)
    b, u32, u16 = b0.copy(), np.empty(g.shape, np.float32), np.empty(g.shape, np.uint16)
    _core.muon_momentum([b], [g], [u32], momentum, nesterov)
    b2 = b0.copy()
    _core.muon_momentum([b2], [g], [u16], momentum, nesterov)
    t = dtype  # the formula in the params' precision, weights rounded to it as torch rounds them
    w, v = t(1 - momentum), t(momentum)
    want_b = (b0 + w * (g - b0) if abs(w) < 0.5 else g - (g - b0) * (t(1) - w)).astype(dtype)
    want_u = (g + v * (want_b - g) if abs(v) < 0.5 else want_b - (want_b - g) * (t(1) - v)) if nesterov else want_b
    assert np.array_equal(b, want_b) and np.array_equal(b2, want_b)
    want = bf16(want_u.astype(np.float32))
    assert np.array_equal(u32, want)
    assert np.array_equal(u16.astype(np.uint32) << 16, want.view(np.uint32))


def bf16_bits(x):
    """float32 values rounded to bfloat16 bits (nearest, ties to even); a NaN keeps its sign and
    the top of its payload and is made quiet."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = (bits & 0x7FFFFFFF) > 0x7F800000
    return np.where(nan, (bits >> 16) | 0x40, rounded).astype(np.uint16)


def special_values(rng, n):
    """float32 values the rounding treats apart: subnormals (which AVX512_BF16's conversion reads
    as zero), NaNs with payloads in the low bits only, ±Inf, values that round up to Inf, exact
    ties (both parities), signed zeros; between them ordinary normals."""
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    kind = rng.integers(0, 8, n)
    sign = bits & 0x80000000
    bits = np.where(kind == 0, sign | (bits & 0x007FFFFF), bits)                           # subnormal
    bits = np.where(kind == 1, sign | 0x7F800000 | (1 + (bits & 0x7FFF)), bits)            # NaN, low payload
    bits = np.where(kind == 2, sign | 0x7F800000, bits)                                    # ±Inf
    bits = np.where(kind == 3, sign | 0x7F7F8000 | (bits & 0x7FFF), bits)                  # rounds to ±Inf or max
    bits = np.where(kind == 4, (bits & 0xFFFF0000) | 0x8000, bits)                         # a tie
    bits = np.where(kind == 5, sign, bits)                                                 # ±0
    return bits.view(np.float32)


@pytest.mark.parametrize("n", [32 * 40, 32 * 40 + 19])
def test_momentum_rounding_of_special_values_on_every_isa(restore_threads, n):
    # momentum 0, no Nesterov: B = lerp(B, G, 1) = G − (G − B)·0, u = bfloat16(B); B starts at 0, so
    # B is G wherever G is finite and u is G's bfloat16 bits. The avx512bf16 copy rounds groups
    # of 32 with VCVTNE2PS2BF16 and must hand groups with subnormals to the integer rounding.
    g = special_values(np.random.default_rng(7), n)
    g[:32] = np.float32(1.5)  # one group without specials, one with a single subnormal
    g[32:64] = np.float32(-2.25)
    g[40] = np.uint32(0x00400001).view(np.float32)

    def run():
        b, u = np.zeros(n, np.float32), np.empty(n, np.uint16)
        _core.muon_momentum([b], [g], [u], 0.0, False)
        return b, u

    results = on_every_isa_and_thread_count(run)
    b0, u0 = results[0][2]
    finite = np.isfinite(g)
    assert np.array_equal(b0[finite], g[finite])
    assert np.array_equal(u0, bf16_bits(b0))  # NaN-aware rounding of what the pass computed
    assert u0[40] == 0x0040  # the subnormal rounded, not read as zero
    for isa, threads, (b, u) in results[1:]:
        assert b.tobytes() == b0.tobytes() and u.tobytes() == u0.tobytes(), (isa, threads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_apply_pass_is_the_formula(rng, dtype):
    p0 = rng.standard_normal((21, 40)).astype(dtype)
    u = bf16(rng.standard_normal(p0.shape))
    for decay, neg in [(1.0, -0.02), (1 - 0.02 * 0.1, -0.03)]:
        p = p0.copy()
        _core.muon_apply([p], [u], [decay], [neg])
        want = (p0 * dtype(decay)).astype(dtype) + dtype(neg) * u.astype(dtype)
        assert np.array_equal(p, want)


def test_blend_and_div_round_to_bfloat16(rng):
    x, y = rng.standard_normal(1000).astype(np.float32), rng.standard_normal(1000).astype(np.float32)
    out = np.empty_like(x)
    _core.muon_blend_bf16(out, x, y, 2.0315, -4.775)
    assert np.array_equal(out, bf16(np.float32(-4.775) * y + np.float32(2.0315) * x))
    z = x.copy()
    _core.muon_div_bf16(z, 3.0)
    assert np.array_equal(z, bf16(x / np.float32(3.0)))


# -- the NumPy API --------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_numpy_muon_follows_the_float64_reference(seed):
    rng = np.random.default_rng(seed)
    kw = random_config(rng)
    for dtype in (np.float32, np.float64):
        params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        ref = [p.astype(np.float64) for p in params]
        bufs = [np.zeros_like(r) for r in ref]
        init = [p.copy() for p in params]
        opt = fo.Muon(params, **kw)
        for _ in range(3):
            grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
            opt.step(grads)
            for i, g in enumerate(grads):
                ref[i], bufs[i] = reference_step(ref[i], g.astype(np.float64), bufs[i], **kw)
        for i, (p, r) in enumerate(zip(params, ref)):
            # bfloat16 Newton–Schulz against float64: a few 2^-8 of the update per element
            assert np.max(np.abs(p - r)) <= allowance(kw, p.shape, 3) * 4, (i, kw)
            assert np.max(np.abs(r - init[i])) > allowance(kw, p.shape, 3), "the reference did not move"
            buf = opt.state[i]["momentum_buffer"]
            assert np.allclose(buf, bufs[i], rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-6)


def test_ops_muon_is_the_class_step(rng):
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    mine = [p.copy() for p in params]
    opt = fo.Muon(params, lr=0.02, weight_decay=0.1)
    bufs = [np.zeros_like(p) for p in mine]
    for _ in range(2):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
        opt.step(grads)
        fo.ops.muon_(mine, grads, {"momentum_buffer": bufs}, lr=0.02, weight_decay=0.1)
    for p, q, b, i in zip(params, mine, bufs, range(len(bufs))):
        assert np.array_equal(p, q) and np.array_equal(b, opt.state[i]["momentum_buffer"])


def _run_numpy(shapes, dtype, steps=3, seed=3):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    second = {"params": params[2:], "nesterov": False, "adjust_lr_fn": "match_rms_adamw"}
    opt = fo.Muon([{"params": params[:2]}, second], lr=0.05)
    for _ in range(steps):
        opt.step([[rng.standard_normal(p.shape).astype(dtype) for p in params[:2]],
                  [rng.standard_normal(p.shape).astype(dtype) for p in params[2:]]])
    return [p.tobytes() for p in params] + [opt.state[i]["momentum_buffer"].tobytes() for i in range(len(params))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_isa_and_thread_count_gives_the_same_bits(restore_threads, dtype):
    shapes = [(150, 70), (64, 200), (33, 33), (5, 400)]
    results = on_every_isa_and_thread_count(lambda: _run_numpy(shapes, dtype))
    first = results[0][2]
    for isa, threads, r in results[1:]:
        assert r == first, (isa, threads)


def test_bad_input_is_refused_by_name_and_nothing_changes(rng):
    params = [rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal((4, 6)).astype(np.float32)]
    with pytest.raises(ValueError, match=r"params\[0\].*2-D"):
        fo.Muon([np.zeros(5, np.float32)])
    with pytest.raises(TypeError, match=r"params\[0\].*float16"):
        fo.Muon([np.zeros((2, 2), np.float16)])
    for kw, pattern in [(dict(lr=-1.0), "lr"), (dict(momentum=-0.1), "momentum"),
                        (dict(weight_decay=-1), "weight_decay"),
                        (dict(ns_steps=100), "ns_steps"), (dict(ns_steps=2.5), "ns_steps"),
                        (dict(ns_coefficients=(1.0, 2.0)), "ns_coefficients"),
                        (dict(adjust_lr_fn="other"), "adjust_lr_fn"), (dict(eps=float("nan")), "eps")]:
        with pytest.raises(ValueError, match=pattern):
            fo.Muon(params, **kw)
    opt = fo.Muon([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    before = [p.copy() for p in params]
    good = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    for grads, pattern in [([[good[0]], [good[0]]], r"grads\[1\]\[0\] has shape"),
                           ([[good[0]], [good[1].astype(np.float64)]], r"grads\[1\]\[0\] has dtype"),
                           ([[good[0]], [params[1]]], "shares memory"),
                           ([[good[0]], [np.asfortranarray(good[1])]], "C-contiguous")]:
        with pytest.raises((ValueError, TypeError), match=pattern):
            opt.step(grads)
        assert all(np.array_equal(p, b) for p, b in zip(params, before))
        assert all(e["step"] == 0 and "momentum_buffer" not in e for e in opt.state.values())
    opt.param_groups[1]["ns_steps"] = -1
    with pytest.raises(ValueError, match="ns_steps"):
        opt.step([[good[0]], [good[1]]])
    assert all(np.array_equal(p, b) for p, b in zip(params, before))


def test_numpy_checkpoint_is_validated_first(rng):
    params = [rng.standard_normal((8, 5)).astype(np.float32)]
    opt = fo.Muon(params, lr=0.1)
    opt.step([rng.standard_normal((8, 5)).astype(np.float32)])
    sd = opt.state_dict()
    saved = opt.state[0]["momentum_buffer"].copy()
    bad = {**sd, "state": {0: {"momentum_buffer": np.zeros((5, 8), np.float32)}}}
    with pytest.raises(ValueError, match="momentum_buffer"):
        opt.load_state_dict(bad)
    assert np.array_equal(opt.state[0]["momentum_buffer"], saved)
    other = fo.Muon([p.copy() for p in params], lr=0.1)
    other.load_state_dict(sd)
    g = rng.standard_normal((8, 5)).astype(np.float32)
    opt.step([g])
    other.step([g])
    assert np.array_equal(opt.state[0]["momentum_buffer"], other.state[0]["momentum_buffer"])



@pytest.mark.parametrize("api", ["numpy", "ops"])
def test_ctrl_c_during_newton_schulz_waits_for_the_whole_step(rng, monkeypatch, api):
    """A SIGINT while the matrix products run (between the two C++ passes) is raised as
    KeyboardInterrupt after the step, which is then complete: params, buffers and count as an
    uninterrupted step leaves them."""
    import os
    import signal

    import fastoptim.muon as muon_module

    init = rng.standard_normal((24, 16)).astype(np.float32)
    grad = rng.standard_normal((24, 16)).astype(np.float32)

    def run(interrupt: bool):
        p, buf = init.copy(), np.zeros_like(init)
        opt = fo.Muon([p], lr=0.05) if api == "numpy" else None
        original = muon_module.newton_schulz_bf16

        def products(*a, **kw):
            if interrupt:
                os.kill(os.getpid(), signal.SIGINT)  # delivered here, in the middle of the step
            return original(*a, **kw)

        monkeypatch.setattr(muon_module, "newton_schulz_bf16", products)
        step = (lambda: opt.step([grad])) if opt else (lambda: fo.ops.muon_([p], [grad], {"momentum_buffer": [buf]},
                                                                             lr=0.05))
        if interrupt:
            with pytest.raises(KeyboardInterrupt):
                step()
        else:
            step()
        monkeypatch.setattr(muon_module, "newton_schulz_bf16", original)
        return p, (opt.state[0]["momentum_buffer"] if opt else buf), (opt.state[0]["step"] if opt else None)

    p0, b0, s0 = run(False)
    p1, b1, s1 = run(True)
    assert not np.array_equal(p0, init)
    assert p1.tobytes() == p0.tobytes() and b1.tobytes() == b0.tobytes() and s1 == s0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- against torch.optim.Muon -----------------------------------------------------------------------
torch = pytest.importorskip("torch", reason="torch is not installed: the differential tests need it")
if not hasattr(torch.optim, "Muon"):
    pytest.skip("this torch has no torch.optim.Muon (added in torch 2.9)", allow_module_level=True)
import fastoptim.torch as fot  # noqa: E402

TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}


def _torch_run(cls, init, grads, kw):
    params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in init]
    opt = cls(params, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
    return opt, params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(5))
def test_both_apis_match_torch_on_random_configurations(seed, dtype):
    rng = np.random.default_rng(100 + seed)
    kw = random_config(rng)
    steps = 4
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    ref_opt, ref = _torch_run(torch.optim.Muon, init, grads, kw)
    ours_opt, ours = _torch_run(fot.Muon, init, grads, kw)
    np_params = [p.copy() for p in init]
    np_opt = fo.Muon(np_params, **kw)
    for gs in grads:
        np_opt.step(gs)
    tight = 1e-6 if dtype == np.float32 else 1e-14
    for i, (r, o, n) in enumerate(zip(ref, ours, np_params)):
        r = r.detach().numpy()
        limit = allowance(kw, r.shape, steps)
        assert np.max(np.abs(r - init[i])) > 2 * limit, "torch did not move: the test shows nothing"
        assert np.max(np.abs(o.detach().numpy() - r)) <= limit, (i, kw)
        assert np.max(np.abs(n - r)) <= limit, (i, kw)
        rb = ref_opt.state[ref[i]]["momentum_buffer"].numpy()
        assert set(ours_opt.state[ours[i]]) == set(ref_opt.state[ref[i]]) == {"momentum_buffer"}
        assert np.allclose(ours_opt.state[ours[i]]["momentum_buffer"].numpy(), rb, rtol=tight, atol=tight)
        assert np.allclose(np_opt.state[i]["momentum_buffer"], rb, rtol=tight, atol=tight)


def test_torch_newton_schulz_gives_torchs_bits(rng):
    from fastoptim.torch.muon import orthogonalise

    reference = getattr(torch.optim._muon, "_zeropower_via_newtonschulz", None)
    if reference is None:
        pytest.skip("torch.optim._muon._zeropower_via_newtonschulz is not in this torch")
    for shape in [(64, 32), (32, 64), (40, 40)]:
        u = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
        want = reference(u, NS_COEFFICIENTS, 5, 1e-7)
        got = orthogonalise(u.bfloat16(), NS_COEFFICIENTS, 5, 1e-7)
        assert torch.equal(got, want)


def test_numpy_newton_schulz_is_close_to_torchs(rng):
    """The NumPy API's float32 products with torch's bfloat16 roundings against torch's bfloat16
    products: a third to two thirds of the elements equal, the rest a few bfloat16 ulps off."""
    from fastoptim.muon import newton_schulz_bf16

    for shape in [(256, 128), (128, 256)]:
        u = bf16(rng.standard_normal(shape))
        ns = torch.optim._muon._zeropower_via_newtonschulz
        want = ns(torch.from_numpy(u), NS_COEFFICIENTS, 5, 1e-7).float().numpy()
        got = newton_schulz_bf16(u.copy(), NS_COEFFICIENTS, 5, 1e-7)
        d = got - want
        assert np.max(np.abs(d)) <= 8 * 2.0**-8 * np.max(np.abs(want))  # a few bfloat16 ulps at most
        # root-mean-square distance: measured 0.2-0.5 % (plain float32 products: 0.9-1.3 %)
        assert np.sqrt(np.mean(d**2) / np.mean(want**2)) < 0.008


def test_optim_db_sample_configurations_on_matrices():
    common = pytest.importorskip("torch.testing._internal.common_optimizers",
                                 reason="torch's optim_db needs torch's test dependencies (expecttest)")
    infos = [o for o in common.optim_db if o.optim_cls is torch.optim.Muon]
    if not infos:
        pytest.skip("this torch's optim_db has no Muon entry")
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        init = [rng.standard_normal(s).astype(dtype) for s in [(10, 5), (5, 10)]]
        grads = [[rng.standard_normal(p.shape).astype(dtype) for p in init] for _ in range(10)]
        for inp in infos[0].optim_inputs_func(device="cpu", dtype=TORCH_DTYPES[dtype]):
            _, ref = _torch_run(torch.optim.Muon, init, grads, inp.kwargs)
            _, ours = _torch_run(fot.Muon, init, grads, inp.kwargs)
            kw = {**dict(lr=1e-3, adjust_lr_fn=None), **inp.kwargs}
            lr = float(kw["lr"])
            for r, o in zip(ref, ours):
                limit = 10 * adjusted_lr(lr, None, r.shape) / 20
                assert np.max(np.abs(o.detach().numpy() - r.detach().numpy())) <= limit, inp.desc


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_checkpoints_move_both_ways(rng, dtype):
    kw = dict(lr=0.02, weight_decay=0.1, momentum=0.9)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(4)]
    t_opt, t_params = _torch_run(torch.optim.Muon, init, grads[:2], kw)
    f_opt, f_params = _torch_run(fot.Muon, init, grads[:2], kw)
    # torch -> fastoptim.torch and -> the NumPy API; fastoptim.torch -> torch
    # copies: a state_dict holds the live buffers, and torch's load keeps a same-dtype tensor as it is
    t_sd, f_sd = copy.deepcopy(t_opt.state_dict()), copy.deepcopy(f_opt.state_dict())
    assert f_sd["param_groups"] == t_sd["param_groups"]
    assert set(f_sd["state"][0]) == set(t_sd["state"][0]) == {"momentum_buffer"}
    starts = [p.detach().numpy().copy() for p in t_params]
    a_params = [torch.nn.Parameter(torch.from_numpy(s.copy())) for s in starts]
    a = fot.Muon(a_params, **kw)
    a.load_state_dict(t_sd)
    b_params = [torch.nn.Parameter(torch.from_numpy(s.copy())) for s in starts]
    b = torch.optim.Muon(b_params, **kw)
    b.load_state_dict(f_sd)
    n_params = [s.copy() for s in starts]
    n = fo.Muon(n_params, **kw)
    n.load_state_dict(t_sd)
    for gs in grads[2:]:
        for ps, o in ((t_params, t_opt), (a_params, a), (b_params, b)):
            for p, g in zip(ps, gs):
                p.grad = torch.from_numpy(g.copy())
            o.step()
        n.step(gs)
    back = torch.optim.Muon([torch.nn.Parameter(torch.from_numpy(s.copy())) for s in starts], **kw)
    back.load_state_dict({**n.state_dict(), "state": {i: {"momentum_buffer": torch.from_numpy(e["momentum_buffer"])}
                                                      for i, e in n.state_dict()["state"].items()}})
    for i, ref in enumerate(t_params):
        r = ref.detach().numpy()
        limit = allowance(kw, r.shape, 2) + allowance(kw, r.shape, 2)
        for other in (a_params[i].detach().numpy(), b_params[i].detach().numpy(), n_params[i]):
            assert np.max(np.abs(other - r)) <= limit
        tight = 1e-6 if dtype == np.float32 else 1e-14
        assert np.allclose(back.state[back.param_groups[0]["params"][i]]["momentum_buffer"].numpy(),
                           t_opt.state[ref]["momentum_buffer"].numpy(), rtol=tight, atol=tight)


def test_torch_errors_and_refusals():
    p = torch.nn.Parameter(torch.randn(4, 3))
    for kw in [dict(lr=-1.0), dict(momentum=-1.0), dict(weight_decay=-1.0), dict(adjust_lr_fn="x")]:
        with pytest.raises(ValueError) as ours:
            fot.Muon([p], **kw)
        with pytest.raises(ValueError) as theirs:
            torch.optim.Muon([p], **kw)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="2D"):
        fot.Muon([torch.nn.Parameter(torch.randn(3))])
    with pytest.raises(ValueError, match="float32 and float64"):
        fot.Muon([torch.nn.Parameter(torch.randn(3, 3, dtype=torch.bfloat16))])
    opt = fot.Muon([p], ns_steps=100)
    p.grad = torch.randn(4, 3)
    before = p.detach().clone()
    with pytest.raises(ValueError, match="ns_steps"):
        opt.step()
    assert torch.equal(p, before) and p not in opt.state


def test_torch_muon_steps_transposed_params_in_place(rng):
    w = rng.standard_normal((12, 30)).astype(np.float32)
    a = torch.nn.Parameter(torch.from_numpy(w.copy()).T.contiguous().T)  # dense, column-major
    b = torch.nn.Parameter(torch.from_numpy(w.copy()))
    oa, ob = fot.Muon([a], lr=0.05), fot.Muon([b], lr=0.05)
    for _ in range(2):
        g = torch.from_numpy(rng.standard_normal((12, 30)).astype(np.float32))
        a.grad, b.grad = g.T.contiguous().T, g.clone()
        oa.step()
        ob.step()
    assert not a.is_contiguous()
    assert torch.equal(a, b) and torch.equal(oa.state[a]["momentum_buffer"], ob.state[b]["momentum_buffer"])


def test_torch_every_isa_and_thread_count_gives_the_same_bits(restore_threads):
    rng = np.random.default_rng(5)
    init = [rng.standard_normal(s).astype(np.float32) for s in [(150, 70), (64, 200)]]
    grads = [[rng.standard_normal(p.shape).astype(np.float32) for p in init] for _ in range(3)]

    def run():
        opt, params = _torch_run(fot.Muon, init, grads, dict(lr=0.05))
        return [p.detach().numpy().tobytes() for p in params] + [opt.state[p]["momentum_buffer"].numpy().tobytes()
                                                                for p in params]

    results = on_every_isa_and_thread_count(run)
    assert all(r == results[0][2] for _, _, r in results[1:])
    assert math.isfinite(float(np.frombuffer(results[0][2][0], np.float32)[0]))


def test_torch_ctrl_c_during_newton_schulz_waits_for_the_whole_step(rng, monkeypatch):
    """fastoptim.torch.Muon: a SIGINT during the matrix products is raised after the complete step."""
    import os
    import signal

    import fastoptim.torch.muon as tmuon

    init = rng.standard_normal((20, 12)).astype(np.float32)
    grad = torch.from_numpy(rng.standard_normal((20, 12)).astype(np.float32))
    original = tmuon.orthogonalise

    def run(interrupt: bool):
        p = torch.nn.Parameter(torch.from_numpy(init.copy()))
        opt = fot.Muon([p], lr=0.05)
        p.grad = grad.clone()

        def products(*a, **kw):
            if interrupt:
                os.kill(os.getpid(), signal.SIGINT)
            return original(*a, **kw)

        monkeypatch.setattr(tmuon, "orthogonalise", products)
        if interrupt:
            with pytest.raises(KeyboardInterrupt):
                opt.step()
        else:
            opt.step()
        monkeypatch.setattr(tmuon, "orthogonalise", original)
        return p.detach().clone(), opt.state[p]["momentum_buffer"].clone()

    p0, b0 = run(False)
    p1, b1 = run(True)
    assert not torch.equal(p0, torch.from_numpy(init))
    assert torch.equal(p1, p0) and torch.equal(b1, b0)
