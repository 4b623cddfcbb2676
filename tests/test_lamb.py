"""Lamb: the NumPy class, the op and the torch drop-in against a float64 reference written from
the formulas and against pytorch_optimizer.Lamb; checkpoints both ways; errors leave everything
unchanged; bits equal on every ISA and thread count."""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest
from conftest import on_every_isa_and_thread_count

import fastoptim as fo
from fastoptim import ops

SHAPES = [(37,), (), (64, 33), (0,), (3, 5, 7), (1, 300)]
HAVE_PEER = importlib.util.find_spec("pytorch_optimizer") is not None
needs_peer = pytest.mark.skipif(not HAVE_PEER, reason="pytorch_optimizer (extra 'peers') is not installed: "
                                "the parity and checkpoint tests against it cannot run")


def reference_step(ps, gs, ms, vs, t, lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0, weight_decouple=True,
                   fixed_decay=False, grad_averaging=True, max_grad_norm=1.0, adam=False, pre_norm=False, eps=1e-6,
                   maximize=False, adam_debias=False, always_adapt=True, clamp=10.0):
    """One Lamb step in float64 over a list of params, written from the formulas (pytorch_optimizer's
    documentation of Lamb and the paper): returns new params, moments and (wn, un, trust) per param."""
    b1, b2 = betas
    gs = [np.asarray(g, np.float64) for g in gs]
    if pre_norm and max_grad_norm > 0:
        total = np.sqrt(sum(float(np.sum(g * g)) for g in gs)) + eps
        gs = [g * min(max_grad_norm / total, 1.0) for g in gs]
    step_size = lr if adam_debias else lr / (1 - b1**t)
    out = []
    for p, g, m, v in zip(ps, gs, ms, vs):
        p = np.asarray(p, np.float64)
        g = -g if maximize else g
        m = b1 * m + ((1 - b1) if grad_averaging else 1.0) * g
        v = b2 * v + (1 - b2) * g * g
        if weight_decouple:
            p = p * (1 - weight_decay * (1.0 if fixed_decay else lr))
        u = m / (np.sqrt(v) + eps)
        if not weight_decouple and weight_decay > 0:
            u = u + weight_decay * p
        wn = min(np.sqrt(np.sum(p * p)), clamp)
        un = np.sqrt(np.sum(u * u))
        trust = 1.0 if wn == 0 or un == 0 else wn / (un + eps)
        applied = 1.0 if adam or (not always_adapt and weight_decay == 0) else trust
        out.append((p - step_size * applied * u, m, v, (wn, un, trust)))
    return out


def random_config(rng, torch_ok=True):
    """A random configuration of the options pytorch_optimizer.Lamb and fastoptim share."""
    cfg = {"lr": float(rng.choice([1e-3, 1e-2, 0.1])), "betas": (float(rng.choice([0.0, 0.9, 0.95])),
                                                                  float(rng.choice([0.99, 0.999]))),
           "weight_decay": float(rng.choice([0.0, 0.01, 0.1])), "weight_decouple": bool(rng.random() < 0.7),
           "fixed_decay": bool(rng.random() < 0.3), "grad_averaging": bool(rng.random() < 0.7),
           "adam": bool(rng.random() < 0.2), "pre_norm": bool(rng.random() < 0.3),
           "max_grad_norm": float(rng.choice([0.0, 0.5, 1.0, 100.0])), "eps": float(rng.choice([1e-6, 1e-8, 1e-3])),
           "maximize": bool(rng.random() < 0.3), "adam_debias": bool(rng.random() < 0.3)}
    return cfg


def scale_err(a, b):
    """max |a − b| relative to the largest |b| of the tensor."""
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / max(np.max(np.abs(b)), 1e-300)) if b.size else 0.0


def make(rng, dtype, shapes=SHAPES):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


# -- against the float64 reference -----------------------------------------------------------------

