"""Bad input: a clear error that names the argument, and no state changed by a failed call."""

import numpy as np
import pytest

import bncourse as bn

X = np.arange(12, dtype=np.float64).reshape(4, 3)
ONES, ZEROS = np.ones(3), np.zeros(3)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"x": np.arange(12).reshape(4, 3)}, TypeError, r"x must be a floating-point array .* got dtype int64"),
        ({"x": np.array([[1.0], [None]], dtype=object)}, TypeError, r"x must be a floating-point array .* object"),
        ({"x": X.astype(np.complex128)}, TypeError, r"x must be a floating-point array"),
        ({"x": np.array([1.0, 2.0])}, ValueError, r"x must have at least 2 dimensions .* shape \(2,\)"),
        ({"x": np.where(X > 5, np.nan, X)}, ValueError, r"x must contain only finite values, found 6 NaN"),
        ({"x": np.where(X > 10, np.inf, X)}, ValueError, r"x must contain only finite values"),
        ({"gamma": np.ones(4)}, ValueError, r"gamma must have shape \(3,\), one value per channel, got shape \(4,\)"),
        ({"beta": np.zeros((3, 1))}, ValueError, r"beta must have shape \(3,\)"),
        ({"gamma": np.ones(3, dtype=int)}, TypeError, r"gamma must be a floating-point array"),
        ({"axis": 2}, ValueError, r"axis must be in \[-2, 1\] for an input with ndim=2, got 2"),
        ({"axis": -3}, ValueError, r"axis must be in \[-2, 1\]"),
        ({"axis": 0}, ValueError, r"axis must not be the batch axis 0"),
        ({"axis": 1.0}, TypeError, r"axis must be an int, got float"),
        ({"axis": True}, TypeError, r"axis must be an int, got bool"),
        ({"eps": 0.0}, ValueError, r"eps must be a finite number > 0, got 0.0"),
        ({"eps": -1e-5}, ValueError, r"eps must be a finite number > 0"),
        ({"eps": float("nan")}, ValueError, r"eps must be a finite number > 0"),
        ({"eps": "1e-5"}, TypeError, r"eps must be a real number, got str"),
        ({"x": X[:1]}, ValueError, r"Expected more than 1 value per channel when training, got input of shape \(1, 3\)"),
        ({"mean": ZEROS}, ValueError, r"mean and var must be given together"),
        ({"mean": ZEROS, "var": -ONES}, ValueError, r"var must be >= 0"),
        ({"mean": np.zeros(2), "var": ONES}, ValueError, r"mean must have shape \(3,\)"),
        ({"mean": ZEROS, "var": np.array([1.0, np.inf, 1.0])}, ValueError, r"var must contain only finite values"),
    ],
)
def test_batch_norm_refuses_bad_input(kwargs: dict, error: type, message: str) -> None:
    args = {"x": X, "gamma": ONES, "beta": ZEROS, **kwargs}
    with pytest.raises(error, match=message):
        bn.batch_norm(args.pop("x"), args.pop("gamma"), args.pop("beta"), **args)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"dy": np.ones((4, 2))}, ValueError, r"dy must have the shape of x, \(4, 3\), got \(4, 2\)"),
        ({"dy": np.full((4, 3), np.nan)}, ValueError, r"dy must contain only finite values"),
        ({"dy": np.ones((4, 3), dtype=np.int32)}, TypeError, r"dy must be a floating-point array"),
        ({"x": X[:1], "dy": np.ones((1, 3))}, ValueError, r"Expected more than 1 value per channel"),
        ({"gamma": ONES[:2]}, ValueError, r"gamma must have shape \(3,\)"),
        ({"eps": 0}, ValueError, r"eps must be a finite number > 0"),
    ],
)
def test_batch_norm_backward_refuses_bad_input(kwargs: dict, error: type, message: str) -> None:
    args = {"dy": np.ones((4, 3)), "x": X, "gamma": ONES, **kwargs}
    with pytest.raises(error, match=message):
        bn.batch_norm_backward(args.pop("dy"), args.pop("x"), args.pop("gamma"), **args)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"momentum": 1.5}, ValueError, r"momentum must be in \[0, 1\], got 1.5"),
        ({"momentum": -0.1}, ValueError, r"momentum must be in \[0, 1\]"),
        ({"momentum": "0.1"}, TypeError, r"momentum must be a real number in \[0, 1\], got str"),
        ({"momentum": None, "convention": "keras"}, ValueError, r"momentum=None .* only with convention='torch'"),
        ({"eps": 0.0}, ValueError, r"eps must be a finite number > 0"),
        ({"convention": "tf"}, ValueError, r"convention must be 'torch' or 'keras' \(or a Convention\), got 'tf'"),
        ({"axis": 0}, ValueError, r"axis must not be the batch axis 0"),
        ({"axis": "1"}, TypeError, r"axis must be an int"),
        ({"dtype": np.int32}, TypeError, r"dtype must be a floating-point dtype, got int32"),
    ],
)
def test_layer_constructor_refuses_bad_arguments(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        bn.BatchNorm(3, **kwargs)


@pytest.mark.parametrize(
    ("num_features", "error", "message"),
    [
        (0, ValueError, "num_features must be an int >= 1, got 0"),
        (-2, ValueError, "num_features must be an int >= 1, got -2"),
        (2.0, TypeError, "num_features must be an int, got float"),
        (True, TypeError, "num_features must be an int, got bool"),
    ],
)
def test_layer_needs_a_positive_int_number_of_features(num_features: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        bn.BatchNorm(num_features)  # type: ignore[arg-type]


def trained_layer() -> bn.BatchNorm:
    layer = bn.BatchNorm(3)
    layer(np.random.default_rng(0).standard_normal((8, 3)), training=True)
    return layer


def assert_same_state(before: dict, layer: bn.BatchNorm) -> None:
    after = layer.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


@pytest.mark.parametrize(
    ("x", "training", "error", "message"),
    [
        (X[:1], True, ValueError, r"Expected more than 1 value per channel when training"),
        (np.ones((4, 5)), True, ValueError, r"x must have num_features=3 channels along axis 1, got shape \(4, 5\)"),
        (np.ones((4, 5)), False, ValueError, r"num_features=3"),
        (np.where(X > 5, np.nan, X), True, ValueError, r"x must contain only finite values"),
        (X.astype(int), True, TypeError, r"x must be a floating-point array"),
        (X, "yes", TypeError, r"training must be True or False, got 'yes'"),
        (np.ones(3), True, ValueError, r"x must have at least 2 dimensions"),
    ],
)
def test_failed_layer_call_changes_no_state(x: np.ndarray, training: object, error: type, message: str) -> None:
    layer = trained_layer()
    before = layer.state_dict()
    with pytest.raises(error, match=message):
        layer(x, training=training)  # type: ignore[arg-type]
    assert_same_state(before, layer)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"running_var": -np.ones(3)}, ValueError, r"running_var must be >= 0"),
        ({"running_mean": np.zeros(4)}, ValueError, r"running_mean must have shape \(3,\)"),
        ({"gamma": np.array([1.0, np.nan, 1.0])}, ValueError, r"gamma must contain only finite values"),
        ({"num_batches_tracked": -1}, ValueError, r"num_batches_tracked must be an int >= 0"),
        ({"extra": 1}, ValueError, r"unexpected keys \['extra'\]"),
    ],
)
def test_failed_load_state_dict_changes_no_state(change: dict, error: type, message: str) -> None:
    layer = trained_layer()
    before = layer.state_dict()
    with pytest.raises(error, match=message):
        layer.load_state_dict({**before, **change})
    assert_same_state(before, layer)


