"""fastoptim.torch judged by torch's own test material: ``optim_db`` (torch 2.13's
``torch.testing._internal.common_optimizers``, shipped in the wheel) lists each optimizer's
sample configurations, error inputs and supported features. Every check below runs twice, on
``torch.optim``'s class (the baseline: it must pass) and on fastoptim.torch's namesake, for
every optimizer fastoptim provides. The checks are this project's own, written after the kinds
of checks torch's optimizer tests make (the test file itself is not in the wheel and is not
copied): error inputs, the loss going the right way (contiguous or not, with LR schedulers,
parameter groups, tensor LRs), complex parameters, state_dict round trips and determinism,
older and named checkpoints, ``weights_only`` loading, numeric ``step``, hooks, deepcopy,
steps without gradients, and trajectories against torch's for-loop.

Where fastoptim does not (yet) do what torch does, the test is marked xfail(strict) with the
reason, so that a fix shows up as an unexpected pass. Counts are in the README.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch.optim tests need it")
common = pytest.importorskip("torch.testing._internal.common_optimizers",
                             reason="torch's optim_db needs torch's test dependencies (expecttest)")

from torch.optim.lr_scheduler import ReduceLROnPlateau  # noqa: E402

import fastoptim.torch as fot  # noqa: E402

# Muon steps 2-D params only and this module's problems have a bias vector (torch's Muon refuses
# them too): Muon's error inputs and sparse gradients run here, its sample configurations and the
# rest in tests/test_muon.py.
MATRIX_ONLY = {"Muon"}
INFOS = [o for o in common.optim_db if o.optim_cls.__name__ in fot.__all__ and o.optim_cls.__name__ not in MATRIX_ONLY]
ALL_INFOS = [o for o in common.optim_db if o.optim_cls.__name__ in fot.__all__]
IMPLS = ["torch", "fastoptim"]


def optim_class(impl: str, info) -> type:
    return info.optim_cls if impl == "torch" else getattr(fot, info.optim_cls.__name__)


_SPARSE_ONLY = {o.optim_cls.__name__ for o in INFOS if o.only_supports_sparse_grads}


def as_grad(opt, t: torch.Tensor) -> torch.Tensor:
    """A gradient for ``opt``: sparse COO for optimizers that take only those (SparseAdam), as
    torch's own tests hand them."""
    return t.to_sparse() if type(opt).__name__ in _SPARSE_ONLY else t


def sample_inputs(info, dtype=torch.float32):
    """The optimizer's sample configurations (torch's global switches foreach/fused/differentiable
    are not among them), forced onto torch's for-loop where torch has others."""
    out = []
    for inp in info.optim_inputs_func(device="cpu", dtype=dtype):
        kwargs = dict(inp.kwargs)
        if "foreach" in info.supported_impls:
            kwargs["foreach"] = False
        out.append((inp.desc, kwargs))
    return out


def cases(extra: Callable | None = None, infos: list | None = None):
    """(impl, info) pairs, with xfail marks where ``extra(impl, info)`` names a known gap."""
    out = []
    for info in INFOS if infos is None else infos:
        for impl in IMPLS:
            reason = extra(impl, info) if extra else None
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(impl, info, id=f"{impl}-{info.optim_cls.__name__}", marks=marks))
    return out


def linear_problem(dtype=torch.float32, contiguous=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    if contiguous:
        weight = torch.nn.Parameter(torch.randn((10, 5), generator=g, dtype=dtype))
        bias = torch.nn.Parameter(torch.randn((10,), generator=g, dtype=dtype))
    else:  # every other element of a larger tensor: neither contiguous nor dense
        weight = torch.nn.Parameter(torch.randn((10, 5, 2), generator=g, dtype=dtype)[..., 0])
        bias = torch.nn.Parameter(torch.randn((10, 2), generator=g, dtype=dtype)[..., 0])
    inp = torch.randn(5, generator=g, dtype=dtype)
    return weight, bias, inp


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl,info", cases(infos=ALL_INFOS))
def test_error_inputs_raise_torchs_errors(impl, info):
    cls = optim_class(impl, info)
    for err in info.optim_error_inputs_func(device="cpu", dtype=torch.float32):
        inp = err.optimizer_error_input
        params = inp.params if inp.params is not None else [torch.nn.Parameter(torch.randn(3))]
        if err.error_on == common.OptimizerErrorEnum.CONSTRUCTION_ERROR:
            if issubclass(err.error_type, Warning):
                with pytest.warns(err.error_type, match=err.error_regex):
                    cls(params, **inp.kwargs)
            else:
                with pytest.raises(err.error_type, match=err.error_regex):
                    cls(params, **inp.kwargs)
        else:
            opt = cls(params, **inp.kwargs)
            with pytest.raises(err.error_type, match=err.error_regex):
                opt.step()


# -- the loss goes the right way ----------------------------------------------------------------------
def _run_problem(opt, weight, bias, inp, schedulers=(), steps=20):
    def closure():
        opt.zero_grad()
        loss = (weight.mv(inp) + bias).pow(2).sum()
        loss.backward()
        for p in (weight, bias):
            p.grad = as_grad(opt, p.grad)
        return loss

    first = closure().item()
    for _ in range(steps):
        loss = closure()
        opt.step()
        for s in schedulers:
            s.step(loss.item()) if isinstance(s, ReduceLROnPlateau) else s.step()
    return first, closure().item()


@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "strided"])
@pytest.mark.parametrize("with_lrsched", [False, True], ids=["", "lrsched"])
@pytest.mark.parametrize("impl,info", cases())
def test_goes_right_direction(impl, info, contiguous, with_lrsched):
    cls = optim_class(impl, info)
    for constructors in (info.scheduler_inputs if with_lrsched else [[]]):
        for desc, kwargs in sample_inputs(info):
            weight, bias, inp = linear_problem(contiguous=contiguous)
            opt = cls([weight, bias], **kwargs)
            schedulers = [c(opt) for c in constructors]
            first, last = _run_problem(opt, weight, bias, inp, schedulers)
            if kwargs.get("maximize"):
                assert last > first, desc
            else:
                assert last < first, desc


