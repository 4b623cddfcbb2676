"""Shared fixtures: seeded data, every ISA this machine supports, thread settings restored."""

from __future__ import annotations

import numpy as np
import pytest
from reference import FIRST_CASES

import fastoptim as fo
from fastoptim import _core

DEFAULT_ISA = fo.active_isa()
SUPPORTED_ISAS = fo.supported_isas()
# One configuration per optimizer class of the rule registry, every state buffer in use
# (momentum, centered, amsgrad...): the first case of each class in tests/reference/<rule>.py.
RULE_CASES = [(getattr(fo, cls), kw) for cls, kw in FIRST_CASES]
RULE_IDS = [c.__name__ for c, _ in RULE_CASES]
# Sizes that exercise the vector body, the scalar tail and tensors smaller than one vector.
SHAPES = [(3,), (17, 5), (1000,), (1, 1), (64, 33)]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(params=SUPPORTED_ISAS)
def isa(request):
    """Runs the test once per ISA this CPU supports, with that ISA's kernels forced."""
    fo.use_isa(request.param)
    yield request.param
    fo.use_isa(DEFAULT_ISA)


@pytest.fixture
def restore_threads():
    n, m = fo.get_num_threads(), _core.get_min_elements_per_thread()
    yield
    fo.set_num_threads(n)
    _core.set_min_elements_per_thread(m)


def make_params(rng: np.random.Generator, dtype, shapes=SHAPES) -> list[np.ndarray]:
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def make_grads(rng: np.random.Generator, params: list[np.ndarray], steps: int) -> list[list[np.ndarray]]:
    return [[rng.standard_normal(p.shape).astype(p.dtype) for p in params] for _ in range(steps)]


def on_every_isa_and_thread_count(run):
    """run() under each supported ISA with 1 and with 2 threads (threads used from 1000
    elements); returns [(isa, threads, result)]. Restores the ISA; use with restore_threads."""
    results = []
    _core.set_min_elements_per_thread(1000)
    try:
        for name in SUPPORTED_ISAS:
            for threads in (1, 2):
                fo.use_isa(name)
                fo.set_num_threads(threads)
                results.append((name, threads, run()))
    finally:
        fo.use_isa(DEFAULT_ISA)
    return results
