"""A step under real use: several Python threads, Ctrl-C in the middle, gradients that alias
another group's buffers, options changed through param_groups, arrays changed in place, NaN
and Inf on every ISA. Each case either steps exactly as a clean run would, or raises naming
the argument with nothing written."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest
from conftest import RULE_CASES, RULE_IDS, on_every_isa_and_thread_count

import fastoptim as fo
from fastoptim import _core

N = 300_000  # large enough that the kernels run with the GIL released, in two threads


def adam_run(steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(N).astype(np.float32)
    g = rng.standard_normal(N).astype(np.float32)
    opt = fo.Adam([p], lr=1e-2)
    for _ in range(steps):
        opt.step([g])
    return p


def test_threads_stepping_one_optimizer_are_serialized():
    rng = np.random.default_rng(0)
    p = rng.standard_normal(N).astype(np.float32)
    g = rng.standard_normal(N).astype(np.float32)
    opt = fo.Adam([p], lr=1e-2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                opt.step([g])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert opt.state[0]["step"] == 60
    # the same gradient every step: 60 serialized steps give the bits of 60 sequential ones
    assert p.tobytes() == adam_run(60).tobytes()


def test_separate_optimizers_step_concurrently_and_correctly():
    results: dict[int, np.ndarray] = {}

    def worker(seed: int) -> None:
        results[seed] = adam_run(15, seed)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for seed in range(3):
        assert results[seed].tobytes() == adam_run(15, seed).tobytes()


def test_keyboard_interrupt_never_leaves_a_step_half_done():
    """Ctrl-C arrives while a two-group step runs: afterwards either both groups stepped (and
    both counts advanced) or neither."""
    rng = np.random.default_rng(1)
    main = threading.get_ident()
    outcomes = set()
    for attempt in range(12):
        a = rng.standard_normal(2_000_000).astype(np.float32)
        b = rng.standard_normal(2_000_000).astype(np.float32)
        a0, b0 = a.copy(), b.copy()
        opt = fo.Adam([{"params": [a]}, {"params": [b], "lr": 1e-2}], lr=1e-3)
        grads = [[np.ones_like(a)], [np.ones_like(b)]]
        timer = threading.Timer(0.0005 * (attempt % 6), signal.pthread_kill, (main, signal.SIGINT))
        try:
            timer.start()
            for _ in range(50):
                opt.step(grads)
            time.sleep(1)  # not reached unless the signal was lost
        except KeyboardInterrupt:
            pass
        finally:
            timer.cancel()
        steps = [opt.state[0]["step"], opt.state[1]["step"]]
        assert steps[0] == steps[1], "the groups' step counts differ"
        stepped_a, stepped_b = not np.array_equal(a, a0), not np.array_equal(b, b0)
        assert stepped_a == stepped_b == (steps[0] > 0)
        outcomes.add(steps[0])
    assert outcomes  # the loop above ran


def test_a_gradient_that_is_another_groups_param_is_refused():
    a, b = np.zeros(8, np.float32), np.zeros(8, np.float32)
    opt = fo.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    with pytest.raises(ValueError, match="shares memory with params"):
        opt.step([[b], [np.ones(8, np.float32)]])
    assert not a.any() and not b.any()
    opt2 = fo.Adam([{"params": [a]}, {"params": [b]}], lr=0.1)
    opt2.step([[np.ones(8, np.float32)], [np.ones(8, np.float32)]])
    exp_avg_of_b = opt2.state[1]["exp_avg"]
    before = exp_avg_of_b.copy()
    with pytest.raises(ValueError, match="shares memory with state 'exp_avg'"):
        opt2.step([[exp_avg_of_b], [np.ones(8, np.float32)]])
    np.testing.assert_array_equal(exp_avg_of_b, before)


def test_state_bits_cannot_change_under_live_state():
    p = np.ones(5000, np.float32)
    opt = fo.Adam([p], lr=1e-3)
    opt.step([np.ones_like(p)])
    moments = opt.state[0]["exp_avg"].copy()
    opt.param_groups[0]["state_bits"] = 8
    with pytest.raises(ValueError, match="state_bits"):
        opt.step([np.ones_like(p)])
    opt.param_groups[0]["state_bits"] = 12
    with pytest.raises(ValueError, match="invalid state_bits: 12"):
        opt.step([np.ones_like(p)])
    opt.param_groups[0]["state_bits"] = 32
    opt.step([np.ones_like(p)])  # set back: the moments were kept
    assert opt.state[0]["step"] == 2
    assert not np.array_equal(opt.state[0]["exp_avg"], moments)


def test_state_bits_may_change_before_the_first_step():
    p = np.ones(5000, np.float32)
    opt = fo.Adam([p], lr=1e-3)
    opt.param_groups[0]["state_bits"] = 8
    opt.step([np.ones_like(p)])
    assert type(opt.state[0]["exp_avg"]).__name__ == "Quantized8"


def test_8bit_state_with_16bit_params_is_refused_not_ignored():
    p = np.ones(5000, np.float16)
    with pytest.raises(ValueError, match="8-bit state needs float32 params"):
        fo.Adam([p], lr=1e-3, state_bits=8, min_8bit_size=0)
    opt = fo.Adam([p], lr=1e-3)
    opt.param_groups[0]["state_bits"] = 8
    with pytest.raises(ValueError, match="8-bit state needs float32 params"):
        opt.step([np.ones_like(p)])


def test_a_param_resized_in_place_is_refused_not_stepped():
    p = np.zeros(1000, np.float32)
    opt = fo.SGD([p], lr=0.1)
    p.resize(10**6, refcheck=False)  # moves p's memory: the optimizer must not write the old
    with pytest.raises(ValueError, match=r"params\[0\] was changed in place"):
        opt.step([np.ones(10**6, np.float32)])
    assert not p.any()


def test_one_grads_structure_for_one_group_or_many():
    a, b = np.zeros(3, np.float32), np.zeros(2, np.float32)
    one = fo.SGD([{"params": [a]}], lr=1.0)
    one.step([[np.ones(3, np.float32)]])  # one list per group, also with one group
    np.testing.assert_array_equal(a, -1.0)
    with pytest.raises(ValueError, match="one entry per group"):
        one.step([np.ones(3, np.float32), np.ones(3, np.float32)])
    two = fo.SGD([{"params": [a]}, {"params": [b]}], lr=1.0)
    two.step([[np.ones(3, np.float32)], [np.ones(2, np.float32)]])
    np.testing.assert_array_equal(b, -1.0)


@pytest.mark.parametrize("cls,kwargs", RULE_CASES, ids=RULE_IDS)
def test_nan_and_inf_give_the_same_results_on_every_isa(cls, kwargs, restore_threads):
    """What the README claims: every ISA and thread count gives the same bits for every
    non-NaN result, and NaN in the same places (a NaN's payload bits may differ)."""
    def run():
        rng = np.random.default_rng(3)
        sizes = [3, 37, 2500]  # tails, a vector body, and two threads' ranges
        params = [rng.standard_normal(n).astype(np.float32) for n in sizes]
        opt = cls(params, **kwargs)
        for step in range(3):
            grads = [rng.standard_normal(n).astype(np.float32) for n in sizes]
            for g in grads:
                g[step::7] = np.nan
                g[step + 3::11] = np.inf
                g[step + 5::13] = -np.inf
            opt.step(grads)
        # params and state (Rprop keeps NaN out of its params: sign(NaN) = 0, as in torch)
        state = [v.ravel() for e in opt.state.values() for v in e.values() if isinstance(v, np.ndarray)]
        return np.concatenate([*params, *[s.astype(np.float32) for s in state]])

    results = on_every_isa_and_thread_count(run)
    base = results[0][2]
    assert np.isnan(base).any()  # the case is exercised
    for isa, threads, p in results[1:]:
        nan = np.isnan(p)
        np.testing.assert_array_equal(nan, np.isnan(base), err_msg=f"{isa}, {threads} threads")
        assert p[~nan].tobytes() == base[~nan].tobytes(), f"{isa}, {threads} threads"


def _interrupted_after_the_call(monkeypatch, name):
    """_core.<name> runs, then a SIGINT arrives (before the Python after it: copies back, step
    counts, averages)."""
    import os
    import signal

    real = getattr(_core, name)

    def call(*a, **kw):
        out = real(*a, **kw)
        os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(_core, name, call)


def test_ctrl_c_after_the_kernels_waits_for_the_averages_of_weights(monkeypatch):
    """The NumPy API with ema_decay: the average is part of the step; a Ctrl-C arriving after the
    C++ call is raised once it is updated."""
    rng = np.random.default_rng(0)
    init, grad = rng.standard_normal(50).astype(np.float32), rng.standard_normal(50).astype(np.float32)
    plain = init.copy()
    ref = fo.Adam([plain], lr=0.1, ema_decay=0.9)
    ref.step([grad])
    p = init.copy()
    opt = fo.Adam([p], lr=0.1, ema_decay=0.9)
    _interrupted_after_the_call(monkeypatch, "step_plans")
    with pytest.raises(KeyboardInterrupt):
        opt.step([grad])
    assert p.tobytes() == plain.tobytes()
    assert opt.state[0]["ema_steps"] == 1 and opt.state[0]["ema"].tobytes() == ref.state[0]["ema"].tobytes()


def test_ctrl_c_after_the_kernels_waits_for_copies_and_int_step_counts(monkeypatch):
    """fastoptim.torch: a param with gaps (stepped through a copy) and SparseAdam's int step are
    written back before a Ctrl-C arriving after the C++ call is raised."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    import fastoptim.torch as fot

    base = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))
    grad = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))

    def run(interrupt: bool):
        gapped = torch.nn.Parameter(base.clone()[::2, ::2])
        table = torch.nn.Parameter(base.clone())
        opts = [fot.Adam([gapped], lr=0.1), fot.SparseAdam([table], lr=0.1)]
        gapped.grad = grad.clone()
        table.grad = torch.sparse_coo_tensor(torch.tensor([[1, 5]]), torch.ones(2, 6), (8, 6))
        if interrupt:
            _interrupted_after_the_call(monkeypatch, "step_plans")
        for o in opts:
            if interrupt:
                with pytest.raises(KeyboardInterrupt):
                    o.step()
            else:
                o.step()
        monkeypatch.undo()
        return gapped.detach().clone(), table.detach().clone(), opts[1].state[table]["step"]

    g0, t0, s0 = run(False)
    g1, t1, s1 = run(True)
    assert not torch.equal(g0, base[::2, ::2])
    assert torch.equal(g1, g0) and torch.equal(t1, t0) and s1 == s0 == 1


@pytest.mark.parametrize("cls_name", ["Adam", "Adafactor", "Lamb"])
def test_torch_grad_not_matching_its_param_is_refused_by_name(cls_name):
    # p.data replaced without its grad: the registry's classes and the whole-tensor optimizers
    # share one check, which names the param and writes nothing
    torch = pytest.importorskip("torch", reason="torch is not installed: fastoptim.torch needs it")
    import fastoptim.torch as fot

    a, b = torch.nn.Parameter(torch.ones(4, 3)), torch.nn.Parameter(torch.ones(5))
    opt = getattr(fot, cls_name)([{"params": [a]}, {"params": [b]}])
    a.grad, b.grad = torch.ones(4, 3), torch.ones(5)
    b.data = torch.ones(6)  # its grad keeps the old shape
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['params'\]\[0\]: its \.grad .* does not match it"):
        opt.step()
    assert torch.equal(a, torch.ones(4, 3)) and torch.equal(b, torch.ones(6))