@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("seed", range(6))
def test_numpy_class_matches_reference(dtype, tol, seed):
    rng = np.random.default_rng(seed)
    cfg = random_config(rng)
    if seed == 0:
        cfg.update(always_adapt=False, weight_decay=0.0, adam=False)  # the fastoptim extension
    if cfg["pre_norm"] and dtype == np.float64:
        tol = 1e-6  # the pre-norm scale is formed in float32, as pytorch_optimizer forms it
    params = make(rng, dtype)
    ref = [p.astype(np.float64) for p in params]
    ms = [np.zeros(p.shape) for p in params]
    vs = [np.zeros(p.shape) for p in params]
    opt = fo.Lamb(params, **cfg)
    for t in range(1, 5):
        grads = make(rng, dtype)
        opt.step(grads)
        res = reference_step(ref, grads, ms, vs, t, **cfg)
        ref, ms, vs = [r[0] for r in res], [r[1] for r in res], [r[2] for r in res]
        for i, (p, r) in enumerate(zip(params, ref)):
            assert scale_err(p, r) < tol, (cfg, t, i)
            st = opt.state[i]
            assert scale_err(st["exp_avg"], ms[i]) < tol
            assert scale_err(st["exp_avg_sq"], vs[i]) < tol
            for k, want in zip(("weight_norm", "adam_norm", "trust_ratio"), res[i][3]):
                assert abs(float(st[k]) - want) <= tol * max(abs(want), 1.0), (k, cfg, t, i)
    assert opt.state_dict()["param_groups"][0]["step"] == 4


def test_op_matches_class():
    rng = np.random.default_rng(3)
    params = make(rng, np.float32)
    mine = [p.copy() for p in params]
    ms, vs = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    opt = fo.Lamb(params, lr=0.01, weight_decay=0.05)
    for t in range(1, 4):
        grads = make(rng, np.float32)
        opt.step(grads)
        norms = ops.lamb_(mine, grads, ms, vs, step=t, lr=0.01, weight_decay=0.05)
        for i, p in enumerate(params):
            assert np.array_equal(p, mine[i])
            assert np.array_equal(opt.state[i]["exp_avg"], ms[i])
            assert norms[i, 2] == float(opt.state[i]["trust_ratio"])


def test_adam_mode_records_the_ratio_but_applies_one():
    rng = np.random.default_rng(5)
    params = make(rng, np.float64, [(100,), (10, 10)])
    ref = [p.copy() for p in params]
    opt = fo.Lamb(params, lr=0.1, adam=True, weight_decay=0.1)
    grads = make(rng, np.float64, [(100,), (10, 10)])
    opt.step(grads)
    res = reference_step(ref, grads, [0.0, 0.0], [0.0, 0.0], 1, lr=0.1, adam=True, weight_decay=0.1)
    for i, r in enumerate(res):
        assert scale_err(params[i], r[0]) < 1e-13
        assert float(opt.state[i]["trust_ratio"]) == pytest.approx(r[3][2], rel=1e-12)
        assert float(opt.state[i]["trust_ratio"]) != 1.0


# -- against pytorch_optimizer.Lamb ----------------------------------------------------------------

def _torch_params(torch, arrays):
    return [torch.nn.Parameter(torch.tensor(a)) for a in arrays]


