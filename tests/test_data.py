"""Batches: full batch, SGD, mini-batch; coverage, seeding, drop_last, validation."""

import numpy as np
import pytest

from fastoptim.data import Batches, train_test_split


def data(n=103):
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return X, np.arange(n)


@pytest.mark.parametrize("batch_size", [1, 7, 32, 103, 500])
def test_every_example_exactly_once_per_epoch(batch_size):
    X, y = data()
    b = Batches(X, y, batch_size, seed=3)
    for _ in range(3):
        seen = np.concatenate([yb for _, yb in b])
        assert sorted(seen.tolist()) == list(range(len(y)))
        for xb, yb in b:
            np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # rows stay paired with labels
    assert len(b) == len(list(b))


def test_full_batch_is_the_data_itself():
    X, y = data()
    (xb, yb), = list(Batches(X, y, None))
    assert xb is X and yb is y


def test_shuffles_differently_each_epoch_and_reproducibly():
    X, y = data()
    b1, b2 = Batches(X, y, 10, seed=5), Batches(X, y, 10, seed=5)
    e1 = [yb.tolist() for _, yb in b1]
    e2 = [yb.tolist() for _, yb in b1]
    assert e1 != e2
    assert e1 == [yb.tolist() for _, yb in b2]
    assert [yb.tolist() for _, yb in Batches(X, y, 10, shuffle=False)][0] == list(range(10))


def test_drop_last():
    X, y = data(103)
    b = Batches(X, y, 10, drop_last=True)
    sizes = [len(yb) for _, yb in b]
    assert sizes == [10] * 10 and len(b) == 10
    assert [len(yb) for _, yb in Batches(X, y, 10)][-1] == 3


@pytest.mark.parametrize("kw,match", [
    (dict(batch_size=0), "batch_size"), (dict(batch_size=2.5), "batch_size"), (dict(batch_size=True), "batch_size"),
])
def test_bad_batch_size(kw, match):
    X, y = data()
    with pytest.raises(ValueError, match=match):
        Batches(X, y, **kw)


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="examples"):
        Batches(np.zeros((3, 2)), np.zeros(4))


def test_train_test_split_partitions():
    X, y = data(50)
    Xa, Xb, ya, yb = train_test_split(X, y, 0.2, seed=1)
    assert len(yb) == 10 and len(ya) == 40
    assert sorted(np.concatenate([ya, yb]).tolist()) == list(range(50))
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_split(X, y, 1.5)
