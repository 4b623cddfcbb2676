"""bfloat16 optimizer state (state_bits=16): rounding to nearest even matches ml_dtypes' cast of
the float32 state bit for bit, stochastic rounding is unbiased, every ISA and thread count give
the same bits, and checkpoints round-trip."""

import pickle

import numpy as np
import pytest
from conftest import on_every_isa_and_thread_count

import fastoptim as fo

ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 state needs ml_dtypes (extra 'bf16')")
BF16 = np.dtype(ml_dtypes.bfloat16)

CASES = [
    (fo.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (fo.Adagrad, dict(lr=0.05, initial_accumulator_value=0.5)),  # exact in bfloat16
    (fo.RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
    (fo.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    (fo.AdamW, dict(lr=0.01)),
]
names = [c.__name__ for c, _ in CASES]


@pytest.mark.parametrize("cls,kw", CASES, ids=names)
def test_first_step_state_is_float32_state_rounded(cls, kw, isa):
    rng = np.random.default_rng(0)
    p32 = rng.standard_normal(3001).astype(np.float32)
    p16 = p32.copy()
    o32, o16 = cls([p32], **kw), cls([p16], state_bits=16, **kw)
    g = rng.standard_normal(3001).astype(np.float32)
    o32.step([g])
    o16.step([g])
    assert p16.tobytes() == p32.tobytes()  # the step itself uses the unrounded new state
    for name, value in o32.state[0].items():
        if name == "step":
            continue
        assert o16.state[0][name].dtype == BF16
        assert o16.state[0][name].tobytes() == value.astype(BF16).tobytes(), name
    assert o16.state_bytes() * 2 == o32.state_bytes()


def test_stochastic_rounding_is_unbiased_and_seeded():
    n = 20000
    x = np.full(n, 1.0 + 2.0**-9, np.float32)  # a quarter of the way between two bfloat16 values
    p = np.zeros(n, np.float32)
    opt = fo.SGD([p], lr=0.0, momentum=0.5, state_bits=16, stochastic_rounding=True, seed=3)
    opt.step([x])  # first step: buffer = gradient, rounded stochastically
    buf = opt.state[0]["momentum_buffer"].astype(np.float64)
    assert set(np.unique(buf)) == {1.0, 1.0 + 2.0**-7}
    assert abs(buf.mean() - float(x[0])) < 2e-5  # nearest-even rounding would give exactly 1.0
    again = fo.SGD([np.zeros(n, np.float32)], lr=0.0, momentum=0.5, state_bits=16, stochastic_rounding=True, seed=3)
    again.step([x])
    assert again.state[0]["momentum_buffer"].tobytes() == opt.state[0]["momentum_buffer"].tobytes()


@pytest.mark.parametrize("cls,kw", CASES, ids=names)
def test_every_isa_and_thread_count_give_identical_bits(cls, kw, restore_threads):
    sizes = [70001, 5, 30000]

    def run():
        rng = np.random.default_rng(1)
        params = [rng.standard_normal(n).astype(np.float32) for n in sizes]
        opt = cls(params, state_bits=16, stochastic_rounding=True, seed=11, **kw)
        for _ in range(4):
            opt.step([rng.standard_normal(n).astype(np.float32) for n in sizes])
        return b"".join(p.tobytes() for p in params) + b"".join(
            v.tobytes() for s in opt.state.values() for k, v in sorted(s.items()) if k != "step")
    blobs = [blob for _, _, blob in on_every_isa_and_thread_count(run)]
    assert all(b == blobs[0] for b in blobs)


def test_checkpoint_and_mixed_precision_with_bf16_state():
    rng = np.random.default_rng(2)
    init = rng.standard_normal(700).astype(np.float16)
    grads = [rng.standard_normal(700).astype(np.float16) for _ in range(6)]
    a = init.copy()
    opt = fo.Adam([a], lr=0.01, state_bits=16, stochastic_rounding=True)
    for g in grads:
        opt.step([g])
    b = init.copy()
    opt_b = fo.Adam([b], lr=0.01, state_bits=16, stochastic_rounding=True)
    for g in grads[:2]:
        opt_b.step([g])
    sd = pickle.loads(pickle.dumps(opt_b.state_dict()))
    assert sd["state"][0]["exp_avg"].dtype == BF16 and sd["state"][0]["master_param"].dtype == np.float32
    c = b.copy()
    opt_c = fo.Adam([c], lr=0.01)  # loads state_bits=16 from the checkpoint's hyperparameters
    opt_c.load_state_dict(sd)
    for g in grads[2:]:
        opt_c.step([g])
    assert c.tobytes() == a.tobytes()