@needs_peer
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", range(8))
def test_parity_with_pytorch_optimizer(dtype, seed):
    import torch
    from pytorch_optimizer import Lamb as PeerLamb

    import fastoptim.torch as fot

    rng = np.random.default_rng(100 + seed)
    cfg = random_config(rng)
    np_dtype = np.float32 if dtype == "float32" else np.float64
    init = make(rng, np_dtype)
    peer_p, ours_p, arrays = _torch_params(torch, init), _torch_params(torch, init), [a.copy() for a in init]
    foreach = [None, False][seed % 2]
    # two groups: the second with its own lr and weight decay (exclusion from adaptation in one config)
    split = 3
    g2 = {"lr": cfg["lr"] * 2, "weight_decay": 0.05, "adam": seed == 3}
    peer = PeerLamb([{"params": peer_p[:split]}, {"params": peer_p[split:], **g2}], foreach=foreach, **cfg)
    ours = fot.Lamb([{"params": ours_p[:split]}, {"params": ours_p[split:], **g2}], foreach=foreach, **cfg)
    np_cfg = {k: v for k, v in cfg.items()}
    numpy_opt = fo.Lamb([{"params": arrays[:split]}, {"params": arrays[split:], **g2}], **np_cfg)
    # pytorch_optimizer forms the pre-norm scale in float32 whatever the dtype (so does fastoptim,
    # summing the per-tensor squares in another order): float64 agrees to float32's precision there
    tol = (1e-6 if cfg["pre_norm"] else 1e-12) if dtype == "float64" else 3e-5
    for _ in range(4):
        grads = make(rng, np_dtype)
        for a, b, g in zip(peer_p, ours_p, grads):
            a.grad, b.grad = torch.tensor(g), torch.tensor(g)
        peer.step()
        ours.step()
        numpy_opt.step([grads[:split], grads[split:]])
    for i, (a, b) in enumerate(zip(peer_p, ours_p)):
        assert scale_err(b.detach().numpy(), a.detach().numpy()) < tol, (cfg, i)
        assert scale_err(arrays[i], a.detach().numpy()) < tol, (cfg, i)
        sa, sb, sn = peer.state[a], ours.state[b], numpy_opt.state[i]
        for k in ("exp_avg", "exp_avg_sq"):
            assert scale_err(sb[k].numpy(), sa[k].numpy()) < tol, (k, cfg, i)
            assert scale_err(sn[k], sa[k].numpy()) < tol, (k, cfg, i)
        for k in ("weight_norm", "adam_norm", "trust_ratio"):
            want = float(sa[k])
            assert abs(float(sb[k]) - want) <= 10 * tol * max(abs(want), 1.0), (k, cfg, i)
            assert abs(float(sn[k]) - want) <= 10 * tol * max(abs(want), 1.0), (k, cfg, i)
        assert sb["exp_avg"].dtype == sa["exp_avg"].dtype
    assert [g["step"] for g in ours.param_groups] == [g["step"] for g in peer.param_groups] == [4, 4]
    assert set(ours.state_dict()["param_groups"][0]) >= set(peer.state_dict()["param_groups"][0])


@needs_peer
def test_params_without_grads_and_groups_still_count_steps():
    import torch
    from pytorch_optimizer import Lamb as PeerLamb

    import fastoptim.torch as fot

    rng = np.random.default_rng(7)
    init = make(rng, np.float32, [(10,), (4, 4)])
    pa, pb = _torch_params(torch, init), _torch_params(torch, init)
    peer = PeerLamb([{"params": [pa[0]]}, {"params": [pa[1]]}])
    ours = fot.Lamb([{"params": [pb[0]]}, {"params": [pb[1]]}])
    for t in range(3):
        g = torch.tensor(rng.standard_normal(10).astype(np.float32))
        pa[0].grad, pb[0].grad = g.clone(), g.clone()
        if t == 2:  # the second group's param gets its first gradient at group step 3
            g1 = torch.tensor(rng.standard_normal((4, 4)).astype(np.float32))
            pa[1].grad, pb[1].grad = g1.clone(), g1.clone()
        peer.step()
        ours.step()
    assert [g["step"] for g in ours.param_groups] == [g["step"] for g in peer.param_groups] == [3, 3]
    for a, b in zip(pa, pb):
        assert torch.allclose(a, b, rtol=0, atol=1e-6)


