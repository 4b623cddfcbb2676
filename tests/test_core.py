"""fastoptim._core's StepPlan API below the optimizer classes: step_plans (one all-or-nothing
step over several plans, with the step counters it advances), the address path used by
fastoptim.torch, per-step checks of the bound arrays, and the rule tables."""

import warnings

import numpy as np
import pytest

from fastoptim import _core


def plan(n=8, rule="sgd"):
    p = np.zeros(n, np.float32)
    return p, _core.StepPlan(rule, [p], {})


SGD = (0.5, 0.0, 0.0, 0.0)


def step_addresses(sp, addresses, counters=()):
    return _core.step_plans([sp], [addresses], [SGD], [1], list(counters), addresses=True)


def test_step_plans_applies_every_plan_and_advances_counters():
    p1, sp1 = plan()
    p2, sp2 = plan(4)
    counters = [np.zeros(1, np.int64), np.zeros(1, np.float32), np.zeros(1, np.float64)]
    out = _core.step_plans([sp1, sp2], [[np.ones(8, np.float32)], [np.full(4, 2.0, np.float32)]], [SGD, SGD],
                           [1, 1], counters)
    assert out == (None, False, False)
    np.testing.assert_array_equal(p1, -0.5)
    np.testing.assert_array_equal(p2, -1.0)
    assert [c[0] for c in counters] == [1, 1.0, 1.0]


def test_step_plans_is_all_or_nothing():
    p1, sp1 = plan()
    p2, sp2 = plan(4)
    counter = np.zeros(1, np.int64)
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \(3,\)"):  # the second plan's grads are bad
        _core.step_plans([sp1, sp2], [[np.ones(8, np.float32)], [np.ones(3, np.float32)]], [SGD, SGD], [1, 1],
                         [counter])
    with pytest.raises(ValueError, match="lr"):  # the second plan's hyperparameters are bad
        _core.step_plans([sp1, sp2], [[np.ones(8, np.float32)], [np.ones(4, np.float32)]], [SGD, (-1.0, 0, 0, 0)],
                         [1, 1], [counter])
    out = _core.step_plans([sp1, sp2], [[np.ones(8, np.float32)], [np.full(4, np.inf, np.float32)]], [SGD, SGD],
                           [1, 1], [counter], check_finite=True)
    assert out[1:] == (True, True)
    np.testing.assert_array_equal(p1, 0.0)
    np.testing.assert_array_equal(p2, 0.0)
    assert counter[0] == 0


def test_a_gradient_aliasing_another_plans_param_is_refused():
    p1, sp1 = plan()
    p2, sp2 = plan()
    with pytest.raises(ValueError, match="shares memory with params"):
        _core.step_plans([sp1, sp2], [[p2], [np.ones(8, np.float32)]], [SGD, SGD], [1, 1], [])
    np.testing.assert_array_equal(p2, 0.0)


def test_plans_sharing_a_param_are_refused():
    p = np.zeros(8, np.float32)
    sp1, sp2 = _core.StepPlan("sgd", [p], {}), _core.StepPlan("sgd", [p[:4]], {})
    with pytest.raises(ValueError, match="of one parameter group shares memory"):
        _core.step_plans([sp1, sp2], [[np.ones(8, np.float32)], [np.ones(4, np.float32)]], [SGD, SGD], [1, 1], [])
    with pytest.raises(ValueError, match="same plan twice"):
        _core.step_plans([sp1, sp1], [[np.ones(8, np.float32)]] * 2, [SGD, SGD], [1, 1], [])


@pytest.mark.parametrize("counter,exc", [(np.zeros(2, np.int64), ValueError), (np.zeros(1, np.int32), TypeError),
                                         ([0], TypeError)])
def test_bad_counters_are_refused_before_anything_is_written(counter, exc):
    p, sp = plan()
    with pytest.raises(exc, match="counters"):
        _core.step_plans([sp], [[np.ones(8, np.float32)]], [SGD], [1], [counter])
    np.testing.assert_array_equal(p, 0.0)


def _retype_in_place(a, dtype):
    """Set an array's dtype in place: the change the check exists for. NumPy 2.5 deprecates it
    (a DeprecationWarning, silenced here; the CPython 3.12/3.13 wheel tests got NumPy 2.5)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        a.dtype = dtype


def test_a_param_changed_in_place_is_refused():
    p = np.zeros(8, np.float32)
    sp = _core.StepPlan("sgd", [p], {})
    _retype_in_place(p, np.float64)  # same memory, read as 4 float64
    with pytest.raises(ValueError, match=r"params\[0\] was changed in place"):
        sp.step([np.ones(4, np.float64)], SGD, 1)
    _retype_in_place(p, np.float32)
    p.setflags(write=False)
    with pytest.raises(ValueError, match=r"params\[0\] was changed in place"):
        sp.step([np.ones(8, np.float32)], SGD, 1)
    q = np.zeros(8, np.float32)
    sq = _core.StepPlan("sgd", [q], {})
    del sq  # a plan may be dropped while q lives; q.resize then moves q's memory
    sq = _core.StepPlan("sgd", [q], {})
    q.resize(1000, refcheck=False)
    with pytest.raises(ValueError, match=r"params\[0\] was changed in place"):
        sq.step([np.ones(1000, np.float32)], SGD, 1)


def test_step_by_addresses():
    p, sp = plan()
    g = np.full(8, 2.0, np.float32)
    step_addresses(sp, [g.ctypes.data])
    np.testing.assert_array_equal(p, -1.0)


@pytest.mark.parametrize("address,exc,match", [
    (0, ValueError, "null or misaligned"),
    (1, ValueError, "null or misaligned"),
    ("0x10", TypeError, "address"),
])
def test_bad_addresses_are_refused(address, exc, match):
    p, sp = plan()
    with pytest.raises(exc, match=match):
        step_addresses(sp, [address])
    np.testing.assert_array_equal(p, 0.0)


def test_address_aliasing_a_param_is_refused():
    p, sp = plan()
    with pytest.raises(ValueError, match="shares memory with params"):
        step_addresses(sp, [p.ctypes.data + 4])


def test_rule_tables():
    assert _core.rule_state_names("adam") == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    assert _core.rule_hyper_names("sgd") == ["lr", "momentum", "dampening", "weight_decay"]
    with pytest.raises(ValueError, match="unknown update rule"):
        _core.rule_state_names("no_such_rule")
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
