"""Every model's analytic gradient against central finite differences (float64)."""

import numpy as np
import pytest

from fastoptim.models import MLP, LinearRegression, LogisticRegression, SoftmaxRegression


def finite_difference_check(model, X, y, eps=1e-6, rtol=1e-5):
    model.loss_and_grad(X, y)
    analytic = model.params.grad.copy()
    data = model.params.data
    numeric = np.zeros_like(analytic)
    for name in model.params:
        view = model.params[name].reshape(-1)
        gview = np.zeros_like(data)
        offset = model.params.offsets[model.params.names.index(name)]
        for i in range(view.size):
            old = view[i]
            view[i] = old + eps
            up = model.loss(X, y)
            view[i] = old - eps
            down = model.loss(X, y)
            view[i] = old
            gview[offset + i] = (up - down) / (2 * eps)
        numeric += gview
    scale = np.max(np.abs(numeric)) + 1e-12
    assert np.max(np.abs(analytic - numeric)) <= rtol * scale + 1e-9, np.max(np.abs(analytic - numeric))
    assert scale > 1e-6, "zero gradient: the check would show nothing"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_linear_regression_gradient(rng):
    X = rng.standard_normal((20, 4))
    y = rng.standard_normal(20)
    finite_difference_check(LinearRegression(4, seed=1, dtype=np.float64), X, y)


def test_logistic_regression_gradient(rng):
    X = rng.standard_normal((20, 3))
    y = rng.integers(0, 2, 20)
    m = LogisticRegression(3, seed=1, dtype=np.float64)
    m.params["w"][...] = rng.standard_normal(3)
    finite_difference_check(m, X, y)


def test_softmax_regression_gradient(rng):
    X = rng.standard_normal((15, 4))
    y = rng.integers(0, 3, 15)
    m = SoftmaxRegression(4, 3, seed=1, dtype=np.float64)
    m.params["W"][...] = rng.standard_normal((4, 3))
    finite_difference_check(m, X, y)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("hidden", [[5], [6, 4]])
def test_mlp_gradient(rng, activation, hidden):
    X = rng.standard_normal((12, 3))
    y = rng.integers(0, 4, 12)
    m = MLP(3, hidden, 4, activation=activation, seed=2, dtype=np.float64)
    m.params.data[...] += 0.1 * rng.standard_normal(m.params.data.size)  # non-zero biases too
    finite_difference_check(m, X, y)


def test_initialization_is_seeded():
    a, b, c = (MLP(5, [7], 3, seed=s) for s in (1, 1, 2))
    assert a.params.data.tobytes() == b.params.data.tobytes()
    assert a.params.data.tobytes() != c.params.data.tobytes()


def test_bad_labels_and_inputs():
    m = SoftmaxRegression(2, 3)
    with pytest.raises(ValueError, match="labels"):
        m.loss(np.zeros((2, 2)), np.array([0, 3]))
    with pytest.raises(ValueError, match="X"):
        m.loss(np.zeros(2), np.array([0]))
    with pytest.raises(ValueError, match="activation"):
        MLP(2, [3], 2, activation="sigmoid")
    with pytest.raises(ValueError, match=r"\{0, 1\}"):
        LogisticRegression(2).loss(np.zeros((2, 2)), np.array([0, 2]))


def test_predict_and_score():
    m = SoftmaxRegression(2, 2, dtype=np.float64)
    m.params["W"][...] = [[1, -1], [0, 0]]
    X = np.array([[1.0, 0], [-1.0, 0]])
    np.testing.assert_array_equal(m.predict(X), [0, 1])
    assert m.score(X, np.array([0, 0])) == 0.5