@pytest.mark.parametrize("impl,info", cases())
def test_param_groups_with_lr_scheduler_go_right_direction(impl, info):
    cls = optim_class(impl, info)
    for constructors in info.scheduler_inputs:
        weight, bias, inp = linear_problem()
        opt = cls([{"params": [weight]}, {"params": [bias], "lr": 0.01}])
        first, last = _run_problem(opt, weight, bias, inp, [c(opt) for c in constructors])
        assert last < first


@pytest.mark.parametrize("impl,info", cases())
def test_tensor_lr_steps_like_a_float_lr(impl, info):
    cls = optim_class(impl, info)
    for desc, kwargs in sample_inputs(info):
        kwargs = {k: v for k, v in kwargs.items() if k != "lr"}
        w1, b1, inp = linear_problem()
        w2, b2 = (torch.nn.Parameter(t.detach().clone()) for t in (w1, b1))
        o1 = cls([w1, b1], lr=1e-3, **kwargs)
        o2 = cls([w2, b2], lr=torch.tensor(1e-3), **kwargs)
        for _ in range(5):
            _run_problem(o1, w1, b1, inp, steps=1)
            _run_problem(o2, w2, b2, inp, steps=1)
        torch.testing.assert_close(w1, w2, msg=desc)
        torch.testing.assert_close(b1, b2, msg=desc)


# -- complex parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize("impl,info", cases())
def test_complex_params_step_as_their_real_view(impl, info, isa):
    """A complex parameter steps as two independent reals (torch.view_as_real), both in torch and here."""
    if not info.supports_complex:
        pytest.skip(f"optim_db: {info.optim_cls.__name__} takes no complex params (its error inputs say so)")
    cls = optim_class(impl, info)
    for desc, kwargs in sample_inputs(info):
        g = torch.Generator().manual_seed(1)
        z = torch.randn(6, 3, dtype=torch.complex64, generator=g)
        cplx = torch.nn.Parameter(z.clone())
        real = torch.nn.Parameter(torch.view_as_real(z).clone())
        oc, orl = cls([cplx], **kwargs), cls([real], **kwargs)
        for _ in range(4):
            grad = torch.randn(6, 3, dtype=torch.complex64, generator=g)
            cplx.grad = grad.clone()
            real.grad = torch.view_as_real(grad).clone()
            oc.step()
            orl.step()
        torch.testing.assert_close(torch.view_as_real(cplx.detach()), real.detach(), msg=desc)


# -- state_dict ---------------------------------------------------------------------------------------------
def _train(cls, kwargs, params, steps, seed=0):
    opt = cls(params, **kwargs)
    _step_with_grads(opt, params, steps, seed)
    return opt


def _step_with_grads(opt, params, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:
            p.grad = as_grad(opt, torch.randn(p.shape, generator=g, dtype=p.dtype))
        opt.step()


def _params(seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=dtype)) for s in [(4, 3), (5,)]]


@pytest.mark.parametrize("impl,info", cases())
def test_state_dict_round_trip_is_deterministic(impl, info):
    cls = optim_class(impl, info)
    for desc, kwargs in sample_inputs(info):
        a = _params()
        opt = _train(cls, kwargs, a, 3)
        b = [torch.nn.Parameter(p.detach().clone()) for p in a]
        twin = cls(b, **kwargs)
        twin.load_state_dict(copy.deepcopy(opt.state_dict()))
        _step_with_grads(opt, a, 3, seed=9)
        _step_with_grads(twin, b, 3, seed=9)
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=0, atol=0, msg=desc)
        assert opt.state_dict()["param_groups"] == twin.state_dict()["param_groups"], desc


