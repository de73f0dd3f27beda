"""Tests for tfconv's pooling layers against Keras's `MaxPooling2D`/`AveragePooling2D`."""

from __future__ import annotations

import zlib

import keras
import numpy as np
import oracle
import pytest
import tensorflow as tf

from tfconv import layers

OURS = {"max": layers.MaxPool2D, "avg": layers.AvgPool2D}
KERAS = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}


def keras_twin(layer, dtype=None):
    """The Keras pooling layer equivalent to `layer`, as a function of the input.

    Explicit padding is applied first and then pooled "valid": zeros for the
    average (they count, as in the book) and -inf for the maximum (padded
    cells never win).
    """
    mode = layer.mode
    explicit = not isinstance(layer.padding, str)
    ref = KERAS[mode](
        layer.pool_size,
        strides=layer.strides,
        padding="valid" if explicit else layer.padding,
        dtype=dtype,
    )
    if not explicit:
        return ref
    pads = [[0, 0], list(layer.padding[0]), list(layer.padding[1]), [0, 0]]
    fill = -np.inf if mode == "max" else 0.0
    return lambda x: ref(tf.pad(x, pads, constant_values=fill))


def forward_and_input_grad(fn, x, w):
    """Output and gradient of sum(fn(x) * w) w.r.t. x."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        loss = tf.reduce_sum(tf.cast(y, "float32") * w)
    return y, tape.gradient(loss, x)


# (batch, h, w, channels, pool_size, strides, padding)
POOL_GRID = [
    (1, 3, 3, 1, 2, 1, "valid"),
    (2, 4, 4, 1, 3, None, "valid"),
    (2, 8, 8, 3, 2, None, "valid"),
    (2, 9, 9, 3, 2, None, "valid"),
    (2, 9, 9, 3, 2, None, "same"),
    (2, 9, 7, 2, 3, 2, "valid"),
    (2, 9, 7, 2, 3, 2, "same"),
    (1, 10, 11, 4, (2, 3), (1, 2), "valid"),
    (1, 10, 11, 4, (3, 2), (2, 3), "same"),
    (3, 12, 12, 1, 2, 3, "valid"),
    (3, 12, 12, 1, 2, 3, "same"),
    (1, 7, 7, 8, 7, 1, "valid"),
    (1, 7, 7, 8, 5, 1, "same"),
    (2, 32, 32, 6, 2, 2, "valid"),
    (2, 28, 28, 6, 3, 2, "same"),
    (1, 5, 5, 2, 1, 1, "valid"),
    (1, 6, 6, 2, 1, 2, "same"),
    (2, 15, 13, 3, (1, 4), (3, 1), "same"),
    (1, 2, 2, 1, 4, 1, "same"),
    # explicit padding: the book's int / (p_h, p_w), and per side
    (1, 4, 4, 1, 3, 2, 1),
    (1, 4, 4, 1, (2, 3), (2, 3), (1, 2)),
    (2, 8, 8, 3, 3, 1, 1),
    (2, 9, 10, 2, (3, 4), (2, 3), ((0, 2), (1, 3))),
    (1, 6, 6, 4, 2, 2, 1),
]

# Explicit padding the oracle understands: an int or (p_h, p_w), not per side.
SYMMETRIC_PADDING_CASES = [
    case for case in POOL_GRID if not isinstance(case[-1], str) and np.ndim(case[-1]) <= 1
]


def grid_id(case):
    b, h, w, c, k, s, p = case
    return f"b{b}-{h}x{w}x{c}-k{k}-s{s}-p{p}".replace(" ", "")


class TestPoolingBasic:
    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize(
        ("input_shape", "kwargs"),
        [
            ((2, 28, 28, 6), {"pool_size": 2}),
            ((1, 4, 4, 1), {"pool_size": 3}),
            ((1, 4, 4, 1), {"pool_size": 3, "strides": 2, "padding": 1}),
            ((1, 4, 4, 2), {"pool_size": (2, 3), "strides": (2, 3), "padding": (1, 2)}),
            ((3, 9, 10, 2), {"pool_size": 3, "strides": 2, "padding": "same"}),
        ],
    )
    def test_output_shape_matches_shape_function(self, mode, input_shape, kwargs):
        layer = OURS[mode](**kwargs)
        y = layer(np.zeros(input_shape, "float32"))
        expected = layers.pool2d_output_shape(
            input_shape,
            kwargs["pool_size"],
            kwargs.get("strides"),
            kwargs.get("padding", "valid"),
        )
        assert tuple(y.shape) == expected
        assert layer.compute_output_shape((None, *input_shape[1:]))[1:] == expected[1:]

    def test_aliases(self):
        assert layers.MaxPooling2D is layers.MaxPool2D
        assert layers.AveragePooling2D is layers.AvgPool2D

    def test_strides_default_to_pool_size(self):
        assert layers.MaxPool2D(3).strides == (3, 3)
        assert layers.AvgPool2D((2, 3)).strides == (2, 3)
        assert layers.AvgPool2D(2, strides=1).strides == (1, 1)

    @pytest.mark.parametrize("mode", ["max", "avg"])
    def test_get_config_round_trip(self, mode):
        layer = OURS[mode]((2, 3), strides=(1, 2), padding=((0, 1), (1, 0)), name="p")
        x = np.random.default_rng(0).normal(size=(2, 6, 7, 3)).astype("float32")
        config = layer.get_config()
        clone = OURS[mode].from_config(config)
        assert clone.get_config() == config
        np.testing.assert_array_equal(clone(x), layer(x))

    def test_keras_save_and_load(self, tmp_path):
        model = keras.Sequential(
            [
                keras.Input((9, 9, 3)),
                layers.MaxPool2D(3, strides=2, padding=1),
                layers.AvgPool2D(2, padding="same"),
            ]
        )
        x = np.random.default_rng(1).normal(size=(2, 9, 9, 3)).astype("float32")
        path = tmp_path / "pool.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        assert [type(layer) for layer in loaded.layers] == [layers.MaxPool2D, layers.AvgPool2D]
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))

    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize(
        ("dtype_policy", "compute_dtype"),
        [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")],
        indirect=["dtype_policy"],
    )
    def test_mixed_precision_dtypes(self, dtype_policy, compute_dtype, mode):
        layer = OURS[mode](2, padding=1)
        assert layer(np.ones((1, 5, 5, 2), "float32")).dtype == compute_dtype

    def test_policy_is_restored(self):
        assert keras.mixed_precision.dtype_policy().name == "float32"


class TestPoolingBookExamples:
    X16 = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)

    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"pool_size": 3}, [[10]]),
            ({"pool_size": 3, "strides": 2, "padding": 1}, [[5, 7], [13, 15]]),
            (
                {"pool_size": (2, 3), "strides": (2, 3), "padding": (1, 2)},
                [[0, 3], [8, 11], [12, 15]],
            ),
        ],
    )
    def test_max_pool(self, kwargs, expected):
        np.testing.assert_array_equal(layers.MaxPool2D(**kwargs)(self.X16)[0, :, :, 0], expected)

    def test_two_channels(self):
        x = np.concatenate([self.X16, self.X16 + 1], axis=-1)
        y = layers.MaxPool2D(3, strides=2, padding=1)(x)
        np.testing.assert_array_equal(y[0, :, :, 0], [[5, 7], [13, 15]])
        np.testing.assert_array_equal(y[0, :, :, 1], [[6, 8], [14, 16]])

    def test_3x3_example(self):
        x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
        np.testing.assert_array_equal(
            layers.MaxPool2D(2, strides=1)(x)[0, :, :, 0], [[4, 5], [7, 8]]
        )
        np.testing.assert_array_equal(
            layers.AvgPool2D(2, strides=1)(x)[0, :, :, 0], [[2, 3], [5, 6]]
        )


class TestPoolingCorrectness:
    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize("case", POOL_GRID, ids=grid_id)
    def test_forward_and_gradient_match_keras(self, case, mode):
        b, h, w, c, k, s, p = case
        rng = np.random.default_rng(zlib.crc32(f"{mode}{grid_id(case)}".encode()))
        ours = OURS[mode](k, strides=s, padding=p)
        x = rng.normal(size=(b, h, w, c)).astype("float32")  # continuous: no ties
        out_shape = layers.pool2d_output_shape(x.shape, k, s, p)
        weight = rng.normal(size=out_shape).astype("float32")

        y, g = forward_and_input_grad(ours, x, weight)
        y_ref, g_ref = forward_and_input_grad(keras_twin(ours), x, weight)

        assert tuple(y.shape) == out_shape == tuple(y_ref.shape)
        y_ref, g_ref = y_ref.numpy(), g_ref.numpy()
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5 * np.abs(y_ref).max())
        np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-5 * np.abs(g_ref).max())

    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize("case", SYMMETRIC_PADDING_CASES, ids=grid_id)
    def test_explicit_padding_matches_numpy_oracle(self, case, mode):
        b, h, w, c, k, s, p = case
        x = np.random.default_rng(5).normal(size=(b, h, w, c)).astype("float32")
        y = OURS[mode](k, strides=s, padding=p)(x).numpy()
        ref = np.stack(
            [oracle.pool2d(np.moveaxis(xi, -1, 0), k, mode, p, s) for xi in x]
        )  # (b, c, ho, wo)
        ref = np.moveaxis(ref, 1, -1)
        np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())

    def test_max_pool_padding_never_wins_for_negative_inputs(self):
        x = -1.0 - np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        y = layers.MaxPool2D(3, strides=2, padding=1)(x)
        np.testing.assert_array_equal(y[0, :, :, 0], [[-1, -2], [-5, -6]])
        np.testing.assert_array_equal(y[0, :, :, 0], oracle.pool2d(x[0, :, :, 0], 3, "max", 1, 2))

    @pytest.mark.parametrize("strides", [None, 1])
    def test_max_pool_tie_gradient_goes_to_first_cell_like_keras(self, strides):
        x = tf.constant(np.ones((1, 4, 4, 2), "float32"))  # every window is one big tie
        _, g = forward_and_input_grad(layers.MaxPool2D(2, strides=strides), x, 1.0)
        _, g_ref = forward_and_input_grad(keras.layers.MaxPooling2D(2, strides=strides), x, 1.0)
        np.testing.assert_array_equal(g, g_ref)

    def test_avg_pool_same_divides_by_real_cells_like_keras(self):
        x = np.ones((1, 5, 5, 1), "float32")
        np.testing.assert_array_equal(
            layers.AvgPool2D(2, padding="same")(x), np.ones((1, 3, 3, 1))
        )

    def test_avg_pool_explicit_padding_counts_zeros(self):
        x = np.ones((1, 2, 2, 1), "float32")
        y = layers.AvgPool2D(2, strides=1, padding=1)(x)[0, :, :, 0]
        np.testing.assert_array_equal(y, [[0.25, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 0.25]])

    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize(
        ("dtype_policy", "tol"),
        [("mixed_float16", 1e-2), ("mixed_bfloat16", 5e-2)],
        indirect=["dtype_policy"],
    )
    @pytest.mark.parametrize(
        "case",
        [(2, 9, 9, 3, 2, None, "same"), (1, 10, 11, 4, (3, 2), (2, 3), 1)],
        ids=grid_id,
    )
    def test_mixed_precision_close_to_float32_keras(self, dtype_policy, tol, case, mode):
        b, h, w, c, k, s, p = case
        rng = np.random.default_rng(6)
        ours = OURS[mode](k, strides=s, padding=p)
        x = rng.normal(size=(b, h, w, c)).astype("float32")
        weight = rng.normal(size=layers.pool2d_output_shape(x.shape, k, s, p)).astype("float32")
        y, g = forward_and_input_grad(ours, x, weight)
        y_ref = keras_twin(ours, dtype="float32")(x).numpy()
        assert y.dtype == ours.compute_dtype
        np.testing.assert_allclose(
            tf.cast(y, "float32"), y_ref, rtol=tol, atol=tol * np.abs(y_ref).max()
        )
        assert np.isfinite(g.numpy()).all()


class TestPoolingValidation:
    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize(
        ("kwargs", "error", "name"),
        [
            ({"pool_size": 0}, ValueError, "pool_size"),
            ({"pool_size": (2, 0)}, ValueError, "pool_size"),
            ({"pool_size": "2"}, TypeError, "pool_size"),
            ({"pool_size": 2, "strides": 0}, ValueError, "strides"),
            ({"pool_size": 2, "strides": (1, 2, 3)}, TypeError, "strides"),
            ({"pool_size": 2, "padding": -1}, ValueError, "padding"),
            ({"pool_size": 2, "padding": "full"}, ValueError, "padding"),
            ({"pool_size": 2, "padding": 2}, ValueError, "padding"),
            ({"pool_size": (3, 2), "padding": ((0, 0), (0, 2))}, ValueError, "padding"),
            ({"pool_size": 2, "data_format": "channels_first"}, ValueError, "data_format"),
        ],
    )
    def test_bad_constructor_arguments(self, mode, kwargs, error, name):
        with pytest.raises(error) as info:
            OURS[mode](**kwargs)
        assert f"Received: {name}=" in str(info.value)

    @pytest.mark.parametrize("mode", ["max", "avg"])
    def test_input_smaller_than_window(self, mode):
        with pytest.raises(ValueError) as info:
            OURS[mode](3)(np.zeros((1, 2, 5, 1), "float32"))
        assert "smaller than its window" in str(info.value)
        assert "Received: input_shape=(1, 2, 5, 1)" in str(info.value)

    @pytest.mark.parametrize("mode", ["max", "avg"])
    def test_input_smaller_than_window_after_build(self, mode):
        layer = OURS[mode](3)
        layer(np.zeros((1, 6, 6, 1), "float32"))
        with pytest.raises(ValueError) as info:
            layer(np.zeros((1, 6, 2, 1), "float32"))
        assert "Received: input_shape=(1, 6, 2, 1)" in str(info.value)

    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize("shape", [(4, 4, 1), (1, 1, 4, 4, 1)])
    def test_wrong_rank(self, mode, shape):
        with pytest.raises(ValueError) as info:
            OURS[mode](2)(np.zeros(shape, "float32"))
        assert "4-D" in str(info.value) and "Received: input_shape=" in str(info.value)

    def test_channels_may_change_between_calls(self):
        layer = layers.MaxPool2D(2)
        assert layer(np.zeros((1, 4, 4, 1), "float32")).shape == (1, 2, 2, 1)
        assert layer(np.zeros((1, 4, 4, 3), "float32")).shape == (1, 2, 2, 3)
