"""fastoptim.ops: the functional rules step caller-owned buffers exactly like the classes."""

import numpy as np
import pytest

import fastoptim as fo
from fastoptim import ops


def data(n=257, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(np.float32), [rng.standard_normal(n).astype(np.float32) for _ in range(5)]


def test_adam_matches_class_bit_for_bit():
    p0, grads = data()
    a, b = p0.copy(), p0.copy()
    opt = fo.Adam([a], lr=0.01, weight_decay=0.1, amsgrad=True)
    m, v, vmax = (np.zeros_like(b) for _ in range(3))
    for t, g in enumerate(grads, start=1):
        opt.step([g])
        ops.adam_([b], [g], [m], [v], step=t, lr=0.01, weight_decay=0.1, max_exp_avg_sqs=[vmax])
    assert a.tobytes() == b.tobytes()
    assert m.tobytes() == opt.state[0]["exp_avg"].tobytes()


def test_sgd_rmsprop_adagrad_match_classes():
    p0, grads = data()
    for cls, kw, run in [
        (fo.SGD, dict(lr=0.1, momentum=0.9, nesterov=True),
         lambda p, g, t, st: ops.sgd_([p], [g], [st[0]], lr=0.1, momentum=0.9, nesterov=True, first_step=t == 1)),
        (fo.RMSprop, dict(lr=0.01, centered=True, momentum=0.5),
         lambda p, g, t, st: ops.rmsprop_([p], [g], [st[0]], lr=0.01, momentum=0.5, grad_avgs=[st[1]],
                                          momentum_buffers=[st[2]])),
        (fo.Adagrad, dict(lr=0.1, lr_decay=0.01),
         lambda p, g, t, st: ops.adagrad_([p], [g], [st[0]], step=t, lr=0.1, lr_decay=0.01)),
    ]:
        a, b = p0.copy(), p0.copy()
        opt = cls([a], **kw)
        state = [np.zeros_like(b) for _ in range(3)]
        for t, g in enumerate(grads, start=1):
            opt.step([g])
            run(b, g, t, state)
        assert a.tobytes() == b.tobytes(), cls.__name__


def test_bad_buffers_are_refused_before_writing():
    p0, grads = data()
    p = p0.copy()
    with pytest.raises(ValueError, match="shape"):
        ops.adam_([p], [grads[0]], [np.zeros(3, np.float32)], [np.zeros_like(p)], step=1)
    with pytest.raises(ValueError, match="momentum_buffer' is required"):
        ops.sgd_([p], [grads[0]], lr=0.1, momentum=0.9)
    assert p.tobytes() == p0.tobytes()
