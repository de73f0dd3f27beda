"""Tests for tfconv's pooling layers against Keras's `MaxPooling2D`/`AveragePooling2D`."""

from __future__ import annotations

import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfconv import layers
from tfconv import testing as oracle

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
    x = tf.convert_to_tensor(x)
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
        # A few roundings of the sum apart at most: 4 ulps of each 16-bit format.
        [("mixed_float16", 4 * 2.0**-10), ("mixed_bfloat16", 4 * 2.0**-7)],
        indirect=["dtype_policy"],
    )
    @pytest.mark.parametrize(
        "case",
        [(2, 9, 9, 3, 2, None, "same"), (1, 10, 11, 4, (3, 2), (2, 3), "valid")],
        ids=grid_id,
    )
    def test_mixed_precision_matches_keras_under_the_same_policy(
        self, dtype_policy, tol, case, mode
    ):
        b, h, w, c, k, s, p = case
        rng = np.random.default_rng(6)
        ours, theirs = OURS[mode](k, strides=s, padding=p), KERAS[mode](k, strides=s, padding=p)
        x = rng.normal(size=(b, h, w, c)).astype("float32")
        weight = rng.normal(size=layers.pool2d_output_shape(x.shape, k, s, p)).astype("float32")
        y, g = forward_and_input_grad(ours, x, weight)
        y_ref, g_ref = forward_and_input_grad(theirs, x, weight)
        assert y.dtype == y_ref.dtype == ours.compute_dtype
        y, y_ref = tf.cast(y, "float32").numpy(), tf.cast(y_ref, "float32").numpy()
        np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol * np.abs(y_ref).max())
        np.testing.assert_allclose(g, g_ref, rtol=tol, atol=tol * np.abs(g_ref).max())


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
            ({"pool_size": 2, "data_format": "nchw"}, ValueError, "data_format"),
            ({"pool_size": 2, "data_format": 1}, ValueError, "data_format"),
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


# --------------------------------------------------------------------------
# Keras's whole API: configs both ways, data_format, any size, dtypes
# --------------------------------------------------------------------------

# Configurations Keras's pooling layers can represent (string padding).
KERAS_KWARGS = [
    {"pool_size": 2},
    {"pool_size": (2, 3), "strides": (1, 2), "padding": "same"},
    {"pool_size": 3, "strides": 2, "data_format": "channels_first"},
    {"pool_size": (3, 1), "strides": 1, "padding": "same", "data_format": "channels_first"},
]

# (batch, h, w, channels, pool_size, strides, padding): one tiled case, strided ones,
# "same" with padding before (3x3 stride 1) and after.
ANY_SIZE_GRID = [
    (2, 8, 8, 3, 2, None, "valid"),
    (2, 9, 7, 2, 3, 2, "same"),
    (1, 10, 11, 4, (3, 2), (2, 3), "valid"),
    (2, 7, 9, 3, 3, 1, "same"),
]


def channels_first(x):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def run_dynamic(layer, x, weight):
    """`forward_and_input_grad` traced once with every size unknown (the dynamic path)."""
    spec = tf.TensorSpec([None] * 4, tf.as_dtype(x.dtype))
    fn = tf.function(lambda x: forward_and_input_grad(layer, x, weight), input_signature=[spec])
    return fn(tf.constant(x))