def test_load_state_dict_needs_every_key_and_a_dict() -> None:
    layer = trained_layer()
    state = layer.state_dict()
    del state["beta"]
    with pytest.raises(ValueError, match=r"missing keys \['beta'\]"):
        layer.load_state_dict(state)
    with pytest.raises(TypeError, match="state must be a dict, got list"):
        layer.load_state_dict([])  # type: ignore[arg-type]


def test_state_dict_round_trip_and_copies() -> None:
    layer = trained_layer()
    state = layer.state_dict()
    state["running_mean"][:] = 99.0  # a copy: the layer is not changed through it
    assert not np.any(layer.running_mean == 99.0)
    fresh = bn.BatchNorm(3)
    fresh.load_state_dict(layer.state_dict())
    assert_same_state(layer.state_dict(), fresh)
    assert "BatchNorm(3, eps=1e-05, momentum=0.1, convention='torch', axis=1)" == repr(fresh)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("gamma", np.ones(2), r"gamma must have shape \(3,\), one value per channel, got shape \(2,\)"),
        ("beta", np.zeros((3, 1)), r"beta must have shape \(3,\)"),
        ("gamma", np.array([1.0, np.nan, 1.0]), r"gamma must contain only finite values"),
        ("running_mean", np.zeros(4), r"running_mean must have shape \(3,\), one value per channel, got shape \(4,\)"),
    ],
)
def test_a_replaced_parameter_gets_the_same_clear_error_in_training_and_inference(
    training: bool, attribute: str, value: np.ndarray, message: str
) -> None:
    layer = trained_layer()
    setattr(layer, attribute, value)
    before = {k: v for k, v in layer.state_dict().items() if k != attribute}
    with pytest.raises(ValueError, match=message):
        layer(X, training=training)
    after = layer.state_dict()
    for key, expected in before.items():
        np.testing.assert_array_equal(after[key], expected)


