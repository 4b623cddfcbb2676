"""Mixed precision: float16/bfloat16 params and grads with float32 master weights.

Conversions are checked bit for bit against NumPy's float16 and ml_dtypes' bfloat16 casts
(both round to nearest, ties to even) on every ISA; each rule in mixed precision must equal
the float32 optimizer run on the master weights with the widened gradients, bit for bit,
with the 16-bit params equal to the masters rounded."""

import pickle

import numpy as np
import pytest
from conftest import DEFAULT_ISA, SUPPORTED_ISAS

import fastoptim as fo
from fastoptim import _core

try:
    import ml_dtypes

    LOW = [np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)]
except ImportError:  # the bf16 cases need the optional ml_dtypes
    LOW = [np.dtype(np.float16)]
ids = [d.name for d in LOW]

EDGES = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 65504, 65519.996, 65520, 65536, 3.4e38, -3.4e38,
                  2.0**-14, 2.0**-14 * (1 - 2**-11), 2.0**-24, 2.0**-25, 3 * 2.0**-26, 2.0**-26, 1e-45, -1e-45,
                  1 + 2.0**-11, 1 + 3 * 2.0**-11, 1 + 2.0**-8, 1 + 3 * 2.0**-8, 1 + 2.0**-8 + 2.0**-20,
                  -(1 + 2.0**-11)], np.float32)


@pytest.fixture(params=SUPPORTED_ISAS)
def each_isa(request):
    fo.use_isa(request.param)
    yield request.param
    fo.use_isa(DEFAULT_ISA)


@pytest.mark.parametrize("dtype", LOW, ids=ids)
def test_conversions_match_numpy_bit_for_bit(dtype, each_isa):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32), EDGES])
    out = np.empty(x.size, dtype)
    _core.narrow(x, out)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = x.astype(dtype)
    nan = np.isnan(ref.astype(np.float32))
    assert np.array_equal(out.view(np.uint16)[~nan], ref.view(np.uint16)[~nan])
    assert np.all(np.isnan(out.astype(np.float32))[nan])
    back = np.empty(x.size, np.float32)
    _core.widen(out, back)
    wide = out.astype(np.float32)
    assert np.array_equal(back.view(np.uint32)[~nan], wide.view(np.uint32)[~nan])
    assert np.all(np.isnan(back[nan]))


CASES = [
    (fo.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (fo.Adagrad, dict(lr=0.05, lr_decay=0.01)),
    (fo.RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
    (fo.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    (fo.AdamW, dict(lr=0.01)),
]


@pytest.mark.parametrize("dtype", LOW, ids=ids)
@pytest.mark.parametrize("cls,kw", CASES, ids=[c.__name__ for c, _ in CASES])
def test_mixed_step_equals_float32_step_on_the_master(cls, kw, dtype, each_isa):
    rng = np.random.default_rng(1)
    shapes = [(33, 7), (5,), (1000,)]
    low = [rng.standard_normal(s).astype(dtype) for s in shapes]
    master = [p.astype(np.float32) for p in low]
    opt, ref = cls(low, **kw), cls(master, **kw)
    for _ in range(10):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        opt.step(grads, max_grad_norm=20.0)
        ref.step([g.astype(np.float32) for g in grads], max_grad_norm=20.0)
    for p, m, mine in zip(low, master, (s["master_param"] for s in opt.state.values())):
        assert mine.tobytes() == m.tobytes()
        assert p.tobytes() == m.astype(dtype).tobytes()
    assert opt.state_bytes() == ref.state_bytes() + sum(m.nbytes for m in master)


@pytest.mark.parametrize("dtype", LOW, ids=ids)
def test_checkpoint_restores_master_weights(dtype):
    rng = np.random.default_rng(2)
    init = rng.standard_normal(500).astype(dtype)
    grads = [rng.standard_normal(500).astype(dtype) for _ in range(6)]
    a = init.copy()
    opt = fo.Adam([a], lr=0.01)
    for g in grads:
        opt.step([g])
    b = init.copy()
    opt_b = fo.Adam([b], lr=0.01)
    for g in grads[:3]:
        opt_b.step([g])
    sd = pickle.loads(pickle.dumps(opt_b.state_dict()))
    c = b.copy()  # the 16-bit params alone lose the master's low bits; the checkpoint keeps them
    opt_c = fo.Adam([c], lr=0.01)
    opt_c.load_state_dict(sd)
    clone_p, clone = pickle.loads(pickle.dumps(([c], opt_c)))  # one pickle: clone_p[0] is the clone's param
    for g in grads[3:]:
        opt_c.step([g])
        clone.step([g])
    assert c.tobytes() == a.tobytes() == clone_p[0].tobytes()
    with pytest.raises(ValueError, match="master weights"):
        fo.Adam([init.astype(np.float32)], lr=0.01).load_state_dict(sd)


def test_bad_mixed_input():
    p = np.zeros(8, np.float16)
    opt = fo.SGD([p], lr=0.1)
    with pytest.raises(TypeError, match=r"grads\[0\] has dtype float32; mixed precision takes float16 or bfloat16"):
        opt.step([np.ones(8, np.float32)])
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \(4,\)"):
        opt.step([np.ones(4, np.float16)])
    assert np.all(p == 0)
    with pytest.raises(TypeError, match="mixes 16-bit and other params"):
        fo.SGD([np.zeros(3, np.float16), np.zeros(3, np.float32)], lr=0.1)
    ro = np.zeros(3, np.float16)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"outputs\[0\] is read-only"):
        fo.SGD([ro], lr=0.1)


@pytest.mark.parametrize("dtype", LOW, ids=ids)
def test_model_in_16_bit_trains_like_float32(dtype):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)
    results = []
    for dt in (np.float32, dtype):
        model = fo.models.MLP(4, [8], 2, seed=0, dtype=dt)
        assert model.params.dtype == dt
        hist = fo.fit(model, fo.Adam(model.params, lr=0.01), X, y, epochs=10, batch_size=20, progress=False)
        results.append((hist.train_loss[-1], model.score(X, y)))
    assert results[1][1] >= results[0][1] - 0.02
    assert abs(results[1][0] - results[0][0]) < 0.05 * results[0][0] + 0.01


def test_bfloat16_params_rounded_stochastically():
    ml = pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes (extra 'bf16')")
    n = 20000
    p = np.ones(n, ml.bfloat16)
    opt = fo.SGD([p], lr=1.0, stochastic_rounding=True, seed=5)
    opt.step([np.full(n, -(2.0**-9), ml.bfloat16)])  # master 1 + 2^-9: a quarter of a bfloat16 step up
    master = opt.state[0]["master_param"]
    assert np.all(master == np.float32(1 + 2.0**-9))
    values = p.astype(np.float64)
    assert set(np.unique(values)) == {1.0, 1.0 + 2.0**-7}
    assert abs(values.mean() - (1 + 2.0**-9)) < 2e-5  # nearest even would give exactly 1.0
    q = np.ones(n, ml.bfloat16)
    fo.SGD([q], lr=1.0, stochastic_rounding=True, seed=5).step([np.full(n, -(2.0**-9), ml.bfloat16)])
    assert q.tobytes() == p.tobytes()  # seeded
