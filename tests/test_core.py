"""fastoptim._core's StepPlan API below the optimizer classes: load/grad_stats/apply, the
address path used by fastoptim.torch, and the rule tables."""

import numpy as np
import pytest

from fastoptim import _core


def plan(n=8, rule="sgd"):
    p = np.zeros(n, np.float32)
    return p, _core.StepPlan(rule, [p], {})


def test_apply_requires_load():
    _, sp = plan()
    with pytest.raises(RuntimeError, match="load"):
        sp.apply(1.0)
    sp.load([np.ones(8, np.float32)], (0.5, 0.0, 0.0, 0.0), 1)
    assert sp.grad_stats() == (8.0, True)
    sp.apply(1.0)
    with pytest.raises(RuntimeError, match="load"):
        sp.apply(1.0)  # grads are forgotten after a step


def test_step_by_addresses():
    p, sp = plan()
    g = np.full(8, 2.0, np.float32)
    sp.step_addresses([g.ctypes.data], (0.5, 0.0, 0.0, 0.0), 1)
    np.testing.assert_array_equal(p, -1.0)


@pytest.mark.parametrize("address,exc,match", [
    (0, ValueError, "null or misaligned"),
    (1, ValueError, "null or misaligned"),
    ("0x10", TypeError, "address"),
])
def test_bad_addresses_are_refused(address, exc, match):
    p, sp = plan()
    with pytest.raises(exc, match=match):
        sp.step_addresses([address], (0.5, 0.0, 0.0, 0.0), 1)
    np.testing.assert_array_equal(p, 0.0)


def test_address_aliasing_a_param_is_refused():
    p, sp = plan()
    with pytest.raises(ValueError, match="shares memory with params"):
        sp.step_addresses([p.ctypes.data + 4], (0.5, 0.0, 0.0, 0.0), 1)


def test_rule_tables():
    assert _core.rule_state_names("adam") == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    assert _core.rule_hyper_names("sgd") == ["lr", "momentum", "dampening", "weight_decay"]
    with pytest.raises(ValueError, match="unknown update rule"):
        _core.rule_state_names("lion")
    with pytest.raises(ValueError, match="takes 5 hyperparameters"):
        _core.check_hyper("adam", (0.1,))


def test_state_structure_is_checked():
    p = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="has no state 'velocity'"):
        _core.StepPlan("sgd", [p], {"velocity": [np.zeros(4, np.float32)]})
    sp = _core.StepPlan("sgd", [p], {"momentum_buffer": [np.zeros(4, np.float32)]})
    with pytest.raises(ValueError, match="momentum_buffer' must not be given when momentum == 0"):
        sp.step([np.ones(4, np.float32)], (0.1, 0.0, 0.0, 0.0), 1)
    with pytest.raises(ValueError, match=r"state 'exp_avg'\[0\] has shape \(3,\)"):
        _core.StepPlan("adam", [p], {"exp_avg": [np.zeros(3, np.float32)], "exp_avg_sq": [np.zeros(4, np.float32)]})


def test_state_buffers_aliasing_each_other_are_refused():
    p = np.zeros(4, np.float32)
    shared = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="exp_avg_sq'\\[0\\] shares memory with state 'exp_avg'\\[0\\]"
                       "|exp_avg'\\[0\\] shares memory with state 'exp_avg_sq'\\[0\\]"):
        _core.StepPlan("adam", [p], {"exp_avg": [shared], "exp_avg_sq": [shared]})
    with pytest.raises(ValueError, match="shares memory with params"):
        _core.StepPlan("adam", [p], {"exp_avg": [p], "exp_avg_sq": [np.zeros(4, np.float32)]})
