"""The optimizer base: parameter layouts, groups, bad input (nothing written), checkpoints,
and the fused gradient pipeline (unscale, clip, skip on non-finite)."""

import copy
import pickle

import numpy as np
import pytest
from conftest import RULE_CASES, RULE_IDS

import fastoptim as fo

ALL, ids = RULE_CASES, RULE_IDS


def f32(*shape, fill=None, rng=None):
    if fill is not None:
        return np.full(shape, fill, np.float32)
    return (rng or np.random.default_rng(0)).standard_normal(shape).astype(np.float32)


# -- layouts ----------------------------------------------------------------------------------
def test_dict_params_take_dict_grads():
    params = {"W": f32(3, 4, fill=1.0), "b": f32(4, fill=1.0)}
    opt = fo.SGD(params, lr=0.5)
    opt.step({"b": f32(4, fill=2.0), "W": f32(3, 4, fill=4.0)})
    np.testing.assert_array_equal(params["W"], -1.0)
    np.testing.assert_array_equal(params["b"], 0.0)


def test_single_array_params():
    p = f32(5, fill=1.0)
    fo.SGD(p, lr=1.0).step(f32(5, fill=1.0))
    np.testing.assert_array_equal(p, 0.0)


def test_param_groups_override_defaults():
    a, b = f32(3, fill=1.0), f32(3, fill=1.0)
    opt = fo.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    opt.step([[f32(3, fill=1.0)], [f32(3, fill=1.0)]])
    np.testing.assert_allclose(a, 0.9)
    np.testing.assert_allclose(b, 0.5)
    opt.param_groups[0]["lr"] = 1.0  # per-group hyperparameters are live, as in torch
    opt.step([[f32(3, fill=1.0)], [f32(3, fill=0.0)]])
    np.testing.assert_allclose(a, -0.1, rtol=1e-6)
    np.testing.assert_allclose(b, 0.5)


def test_add_param_group_then_grads_per_group():
    a, b = f32(2, fill=0.0), f32(2, fill=0.0)
    opt = fo.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.2})
    opt.step([[f32(2, fill=1.0)], [f32(2, fill=1.0)]])
    np.testing.assert_allclose(a, -0.1, rtol=1e-5)
    np.testing.assert_allclose(b, -0.2, rtol=1e-5)


def test_param_in_two_groups_is_rejected():
    a = f32(4)
    with pytest.raises(ValueError, match="one group only"):
        fo.SGD([{"params": [a]}, {"params": [a[:2]]}], lr=0.1)


def test_unknown_group_option_is_rejected():
    with pytest.raises(ValueError, match="unknown option"):
        fo.SGD([{"params": [f32(2)], "betas": (0.9, 0.99)}], lr=0.1)


def test_repr_lists_groups():
    assert "lr: 0.1" in repr(fo.SGD([f32(2)], lr=0.1))


# -- bad input: a clear error naming the argument, nothing written ----------------------------
def snapshot(params, opt):
    return [p.copy() for p in params], copy.deepcopy(opt.state)


def assert_unchanged(params, opt, snap):
    for p, q in zip(params, snap[0]):
        np.testing.assert_array_equal(p, q)
    for k, entry in opt.state.items():
        for name, v in entry.items():
            np.testing.assert_array_equal(v, snap[1][k][name])