class TestPoolingKerasApi:
    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize("kwargs", KERAS_KWARGS)
    def test_keras_config_loads_into_tfconv_and_back(self, mode, kwargs):
        theirs = KERAS[mode](**kwargs, name="pool")
        ours = OURS[mode].from_config(theirs.get_config())
        back = KERAS[mode].from_config(ours.get_config())
        for key, value in theirs.get_config().items():
            assert ours.get_config()[key] == value, key
            assert back.get_config()[key] == value, key
        x = np.random.default_rng(0).normal(size=(2, 6, 7, 3)).astype("float32")
        if ours.data_format == "channels_first":
            x = channels_first(x)
        np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-6, atol=1e-6)  # sums' order
        np.testing.assert_array_equal(back(x), theirs(x))

    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize(
        "shape",
        [(None, 28, 28, 6), (4, None, None, 3), (None, 9, None, None), (1, 7, 5, 2)],
    )
    @pytest.mark.parametrize("kwargs", KERAS_KWARGS)
    def test_compute_output_shape_matches_keras(self, mode, kwargs, shape):
        ours, theirs = OURS[mode](**kwargs), KERAS[mode](**kwargs)
        try:
            expected = theirs.compute_output_shape(shape)
        except ValueError:  # a window larger than the input
            with pytest.raises(ValueError, match="Received: input_shape="):
                ours.build(shape)
        else:
            assert ours.compute_output_shape(shape) == expected

    def test_data_format_defaults_to_the_keras_config(self):
        previous = keras.config.image_data_format()
        keras.config.set_image_data_format("channels_first")
        try:
            ours, theirs = layers.MaxPool2D(2), keras.layers.MaxPooling2D(2)
            assert ours.data_format == theirs.data_format == "channels_first"
            x = np.random.default_rng(1).normal(size=(1, 3, 8, 6)).astype("float32")
            assert ours(x).shape == (1, 3, 4, 3)
            np.testing.assert_array_equal(ours(x), theirs(x))
        finally:
            keras.config.set_image_data_format(previous)
        assert layers.AvgPool2D(2).data_format == previous

    def test_name_and_base_arguments(self):
        layer = layers.AvgPool2D(2, name="p", trainable=False, dtype="float64")
        assert (layer.name, layer.trainable, layer.compute_dtype) == ("p", False, "float64")

    @pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16"])
    @pytest.mark.parametrize(
        "kwargs", [{"pool_size": 2}, {"pool_size": 3, "strides": 2, "padding": "same"}]
    )
    def test_max_pool_of_integers_matches_keras(self, dtype, kwargs):
        x = np.random.default_rng(2).integers(0, 100, size=(2, 7, 8, 3)).astype(dtype)
        y, y_ref = layers.MaxPool2D(**kwargs)(x), keras.layers.MaxPooling2D(**kwargs)(x)
        assert y.dtype == y_ref.dtype == dtype
        np.testing.assert_array_equal(y, y_ref)

    @pytest.mark.parametrize(
        ("mode", "dtype"), [("avg", "int32"), ("avg", "uint8"), ("avg", "int64"), ("max", "bool")]
    )
    def test_inputs_keras_refuses_are_refused_with_a_type_error(self, mode, dtype):
        # Keras's layers end in a raw TensorFlow kernel error on these.
        with pytest.raises(tf.errors.InvalidArgumentError):
            KERAS[mode](2)(np.zeros((1, 4, 4, 1), dtype))
        with pytest.raises(TypeError, match=f"Received: inputs.dtype={dtype}\\b"):
            OURS[mode](2)(np.zeros((1, 4, 4, 1), dtype))

    def test_keras_save_and_load_of_a_channels_first_model_of_any_size(self, tmp_path):
        model = keras.Sequential(
            [
                keras.Input((3, None, None)),
                layers.MaxPool2D(3, strides=2, padding="same", data_format="channels_first"),
                layers.AvgPool2D(2, data_format="channels_first"),
            ]
        )
        path = tmp_path / "pool.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        for size in [(9, 9), (12, 7)]:
            x = np.random.default_rng(3).normal(size=(2, 3, *size)).astype("float32")
            np.testing.assert_array_equal(loaded(x), model(x))