def test_inference_refuses_a_negative_running_variance() -> None:
    layer = trained_layer()
    layer.running_var = -np.ones(3)
    with pytest.raises(ValueError, match="running_var must be >= 0"):
        layer(X, training=False)


def test_layer_backward_needs_a_training_call_and_the_right_shape() -> None:
    layer = bn.BatchNorm(3)
    with pytest.raises(RuntimeError, match="backward\\(\\) needs a previous call with training=True"):
        layer.backward(np.ones((4, 3)))
    layer(X, training=True)
    with pytest.raises(ValueError, match=r"dy must have the shape of the last training input, \(4, 3\), got \(4, 2\)"):
        layer.backward(np.ones((4, 2)))


def test_non_float_running_statistics_are_refused_before_anything_changes() -> None:
    layer = trained_layer()
    value = np.zeros(3, dtype=int)
    layer.running_mean = value
    count = layer.num_batches_tracked
    with pytest.raises(TypeError, match="running_mean must be a floating-point array"):
        layer(X, training=True)
    assert layer.num_batches_tracked == count and layer.running_mean is value
    layer.running_mean = [0.0, 0.0, 0.0]  # type: ignore[assignment]  # floats in a list are fine
    layer(X, training=True)
    assert layer.num_batches_tracked == count + 1 and layer.running_mean.dtype == np.float64


def test_a_failed_training_call_keeps_the_last_forward_for_backward() -> None:
    layer = trained_layer()
    expected = layer.backward(np.ones((8, 3)) * np.arange(8)[:, None])
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        layer(X[:1], training=True)
    received = layer.backward(np.ones((8, 3)) * np.arange(8)[:, None])
    for a, b in zip(received, expected):
        np.testing.assert_array_equal(a, b)


def test_recalibrate_needs_a_callable_forward_and_changes_nothing_otherwise() -> None:
    layer = trained_layer()
    before = layer.state_dict()
    with pytest.raises(TypeError, match="forward must be callable"):
        bn.recalibrate([layer], [X], None)  # type: ignore[arg-type]
    assert_same_state(before, layer)