@pytest.mark.parametrize("impl,info", cases())
def test_older_state_dicts_without_newer_options_load(impl, info):
    """A checkpoint of an older torch lacks the group keys added since (foreach, maximize,
    capturable, differentiable, ...): loading fills torch's defaults and stepping works."""
    cls = optim_class(impl, info)
    for desc, kwargs in sample_inputs(info):
        params = _params()
        opt = _train(cls, kwargs, params, 2)
        sd = copy.deepcopy(opt.state_dict())
        for group in sd["param_groups"]:
            for flag in info.not_og_supported_flags:
                if flag in group and not (flag == "maximize" and group[flag]):
                    del group[flag]
        fresh = cls(params, **kwargs)
        fresh.load_state_dict(sd)
        twin = [torch.nn.Parameter(p.detach().clone()) for p in params]
        full = cls(twin, **kwargs)
        full.load_state_dict(copy.deepcopy(opt.state_dict()))
        _step_with_grads(fresh, params, 2, seed=3)
        _step_with_grads(full, twin, 2, seed=3)
        for x, y in zip(params, twin):  # the defaults torch fills in are the options it was saved with
            torch.testing.assert_close(x, y, rtol=0, atol=0, msg=desc)


@pytest.mark.parametrize("impl,info", cases())
def test_named_parameters_and_named_checkpoints(impl, info):
    cls = optim_class(impl, info)
    model = torch.nn.Linear(4, 3)
    for desc, kwargs in sample_inputs(info)[:2]:
        named = cls(model.named_parameters(), **kwargs)
        _step_with_grads(named, list(model.parameters()), 2, seed=1)
        sd = named.state_dict()
        assert sd["param_groups"][0]["param_names"] == ["weight", "bias"], desc
        plain = cls(model.parameters(), **kwargs)
        plain.load_state_dict(copy.deepcopy(sd))
        _step_with_grads(plain, list(model.parameters()), 1, seed=2)


@pytest.mark.parametrize("impl,info", cases())
def test_save_and_load_with_weights_only(impl, info):
    cls = optim_class(impl, info)
    for desc, kwargs in sample_inputs(info):
        if any(isinstance(v, torch.Tensor) for v in kwargs.values()):
            continue  # a tensor lr is saved as a tensor either way; covered elsewhere
        params = _params()
        opt = _train(cls, kwargs, params, 2)
        buf = io.BytesIO()
        torch.save(opt.state_dict(), buf)
        buf.seek(0)
        loaded = torch.load(buf, weights_only=True)
        twin = cls([torch.nn.Parameter(p.detach().clone()) for p in params], **kwargs)
        twin.load_state_dict(loaded)
        for k, v in opt.state_dict()["state"].items():
            for key, value in v.items():
                torch.testing.assert_close(twin.state_dict()["state"][k][key], value, msg=desc)


@pytest.mark.parametrize("impl,info", cases())
def test_a_numeric_step_in_a_checkpoint_loads(impl, info):
    cls = optim_class(impl, info)
    for desc, kwargs in sample_inputs(info):
        params = _params()
        opt = _train(cls, kwargs, params, 2)
        sd = copy.deepcopy(opt.state_dict())
        for state in sd["state"].values():
            if "step" in state:
                state["step"] = float(state["step"])
        b = [torch.nn.Parameter(p.detach().clone()) for p in params]
        twin = cls(b, **kwargs)
        twin.load_state_dict(sd)
        _step_with_grads(opt, params, 2, seed=4)
        _step_with_grads(twin, b, 2, seed=4)
        for x, y in zip(params, b):
            torch.testing.assert_close(x, y, msg=desc)


# -- hooks, copies, printing, steps without gradients ---------------------------------------------------------
@pytest.mark.parametrize("impl,info", cases())
def test_hooks_fire_in_order(impl, info):
    cls = optim_class(impl, info)
    params = _params()
    opt = cls(params)
    calls: list[str] = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    opt.register_state_dict_pre_hook(lambda o: calls.append("sd_pre"))

    def sd_post(o, sd):
        calls.append("sd_post")
        sd["extra"] = 1
        return sd
    opt.register_state_dict_post_hook(sd_post)
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("load_pre"))
    opt.register_load_state_dict_post_hook(lambda o: calls.append("load_post"))
    _step_with_grads(opt, params, 1, seed=0)
    sd = opt.state_dict()
    assert sd["extra"] == 1
    del sd["extra"]
    opt.load_state_dict(sd)
    assert calls == ["pre", "post", "sd_pre", "sd_post", "load_pre", "load_post"]


