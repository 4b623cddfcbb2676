"""fastoptim.ops: one functional rule per registered rule, stepping caller-owned buffers exactly
like the classes do."""

import numpy as np
import pytest
from reference import CLASS_CASES, CLASS_IDS

import fastoptim as fo
from fastoptim import ops
from fastoptim.rules import REGISTRY


def data(n=257, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(np.float32), [rng.standard_normal(n).astype(np.float32) for _ in range(5)]


def test_one_op_per_registered_rule():
    # and the average of weights, Muon, Adafactor and Lamb (not element-wise rules: tests/test_muon.py,
    # tests/test_adafactor.py, tests/test_lamb.py)
    assert sorted(ops.__all__) == sorted([*(f"{r}_" for r in REGISTRY), "ema_", "muon_", "adafactor_", "lamb_"])


@pytest.mark.parametrize("cls_name,kwargs", CLASS_CASES, ids=CLASS_IDS)
def test_op_matches_class_bit_for_bit(cls_name, kwargs):
    """The op over buffers the caller made (zeros, or the rule's start values) gives the class's bits."""
    cls = getattr(fo, cls_name)
    d = cls.descriptor
    p0, grads = data()
    a, b = p0.copy(), p0.copy()
    opt = cls([a], **kwargs)
    group = opt.param_groups[0]
    state = {buf.name: [b.copy() if buf.copy_param else np.full_like(b, buf.start(group))]
             for buf in d.buffers_for(group)}
    from fastoptim import _core
    scalar_names = _core.rule_spec(d.rule)["scalar_state"]
    start = _core.rule_start_scalar_state(d.rule, opt._hyper(group))
    state.update({n: [np.array([v], d.scalar_state_dtype)] for n, v in zip(scalar_names, start)})
    op = getattr(ops, f"{d.rule}_")
    keys = {k: v for k, v in group.items() if k in op.__signature__.parameters and k not in ("params", "grads")}
    for t, g in enumerate(grads, start=1):
        opt.step([g])
        step = (1 if t == 1 else 2) if d.stepless else t
        op([b], [g], state, step=step, **keys)
    assert a.tobytes() == b.tobytes()
    for name, bufs in state.items():
        held = opt.state[0][name]
        assert np.asarray(held, dtype=bufs[0].dtype).tobytes() == bufs[0].reshape(np.shape(held)).tobytes(), name


def test_bad_buffers_are_refused_before_writing():
    p0, grads = data()
    p = p0.copy()
    with pytest.raises(ValueError, match="shape"):
        ops.adam_([p], [grads[0]], {"exp_avg": [np.zeros(3, np.float32)], "exp_avg_sq": [np.zeros_like(p)]}, step=1)
    with pytest.raises(ValueError, match="momentum_buffer' is required"):
        ops.sgd_([p], [grads[0]], step=1, lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match="step"):
        ops.adam_([p], [grads[0]], {"exp_avg": [np.zeros_like(p)], "exp_avg_sq": [np.zeros_like(p)]})
    assert p.tobytes() == p0.tobytes()