@pytest.mark.parametrize("cls,kw", ALL, ids=ids)
@pytest.mark.parametrize("bad_grads,exc,match", [
    (lambda g: [g[0].astype(np.float64), g[1]], TypeError, r"grads\[0\] has dtype float64"),
    (lambda g: [g[0], g[1].astype(np.int32)], TypeError, r"grads\[1\] has dtype int32"),
    (lambda g: [g[0].reshape(4, 3), g[1]], ValueError, r"grads\[0\] has shape \(4, 3\)"),
    (lambda g: [g[0], g[1][:3]], ValueError, r"grads\[1\] has shape"),
    (lambda g: [np.asfortranarray(np.ones((3, 4), np.float32)), g[1]], ValueError, r"grads\[0\] is not C-contig"),
    (lambda g: [g[0]], ValueError, "grads: 1 gradients for 2 params"),
    (lambda g: {"a": g[0], "b": g[1]}, TypeError, "grads"),
    (lambda g: [g[0], [1.0] * 5], TypeError, r"grads\[1\] must be a numpy.ndarray"),
    (lambda g: None, TypeError, "grads"),
], ids=["f64", "int", "shape", "size", "fortran", "count", "dict", "list", "none"])
def test_bad_grads_raise_and_write_nothing(cls, kw, bad_grads, exc, match):
    rng = np.random.default_rng(1)
    params = [f32(3, 4, rng=rng), f32(5, rng=rng)]
    opt = cls(params, **kw)
    opt.step([f32(3, 4, rng=rng), f32(5, rng=rng)])  # state exists and holds data
    snap = snapshot(params, opt)
    with pytest.raises(exc, match=match):
        opt.step(bad_grads([f32(3, 4, rng=rng), f32(5, rng=rng)]))
    assert_unchanged(params, opt, snap)


@pytest.mark.parametrize("cls,kw", ALL, ids=ids)
def test_grad_aliasing_a_param_is_rejected(cls, kw):
    params = [f32(6), f32(2)]
    opt = cls(params, **kw)
    snap = snapshot(params, opt)
    with pytest.raises(ValueError, match=r"grads\[0\] shares memory with params\[0\]"):
        opt.step([params[0], f32(2)])
    with pytest.raises(ValueError, match=r"grads\[1\] shares memory with state"):
        opt.step([f32(6), next(v for k, v in opt._groups[0].buffers.items())[1]])
    assert_unchanged(params, opt, snap)


def test_params_aliasing_each_other_are_rejected():
    buf = f32(10)
    with pytest.raises(ValueError, match=r"params\[1\] shares memory with params\[0\]"):
        fo.Adam([buf[:6], buf[4:]])


@pytest.mark.parametrize("cls,kw", ALL, ids=ids)
def test_bad_params_are_rejected_at_construction(cls, kw):
    with pytest.raises(TypeError, match=r"params\[0\] has dtype int64"):
        cls([np.zeros(3, np.int64)], **kw)
    with pytest.raises(TypeError, match=r"params\[0\] has dtype >f4; .* native byte order"):
        cls([np.zeros(3, ">f4")], **kw)
    with pytest.raises(TypeError, match=r"params\[1\] has dtype float64, expected float32"):
        cls([f32(3), np.zeros(3)], **kw)
    with pytest.raises(ValueError, match=r"params\[0\] is not C-contiguous"):
        cls([f32(4, 4)[:, ::2]], **kw)
    ro = f32(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\] is read-only"):
        cls([ro], **kw)
    with pytest.raises(ValueError, match="empty parameter list"):
        cls([], **kw)
    with pytest.raises(TypeError, match=r"params\[0\]: must be a numpy.ndarray"):
        cls([[1.0, 2.0]], **kw)


@pytest.mark.parametrize("cls,kw,name,value", [
    (fo.SGD, {}, "lr", -1.0),
    (fo.SGD, {}, "lr", float("nan")),
    (fo.SGD, {}, "momentum", -0.5),
    (fo.SGD, {}, "weight_decay", float("inf")),
    (fo.SGD, {}, "dampening", float("nan")),
    (fo.Adagrad, {}, "lr_decay", -1.0),
    (fo.Adagrad, {}, "eps", -1e-10),
    (fo.RMSprop, {}, "alpha", -0.1),
    (fo.RMSprop, {}, "eps", float("inf")),
    (fo.RMSprop, {}, "momentum", float("-inf")),
    (fo.Adam, {}, "eps", float("nan")),
    (fo.Adam, {}, "weight_decay", -0.1),
    (fo.AdamW, {}, "lr", float("inf")),
])
def test_bad_hyperparameters_name_themselves(cls, kw, name, value):
    with pytest.raises(ValueError, match=f"invalid {name}"):
        cls([f32(3)], **{name: value})


