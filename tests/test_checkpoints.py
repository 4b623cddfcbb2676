"""load_state_dict: validate everything, then apply. A corrupt, foreign or inconsistent
checkpoint raises naming the entry and leaves the optimizer exactly as it was; versioned
checkpoints, the previous format and torch.optim's keep loading."""

from __future__ import annotations

import copy
import io
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastoptim as fo
from fastoptim.optimizer import CHECKPOINT_FORMAT
from fastoptim.quantized_state import Quantized8


def trained(cls=fo.Adam, steps=3, **kw):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(6).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    opt = cls([{"params": [a]}, {"params": [b], "lr": 0.05}], **{"lr": 0.01, **kw})
    for _ in range(steps):
        opt.step([[rng.standard_normal(6).astype(np.float32)], [rng.standard_normal((2, 3)).astype(np.float32)]])
    return opt, [a, b]


def fingerprint(opt) -> bytes:
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    state = {i: {k: (v.tobytes() if isinstance(v, np.ndarray) else
                     (v.codes.tobytes(), v.scales.tobytes()) if isinstance(v, Quantized8) else v)
                 for k, v in e.items()} for i, e in opt.state.items()}
    return pickle.dumps((groups, state))


def test_format_version_and_rule_are_written():
    opt, _ = trained()
    sd = opt.state_dict()
    assert sd["fastoptim_format"] == CHECKPOINT_FORMAT
    assert sd["rule"] == "adam"


def test_previous_format_without_version_loads():
    opt, params = trained()
    sd = opt.state_dict()
    del sd["fastoptim_format"], sd["rule"]  # what fastoptim 0.1 wrote
    other, _ = trained(steps=0)
    other.load_state_dict(sd)
    assert fingerprint(other) == fingerprint(opt)


def corruptions():
    """(description, mutate(sd), expected exception, message pattern)."""
    def setter(path, value):
        def mutate(sd):
            target = sd
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        return mutate

    def delete(path):
        def mutate(sd):
            target = sd
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]
        return mutate

    return [
        ("string state key", lambda sd: sd["state"].__setitem__("0", sd["state"].pop(0)), TypeError, "state key"),
        ("unknown param index", lambda sd: sd["state"].__setitem__(9, {}), ValueError, "no group lists"),
        ("missing first moment", delete(["state", 1, "exp_avg"]), ValueError, r"not \['exp_avg'\]"),
        ("negative step", setter(["state", 0, "step"], -5), ValueError, "'step' must be in"),
        ("huge step", setter(["state", 0, "step"], 2**70), ValueError, "'step' must be in"),
        ("fractional step", setter(["state", 0, "step"], 2.7), ValueError, "whole number"),
        ("nan step", setter(["state", 0, "step"], float("nan")), ValueError, "whole number"),
        ("string step", setter(["state", 0, "step"], "3"), TypeError, "whole number"),
        ("complex buffer", setter(["state", 0, "exp_avg"], np.zeros(6, np.complex64)), TypeError, "complex|dtype"),
        ("int buffer", setter(["state", 0, "exp_avg"], np.zeros(6, np.int32)), TypeError, "dtype"),
        ("wrong shape", setter(["state", 0, "exp_avg"], np.zeros(5, np.float32)), ValueError, "shape"),
        ("unknown buffer", setter(["state", 0, "velocity"], np.zeros(6, np.float32)), ValueError, "unknown state"),
        ("bad lr", setter(["param_groups", 1, "lr"], -1.0), ValueError, "lr"),
        ("bad state_bits", setter(["param_groups", 0, "state_bits"], 12), ValueError, "state_bits"),
        ("group count", lambda sd: sd["param_groups"].pop(), ValueError, "parameter groups"),
        ("param count", lambda sd: sd["param_groups"][1]["params"].append(7), ValueError, "params"),
        ("duplicate index", setter(["param_groups", 1, "params"], [0]), ValueError, "twice"),
        ("mixed steps", setter(["state", 0, "step"], 1), None, None),  # one param per group: fine
        ("newer format", setter(["fastoptim_format"], CHECKPOINT_FORMAT + 1), ValueError, "newer"),
        ("other rule", setter(["rule"], "sgd"), ValueError, "rule"),
        ("not a mapping", lambda sd: sd.__setitem__("state", [1, 2]), TypeError, "'state' must be"),
    ]


@pytest.mark.parametrize("desc,mutate,exc,match", corruptions(), ids=[c[0] for c in corruptions()])
def test_a_corrupt_checkpoint_changes_nothing(desc, mutate, exc, match):
    source, _ = trained(steps=2)
    sd = source.state_dict()
    mutate(sd)
    opt, params = trained(steps=4)
    before, params_before = fingerprint(opt), [p.copy() for p in params]
    if exc is None:
        opt.load_state_dict(sd)
        return
    with pytest.raises(exc, match=match):
        opt.load_state_dict(sd)
    assert fingerprint(opt) == before
    for p, q in zip(params, params_before):
        assert p.tobytes() == q.tobytes()
    opt.step([[np.ones(6, np.float32)], [np.ones((2, 3), np.float32)]])  # still steps


