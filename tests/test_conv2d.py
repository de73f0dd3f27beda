"""Tests for `tfconv.layers.Conv2D` against `keras.layers.Conv2D`."""

from __future__ import annotations

import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfconv import layers


def random_conv(rng, input_shape, filters, kernel_size, strides=1, padding="valid", dilation=1):
    """A built tfconv Conv2D with random (non-zero) kernel and bias, plus an input."""
    layer = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, dilation_rate=dilation
    )
    layer.build(input_shape)
    layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.weights])
    x = rng.normal(size=input_shape).astype("float32")
    return layer, x


def keras_twin(layer, input_shape, dtype=None):
    """`keras.layers.Conv2D` with `layer`'s weights; explicit padding via ZeroPadding2D."""
    explicit = not isinstance(layer.padding, str)
    ref = keras.layers.Conv2D(
        layer.filters,
        layer.kernel_size,
        strides=layer.strides,
        padding="valid" if explicit else layer.padding,
        dilation_rate=layer.dilation_rate,
        dtype=dtype,
    )
    pad = keras.layers.ZeroPadding2D(layer.padding, dtype=dtype) if explicit else None
    ref.build(pad.compute_output_shape(input_shape) if pad else input_shape)
    ref.set_weights(layer.get_weights())
    return (lambda x: ref(pad(x))) if pad else ref, ref