def test_hyperparameter_set_badly_between_steps_raises_before_writing():
    params = [f32(4)]
    opt = fo.Adam(params, lr=0.1)
    opt.step([f32(4)])
    snap = snapshot(params, opt)
    opt.param_groups[0]["lr"] = float("nan")
    with pytest.raises(ValueError, match="invalid lr"):
        opt.step([f32(4)])
    opt.param_groups[0]["lr"] = "fast"
    with pytest.raises(TypeError, match="lr must be a real number"):
        opt.step([f32(4)])
    assert_unchanged(params, opt, snap)


def test_bad_group_in_multi_group_step_writes_no_group():
    a, b = f32(3), f32(3)
    opt = fo.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    snap = [a.copy(), b.copy()]
    with pytest.raises(TypeError, match=r"grads\[0\] has dtype float64"):
        opt.step([[f32(3)], [np.zeros(3)]])
    np.testing.assert_array_equal(a, snap[0])
    np.testing.assert_array_equal(b, snap[1])


# -- checkpoints ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,kw", ALL, ids=ids)
def test_state_dict_round_trip_continues_bit_for_bit(cls, kw):
    rng = np.random.default_rng(7)
    grads = [[f32(3, 4, rng=rng), f32(5, rng=rng)] for _ in range(10)]
    init = [f32(3, 4, rng=rng), f32(5, rng=rng)]

    straight = [p.copy() for p in init]
    opt = cls(straight, **kw)
    for g in grads:
        opt.step(g)

    resumed = [p.copy() for p in init]
    opt1 = cls(resumed, **kw)
    for g in grads[:4]:
        opt1.step(g)
    sd = pickle.loads(pickle.dumps(opt1.state_dict()))
    for g in grads[4:]:  # the first optimizer runs on; the checkpoint must not follow it
        opt1.step(g)
    restarted = [p.copy() for p in resumed]
    for p, q in zip(restarted, init):
        p[...] = q
    opt2 = cls(restarted, **kw)
    for g in grads[:4]:
        opt2.step(g)  # same params as at the checkpoint, but we overwrite the state below
    opt2.load_state_dict(sd)
    assert opt2.state[0]["step"] == 4
    for g in grads[4:]:
        opt2.step(g)
    for a, b in zip(straight, restarted):
        assert a.tobytes() == b.tobytes()


def test_state_dict_is_a_copy_and_has_torch_layout():
    p = f32(3)
    opt = fo.Adam([p], lr=0.1, betas=(0.8, 0.9))
    opt.step([f32(3, fill=1.0)])
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0]
    assert sd["param_groups"][0]["betas"] == (0.8, 0.9)
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    sd["state"][0]["exp_avg"][...] = 99
    assert not np.any(opt.state[0]["exp_avg"] == 99)


def test_load_state_dict_restores_hyperparameters():
    opt = fo.Adam([f32(3)], lr=0.1)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.01
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize("mutate,match", [
    (lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])), "parameter groups"),
    (lambda sd: sd["param_groups"][0].__setitem__("params", [0]), "has 1 params"),
    (lambda sd: sd["state"][1].__setitem__("exp_avg", np.zeros(7, np.float32)), "has shape"),
    (lambda sd: sd["state"][0].__setitem__("momentum", np.zeros(3, np.float32)), "unknown state"),
    (lambda sd: sd["param_groups"][0].__setitem__("lr", -1.0), "invalid lr"),
    (lambda sd: sd.pop("state"), "expected a mapping"),
])
def test_bad_state_dict_changes_nothing(mutate, match):
    params = [f32(3), f32(4)]
    opt = fo.Adam(params, lr=0.1)
    opt.step([f32(3), f32(4)])
    before = opt.state_dict()
    sd = opt.state_dict()
    mutate(sd)
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i in before["state"]:
        for k, v in before["state"][i].items():
            np.testing.assert_array_equal(after["state"][i][k], v)