@pytest.mark.parametrize("impl,info", cases())
def test_deepcopy_copies_state_and_steps_independently(impl, info):
    cls = optim_class(impl, info)
    params = _params()
    opt = _train(cls, {}, params, 2)
    clone = copy.deepcopy(opt)
    assert {k for k in vars(clone) if not k.startswith("_")} == {k for k in vars(opt) if not k.startswith("_")}
    cparams = clone.param_groups[0]["params"]
    _step_with_grads(clone, cparams, 1, seed=5)
    _step_with_grads(opt, params, 1, seed=5)
    for x, y in zip(params, cparams):
        assert x is not y
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("impl,info", cases())
def test_params_without_grads_are_left_alone(impl, info):
    cls = optim_class(impl, info)
    for desc, kwargs in sample_inputs(info):
        params = _params()
        before = [p.detach().clone() for p in params]
        opt = cls(params, **kwargs)
        opt.step()
        for p, b in zip(params, before):
            assert torch.equal(p, b), desc
        repr(opt)


@pytest.mark.parametrize("impl,info", cases())
def test_state_holds_entries_after_a_step(impl, info):
    cls = optim_class(impl, info)
    params = _params()
    opt = _train(cls, {}, params, 1)
    assert all(len(opt.state[p]) > 0 for p in params) or info.optim_cls is torch.optim.SGD


# -- against torch's for-loop, configuration by configuration ------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("info", INFOS, ids=[o.optim_cls.__name__ for o in INFOS])
def test_matches_torch_forloop_on_every_sample_configuration(info, dtype):
    """fastoptim.torch vs torch.optim's for-loop over optim_db's configurations: params and
    every state entry, 10 steps (float32: the tolerance of test_torch_parity.py; float64: tight)."""
    ours_cls = getattr(fot, info.optim_cls.__name__)
    for desc, kwargs in sample_inputs(info, dtype):
        a, b = _params(dtype=dtype), _params(dtype=dtype)
        ref = _train(info.optim_cls, kwargs, a, 10)
        ours = _train(ours_cls, {k: v for k, v in kwargs.items() if k != "foreach"}, b, 10)
        tol = dict(rtol=3e-4, atol=3e-6) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-12)
        for x, y in zip(a, b):
            torch.testing.assert_close(y, x, **tol, msg=desc)
        for x, y in zip(a, b):
            rs, os_ = ref.state[x], ours.state[y]
            assert set(rs) == set(os_), (desc, sorted(rs), sorted(os_))
            for key in rs:
                torch.testing.assert_close(os_[key], rs[key], **tol, msg=f"{desc}: state {key!r}")


@pytest.mark.parametrize("impl,info", cases(infos=ALL_INFOS))
def test_sparse_gradients_where_torch_takes_them(impl, info):
    """Optimizers optim_db marks as taking sparse gradients step them like torch's; fastoptim's
    Adam/AdamW take them too (lazy Adam: the rows named stepped as a dense Adam would step those
    rows alone); the others refuse them with torch's RuntimeError, nothing written."""
    cls = optim_class(impl, info)
    name = info.optim_cls.__name__
    g = torch.Generator().manual_seed(0)
    init = torch.randn(20, 4, generator=g)
    p = torch.nn.Parameter(init.clone())
    opt = cls([p])
    idx = torch.tensor([[1, 3, 3, 7]])
    values = torch.randn(4, 4, generator=g)
    torch_takes = info.supports_sparse or info.only_supports_sparse_grads
    descriptor = getattr(cls, "descriptor", None)  # None for the classes outside the registry (Adafactor)
    takes = torch_takes or (impl == "fastoptim" and descriptor is not None and descriptor.sparse_grads != "refused")
    if torch_takes:
        ref = torch.nn.Parameter(init.clone())
    else:  # the rows named, as one dense param (the same rows every step: the same step counts)
        rows = [1, 3, 7]
        ref = torch.nn.Parameter(init[rows].clone())
        dense = torch.sparse_coo_tensor(idx, values, (20, 4)).to_dense()[rows]
    ref_opt = info.optim_cls([ref])
    for _ in range(3):
        p.grad = torch.sparse_coo_tensor(idx, values, (20, 4))
        if not takes:
            with pytest.raises(RuntimeError, match="does not support sparse gradients"):
                opt.step()
            assert torch.equal(p.detach(), init)
            return
        ref.grad = p.grad.clone() if torch_takes else dense.clone()
        opt.step()
        ref_opt.step()
    got = p if torch_takes else p[rows]
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-7, msg=name)
    assert torch.equal(p.detach()[0], init[0])  # rows without gradient do not move
