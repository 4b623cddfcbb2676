"""Learning-rate schedules, the scheduler, and the learning-rate sweep."""

import math

import numpy as np
import pytest

import fastoptim as fo
from fastoptim.schedules import Constant, CosineWithWarmup, Exponential, LRScheduler, StepDecay
from fastoptim.training import lr_sweep


def test_factors():
    assert [Constant()(t) for t in range(3)] == [1.0, 1.0, 1.0]
    assert [StepDecay(2, 0.5)(t) for t in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert Exponential(0.9)(2) == pytest.approx(0.81)
    c = CosineWithWarmup(total_steps=10, warmup_steps=2, min_factor=0.1)
    assert c(0) == 0.5 and c(1) == 1.0 and c(2) == pytest.approx(1.0)
    assert c(6) == pytest.approx(0.1 + 0.9 * 0.5)
    assert c(10) == pytest.approx(0.1) and c(100) == pytest.approx(0.1)


@pytest.mark.parametrize("make", [lambda: StepDecay(0), lambda: Exponential(-1.0),
                                  lambda: CosineWithWarmup(5, warmup_steps=6),
                                  lambda: CosineWithWarmup(5, min_factor=2)])
def test_bad_schedules(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("cls", [fo.SGD, fo.Adagrad, fo.RMSprop, fo.Adam, fo.AdamW])
def test_scheduler_sets_each_groups_lr(cls):
    a, b = np.zeros(2, np.float32), np.zeros(2, np.float32)
    opt = cls([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}])
    sched = LRScheduler(opt, Exponential(0.5))
    sched.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.005]
    opt.step([[np.ones(2, np.float32)], [np.ones(2, np.float32)]])


def test_scheduler_rejects_bad_factor():
    opt = fo.SGD([np.zeros(2, np.float32)], lr=0.1)
    with pytest.raises(ValueError, match="factor"):
        LRScheduler(opt, lambda t: math.nan).step()


def test_lr_sweep_shows_slow_and_divergent_ends():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    with np.errstate(all="ignore"):
        res = lr_sweep(lambda: fo.models.LinearRegression(3, dtype=np.float64),
                       lambda m, lr: fo.SGD(m.params, lr=lr), X, y, [1e-4, 1e-1, 1e3], epochs=3, batch_size=10)
    assert res.lrs == [1e-4, 1e-1, 1e3]
    assert res.losses[1] < res.losses[0]  # too small: slow
    assert math.isinf(res.losses[2])  # too large: diverged
    assert res.best_lr == 1e-1
