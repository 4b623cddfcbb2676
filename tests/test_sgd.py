"""SGD against the float64 reference: every option, float32 and float64, every ISA."""

import numpy as np
import pytest
from conftest import SHAPES
from reference import assert_matches_reference
from reference.sgd import Reference as SgdRef

import fastoptim as fo

CASES = [
    dict(lr=0.05),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9, maximize=True),
    dict(lr=0.05, maximize=True, weight_decay=0.1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", CASES, ids=str)
def test_matches_reference(kwargs, dtype, rng, isa):
    assert_matches_reference(fo.SGD, SgdRef, kwargs, dtype, rng, SHAPES)


def test_first_momentum_step_copies_gradient():
    p = np.zeros(4, np.float32)
    opt = fo.SGD([p], lr=1.0, momentum=0.9, dampening=0.5)
    g = np.array([1, 2, 3, 4], np.float32)
    opt.step([g])
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], g)  # not (1 - dampening)·g
    np.testing.assert_array_equal(p, -g)


def test_nesterov_needs_momentum_and_no_dampening():
    with pytest.raises(ValueError, match="nesterov"):
        fo.SGD([np.zeros(3, np.float32)], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="nesterov"):
        fo.SGD([np.zeros(3, np.float32)], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)


def test_turning_momentum_on_later_starts_buffer_from_gradient():
    p = np.zeros(3, np.float32)
    opt = fo.SGD([p], lr=1.0)
    opt.step([np.ones(3, np.float32)])
    opt.param_groups[0]["momentum"] = 0.5
    opt.step([np.full(3, 2.0, np.float32)])
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], np.full(3, 2.0))
    np.testing.assert_array_equal(p, np.full(3, -3.0))