def test_a_buffer_missing_for_some_params_of_a_group_is_refused():
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(4).astype(np.float32) for _ in range(2)]
    opt = fo.SGD(params, lr=0.1, momentum=0.9)
    opt.step([np.ones(4, np.float32)] * 2)
    sd = opt.state_dict()
    del sd["state"][1]["momentum_buffer"]
    before = fingerprint(opt)
    with pytest.raises(ValueError, match="missing for param 1"):
        opt.load_state_dict(sd)
    assert fingerprint(opt) == before


def test_a_checkpoint_of_another_optimizer_is_refused():
    sgd, _ = trained(fo.SGD, momentum=0.9)
    rms, _ = trained(fo.RMSprop, steps=1, momentum=0.9)
    before = fingerprint(rms)
    sd = sgd.state_dict()
    with pytest.raises(ValueError, match="rule 'sgd'"):
        rms.load_state_dict(sd)
    del sd["rule"], sd["fastoptim_format"]  # like a torch.optim.SGD checkpoint
    with pytest.raises(ValueError, match="another optimizer"):
        rms.load_state_dict(sd)
    assert fingerprint(rms) == before


def test_nan_8bit_scales_are_refused():
    p = np.ones(5000, np.float32)
    opt = fo.Adam([p], lr=1e-3, state_bits=8, min_8bit_size=0)
    opt.step([np.ones_like(p)])
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"].scales[3] = np.nan
    before = fingerprint(opt)
    with pytest.raises(ValueError, match="scales must be finite"):
        opt.load_state_dict(sd)
    assert fingerprint(opt) == before


def test_bfloat16_state_through_npz_is_refused_with_a_hint():
    pytest.importorskip("ml_dtypes", reason="bfloat16 state needs ml_dtypes")
    p = np.ones(64, np.float32)
    opt = fo.Adam([p], lr=1e-3, state_bits=16)
    opt.step([np.ones_like(p)])
    sd = opt.state_dict()
    buf = io.BytesIO()
    np.savez(buf, exp_avg=sd["state"][0]["exp_avg"], exp_avg_sq=sd["state"][0]["exp_avg_sq"])
    buf.seek(0)
    loaded = np.load(buf)
    assert loaded["exp_avg"].dtype == np.dtype("V2")
    sd["state"][0]["exp_avg"], sd["state"][0]["exp_avg_sq"] = loaded["exp_avg"], loaded["exp_avg_sq"]
    before = fingerprint(opt)
    with pytest.raises(TypeError, match="view it as ml_dtypes.bfloat16"):
        opt.load_state_dict(sd)
    assert fingerprint(opt) == before


def test_torch_sgd_checkpoint_loads_into_numpy_sgd():
    torch = pytest.importorskip("torch", reason="torch checkpoints need torch")
    w = torch.nn.Parameter(torch.linspace(-1, 1, 5))
    topt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    for _ in range(2):
        w.grad = torch.ones(5)
        topt.step()
    p = w.detach().numpy().copy()
    opt = fo.SGD([p], lr=0.1, momentum=0.9)
    opt.load_state_dict(topt.state_dict())
    opt.step([np.ones(5, np.float32)])
    w.grad = torch.ones(5)
    topt.step()
    np.testing.assert_allclose(p, w.detach().numpy(), rtol=1e-6)


# -- property-based: random damage to a valid checkpoint either loads cleanly or changes nothing

_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3), st.just(np.zeros(6, np.float32)), st.just(np.zeros(6, np.complex64)),
    st.just(np.full(6, np.nan, np.float32)), st.just(np.zeros((2, 3), np.float64)), st.just([1.0] * 6),
    st.just({}), st.just([]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["set", "del"]), _VALUES), min_size=1,
                      max_size=3))
def test_fuzzed_checkpoints_load_or_change_nothing(edits):
    source, _ = trained(steps=2, amsgrad=True)
    sd = source.state_dict()
    for pick, action, value in edits:
        # every (container, key) of the checkpoint, in a fixed order
        slots = [(sd, k) for k in sorted(sd, key=str)]
        slots += [(sd["param_groups"], i) for i in range(len(sd["param_groups"]))] if isinstance(
            sd.get("param_groups"), list) else []
        for g in sd.get("param_groups", []) if isinstance(sd.get("param_groups"), list) else []:
            if isinstance(g, dict):
                slots += [(g, k) for k in sorted(g)]
        state = sd.get("state")
        if isinstance(state, dict):
            slots += [(state, k) for k in sorted(state, key=str)]
            for e in state.values():
                if isinstance(e, dict):
                    slots += [(e, k) for k in sorted(e)]
        container, key = slots[pick % len(slots)]
        if action == "del":
            del container[key]
        else:
            container[key] = copy.deepcopy(value)
    opt, params = trained(steps=3, amsgrad=True)
    before, params_before = fingerprint(opt), [p.tobytes() for p in params]
    try:
        opt.load_state_dict(sd)
    except (ValueError, TypeError):
        assert fingerprint(opt) == before
    assert [p.tobytes() for p in params] == params_before  # loading never writes params
    opt.step([[np.ones(6, np.float32)], [np.ones((2, 3), np.float32)]])  # and the optimizer still steps
