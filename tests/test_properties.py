"""Property-based checks (hypothesis): random sizes, hyperparameters and gradient scales, each
optimizer against its float64 reference. Derandomized: CI runs the same examples every time
(drop derandomize locally to explore others)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import MODULES, reference_for
from reference.adagrad import Reference as AdagradRef
from reference.adam import Reference as AdamRef
from reference.rmsprop import Reference as RmspropRef
from reference.sgd import Reference as SgdRef

import fastoptim as fo

sizes = st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=4).filter(lambda s: sum(s) > 0)
unit = st.floats(min_value=0.0, max_value=0.99)
scale = st.floats(min_value=1e-3, max_value=1e3)


def run(cls, ref_cls, kwargs, shapes, gscale, seed, steps=10):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(n).astype(np.float64) for n in shapes]
    refs = [ref_cls(p, **kwargs) for p in params]
    opt = cls(params, **kwargs)
    for _ in range(steps):
        grads = [rng.standard_normal(n) * gscale for n in shapes]
        opt.step(grads)
        for r, g in zip(refs, grads):
            r.step(g)
    for p, r in zip(params, refs):
        np.testing.assert_allclose(p, r.p, rtol=1e-9, atol=1e-12 * (1 + kwargs["lr"]))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(shapes=sizes, lr=st.floats(1e-4, 1.0), b1=unit, b2=unit, wd=st.floats(0, 0.1), amsgrad=st.booleans(),
       gscale=scale, seed=st.integers(0, 2**31))
def test_adam_any_hyperparameters(shapes, lr, b1, b2, wd, amsgrad, gscale, seed):
    run(fo.Adam, AdamRef, dict(lr=lr, betas=(b1, b2), weight_decay=wd, amsgrad=amsgrad, eps=1e-6), shapes,
        gscale, seed)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(shapes=sizes, lr=st.floats(1e-4, 0.1), mu=unit, damp=unit, nesterov=st.booleans(), gscale=scale,
       seed=st.integers(0, 2**31))
def test_sgd_any_hyperparameters(shapes, lr, mu, damp, nesterov, gscale, seed):
    if nesterov and (mu == 0 or damp != 0):
        damp, mu = 0.0, max(mu, 0.1)
    run(fo.SGD, SgdRef, dict(lr=lr, momentum=mu, dampening=damp, nesterov=nesterov), shapes, gscale, seed)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(shapes=sizes, lr=st.floats(1e-4, 0.1), alpha=unit, mu=unit, centered=st.booleans(), gscale=scale,
       seed=st.integers(0, 2**31))
def test_rmsprop_any_hyperparameters(shapes, lr, alpha, mu, centered, gscale, seed):
    run(fo.RMSprop, RmspropRef, dict(lr=lr, alpha=alpha, momentum=mu, centered=centered, eps=1e-6), shapes,
        gscale, seed)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(shapes=sizes, lr=st.floats(1e-4, 0.1), lr_decay=st.floats(0, 0.1), init=st.floats(0, 1), gscale=scale,
       seed=st.integers(0, 2**31))
def test_adagrad_any_hyperparameters(shapes, lr, lr_decay, init, gscale, seed):
    run(fo.Adagrad, AdagradRef, dict(lr=lr, lr_decay=lr_decay, initial_accumulator_value=init, eps=1e-6), shapes,
        gscale, seed)


def test_reference_tolerance_can_fail():
    """The property checks above would notice a wrong formula: a 1 % error in lr is caught."""
    with pytest.raises(AssertionError):
        rng = np.random.default_rng(0)
        p = rng.standard_normal(10)
        ref = AdamRef(p.copy(), lr=0.01)
        opt = fo.Adam([p], lr=0.0101)
        g = rng.standard_normal(10)
        opt.step([g])
        ref.step(g)
        np.testing.assert_allclose(p, ref.p, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("rule", sorted(MODULES))
@settings(max_examples=12, deadline=None, derandomize=True)
@given(shapes=sizes, config_seed=st.integers(0, 2**32 - 1), gscale=scale, seed=st.integers(0, 2**16))
def test_every_rule_on_random_configurations_matches_its_reference(rule, shapes, config_seed, gscale, seed):
    """Every registered rule (a new one included without editing this file): random sizes,
    a random configuration from its reference module's ``random_case``, random gradient scales,
    float64 against the float64 reference."""
    cls_name, kwargs = MODULES[rule].random_case(np.random.default_rng(config_seed))
    run_class(cls_name, kwargs, shapes, gscale, seed)


def run_class(cls_name, kwargs, shapes, gscale, seed, steps=8):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(n).astype(np.float64) for n in shapes]
    refs = [reference_for(cls_name, p, kwargs) for p in params]
    opt = getattr(fo, cls_name)(params, **kwargs)
    for _ in range(steps):
        grads = [rng.standard_normal(n) * gscale for n in shapes]
        opt.step(grads)
        for r, g in zip(refs, grads):
            r.step(g)
    for p, r in zip(params, refs):
        np.testing.assert_allclose(p, r.p, rtol=1e-8, atol=1e-11 * (1 + kwargs["lr"]))