@pytest.mark.parametrize("cls,kw", ALL, ids=ids)
def test_pickled_optimizer_continues_identically(cls, kw):
    rng = np.random.default_rng(3)
    params = [f32(8, rng=rng), f32(2, 3, rng=rng)]
    opt = cls(params, **kw)
    opt.step([f32(8, rng=rng), f32(2, 3, rng=rng)])
    clone_params, clone = pickle.loads(pickle.dumps((params, opt)))
    g = [f32(8, rng=rng), f32(2, 3, rng=rng)]
    opt.step(g)
    clone.step(g)
    for a, b in zip(params, clone_params):
        assert a.tobytes() == b.tobytes()


# -- gradient pipeline ------------------------------------------------------------------------
def test_grad_scale_divides_without_writing_back():
    p1, p2 = f32(4, fill=1.0), f32(4, fill=1.0)
    g = f32(4, fill=8.0)
    fo.SGD([p1], lr=0.1).step([g], grad_scale=8.0)
    fo.SGD([p2], lr=0.1).step([f32(4, fill=1.0)])
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(g, 8.0)


def test_clip_matches_clip_grad_norm_semantics():
    rng = np.random.default_rng(5)
    params = [f32(10, rng=rng), f32(3, 3, rng=rng)]
    grads = [f32(10, rng=rng) * 10, f32(3, 3, rng=rng) * 10]
    total = float(np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads)))
    coef = 1.0 / (total + 1e-6)
    expect = [p.astype(np.float64) - 0.1 * coef * g for p, g in zip(params, grads)]
    res = fo.SGD(params, lr=0.1).step(grads, max_grad_norm=1.0)
    assert res.grad_norm == pytest.approx(total, rel=1e-12)
    assert not res.found_inf and not res.skipped
    for p, e in zip(params, expect):
        np.testing.assert_allclose(p, e, rtol=1e-6, atol=1e-7)


def test_clip_below_threshold_is_identity():
    rng = np.random.default_rng(6)
    p1, p2 = f32(100, rng=rng), None
    p2 = p1.copy()
    g = f32(100, rng=np.random.default_rng(8))
    fo.Adam([p1], lr=0.1).step([g], max_grad_norm=1e6)
    fo.Adam([p2], lr=0.1).step([g])
    assert p1.tobytes() == p2.tobytes()


def test_clip_norm_is_global_across_groups():
    a, b = f32(1, fill=0.0), f32(1, fill=0.0)
    opt = fo.SGD([{"params": [a]}, {"params": [b]}], lr=1.0)
    res = opt.step([[f32(1, fill=3.0)], [f32(1, fill=4.0)]], max_grad_norm=1.0)
    assert res.grad_norm == pytest.approx(5.0)
    np.testing.assert_allclose([a[0], b[0]], [-0.6, -0.8], rtol=1e-6)


def test_clip_reports_unscaled_norm():
    p = f32(2, fill=0.0)
    res = fo.SGD([p], lr=1.0).step([np.array([300.0, 400.0], np.float32)], grad_scale=100.0, max_grad_norm=10.0)
    assert res.grad_norm == pytest.approx(5.0)
    np.testing.assert_allclose(p, [-3.0, -4.0], rtol=1e-6)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("cls,kw", ALL, ids=ids)
def test_nonfinite_gradient_skips_step(cls, kw, bad):
    params = [f32(5), f32(70000)]
    opt = cls(params, **kw)
    opt.step([f32(5), f32(70000)])
    snap = snapshot(params, opt)
    g = [f32(5), f32(70000)]
    g[1][65432] = bad
    res = opt.step(g, skip_nonfinite=True)
    assert res.found_inf and res.skipped
    assert opt.state[0]["step"] == 1
    assert_unchanged(params, opt, snap)
    res = opt.step([f32(5), f32(70000)], skip_nonfinite=True)
    assert not res.found_inf and not res.skipped and opt.state[0]["step"] == 2