def forward_and_grads(fn, variables, x, w):
    """Output and gradients of sum(fn(x) * w) w.r.t. x and `variables`."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        loss = tf.reduce_sum(tf.cast(y, "float32") * w)
    grads = tape.gradient(loss, [x, *variables])
    return y, grads


# (batch, h, w, channels, filters, kernel_size, strides, padding, dilation)
CONV_GRID = [
    (1, 5, 5, 1, 1, 1, 1, "valid", 1),
    (2, 8, 8, 3, 4, 3, 1, "valid", 1),
    (2, 8, 8, 3, 4, 3, 1, "same", 1),
    (1, 7, 7, 2, 3, 7, 1, "valid", 1),
    (1, 7, 9, 2, 3, 7, 1, "same", 1),
    (3, 10, 12, 4, 5, (3, 5), 1, "valid", 1),
    (3, 10, 12, 4, 5, (5, 3), 1, "same", 1),
    (2, 9, 9, 1, 2, (1, 7), 1, "same", 1),
    (2, 9, 9, 1, 2, (7, 1), (2, 1), "valid", 1),
    (2, 11, 11, 3, 2, 3, 2, "valid", 1),
    (2, 11, 11, 3, 2, 3, 2, "same", 1),
    (2, 12, 12, 3, 2, 4, 2, "same", 1),
    (1, 13, 13, 2, 3, 3, 3, "valid", 1),
    (1, 13, 14, 2, 3, 3, 3, "same", 1),
    (2, 10, 10, 2, 2, 2, 3, "valid", 1),
    (2, 10, 10, 2, 2, 1, 3, "same", 1),
    (2, 16, 16, 8, 8, 5, (2, 3), "same", 1),
    (2, 16, 15, 8, 8, (2, 4), (3, 2), "valid", 1),
    (1, 32, 32, 3, 6, 5, 1, "valid", 1),
    (4, 32, 32, 1, 6, 5, 1, "same", 1),
    (2, 28, 28, 6, 16, 5, 1, "valid", 1),
    (1, 32, 32, 8, 4, 7, 2, "same", 1),
    (1, 6, 6, 8, 1, 6, 1, "valid", 1),
    (5, 4, 4, 3, 2, 2, 1, "same", 1),
    (2, 3, 5, 2, 2, (3, 2), (1, 2), "valid", 1),
    (1, 3, 3, 1, 1, 3, 3, "same", 1),
    # dilation (Keras allows it only with stride 1)
    (2, 12, 12, 3, 2, 3, 1, "valid", 2),
    (2, 12, 12, 3, 2, 3, 1, "same", 2),
    (1, 15, 15, 2, 2, (3, 2), 1, "valid", (2, 3)),
    (1, 10, 10, 1, 1, 2, 1, "same", 3),
    # explicit padding: the book's int / (p_h, p_w), and per side
    (1, 8, 8, 1, 1, 3, 1, 1, 1),
    (1, 8, 8, 1, 1, (5, 3), 1, (2, 1), 1),
    (1, 8, 8, 1, 1, 3, 2, 1, 1),
    (1, 8, 8, 1, 1, (3, 5), (3, 4), (0, 1), 1),
    (2, 28, 28, 1, 6, 5, 1, 2, 1),
    (2, 9, 7, 3, 2, 3, 2, ((1, 2), (0, 3)), 1),
    (1, 10, 10, 2, 2, 3, 1, 2, 2),
    (1, 2, 2, 2, 3, 4, 1, 1, 1),
]


def grid_id(case):
    b, h, w, c, f, k, s, p, d = case
    return f"b{b}-{h}x{w}x{c}-f{f}-k{k}-s{s}-p{p}-d{d}".replace(" ", "")


class TestConv2DBasic:
    @pytest.mark.parametrize(
        ("input_shape", "kwargs"),
        [
            ((2, 28, 28, 1), {"filters": 6, "kernel_size": 5, "padding": 2}),
            ((2, 14, 14, 6), {"filters": 16, "kernel_size": 5}),
            (
                (1, 8, 8, 3),
                {"filters": 2, "kernel_size": (3, 5), "strides": (3, 4), "padding": (0, 1)},
            ),
            ((3, 9, 10, 2), {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}),
            ((1, 11, 11, 1), {"filters": 1, "kernel_size": 3, "dilation_rate": 2}),
        ],
    )
    def test_output_shape_matches_shape_function(self, input_shape, kwargs):
        layer = layers.Conv2D(**kwargs)
        y = layer(np.zeros(input_shape, "float32"))
        expected = layers.conv2d_output_shape(
            input_shape,
            kwargs["filters"],
            kwargs["kernel_size"],
            kwargs.get("strides", 1),
            kwargs.get("padding", "valid"),
            kwargs.get("dilation_rate", 1),
        )
        assert tuple(y.shape) == expected
        assert layer.compute_output_shape((None, *input_shape[1:]))[1:] == expected[1:]
        assert layer.kernel.shape == (*layer.kernel_size, input_shape[-1], kwargs["filters"])

    def test_weights_have_keras_shapes(self):
        ours = layers.Conv2D(4, (3, 5))
        ours.build((None, 9, 9, 2))
        ref = keras.layers.Conv2D(4, (3, 5))
        ref.build((None, 9, 9, 2))
        assert [w.shape for w in ours.weights] == [w.shape for w in ref.weights]
        assert len(ours.trainable_weights) == 2
        assert len(layers.Conv2D(4, 3, use_bias=False)(np.zeros((1, 5, 5, 2))).shape) == 4

    def test_get_config_round_trip(self):
        layer = layers.Conv2D(
            3, (2, 3), strides=(1, 2), padding=((0, 1), (2, 0)), activation="relu", name="c"
        )
        x = np.random.default_rng(0).normal(size=(2, 6, 7, 2)).astype("float32")
        y = layer(x)
        config = layer.get_config()
        clone = layers.Conv2D.from_config(config)
        assert clone.get_config() == config
        clone.build(x.shape)
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(clone(x), y)

    def test_keras_save_and_load(self, tmp_path):
        rng = np.random.default_rng(1)
        model = keras.Sequential(
            [
                keras.Input((10, 10, 3)),
                layers.Conv2D(4, 3, padding=1, activation="relu"),
                layers.Conv2D(2, (3, 2), strides=2, padding="same"),
            ]
        )
        x = rng.normal(size=(2, 10, 10, 3)).astype("float32")
        path = tmp_path / "conv.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        assert isinstance(loaded.layers[0], layers.Conv2D)
        assert loaded.layers[0].padding == ((1, 1), (1, 1))
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))

    @pytest.mark.parametrize(
        ("dtype_policy", "compute_dtype"),
        [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")],
        indirect=["dtype_policy"],
    )
    def test_mixed_precision_dtypes(self, dtype_policy, compute_dtype):
        layer = layers.Conv2D(3, 3, padding="same")
        y = layer(np.ones((1, 5, 5, 2), "float32"))
        assert layer.compute_dtype == compute_dtype
        assert layer.variable_dtype == "float32"
        assert layer.kernel.dtype == "float32" and layer.bias.dtype == "float32"
        assert y.dtype == compute_dtype

    def test_policy_is_restored(self):
        assert keras.mixed_precision.dtype_policy().name == "float32"


class TestConv2DCorrectness:
    @pytest.mark.parametrize("case", CONV_GRID, ids=grid_id)
    def test_forward_and_gradients_match_keras(self, case):
        b, h, w, c, f, k, s, p, d = case
        rng = np.random.default_rng(zlib.crc32(grid_id(case).encode()))
        ours, x = random_conv(rng, (b, h, w, c), f, k, s, p, d)
        ref_fn, ref = keras_twin(ours, (b, h, w, c))
        out_shape = layers.conv2d_output_shape((b, h, w, c), f, k, s, p, d)
        weight = rng.normal(size=out_shape).astype("float32")

        y, grads = forward_and_grads(ours, [ours.kernel, ours.bias], x, weight)
        y_ref, grads_ref = forward_and_grads(ref_fn, [ref.kernel, ref.bias], x, weight)

        assert tuple(y.shape) == out_shape == tuple(y_ref.shape)
        y_ref = y_ref.numpy()
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5 * np.abs(y_ref).max())
        for name, g, g_ref in zip(("input", "kernel", "bias"), grads, grads_ref, strict=True):
            g_ref = g_ref.numpy()
            np.testing.assert_allclose(
                g, g_ref, rtol=1e-5, atol=1e-5 * np.abs(g_ref).max(), err_msg=name
            )

    def test_matches_keras_inside_tf_function(self):
        rng = np.random.default_rng(2)
        ours, x = random_conv(rng, (2, 12, 12, 3), 4, 3, 2, "same")
        ref_fn, _ = keras_twin(ours, x.shape)
        y = tf.function(ours)(x)
        y_ref = ref_fn(x).numpy()
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5 * np.abs(y_ref).max())

    def test_activation_and_no_bias(self):
        rng = np.random.default_rng(3)
        x = rng.normal(size=(2, 7, 7, 2)).astype("float32")
        ours = layers.Conv2D(3, 3, activation="sigmoid", use_bias=False)
        ref = keras.layers.Conv2D(3, 3, activation="sigmoid", use_bias=False)
        ours.build(x.shape)
        ref.build(x.shape)
        ref.set_weights(ours.get_weights())
        np.testing.assert_allclose(ours(x), ref(x), rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize(
        ("dtype_policy", "tol"),
        [("mixed_float16", 1e-2), ("mixed_bfloat16", 5e-2)],
        indirect=["dtype_policy"],
    )
    @pytest.mark.parametrize(
        "case",
        [
            (2, 12, 12, 3, 4, 3, 1, "same", 1),
            (1, 16, 16, 8, 4, (5, 3), 2, "valid", 1),
            (2, 9, 9, 2, 2, 3, 1, 1, 2),
        ],
        ids=grid_id,
    )
    def test_mixed_precision_close_to_float32_keras(self, dtype_policy, tol, case):
        b, h, w, c, f, k, s, p, d = case
        rng = np.random.default_rng(4)
        ours, x = random_conv(rng, (b, h, w, c), f, k, s, p, d)
        ref_fn, _ = keras_twin(ours, x.shape, dtype="float32")
        weight = rng.normal(size=layers.conv2d_output_shape(x.shape, f, k, s, p, d))
        y, grads = forward_and_grads(ours, [ours.kernel, ours.bias], x, weight.astype("float32"))
        y_ref = ref_fn(x).numpy()
        assert y.dtype == ours.compute_dtype
        assert ours.kernel.dtype == "float32"
        y32 = tf.cast(y, "float32").numpy()
        np.testing.assert_allclose(y32, y_ref, rtol=tol, atol=tol * np.abs(y_ref).max())
        for g in grads:
            assert np.isfinite(tf.cast(g, "float32").numpy()).all()
        assert grads[1].dtype == "float32"  # the kernel's gradient stays in variable dtype


def _message(exc_info) -> str:
    return str(exc_info.value)


class TestConv2DValidation:
    @pytest.mark.parametrize(
        ("kwargs", "error", "name"),
        [
            ({"filters": 0, "kernel_size": 3}, ValueError, "filters"),
            ({"filters": 2.0, "kernel_size": 3}, ValueError, "filters"),
            ({"filters": 2, "kernel_size": 0}, ValueError, "kernel_size"),
            ({"filters": 2, "kernel_size": (3, 0)}, ValueError, "kernel_size"),
            ({"filters": 2, "kernel_size": 2.5}, TypeError, "kernel_size"),
            ({"filters": 2, "kernel_size": (1, 2, 3)}, TypeError, "kernel_size"),
            ({"filters": 2, "kernel_size": 3, "strides": 0}, ValueError, "strides"),
            ({"filters": 2, "kernel_size": 3, "strides": (1, -2)}, ValueError, "strides"),
            ({"filters": 2, "kernel_size": 3, "dilation_rate": 0}, ValueError, "dilation_rate"),
            ({"filters": 2, "kernel_size": 3, "padding": -1}, ValueError, "padding"),
            ({"filters": 2, "kernel_size": 3, "padding": (1, -1)}, ValueError, "padding"),
            (
                {"filters": 2, "kernel_size": 3, "padding": ((0, -1), (0, 0))},
                ValueError,
                "padding",
            ),
            ({"filters": 2, "kernel_size": 3, "padding": "full"}, ValueError, "padding"),
            ({"filters": 2, "kernel_size": 3, "padding": 1.5}, TypeError, "padding"),
            (
                {"filters": 2, "kernel_size": 3, "data_format": "channels_middle"},
                ValueError,
                "data_format",
            ),
        ],
    )
    def test_bad_constructor_arguments(self, kwargs, error, name):
        with pytest.raises(error) as info:
            layers.Conv2D(**kwargs)
        assert f"Received: {name}=" in _message(info)

    @pytest.mark.parametrize(
        ("kwargs", "shape"),
        [
            ({"kernel_size": 3}, (1, 2, 5, 1)),
            ({"kernel_size": (2, 6)}, (1, 5, 5, 1)),
            ({"kernel_size": 3, "dilation_rate": 3}, (1, 6, 6, 1)),
            ({"kernel_size": 5, "padding": 1}, (1, 2, 2, 1)),
        ],
    )
    def test_input_smaller_than_kernel(self, kwargs, shape):
        with pytest.raises(ValueError) as info:
            layers.Conv2D(1, **kwargs)(np.zeros(shape, "float32"))
        assert "smaller than its kernel" in _message(info)
        assert "Received: input_shape=" in _message(info)

    def test_input_smaller_than_kernel_after_build(self):
        layer = layers.Conv2D(1, 3)
        layer(np.zeros((1, 5, 5, 1), "float32"))
        with pytest.raises(ValueError) as info:
            layer(np.zeros((1, 2, 5, 1), "float32"))
        assert "Received: input_shape=(1, 2, 5, 1)" in _message(info)

    def test_same_padding_accepts_any_input_size(self):
        assert layers.Conv2D(1, 5, padding="same")(np.zeros((1, 2, 2, 1))).shape == (1, 2, 2, 1)

    @pytest.mark.parametrize("shape", [(5, 5, 1), (1, 1, 5, 5, 1), (5,)])
    def test_wrong_rank(self, shape):
        with pytest.raises(ValueError) as info:
            layers.Conv2D(1, 1)(np.zeros(shape, "float32"))
        assert "4-D" in _message(info) and "Received: input_shape=" in _message(info)

    def test_wrong_rank_after_build(self):
        layer = layers.Conv2D(1, 1)
        layer(np.zeros((1, 3, 3, 1), "float32"))
        with pytest.raises(ValueError) as info:
            layer(np.zeros((3, 3, 1), "float32"))
        assert "4-D" in _message(info) and "Received: input_shape=(3, 3, 1)" in _message(info)

    def test_channel_mismatch_after_build(self):
        layer = layers.Conv2D(2, 3)
        layer(np.zeros((1, 5, 5, 3), "float32"))
        with pytest.raises(ValueError) as info:
            layer(np.zeros((1, 5, 5, 4), "float32"))
        assert "channels" in _message(info)
        assert "Received: input_shape=(1, 5, 5, 4)" in _message(info)

    def test_unknown_channels(self):
        with pytest.raises(ValueError) as info:
            layers.Conv2D(1, 3).build((None, 8, 8, None))
        assert "channels" in _message(info) and "Received: input_shape=" in _message(info)


def lenet(pool=layers.AvgPool2D):
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(6, 5, padding=2, activation="sigmoid"),
            pool(2, strides=2),
            layers.Conv2D(16, 5, activation="sigmoid"),
            pool(2, strides=2),
            keras.layers.Flatten(),
            keras.layers.Dense(120, activation="sigmoid"),
            keras.layers.Dense(84, activation="sigmoid"),
            keras.layers.Dense(10),
        ]
    )


class TestLeNet:
    def test_layer_shapes(self):
        model = lenet()
        shapes = [tuple(layer.output.shape) for layer in model.layers]
        assert shapes[:5] == [
            (None, 28, 28, 6),
            (None, 14, 14, 6),
            (None, 10, 10, 16),
            (None, 5, 5, 16),
            (None, 400),
        ]
        # 156 + 2416 (convolutions) + 48120 + 10164 + 850 (dense): Keras's own layers' counts.
        assert model.count_params() == 61706

    def test_trains_a_step_and_round_trips_through_keras_file(self, tmp_path):
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x = rng.uniform(size=(16, 28, 28, 1)).astype("float32")
        y = rng.integers(0, 10, size=(16,))
        model = lenet(pool=layers.MaxPool2D)
        model.compile(
            optimizer=keras.optimizers.SGD(0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        before = [w.copy() for w in model.get_weights()]
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        after = model.get_weights()
        assert all(not np.array_equal(a, b) for a, b in zip(before[:2], after[:2], strict=True))

        path = tmp_path / "lenet.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
