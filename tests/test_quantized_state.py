"""8-bit block-wise optimizer state: the code's edges, quantization error bounds, agreement
with float32 state, every ISA and thread count bit for bit, checkpoints, and bad options."""

import pickle

import numpy as np
import pytest
from conftest import on_every_isa_and_thread_count

import fastoptim as fo
from fastoptim.quantized_state import BLOCK, Quantized8

# -- a plain NumPy decoder of the codes (the documented format) --------------------------------


def decode_signed(codes):
    # float16 bits: sign from bit 7 to bit 15, the 7 other bits at the top of exponent|mantissa
    c = codes.astype(np.uint16)
    return (((c & 0x80) << 8) | ((c & 0x7F) << 7)).view(np.float16).astype(np.float32)


def decode_unsigned(codes):
    return (codes.astype(np.uint16) << 6).view(np.float16).astype(np.float32)


def values(state: Quantized8, signed: bool) -> np.ndarray:
    scales = np.repeat(state.scales, BLOCK)[: state.codes.size]
    return (decode_signed(state.codes) if signed else decode_unsigned(state.codes)) * scales


def test_code_tables_cover_the_documented_ranges():
    codes = np.arange(256, dtype=np.uint8)
    s = decode_signed(codes)
    assert s[0] == 0 and s[1] == 2.0**-17 and s[8] == 2.0**-14 and s[0x78] == 1.0 and s[0x80 | 0x78] == -1.0
    assert np.all(np.diff(s[:0x79]) > 0)  # monotone: subnormals, then 3 mantissa bits per binade
    assert np.array_equal(s[0x80:0xF9], -s[:0x79])
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="float8_e4m3fn comparison needs ml_dtypes")
    used = np.r_[0:0x79, 0x80:0xF9]  # |x| <= 1; 0x79.. are never written
    assert np.array_equal(s[used], codes[used].view(ml_dtypes.float8_e4m3fn).astype(np.float32) / 256)
    u = decode_unsigned(codes)
    assert u[0] == 0 and u[1] == 2.0**-18 and u[16] == 2.0**-14 and u[0xF0] == 1.0
    assert np.all(np.diff(u[:0xF1]) > 0)  # 4 mantissa bits per binade


def adam_pair(n=5000, steps=30, seed=0, **kw):
    rng = np.random.default_rng(seed)
    p32 = rng.standard_normal(n).astype(np.float32)
    p8 = p32.copy()
    o32 = fo.Adam([p32], lr=1e-3, **kw)
    o8 = fo.Adam([p8], lr=1e-3, state_bits=8, min_8bit_size=0, **kw)
    scale = np.exp(rng.uniform(-6, 2, n)).astype(np.float32)  # magnitudes over 8 binades
    for _ in range(steps):
        g = (rng.standard_normal(n) * scale).astype(np.float32)
        o32.step([g])
        o8.step([g])
    return p32, p8, o32, o8


def test_requantized_state_is_within_one_code_step_of_float32_state():
    # One step from zero state: the 8-bit and float32 moments see identical inputs, so the only
    # difference is the quantization of the stored result: below one code step, 2^-3 relative for
    # m and 2^-4 for sqrt(v) from 2^-14 of the block's scale up, and one subnormal step (2^-17,
    # 2^-18 of the scale) below.
    p32, p8, o32, o8 = adam_pair(steps=1)
    m8, u8 = values(o8.state[0]["exp_avg"], True), values(o8.state[0]["exp_avg_sq"], False)
    m32, u32 = o32.state[0]["exp_avg"], np.sqrt(o32.state[0]["exp_avg_sq"])
    for got, want, rel, step, blocks in [(m8, m32, 2**-3, 2**-17, np.abs(m32)), (u8, u32, 2**-4, 2**-18, u32)]:
        block_max = np.repeat([b.max() for b in np.array_split(blocks, range(BLOCK, blocks.size, BLOCK))],
                              BLOCK)[: blocks.size]
        tiny = np.abs(want) < 2**-14 * block_max
        assert tiny.any() and (~tiny).any()
        assert np.all(np.abs(got - want)[~tiny] <= rel * np.abs(want)[~tiny] * 1.0001)
        assert np.all(np.abs(got - want)[tiny] <= step * block_max[tiny] * 1.0001)
    assert np.array_equal(p32, p8)  # the first update uses the unquantized moments


def test_rounding_is_unbiased():
    # The same value quantized many times (different steps) averages to itself.
    n = 4096
    p = np.zeros(n, np.float32)
    opt = fo.SGD([p], lr=0.0, momentum=0.5, state_bits=8, min_8bit_size=0)
    g = np.full(n, 0.3, np.float32)
    g[0] = 1.0  # the block scale: every other element sits at 0.3 of it, between two codes
    means = []
    for _ in range(50):
        opt.step([g])
        means.append(values(opt.state[0]["momentum_buffer"], True)[1:BLOCK].mean())
    # momentum buffer converges to g / (1 - 0.5)·... with dampening 0: b = 0.5 b + g -> 2 g
    assert abs(np.mean(means[10:]) / (2 * 0.3) - 1) < 0.01


