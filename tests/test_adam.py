"""Adam and AdamW against the float64 reference: every option, float32 and float64, every ISA."""

import numpy as np
import pytest
from conftest import SHAPES
from reference import assert_matches_reference
from reference.adam import Reference as AdamRef

import fastoptim as fo


def AdamWRef(p, weight_decay=1e-2, **kw):
    return AdamRef(p, weight_decay=weight_decay, decoupled_weight_decay=True, **kw)

CASES = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, betas=(0.3, 0.9)),  # lerp weight 1 - beta1 >= 0.5: torch's other branch
    dict(lr=0.01, betas=(0.0, 0.0)),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True),
    dict(lr=0.01, maximize=True),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", CASES, ids=str)
def test_adam_matches_reference(kwargs, dtype, rng, isa):
    assert_matches_reference(fo.Adam, AdamRef, kwargs, dtype, rng, SHAPES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", CASES + [dict(lr=0.01, weight_decay=0.0)], ids=str)
def test_adamw_matches_reference(kwargs, dtype, rng, isa):
    assert_matches_reference(fo.AdamW, AdamWRef, kwargs, dtype, rng, SHAPES)


def test_adamw_default_weight_decay():
    assert fo.AdamW([np.zeros(2, np.float32)]).defaults["weight_decay"] == 1e-2
    assert fo.Adam([np.zeros(2, np.float32)]).defaults["weight_decay"] == 0.0


@pytest.mark.parametrize("betas", [(1.0, 0.999), (0.9, 1.0), (-0.1, 0.9), (0.9, float("nan"))])
def test_bad_betas(betas):
    with pytest.raises(ValueError, match=r"betas\[[01]\]"):
        fo.Adam([np.zeros(2, np.float32)], betas=betas)