@needs_peer
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_checkpoints_both_ways(dtype):
    import torch
    from pytorch_optimizer import Lamb as PeerLamb

    import fastoptim.torch as fot

    rng = np.random.default_rng(11)
    np_dtype = np.float32 if dtype == "float32" else np.float64
    shapes = [(20,), (6, 7), ()]
    init = make(rng, np_dtype, shapes)
    cfg = {"lr": 0.01, "weight_decay": 0.02, "adam_debias": False}
    peer_p, ours_p = _torch_params(torch, init), _torch_params(torch, init)
    peer, ours = PeerLamb(peer_p, **cfg), fot.Lamb(ours_p, **cfg)
    arrays = [a.copy() for a in init]
    numpy_opt = fo.Lamb(arrays, **cfg)
    grads = [make(rng, np_dtype, shapes) for _ in range(6)]

    def step(opt, ps, g):
        for p, x in zip(ps, g):
            p.grad = torch.tensor(x)
        opt.step()

    for g in grads[:3]:
        step(peer, peer_p, g)
        step(ours, ours_p, g)
        numpy_opt.step(g)
    # swap: the peer continues from ours, ours (both APIs) from the peer's
    sd_peer = copy.deepcopy(peer.state_dict())
    sd_ours = copy.deepcopy(ours.state_dict())
    assert sorted(sd_ours["state"][0]) == sorted(sd_peer["state"][0])
    assert sd_ours["param_groups"][0]["step"] == sd_peer["param_groups"][0]["step"] == 3
    peer2_p, ours2_p = _torch_params(torch, [p.detach().numpy() for p in ours_p]), \
        _torch_params(torch, [p.detach().numpy() for p in peer_p])
    peer2, ours2 = PeerLamb(peer2_p, **cfg), fot.Lamb(ours2_p, **cfg)
    peer2.load_state_dict(sd_ours)
    ours2.load_state_dict(sd_peer)
    numpy_opt.load_state_dict(sd_peer)
    for g in grads[3:]:
        step(peer, peer_p, g)
        step(peer2, peer2_p, g)
        step(ours2, ours2_p, g)
        numpy_opt.step(g)
    tol = 1e-12 if dtype == "float64" else 3e-5
    for a, b, c, d in zip(peer_p, peer2_p, ours2_p, arrays):
        want = a.detach().numpy()
        assert scale_err(b.detach().numpy(), want) < tol
        assert scale_err(c.detach().numpy(), want) < tol
        assert scale_err(d, want) < tol
    assert ours2.param_groups[0]["step"] == peer.param_groups[0]["step"] == 6
    # the NumPy class's checkpoint loads into the peer as well
    sd_np = numpy_opt.state_dict()
    peer3 = PeerLamb(_torch_params(torch, arrays), **cfg)
    peer3.load_state_dict({"state": {k: {n: torch.tensor(np.asarray(v)) for n, v in e.items()}
                                     for k, e in sd_np["state"].items()},
                           "param_groups": [{k: v for k, v in g.items() if k in peer.param_groups[0]}
                                            for g in sd_np["param_groups"]]})
    assert peer3.param_groups[0]["step"] == 6


# -- bits: every ISA, 1 and 2 threads --------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", [{"weight_decay": 0.01}, {"weight_decay": 0.1, "weight_decouple": False,
                                                          "pre_norm": True, "maximize": True},
                                 {"adam": True, "weight_decay": 0.01, "fixed_decay": True}])
def test_bits_equal_on_every_isa_and_thread_count(restore_threads, dtype, cfg):
    rng = np.random.default_rng(21)
    shapes = [(70_000,), (300, 257), (5,), (0,), (1, 1500)]
    init = make(rng, dtype, shapes)
    grads = [make(rng, dtype, shapes) for _ in range(3)]

    def run():
        params = [p.copy() for p in init]
        opt = fo.Lamb(params, lr=0.01, **cfg)
        for g in grads:
            opt.step(g)
        return [p.tobytes() for p in params] + [opt.state[i][k].tobytes() for i in range(len(shapes))
                                                for k in ("exp_avg", "exp_avg_sq", "trust_ratio")]

    results = on_every_isa_and_thread_count(run)
    first = results[0][2]
    for name, threads, res in results[1:]:
        assert res == first, (name, threads)


# -- errors: clear messages, nothing changed -------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [({"lr": -1.0}, "lr"), ({"betas": (1.0, 0.9)}, "beta1"),
                                          ({"betas": (0.9, -0.1)}, "beta2"), ({"weight_decay": -0.1}, "weight_decay"),
                                          ({"eps": -1.0}, "eps"), ({"max_grad_norm": -1.0}, "max_grad_norm"),
                                          ({"rectify": True}, "rectify"), ({"adam": 1}, "adam")])