def test_8bit_adam_tracks_float32_adam():
    # Gradients of pure noise: each step's direction is random, so the 8-bit state's rounding
    # noise (≤ 6.25 % of m per step with 3 mantissa bits, unbiased) random-walks: measured 7.8 %
    # RMS of the distance travelled after 60 steps. A wrong decode or scale is off by O(1).
    p32, p8, _, o8 = adam_pair(n=20000, steps=60)
    p0 = adam_pair(n=20000, steps=0)[0]
    rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
    assert rms(p8 - p32) < 0.12 * rms(p32 - p0)
    assert o8.state_bytes() / (2 * 4 * 20000) < 0.26


@pytest.mark.parametrize("cls,kw", [
    (fo.Adam, dict(lr=1e-2, weight_decay=0.1)), (fo.AdamW, dict(lr=1e-2)),
    (fo.SGD, dict(lr=1e-2, momentum=0.9, nesterov=True)), (fo.SGD, dict(lr=1e-2, momentum=0.9, dampening=0.1)),
    (fo.RMSprop, dict(lr=1e-3)), (fo.RMSprop, dict(lr=1e-3, momentum=0.9, weight_decay=0.01)),
], ids=lambda x: getattr(x, "__name__", ""))
def test_every_isa_and_thread_count_give_identical_bits(cls, kw, restore_threads):
    sizes = [70001, 3, 40000]

    def run():
        rng = np.random.default_rng(0)
        params = [rng.standard_normal(n).astype(np.float32) for n in sizes]
        opt = cls(params, state_bits=8, min_8bit_size=1000, seed=7, **kw)
        for _ in range(5):
            opt.step([rng.standard_normal(n).astype(np.float32) for n in sizes], max_grad_norm=100.0)
        state = opt.state_dict()["state"]
        return opt, b"".join(p.tobytes() for p in params) + b"".join(
            (v.codes.tobytes() + v.scales.tobytes()) if isinstance(v, Quantized8) else np.asarray(v).tobytes()
            for i in sorted(state) for k, v in sorted(state[i].items()))
    runs = on_every_isa_and_thread_count(run)
    results = [(isa, threads, blob) for isa, threads, (_, blob) in runs]
    assert all(r[2] == results[0][2] for r in results), [(r[0], r[1]) for r in results if r[2] != results[0][2]]
    opt = runs[-1][2][0]
    assert isinstance(opt.state[0][next(k for k in opt.state[0] if k != "step")], Quantized8)
    assert not isinstance(opt.state[1][next(k for k in opt.state[1] if k != "step")], Quantized8)  # small


@pytest.mark.parametrize("cls,kw", [
    (fo.Adam, dict(lr=1e-2)), (fo.AdamW, dict(lr=1e-2)), (fo.SGD, dict(lr=1e-2, momentum=0.9)),
    (fo.RMSprop, dict(lr=1e-3, momentum=0.5)),
], ids=lambda x: getattr(x, "__name__", ""))
def test_every_isa_gives_identical_bits_at_the_edges_of_the_codes(cls, kw, restore_threads):
    # Magnitudes spread over 40 binades, so that codes cover the subnormal float16 range (below
    # 2^-14 of a block's scale) and the top; zeros of both signs; and a NaN, an Inf and 1e30
    # (overflowing squares) in some blocks. The float16 converters (F16C, AVX-512) and the
    # written-out conversions must agree bit for bit.
    n = 3000

    def run():
        rng = np.random.default_rng(1)
        p = rng.standard_normal(n).astype(np.float32)
        opt = cls([p], state_bits=8, min_8bit_size=0, **kw)
        for step in range(6):
            g = (rng.standard_normal(n) * 2.0 ** rng.integers(-40, 0, n)).astype(np.float32)
            g[::97] = 0.0
            g[5::97] = -0.0
            if step == 2:
                g[300], g[700], g[1100] = np.nan, np.inf, 1e30
            opt.step([g])
        state = opt.state_dict()["state"][0]
        return p.tobytes() + b"".join(v.codes.tobytes() + v.scales.tobytes()
                                      for _, v in sorted(state.items()) if isinstance(v, Quantized8))

    results = on_every_isa_and_thread_count(run)
    assert all(r[2] == results[0][2] for r in results), [(r[0], r[1]) for r in results if r[2] != results[0][2]]


def test_seed_changes_rounding_only():
    _, a, _, oa = adam_pair(n=3000, steps=5)
    rng = np.random.default_rng(0)
    p = rng.standard_normal(3000).astype(np.float32)
    ob = fo.Adam([p], lr=1e-3, state_bits=8, min_8bit_size=0, seed=1)
    assert ob.param_groups[0]["seed"] == 1 and oa.param_groups[0]["seed"] == 0


