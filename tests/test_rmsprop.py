"""RMSprop against the float64 reference: every option, float32 and float64, every ISA."""

import numpy as np
import pytest
from conftest import SHAPES
from reference import assert_matches_reference
from reference.rmsprop import Reference as RmspropRef

import fastoptim as fo

CASES = [
    dict(lr=0.01),
    dict(lr=0.01, alpha=0.9, eps=1e-6),
    dict(lr=0.01, alpha=0.3, centered=True),  # lerp weight 1 - alpha >= 0.5: torch's other branch
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, momentum=0.9),
    dict(lr=0.01, centered=True),
    dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01),
    dict(lr=0.01, maximize=True, momentum=0.5),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", CASES, ids=str)
def test_matches_reference(kwargs, dtype, rng, isa):
    assert_matches_reference(fo.RMSprop, RmspropRef, kwargs, dtype, rng, SHAPES)


def test_state_buffers_follow_options():
    p = np.zeros(4, np.float32)
    opt = fo.RMSprop([p], centered=True, momentum=0.9)
    opt.step([np.ones(4, np.float32)])
    assert set(opt.state[0]) == {"step", "square_avg", "grad_avg", "momentum_buffer"}
    opt2 = fo.RMSprop([np.zeros(4, np.float32)])
    opt2.step([np.ones(4, np.float32)])
    assert set(opt2.state[0]) == {"step", "square_avg"}
