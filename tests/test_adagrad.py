"""Adagrad against the float64 reference: every option, float32 and float64, every ISA."""

import numpy as np
import pytest
from conftest import SHAPES
from reference import assert_matches_reference
from reference.adagrad import Reference as AdagradRef

import fastoptim as fo

CASES = [
    dict(lr=0.05),
    dict(lr=0.05, lr_decay=0.05),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, initial_accumulator_value=0.5),
    dict(lr=0.05, eps=1e-3),
    dict(lr=0.05, maximize=True, lr_decay=0.01, weight_decay=0.01),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", CASES, ids=str)
def test_matches_reference(kwargs, dtype, rng, isa):
    assert_matches_reference(fo.Adagrad, AdagradRef, kwargs, dtype, rng, SHAPES)


def test_initial_accumulator_value_fills_state():
    opt = fo.Adagrad([np.zeros(5, np.float32)], initial_accumulator_value=0.25)
    opt.step([np.zeros(5, np.float32)])
    np.testing.assert_array_equal(opt.state[0]["sum"], np.full(5, 0.25, np.float32))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_initial_accumulator_value(bad):
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        fo.Adagrad([np.zeros(5, np.float32)], initial_accumulator_value=bad)