Y = np.random.default_rng(0).standard_normal((2, 4, 3))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: bn.group_norm(Y, 3), ValueError, r"num_groups must divide the number of channels 4, got num_groups=3"),
        (lambda: bn.group_norm(Y, 0), ValueError, r"num_groups must be an int >= 1, got 0"),
        (lambda: bn.group_norm(Y, 2.0), TypeError, r"num_groups must be an int, got float"),
        (lambda: bn.group_norm(Y, 2, np.ones(3)), ValueError, r"gamma must have shape \(4,\), got \(3,\)"),
        (lambda: bn.layer_norm(Y, (4, 2)), ValueError, r"normalized_shape must match the trailing dimensions of x, got normalized_shape=\(4, 2\) for x of shape \(2, 4, 3\)"),
        (lambda: bn.layer_norm(Y, "3"), TypeError, r"normalized_shape must be an int or a non-empty tuple of ints"),
        (lambda: bn.layer_norm(Y, (0,)), ValueError, r"normalized_shape\[0\] must be an int >= 1"),
        (lambda: bn.layer_norm(Y, 3, beta=np.zeros(4)), ValueError, r"beta must have shape \(3,\), got \(4,\)"),
        (lambda: bn.layer_norm_backward(np.ones((2, 4)), Y, 3), ValueError, r"dy must have the shape of x, \(2, 4, 3\), got \(2, 4\)"),
        (lambda: bn.instance_norm(Y[:, :, :1]), ValueError, r"Expected more than 1 spatial element per channel"),
        (lambda: bn.instance_norm(Y.astype(int)), TypeError, r"x must be a floating-point array"),
        (lambda: bn.group_norm(Y, 2, eps=0.0), ValueError, r"eps must be a finite number > 0"),
    ],
)
def test_per_sample_norms_refuse_bad_input(call, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    ("mask", "training", "error", "message"),
    [
        (np.ones((2, 3)), True, TypeError, r"mask must be a boolean array, got dtype float64"),
        (np.ones((2, 4), dtype=bool), True, ValueError, r"mask must have shape \(2, 3\) \(x's shape without the channel axis\), got \(2, 4\)"),
        (np.eye(2, 3, dtype=bool) & False, True, ValueError, r"mask must be True at more than 1 position when training .* got 0"),
        (np.eye(2, 3, dtype=bool)[:1].repeat(2, 0) & np.array([[True], [False]]), True, ValueError, r"got 1"),
    ],
)
def test_a_bad_mask_is_refused_and_changes_nothing(mask, training: bool, error: type, message: str) -> None:
    layer = bn.BatchNorm(4)
    layer(Y, training=True)
    before = layer.state_dict()
    with pytest.raises(error, match=message):
        layer(Y, training=training, mask=mask)
    assert_same_state(before, layer)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"r_max": 0.5}, ValueError, r"r_max must be >= 1, got 0.5"),
        ({"d_max": -1.0}, ValueError, r"d_max must be a finite number >= 0"),
        ({"momentum": 2.0}, ValueError, r"momentum must be in \[0, 1\]"),
        ({"axis": 0}, ValueError, r"axis must not be the batch axis 0"),
    ],
)
def test_batch_renorm_refuses_bad_arguments(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        bn.BatchRenorm(3, **kwargs)


def test_batch_renorm_failed_call_changes_nothing() -> None:
    layer = bn.BatchRenorm(3)
    layer(X, training=True)
    mean, std, count = layer.running_mean.copy(), layer.running_std.copy(), layer.num_batches_tracked
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        layer(X[:1], training=True)
    np.testing.assert_array_equal(layer.running_mean, mean)
    np.testing.assert_array_equal(layer.running_std, std)
    assert layer.num_batches_tracked == count
    with pytest.raises(RuntimeError, match="backward"):
        bn.BatchRenorm(3).backward(X)


def test_layer_classes_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"num_groups must divide num_channels=6, got num_groups=4"):
        bn.GroupNorm(4, 6)
    with pytest.raises(TypeError, match="normalized_shape must be an int or a non-empty tuple"):
        bn.LayerNorm([])
    with pytest.raises(RuntimeError, match="backward\\(\\) needs a previous call"):
        bn.LayerNorm(3).backward(np.ones((2, 3)))
    with pytest.raises(TypeError, match="schedule must be callable"):
        bn.BatchRenorm(3, schedule=5)  # type: ignore[arg-type]


def test_batch_renorm_refuses_a_bad_schedule_or_running_std_and_changes_nothing() -> None:
    for schedule, error, message in [
        (lambda step: (3.0, -1.0), ValueError, r"d_max must be a finite number >= 0"),
        (lambda step: 2.0, TypeError, r"schedule must return a pair \(r_max, d_max\), got 2.0"),
        (lambda step: (0.5, 1.0), ValueError, r"r_max must be >= 1, got 0.5"),
    ]:
        layer = bn.BatchRenorm(3, r_max=2.0, d_max=1.0, schedule=schedule)
        with pytest.raises(error, match=message):
            layer(X, training=True)
        assert (layer.r_max, layer.d_max, layer.num_batches_tracked) == (2.0, 1.0, 0)
    layer = bn.BatchRenorm(3)
    layer.running_std = np.array([1.0, 0.0, 1.0])
    for training in (True, False):
        with pytest.raises(ValueError, match=r"running_std must be > 0"):
            layer(X, training=training)
    with pytest.raises(ValueError, match=r"r_max must be >= 1"):
        bn.renorm_limits(10, r_max=0.5)
    with pytest.raises(ValueError, match=r"d_max must be a finite number >= 0"):
        bn.renorm_limits(10, d_max=-1.0)


def test_group_norm_layer_names_the_channel_count_of_x() -> None:
    with pytest.raises(ValueError, match=r"x must have num_channels=4 channels along axis 1, got shape \(2, 6, 3\)"):
        bn.GroupNorm(2, 4)(np.zeros((2, 6, 3)))