class TestPoolingAnySize:
    def test_model_on_unknown_sizes_matches_keras_at_every_size(self):
        def build(lib):
            inputs = keras.Input((None, None, 3))
            x = lib.MaxPooling2D(3, strides=2, padding="same")(inputs)
            return keras.Model(inputs, lib.AveragePooling2D(2, padding="same")(x))

        ours, theirs = build(layers), build(keras.layers)
        rng = np.random.default_rng(4)
        for size in [(9, 9), (16, 12), (7, 20), (16, 12)]:
            x = rng.normal(size=(2, *size, 3)).astype("float32")
            np.testing.assert_allclose(
                ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-6
            )

    @pytest.mark.parametrize("mode", ["max", "avg"])
    def test_tracing_stays_bounded(self, mode):
        layer = OURS[mode](3, strides=2, padding="same")
        fn = tf.function(lambda x: layer(x), reduce_retracing=True)
        for n in range(6):
            x = tf.random.normal((1 + n % 2, 8 + n, 9 + 2 * n, 2))
            np.testing.assert_allclose(fn(x), KERAS[mode](3, 2, "same")(x), rtol=1e-5, atol=1e-6)
        # The first shape, then one trace with unknown sizes for all the others.
        assert fn.experimental_get_tracing_count() == 2

    def test_training_on_two_sizes(self):
        inputs = keras.Input((None, None, 1))
        x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
        x = layers.MaxPool2D(2)(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(2)(x))
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(5)
        for size in [(8, 8), (12, 10)]:
            x = rng.normal(size=(8, *size, 1)).astype("float32")
            history = model.fit(x, rng.integers(0, 2, 8), epochs=1, verbose=0)
            assert np.isfinite(history.history["loss"]).all()

    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize("variant", ["channels_first", "dynamic", "dynamic_channels_first"])
    @pytest.mark.parametrize("case", ANY_SIZE_GRID, ids=grid_id)
    def test_forward_and_gradient_match_keras(self, case, variant, mode):
        b, h, w, c, k, s, p = case
        rng = np.random.default_rng(zlib.crc32(f"{mode}{variant}{grid_id(case)}".encode()))
        data_format = "channels_first" if variant.endswith("channels_first") else "channels_last"
        x = rng.normal(size=(b, h, w, c)).astype("float32")
        weight = rng.normal(size=layers.pool2d_output_shape(x.shape, k, s, p)).astype("float32")
        if data_format == "channels_first":
            x, weight = channels_first(x), channels_first(weight)
        ours = OURS[mode](k, strides=s, padding=p, data_format=data_format)
        theirs = KERAS[mode](k, strides=s, padding=p, data_format=data_format)
        run = run_dynamic if variant.startswith("dynamic") else forward_and_input_grad
        y, g = run(ours, x, weight)
        y_ref, g_ref = forward_and_input_grad(theirs, x, weight)
        assert y.shape == y_ref.shape
        y_ref, g_ref = y_ref.numpy(), g_ref.numpy()
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5 * np.abs(y_ref).max())
        np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-5 * np.abs(g_ref).max())