def test_grad_norm_bit_identical_across_threads(restore_threads):
    from fastoptim import _core

    rng = np.random.default_rng(9)
    sizes = [3, 100003, 17, 65536]
    grads = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    _core.set_min_elements_per_thread(1000)
    norms = []
    for n in (1, 2):
        fo.set_num_threads(n)
        opt = fo.SGD([np.zeros(s, np.float32) for s in sizes], lr=0.1)
        norms.append(opt.step(grads, max_grad_norm=1.0).grad_norm)
    assert norms[0] == norms[1]
    exact = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
    assert norms[0] == pytest.approx(exact, rel=1e-13)


@pytest.mark.parametrize("kw,match", [
    (dict(grad_scale=0.0), "grad_scale"), (dict(grad_scale=float("nan")), "grad_scale"),
    (dict(max_grad_norm=-1.0), "max_grad_norm"), (dict(max_grad_norm=float("inf")), "max_grad_norm"),
])
def test_bad_pipeline_options(kw, match):
    p = f32(3)
    before = p.copy()
    with pytest.raises(ValueError, match=match):
        fo.SGD([p], lr=0.1).step([f32(3)], **kw)
    np.testing.assert_array_equal(p, before)


def test_ema_of_weights_matches_its_formula_and_checkpoints(rng):
    """ema_decay: after each step ema = lerp(ema, p, 1 - decay), the first step's weights copied;
    skipped steps leave it alone; it is checkpointed and resumed."""
    params = [rng.standard_normal((20, 3)).astype(np.float32), rng.standard_normal(7).astype(np.float32)]
    opt = fo.Adam(params, lr=0.01, ema_decay=0.8)
    expected = None
    for _ in range(5):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
        opt.step(grads)
        now = [p.astype(np.float64) for p in params]
        expected = now if expected is None else [e + 0.2 * (n - e) for e, n in zip(expected, now)]
    for i, e in enumerate(expected):
        np.testing.assert_allclose(opt.state[i]["ema"], e, rtol=1e-5, atol=1e-6)
        assert opt.state[i]["ema_steps"] == 5
    bad = [g.copy() for g in grads]
    bad[0][0, 0] = np.nan
    before = opt.state[0]["ema"].copy()
    assert opt.step(bad, skip_nonfinite=True).skipped
    assert np.array_equal(opt.state[0]["ema"], before)
    twin = fo.Adam([p.copy() for p in params], lr=0.01, ema_decay=0.8)
    twin.load_state_dict(opt.state_dict())
    assert np.array_equal(twin.state[1]["ema"], opt.state[1]["ema"])
    with pytest.raises(ValueError, match="ema_decay"):
        fo.SGD(params, ema_decay=1.5)
    avg = [np.zeros(4, np.float32)]
    fo.ops.ema_(avg, [np.ones(4, np.float32)], decay=0.5, first=True)
    fo.ops.ema_(avg, [np.full(4, 3.0, np.float32)], decay=0.5)
    np.testing.assert_array_equal(avg[0], 2.0)


def test_only_schedule_free_classes_have_train_and_eval():
    """Trainers look for ``optimizer.train`` to find schedule-free optimizers: only those have it."""
    import fastoptim.rules as rules

    for d, v in rules.class_variants():
        assert hasattr(getattr(fo, v.name), "train") == (d.train_eval is not None), v.name


def test_schedule_free_numpy_eval_shows_the_average(rng):
    """The NumPy API's AdamWScheduleFree: eval() puts x = lerp(y, z, 1 - 1/beta1) in the params and
    train() takes them back (to rounding); a step in eval mode is refused."""
    p = rng.standard_normal(50).astype(np.float64)
    opt = fo.AdamWScheduleFree([p], lr=0.01)
    for _ in range(4):
        opt.step([rng.standard_normal(50)])
    y, z = p.copy(), opt.state[0]["z"].copy()
    opt.eval()
    np.testing.assert_allclose(p, z - (z - y) * (1 / 0.9), rtol=1e-12, atol=1e-12)
    with pytest.raises(RuntimeError, match="not in train mode"):
        opt.step([rng.standard_normal(50)])
    opt.train()
    np.testing.assert_allclose(p, y, rtol=1e-12, atol=1e-12)
