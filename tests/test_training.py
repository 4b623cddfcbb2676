"""fit(): convergence, every optimizer learns, determinism, schedules, callbacks, divergence."""

import numpy as np
import pytest

import fastoptim as fo
from fastoptim.models import LinearRegression, LogisticRegression, SoftmaxRegression


def regression_data(n=200, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.5 + 0.1 * rng.standard_normal(n)
    return X, y


def test_full_batch_gd_converges_to_least_squares():
    X, y = regression_data()
    model = LinearRegression(5, dtype=np.float64)
    opt = fo.SGD(model.params, lr=0.5)
    fo.fit(model, opt, X, y, epochs=300, batch_size=None, progress=False)
    A = np.hstack([X, np.ones((len(X), 1))])
    solution = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(model.params["w"], solution[:5], atol=1e-8)
    np.testing.assert_allclose(model.params["b"][0], solution[5], atol=1e-8)


def separable(n=200, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return X, y


@pytest.mark.parametrize("make", [
    lambda p: fo.SGD(p, lr=0.5), lambda p: fo.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: fo.Adagrad(p, lr=0.5), lambda p: fo.RMSprop(p, lr=0.01), lambda p: fo.Adam(p, lr=0.05),
    lambda p: fo.AdamW(p, lr=0.05),
], ids=["sgd", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
@pytest.mark.parametrize("batch_size", [None, 1, 16])
def test_every_optimizer_learns_a_separable_problem(make, batch_size):
    X, y = separable()
    model = LogisticRegression(2)
    before = model.loss(X, y)
    epochs = 100 if batch_size is None else 15  # full batch: one step per epoch
    hist = fo.fit(model, make(model.params), X, y, epochs=epochs, batch_size=batch_size, progress=False)
    assert hist.train_loss[-1] < 0.5 * before
    assert model.score(X, y) >= 0.95


def test_same_seed_same_history():
    X, y = separable()
    runs = []
    for _ in range(2):
        model = SoftmaxRegression(2, 2, seed=4)
        hist = fo.fit(model, fo.Adam(model.params, lr=0.01), X, y, epochs=4, batch_size=8, seed=9,
                      validation=(X[:50], y[:50]), progress=False)
        runs.append((hist.train_loss, hist.val_loss, hist.val_metric, model.params.data.tobytes()))
    assert runs[0] == runs[1]
    model = SoftmaxRegression(2, 2, seed=4)
    other = fo.fit(model, fo.Adam(model.params, lr=0.01), X, y, epochs=4, batch_size=8, seed=10, progress=False)
    assert other.train_loss != runs[0][0]


def test_history_records_times_and_lr():
    X, y = separable()
    model = LogisticRegression(2)
    hist = fo.fit(model, fo.SGD(model.params, lr=0.1), X, y, epochs=3, batch_size=50, progress=False,
                  schedule=fo.schedules.StepDecay(step_size=4, gamma=0.5))
    assert hist.steps == 12
    assert len(hist.train_loss) == len(hist.grad_time) == len(hist.step_time) == 3
    assert all(t > 0 for t in hist.step_time) and 0 < hist.optimizer_share < 1
    assert hist.lr == [0.1, 0.05, 0.025]  # lr of the last step of each epoch: steps 3, 7, 11


def test_early_stopping_and_callbacks():
    X, y = separable()
    model = LogisticRegression(2)
    seen = []
    hist = fo.fit(model, fo.SGD(model.params, lr=1e-9), X, y, epochs=50, batch_size=None, progress=False,
                  callbacks=[fo.EarlyStopping("train_loss", patience=3, min_delta=1e-3),
                             lambda e, logs: seen.append(e)])
    # epoch 0 sets the best; epochs 1, 2, 3 do not improve by 1e-3: stop after epoch 3
    assert hist.stopped_early and len(hist.train_loss) == 4 and seen == [0, 1, 2, 3]


def test_divergence_stops_training():
    X, y = regression_data()
    model = LinearRegression(5)
    with np.errstate(all="ignore"):
        hist = fo.fit(model, fo.SGD(model.params, lr=100.0), X, y, epochs=50, batch_size=None, progress=False)
    assert hist.diverged and len(hist.train_loss) < 50


def test_fit_passes_step_options():
    X, y = regression_data()
    model = LinearRegression(5)
    opt = fo.SGD(model.params, lr=0.1)
    fo.fit(model, opt, X, y, epochs=1, batch_size=None, progress=False, max_grad_norm=0.01)
    assert opt.last_step.grad_norm is not None and opt.last_step.grad_norm > 0.01


def test_fit_refuses_an_optimizer_over_another_models_params():
    X, y = separable()
    model, other = LogisticRegression(2, seed=1), LogisticRegression(2, seed=2)
    before = model.params.data.copy()
    with pytest.raises(ValueError, match="optimizer: it steps none of this model's parameters"):
        fo.fit(model, fo.SGD(other.params, lr=0.1), X, y, epochs=1, progress=False)
    extra = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"optimizer: params \[1\] are not this model's"):
        fo.fit(model, fo.SGD([{"params": model.params}, {"params": [extra]}], lr=0.1), X, y, epochs=1,
               progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        fo.fit(model, object(), X, y, epochs=1, progress=False)
    np.testing.assert_array_equal(model.params.data, before)


@pytest.mark.parametrize("change, match", [
    (dict(X=np.zeros((200, 3), np.float32)), r"^X: .*2 features.*\(200, 3\)"),
    (dict(X=np.zeros(200, np.float32)), r"^X: "),
    (dict(y=np.full(200, 2)), r"^y: .*labels in \{0, 1\}"),
    (dict(y=np.zeros(199, np.int64)), r"^y: expected 200 labels"),
    (dict(validation=(np.zeros((5, 4), np.float32), np.zeros(5, np.int64))), r"^validation\[0\]"),
    (dict(validation=(np.zeros((5, 2), np.float32), np.zeros(4, np.int64))), r"^validation\[1\]"),
    (dict(validation=np.zeros((5, 2))), r"^validation: expected a pair"),
])
def test_fit_checks_data_against_the_model_naming_the_argument(change, match):
    X, y = separable()
    model = LogisticRegression(2)
    before = model.params.data.copy()
    kw = dict(X=X, y=y, validation=None) | change
    with pytest.raises(ValueError, match=match):
        fo.fit(model, fo.SGD(model.params, lr=0.1), kw["X"], kw["y"], validation=kw["validation"], epochs=1,
               progress=False)
    np.testing.assert_array_equal(model.params.data, before)


def test_mlp_checks_its_input_width():
    model = fo.models.MLP(4, [3], 2)
    with pytest.raises(ValueError, match=r"X: expected a 2-D array \(examples, 4 features\), got shape \(6, 5\)"):
        model.loss(np.zeros((6, 5), np.float32), np.zeros(6, np.int64))


def test_callbacks_that_need_validation_say_so_before_training():
    X, y = separable()
    model = LogisticRegression(2)
    with pytest.raises(ValueError, match=r"callbacks\[1\] \(EarlyStopping\(monitor='val_loss'.*validation="):
        fo.fit(model, fo.SGD(model.params, lr=0.1), X, y, epochs=3, progress=False,
               callbacks=[lambda e, logs: None, fo.EarlyStopping(patience=2)])
    assert fo.EarlyStopping().requires_validation and not fo.EarlyStopping("train_loss").requires_validation
    hist = fo.fit(model, fo.SGD(model.params, lr=0.1), X, y, epochs=2, progress=False,
                  validation=(X[:50], y[:50]), callbacks=[fo.EarlyStopping(patience=2)])
    assert len(hist.val_loss) == 2


@pytest.mark.parametrize("kw, match", [(dict(monitor="val_acc"), "monitor"), (dict(patience=0), "patience"),
                                       (dict(min_delta=-1.0), "min_delta")])
def test_early_stopping_checks_its_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        fo.EarlyStopping(**kw)


def test_lr_sweep_checks_its_rates():
    with pytest.raises(ValueError, match="lrs"):
        fo.lr_sweep(lambda: LogisticRegression(2), lambda m, lr: fo.SGD(m.params, lr=lr), *separable(), [0.1, -1])


def test_schedule_free_is_evaluated_and_left_at_its_average():
    """fit switches schedule-free AdamW to eval() before computing losses, so that they are of x
    (the average it returns), back to train() for the steps, and leaves the model at x."""
    X, y = regression_data()
    model = LinearRegression(5, dtype=np.float64)
    opt = fo.AdamWScheduleFree(model.params, lr=0.05, warmup_steps=5)
    hist = fo.fit(model, opt, X, y, epochs=3, batch_size=16, progress=False)
    assert not opt.param_groups[0]["train_mode"]
    assert hist.train_loss[-1] == model.loss(X, y)  # the loss of the params as left: x
    at_x = [model.params[k].copy() for k in model.params]
    opt.train()  # y, the point the steps are taken from, differs from x
    assert any(not np.array_equal(model.params[k], a) for k, a in zip(model.params, at_x))
    opt.eval()
    hist2 = fo.fit(model, opt, X, y, epochs=2, batch_size=16, progress=False)  # resumes: train() first
    assert hist2.train_loss[-1] < hist.train_loss[0]