def test_bad_options_raise_naming_them(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fo.Lamb([np.zeros(3, np.float32)], **kwargs)


@needs_peer
def test_torch_refusals():
    import torch

    import fastoptim.torch as fot

    p = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="adanorm"):
        fot.Lamb([p], adanorm=True)
    with pytest.raises(TypeError, match="unknown_option"):
        fot.Lamb([p], unknown_option=1)
    with pytest.raises(ValueError, match="rectify"):
        fot.Lamb([p], rectify=True)
    with pytest.raises(ValueError, match="float16"):
        fot.Lamb([torch.nn.Parameter(torch.zeros(3, dtype=torch.float16))])
    with pytest.raises(ValueError, match="lr"):
        fot.Lamb([p], lr=-1.0)


def test_bad_step_changes_nothing():
    rng = np.random.default_rng(1)
    params = make(rng, np.float32, [(10,), (3, 4)])
    opt = fo.Lamb(params, lr=0.1, weight_decay=0.1)
    opt.step(make(rng, np.float32, [(10,), (3, 4)]))
    before = [p.copy() for p in params]
    sd = opt.state_dict()
    with pytest.raises(ValueError, match=r"grads"):
        opt.step([np.zeros(10, np.float32), np.zeros((4, 3), np.float32)])
    with pytest.raises(TypeError):
        opt.step([np.zeros(10, np.float64), np.zeros((3, 4), np.float32)])
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt.step(make(rng, np.float32, [(10,), (3, 4)]))
    opt.param_groups[0]["lr"] = 0.1
    for p, b in zip(params, before):
        assert np.array_equal(p, b)
    after = opt.state_dict()
    assert after["param_groups"][0]["step"] == sd["param_groups"][0]["step"] == 1
    for i in sd["state"]:
        for k, v in sd["state"][i].items():
            assert np.array_equal(after["state"][i][k], v)


def test_bad_checkpoint_changes_nothing():
    rng = np.random.default_rng(2)
    params = make(rng, np.float64, [(10,), (3, 4)])
    opt = fo.Lamb(params)
    opt.step(make(rng, np.float64, [(10,), (3, 4)]))
    sd = opt.state_dict()
    bad = copy.deepcopy(sd)
    bad["state"][1]["exp_avg"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match="exp_avg"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["param_groups"][0]["rectify"] = True
    with pytest.raises(ValueError, match="rectify"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    del bad["state"][0]["exp_avg_sq"]
    with pytest.raises(ValueError, match="exp_avg_sq"):
        opt.load_state_dict(bad)
    now = opt.state_dict()
    for i in sd["state"]:
        for k, v in sd["state"][i].items():
            assert np.array_equal(now["state"][i][k], v)


@needs_peer
def test_torch_bad_checkpoint_changes_nothing():
    import torch

    import fastoptim.torch as fot

    p = torch.nn.Parameter(torch.randn(5, 3))
    opt = fot.Lamb([p], lr=0.01)
    p.grad = torch.randn(5, 3)
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    bad = copy.deepcopy(sd)
    bad["state"][0]["exp_avg"] = torch.zeros(3, 5)
    with pytest.raises(ValueError, match="exp_avg"):
        opt.load_state_dict(bad)
    assert torch.equal(opt.state[p]["exp_avg"], sd["state"][0]["exp_avg"])
    assert opt.param_groups[0]["step"] == 1


def test_op_refuses_bad_input_before_writing():
    params = [np.ones(4, np.float32)]
    ms, vs = [np.zeros(4, np.float32)], [np.zeros(4, np.float32)]
    with pytest.raises(ValueError, match="step"):
        ops.lamb_(params, [np.ones(4, np.float32)], ms, vs, step=0)
    with pytest.raises(ValueError, match="exp_avg_sqs"):
        ops.lamb_(params, [np.ones(4, np.float32)], ms, [np.zeros(5, np.float32)], step=1)
    with pytest.raises(ValueError, match="grads"):
        ops.lamb_(params, [params[0]], ms, vs, step=1)  # a gradient aliasing its param
    assert np.array_equal(params[0], np.ones(4, np.float32)) and not ms[0].any()