def test_state_dict_and_pickle_round_trip():
    rng = np.random.default_rng(3)
    init = rng.standard_normal(3000).astype(np.float32)
    grads = [rng.standard_normal(3000).astype(np.float32) for _ in range(8)]
    straight = init.copy()
    opt = fo.Adam([straight], lr=1e-2, state_bits=8, min_8bit_size=0)
    for g in grads:
        opt.step([g])
    resumed = init.copy()
    opt1 = fo.Adam([resumed], lr=1e-2, state_bits=8, min_8bit_size=0)
    for g in grads[:3]:
        opt1.step([g])
    sd = pickle.loads(pickle.dumps(opt1.state_dict()))
    assert isinstance(sd["state"][0]["exp_avg"], Quantized8)
    opt2 = fo.Adam([resumed], lr=1e-2, state_bits=8, min_8bit_size=0)
    opt2.load_state_dict(sd)
    clone_p, clone = pickle.loads(pickle.dumps(([resumed], opt2)))
    for g in grads[3:]:
        opt2.step([g])
        clone.step([g])
    assert resumed.tobytes() == straight.tobytes() == clone_p[0].tobytes()
    # the saved hyperparameters include state_bits: a 32-bit optimizer loading it turns 8-bit
    other = fo.Adam([init.copy()], lr=1e-2)
    other.load_state_dict(sd)
    assert isinstance(other.state[0]["exp_avg"], Quantized8)
    sd["param_groups"][0]["state_bits"] = 32
    with pytest.raises(ValueError, match="8-bit, this optimizer keeps it 32-bit"):
        fo.Adam([init.copy()], lr=1e-2).load_state_dict(sd)


@pytest.mark.parametrize("make,match", [
    (lambda p: fo.Adam(p, state_bits=8, amsgrad=True), "amsgrad"),
    (lambda p: fo.RMSprop(p, state_bits=8, centered=True), "centered"),
    (lambda p: fo.Adam(p, state_bits=12), "state_bits"),
    (lambda p: fo.Adagrad(p, state_bits=8), "8-bit state is not available for Adagrad"),
    (lambda p: fo.Adam(p, state_bits=16, stochastic_rounding="yes"), "stochastic_rounding"),
    (lambda p: fo.SGD(p, momentum=0.9, state_bits=8, min_8bit_size=-1), "min_8bit_size"),
    (lambda p: fo.Adam(p, state_bits=8, seed=-3), "seed"),
])
def test_bad_options(make, match):
    with pytest.raises(ValueError, match=match):
        make([np.zeros(10, np.float32)])


def test_float64_params_keep_32bit_state():
    p = np.zeros(5000)
    opt = fo.Adam([p], lr=0.1, state_bits=8, min_8bit_size=0)
    opt.step([np.ones(5000)])
    assert isinstance(opt.state[0]["exp_avg"], np.ndarray)


@pytest.mark.parametrize("make,u", [(lambda p: fo.Adam(p, lr=1e-3, state_bits=8, min_8bit_size=0), "exp_avg_sq"),
                                    (lambda p: fo.RMSprop(p, lr=1e-3, state_bits=8, min_8bit_size=0),
                                     "square_avg")], ids=["Adam", "RMSprop"])
def test_overflowing_moment_resets_its_block_instead_of_nan(isa, make, u):
    # One gradient of 1e30 squares past float: that element's second moment is inf (as in
    # float32, its update is 0), the block's scale is inf and every code of the block rounds to
    # 0. The next step must restart the block from zero moments, not compute 0 * inf = NaN.
    n = 2 * BLOCK
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n).astype(np.float32)
    opt = make([p])
    g = rng.standard_normal(n).astype(np.float32)
    opt.step([g])
    spike = g.copy()
    spike[3] = 1e30
    before = p.copy()
    opt.step([spike])
    assert p[3] == before[3] and np.all(np.isfinite(p))
    assert np.isinf(opt.state[0][u].scales[0])
    assert not opt.state[0][u].codes[:BLOCK].any()  # block 0 reset
    opt.step([g])
    assert np.all(np.isfinite(p)) and np.all(p != before)
    for v in opt.state[0].values():
        if isinstance(v, Quantized8):
            assert np.all(np.isfinite(v.scales[1:])) and np.isfinite(v.scales[0])


def test_empty_tensors_between_8bit_ones_on_every_isa_and_thread_count(restore_threads):
    # The plan hands each thread its blocks as runs per tensor: empty tensors (no blocks) and a
    # tensor boundary inside a thread's share must neither be skipped wrongly nor stepped twice.
    sizes = [0, 1000, 0, 300, 0]

    def run():
        params = [np.ones(s, np.float32) for s in sizes]
        opt = fo.Adam(params, lr=1e-2, state_bits=8, min_8bit_size=0)
        for _ in range(3):
            opt.step([np.full(s, 0.5, np.float32) for s in sizes])
        return b"".join(p.tobytes() for p in params), params
    runs = on_every_isa_and_thread_count(run)
    assert all(blob == runs[0][2][0] for _, _, (blob, _) in runs)
    params = runs[0][2][1]
    # Three Adam steps with a constant gradient move every element by ~3 lr.
    for p in params[1::2]:
        np.testing.assert_allclose(p, 1 - 3e-2, rtol=1e-3)