class TestPoolingNonFinite:
    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize(
        ("variant", "dtype"),
        [
            ("static", "float32"),
            ("static", "float16"),
            ("static", "float64"),
            ("channels_first", "float32"),
            ("dynamic", "float32"),
        ],
    )
    @pytest.mark.parametrize("case", ANY_SIZE_GRID, ids=grid_id)
    def test_nan_and_inf_as_keras(self, case, variant, dtype, mode):
        # NaN, +-inf and the lowest float among ordinary values, on every code path
        # (tiled, strided, padding before and after, NCHW, unknown sizes): outputs and
        # gradients exactly Keras's, NaN where Keras has NaN.
        b, h, w, c, k, s, p = case
        rng = np.random.default_rng(zlib.crc32(f"{mode}{variant}{dtype}{grid_id(case)}".encode()))
        # (Sums of the lowest float overflow to -inf or not depending on their order.)
        lowest = np.finfo(dtype).min if mode == "max" else 0.0
        values = np.array([np.nan, np.inf, -np.inf, lowest, 0.0, 1.0, -1.0])
        x = rng.choice(values, size=(b, h, w, c), p=[0.15, 0.05, 0.2, 0.05, 0.15, 0.2, 0.2])
        x = np.where(rng.random(x.shape) < 0.3, rng.normal(size=x.shape), x).astype(dtype)
        weight = np.ones(layers.pool2d_output_shape(x.shape, k, s, p), "float32")
        data_format = "channels_first" if variant == "channels_first" else "channels_last"
        if data_format == "channels_first":
            x, weight = channels_first(x), channels_first(weight)
        kwargs = {"strides": s, "padding": p, "data_format": data_format, "dtype": dtype}
        run = run_dynamic if variant == "dynamic" else forward_and_input_grad
        y, g = run(OURS[mode](k, **kwargs), x, weight)
        y_ref, g_ref = forward_and_input_grad(KERAS[mode](k, **kwargs), x, weight)
        assert y.dtype == y_ref.dtype == dtype
        np.testing.assert_array_equal(np.isnan(y), np.isnan(y_ref))
        if mode == "max":  # a maximum is one of the inputs, and so is its gradient's place
            np.testing.assert_array_equal(y, y_ref)
            np.testing.assert_array_equal(g, g_ref)
        else:  # sums in another order
            tol = 8 * np.finfo(dtype).eps  # 9 additions at most, each rounding
            np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
            np.testing.assert_allclose(g, g_ref, rtol=tol, atol=tol)

    @pytest.mark.parametrize(
        "kwargs",
        [{"pool_size": 2}, {"pool_size": 3, "strides": 1}, {"pool_size": 3, "padding": "same"}],
    )
    def test_documented_max_rules(self, kwargs):
        # A NaN never wins; a window of only -inf and NaN gives float32's lowest value
        # and sends its gradient to its first cell, as does a window starting with NaN.
        x = np.zeros((1, 6, 6, 1), "float32")
        x[0, :3, :3, 0] = [[np.nan, 5, -np.inf], [2, -np.inf, np.nan], [-np.inf, np.nan, 1]]
        x[0, 3:, 3:, 0] = -np.inf
        x[0, 4, 4, 0] = np.nan
        y, g = forward_and_input_grad(layers.MaxPool2D(**kwargs), x, 1.0)
        y_ref, g_ref = forward_and_input_grad(keras.layers.MaxPooling2D(**kwargs), x, 1.0)
        assert not np.isnan(y).any()
        assert np.float32(np.finfo("float32").min) in y.numpy()
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(g, g_ref)

    @pytest.mark.parametrize("value", [np.nan, np.inf])
    @pytest.mark.parametrize("kwargs", [{"strides": 1}, {"strides": 2, "padding": "same"}, {}])
    def test_avg_pool_reaches_exactly_the_windows_holding_the_value(self, kwargs, value):
        x = np.random.default_rng(6).normal(size=(1, 8, 8, 2)).astype("float32")
        x[0, 3, 4, 1] = value
        y = layers.AvgPool2D(3, **kwargs)(x).numpy()
        y_ref = keras.layers.AveragePooling2D(3, **kwargs)(x).numpy()
        hit = ~np.isfinite(y)
        np.testing.assert_array_equal(hit, ~np.isfinite(y_ref))
        assert hit[..., 1].any() and not hit[..., 0].any()
        np.testing.assert_allclose(y[~hit], y_ref[~hit], rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("mode", ["max", "avg"])
    def test_explicit_padding_with_non_finite_values(self, mode):
        # Keras has no explicit padding; the twin pads first (zeros / -inf). Windows
        # that are not all -inf and NaN route gradients alike.
        x = np.random.default_rng(7).normal(size=(1, 6, 6, 2)).astype("float32")
        x[0, 1, 2, 0], x[0, 4, 4, 1], x[0, 2, 0, 1] = np.nan, np.inf, -np.inf
        ours = OURS[mode](3, strides=2, padding=1)
        y, g = forward_and_input_grad(ours, x, 1.0)
        y_ref, g_ref = forward_and_input_grad(keras_twin(ours), x, 1.0)
        np.testing.assert_array_equal(np.isnan(y), np.isnan(y_ref))
        np.testing.assert_allclose(y, y_ref, rtol=1e-6)
        np.testing.assert_allclose(g, g_ref, rtol=1e-6)


class TestPoolingExport:
    def test_exported_max_pool_is_a_plain_maximum_chain(self):
        # Keras's NaN rules cost GREATER/SELECT_V2 ops that XNNPACK does not take; the
        # exported file (traced under `_core.export_graph`) leaves them out.
        from tfconv import export
        from tfconv.export import serving, tflite

        model = keras.Sequential(
            [
                keras.Input((12, 12, 1)),
                layers.MaxPool2D(2),
                layers.MaxPool2D(3, strides=2, padding="same"),
                keras.layers.Flatten(),
            ]
        )
        content = tflite.convert_tflite(serving.make_serving(model), "float32", None)
        ops = set(export.tflite_ops(content))
        assert "MAXIMUM" in ops
        assert not ops & {"GREATER", "SELECT", "SELECT_V2", "MAX_POOL_2D"}, ops
        # Traced outside it, the same layers carry the NaN rules.
        fn = tf.function(model).get_concrete_function(tf.TensorSpec([1, 12, 12, 1]))
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
        assert {"GREATER", "SELECT_V2"} <= set(export.tflite_ops(converter.convert()))
