"""`tfconv.layers.Conv2D` as a drop-in for `keras.layers.Conv2D`: the whole API.

Every comparison is against Keras's own layer with the same weights: configs,
groups, data formats, unknown image sizes, dtype policies, non-finite inputs,
integer inputs and whole-model conversion.
"""

from __future__ import annotations

import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfconv import _core, layers


def twins(kwargs, input_shape, rng):
    """Keras's Conv2D and tfconv's, built from Keras's config, with the same random weights."""
    ref = keras.layers.Conv2D(**kwargs)
    ref.build(input_shape)
    ours = layers.Conv2D.from_config(ref.get_config())
    ours.build(input_shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in ref.weights]
    ref.set_weights(weights)
    ours.set_weights(weights)
    return ours, ref


def forward_and_grads(layer, x, weight, dynamic=False, channel_axis=-1, call=None):
    """Output and gradients of sum(layer(x) * weight) w.r.t. x, kernel and bias.

    `dynamic` traces the computation once with unknown batch, height and width
    (only the channels known), as Keras does after `reduce_retracing` relaxes
    a model's input shape.
    """
    variables = [layer.kernel] + ([layer.bias] if layer.use_bias else [])

    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = (call or layer)(x)
            loss = tf.reduce_sum(tf.cast(y, "float32") * weight)
        return y, tape.gradient(loss, [x, *variables])

    if dynamic:
        spec = [None, None, None, None]
        spec[channel_axis] = x.shape[channel_axis]
        run = tf.function(run, input_signature=[tf.TensorSpec(spec, tf.float32)])
    y, grads = run(tf.constant(x))
    return tf.cast(y, "float32").numpy(), [tf.cast(g, "float32").numpy() for g in grads]


def assert_close(actual, desired, rel, what):
    scale = max(float(np.abs(desired).max()), 1e-30)
    np.testing.assert_allclose(actual, desired, rtol=rel, atol=rel * scale, err_msg=what)


# (batch, h, w, channels, filters, kernel, strides, padding, dilation, groups, format, dynamic)
GRID = [
    # groups: block-1 grouped matmul, depthwise (multiplier 1 and 3), 1x1 grouped
    (2, 9, 9, 4, 8, 3, 1, "valid", 1, 2, "channels_last", False),
    (2, 10, 11, 8, 8, 3, 2, "same", 1, 4, "channels_last", False),
    (2, 9, 9, 6, 12, (3, 2), 1, "same", (2, 1), 3, "channels_last", False),
    (1, 8, 8, 4, 4, 3, 1, "same", 1, 4, "channels_last", False),
    (2, 9, 10, 3, 9, 3, 2, "same", 1, 3, "channels_last", False),
    (2, 9, 10, 5, 5, 3, 1, "valid", 2, 5, "channels_last", False),
    (2, 6, 6, 6, 6, 1, 1, "valid", 1, 3, "channels_last", False),
    # channels first: banded (one channel), im2col, grouped, depthwise
    (2, 9, 9, 1, 4, 3, 1, "same", 1, 1, "channels_first", False),
    (2, 8, 9, 8, 4, 3, 2, "valid", 1, 1, "channels_first", False),
    (2, 8, 8, 4, 6, 3, 1, "same", 1, 2, "channels_first", False),
    (1, 8, 8, 4, 8, 3, 1, "valid", 2, 4, "channels_first", False),
    # unknown batch/height/width (the shape-polymorphic path)
    (2, 9, 11, 3, 4, 3, 1, "same", 1, 1, "channels_last", True),
    (2, 10, 9, 2, 3, (3, 5), 2, "same", 1, 1, "channels_last", True),
    (1, 12, 12, 2, 2, 3, 1, "valid", 2, 1, "channels_last", True),
    (2, 9, 9, 4, 6, 3, 2, "valid", 1, 2, "channels_last", True),
    (2, 8, 10, 4, 8, 3, 1, "same", 1, 4, "channels_last", True),
    (2, 8, 8, 4, 4, 1, 1, "valid", 1, 1, "channels_first", True),
    (1, 9, 8, 4, 4, 3, 3, "same", 1, 4, "channels_first", True),
]


def grid_id(case):
    b, h, w, c, f, k, s, p, d, g, fmt, dyn = case
    name = f"b{b}-{h}x{w}x{c}-f{f}-k{k}-s{s}-{p}-d{d}-g{g}-{fmt[9:]}"
    return (name + ("-dynamic" if dyn else "")).replace(" ", "")


def grid_layer_and_input(case, rng):
    """tfconv's layer, Keras's channels-last twin, the reference call and an input.

    Channels-first cases are compared with Keras's channels-last layer on
    transposed tensors: Keras's own channels-first Conv2D gives wrong values
    on this CPU for some shapes (e.g. (2, 8, 8, 9) input, 3x3 stride 2).
    """
    b, h, w, c, f, k, s, p, d, g, fmt, _ = case
    kwargs = dict(filters=f, kernel_size=k, strides=s, padding=p, dilation_rate=d, groups=g)
    ours, ref = twins({**kwargs, "data_format": "channels_last"}, (b, h, w, c), rng)
    x = rng.normal(size=(b, h, w, c)).astype("float32")
    if fmt == "channels_last":
        return ours, ref, ref, x
    ours = layers.Conv2D(**kwargs, data_format=fmt)
    ours.build((b, c, h, w))
    ours.set_weights(ref.get_weights())

    def call(x):
        return tf.transpose(ref(tf.transpose(x, [0, 2, 3, 1])), [0, 3, 1, 2])

    return ours, ref, call, x.transpose(0, 3, 1, 2)


class TestKerasApi:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"filters": 8, "kernel_size": 3},
            {"filters": 6, "kernel_size": (3, 2), "groups": 3, "padding": "same"},
            {"filters": 4, "kernel_size": 3, "data_format": "channels_first", "strides": 2},
            {"filters": 4, "kernel_size": 3, "dilation_rate": 2, "use_bias": False},
            {
                "filters": 2,
                "kernel_size": 1,
                "activation": "relu",
                "kernel_initializer": "he_normal",
                "bias_initializer": "ones",
                "kernel_regularizer": "l2",
                "bias_regularizer": "l1",
                "activity_regularizer": "l2",
                "kernel_constraint": "non_neg",
                "bias_constraint": "unit_norm",
                "name": "c",
                "trainable": False,
                "dtype": "float64",
            },
        ],
    )
    def test_config_and_weights_round_trip_with_keras(self, kwargs):
        rng = np.random.default_rng(0)
        ref = keras.layers.Conv2D(**kwargs)
        ours = layers.Conv2D.from_config(ref.get_config())
        assert ours.get_config() == ref.get_config()
        back = keras.layers.Conv2D.from_config(ours.get_config())
        assert back.get_config() == ref.get_config()
        shape = (2, 6, 7, 6)
        x = rng.normal(size=shape).astype("float32")
        ours.build(shape)
        back.build(shape)
        assert [w.shape for w in ours.weights] == [w.shape for w in back.weights]
        back.set_weights([rng.normal(size=w.shape) for w in back.weights])
        ours.set_weights(back.get_weights())
        y_ref = back(x).numpy()
        assert_close(ours(x).numpy(), y_ref, 1e-5, "tfconv with Keras's weights")
        back.set_weights(ours.get_weights())
        assert_close(back(x).numpy(), y_ref, 1e-5, "Keras with tfconv's weights")

    def test_global_image_data_format(self):
        previous = keras.config.image_data_format()
        keras.config.set_image_data_format("channels_first")
        try:
            ours, ref = layers.Conv2D(3, 3), keras.layers.Conv2D(3, 3)
        finally:
            keras.config.set_image_data_format(previous)
        assert ours.data_format == ref.data_format == "channels_first"
        assert ours.compute_output_shape((None, 2, 8, 9)) == (None, 3, 6, 7)
        assert ours.compute_output_shape((None, 2, 8, 9)) == ref.compute_output_shape(
            (None, 2, 8, 9)
        )

    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [
            ({"filters": 4, "kernel_size": 3, "groups": 0}, "groups"),
            ({"filters": 4, "kernel_size": 3, "groups": 1.5}, "groups"),
            ({"filters": 4, "kernel_size": 3, "groups": 3}, "groups"),
            ({"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, "dilation_rate"),
            ({"filters": 4, "kernel_size": 3, "data_format": "NHWC"}, "data_format"),
            ({"filters": 4, "kernel_size": 3, "lora_rank": 2}, "lora_rank"),
        ],
    )
    def test_refuses_what_keras_refuses(self, kwargs, name):
        if name != "lora_rank":  # Keras implements LoRA; tfconv says it does not
            with pytest.raises(ValueError):
                keras.layers.Conv2D(**kwargs)
        with pytest.raises(ValueError) as info:
            layers.Conv2D(**kwargs)
        assert f"{name}=" in str(info.value) and "Received: " in str(info.value)

    def test_input_channels_must_divide_into_groups(self):
        with pytest.raises(ValueError):
            keras.layers.Conv2D(4, 3, groups=2).build((None, 8, 8, 3))
        with pytest.raises(ValueError) as info:
            layers.Conv2D(4, 3, groups=2).build((None, 8, 8, 3))
        assert "Received: input_shape=(None, 8, 8, 3), groups=2" in str(info.value)

    @pytest.mark.parametrize("dtype", ["int32", "uint8", "bool"])
    def test_integer_inputs_refused_as_keras_refuses_them(self, dtype):
        x = np.ones((1, 5, 5, 2), dtype)
        with pytest.raises(ValueError):
            keras.layers.Conv2D(2, 3)(x)
        with pytest.raises(ValueError) as info:
            layers.Conv2D(2, 3)(x)
        assert f"Received: inputs.dtype={dtype}" in str(info.value)

    def test_other_float_inputs_autocast_as_in_keras(self):
        rng = np.random.default_rng(1)
        ours, ref = twins({"filters": 2, "kernel_size": 3}, (1, 6, 6, 2), rng)
        x = rng.normal(size=(1, 6, 6, 2))
        y, y_ref = ours(x), ref(x)
        assert y.dtype == y_ref.dtype == "float32"
        assert_close(y.numpy(), y_ref.numpy(), 1e-5, "float64 input")

    def test_keras_file_round_trip(self, tmp_path):
        rng = np.random.default_rng(2)
        model = keras.Sequential(
            [
                keras.Input((4, 10, 10)),
                layers.Conv2D(8, 3, groups=2, data_format="channels_first", padding="same"),
                layers.Conv2D(8, 3, groups=8, data_format="channels_first", activation="relu"),
            ]
        )
        x = rng.normal(size=(2, 4, 10, 10)).astype("float32")
        path = tmp_path / "grouped.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        assert [layer.get_config() for layer in loaded.layers] == [
            layer.get_config() for layer in model.layers
        ]
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def mnist_convnet(conv=keras.layers.Conv2D, pool=keras.layers.MaxPooling2D):
    """Keras's own MNIST convnet example (dropout left out: it is random)."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            conv(8, 3, activation="relu"),
            pool(2),
            conv(16, 3, activation="relu"),
            pool(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def functional_model():
    """Two branches (grouped, depthwise, average pooled) joined by an Add."""
    inputs = keras.Input((16, 16, 4))
    a = keras.layers.Conv2D(8, 3, padding="same", groups=2, activation="relu")(inputs)
    a = keras.layers.AveragePooling2D(2)(a)
    b = keras.layers.Conv2D(8, 1, strides=2)(inputs)
    b = keras.layers.Conv2D(8, 3, padding="same", groups=8)(b)
    x = keras.layers.Add()([a, b])
    x = keras.layers.MaxPooling2D(2)(x)
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


class TestConvertModels:
    @pytest.mark.parametrize("build", [mnist_convnet, functional_model], ids=["seq", "func"])
    def test_replace_in_swaps_classes_and_keeps_outputs(self, build):
        keras.utils.set_random_seed(3)
        model = build()
        converted = layers.replace_in(model)
        swapped = [type(layer) for layer in converted.layers]
        assert keras.layers.Conv2D not in swapped and layers.Conv2D in swapped
        assert keras.layers.MaxPooling2D not in swapped and layers.MaxPool2D in swapped
        assert len(converted.weights) == len(model.weights)
        x = np.random.default_rng(3).normal(size=(4, *model.input_shape[1:])).astype("float32")
        y_ref = model.predict(x, verbose=0)
        assert_close(converted.predict(x, verbose=0), y_ref, 1e-5, "converted model")

    def test_load_model_reads_a_keras_file_as_tfconv(self, tmp_path):
        keras.utils.set_random_seed(4)
        model = mnist_convnet()
        path = tmp_path / "keras_model.keras"
        model.save(path)
        loaded = layers.load_model(path)
        assert isinstance(loaded.layers[0], layers.Conv2D)
        assert isinstance(loaded.layers[1], layers.MaxPool2D)
        x = np.random.default_rng(4).normal(size=(3, 28, 28, 1)).astype("float32")
        assert_close(loaded.predict(x, verbose=0), model.predict(x, verbose=0), 1e-5, "loaded")


class TestAnyImageSize:
    def test_fully_convolutional_model_on_several_sizes(self):
        keras.utils.set_random_seed(5)

        def build(conv):
            return keras.Sequential(
                [
                    keras.Input((None, None, 3)),
                    conv(4, 3, padding="same", activation="relu"),
                    conv(8, 3, strides=2, groups=2),
                    conv(8, 3, padding="same", groups=8),
                    conv(2, 1),
                ]
            )

        ref, ours = build(keras.layers.Conv2D), build(layers.Conv2D)
        ours.set_weights(ref.get_weights())
        rng = np.random.default_rng(5)
        for size in [(2, 12, 12), (3, 17, 9), (1, 8, 31)]:
            x = rng.normal(size=(*size, 3)).astype("float32")
            y_ref = ref.predict(x, verbose=0)
            assert_close(ours.predict(x, verbose=0), y_ref, 1e-5, f"predict {size}")
            assert_close(ours(x).numpy(), y_ref, 1e-5, f"eager {size}")

    def test_trains_on_batches_of_different_sizes(self):
        keras.utils.set_random_seed(6)
        model = keras.Sequential(
            [
                keras.Input((None, None, 1)),
                layers.Conv2D(4, 3, padding="same", activation="relu"),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(2),
            ]
        )
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(6)
        for size in [10, 14, 11]:
            x = rng.normal(size=(4, size, size, 1)).astype("float32")
            loss = model.train_on_batch(x, np.array([0, 1, 0, 1]))
            assert np.isfinite(loss)

    def test_dynamic_path_exports_to_builtin_tflite(self):
        from tfconv import export

        layer = layers.Conv2D(4, 3, padding="same", groups=2)
        layer.build((None, None, None, 4))
        depthwise = layers.Conv2D(4, 3, strides=2, groups=4)
        depthwise.build((None, None, None, 4))
        fn = tf.function(
            lambda x: depthwise(layer(x)),
            input_signature=[tf.TensorSpec([1, None, None, 4], tf.float32)],
        )
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        content = converter.convert()
        ops = export.check_builtin_ops(content, "dynamic conv")
        assert "STRIDED_SLICE" in ops
        assert not {"CONV_2D", "DEPTHWISE_CONV_2D"} & set(ops)
        interpreter = tf.lite.Interpreter(model_content=content)
        (source,), (sink,) = interpreter.get_input_details(), interpreter.get_output_details()
        for size in [(11, 9), (6, 14)]:
            x = np.random.default_rng(7).normal(size=(1, *size, 4)).astype("float32")
            interpreter.resize_tensor_input(source["index"], x.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(source["index"], x)
            interpreter.invoke()
            y = interpreter.get_tensor(sink["index"])
            assert_close(y, fn(x).numpy(), 1e-5, f"TFLite on a {size} image")


class TestMatchesKeras:
    @pytest.mark.parametrize("case", GRID, ids=grid_id)
    def test_outputs_and_gradients_float32(self, case):
        rng = np.random.default_rng(zlib.crc32(grid_id(case).encode()))
        ours, ref, call, x = grid_layer_and_input(case, rng)
        weight = rng.normal(size=ours.compute_output_shape(x.shape)).astype("float32")
        axis = 1 if case[10] == "channels_first" else -1
        y, grads = forward_and_grads(ours, x, weight, dynamic=case[11], channel_axis=axis)
        y_ref, grads_ref = forward_and_grads(ref, x, weight, call=call)
        assert y.shape == y_ref.shape
        assert_close(y, y_ref, 1e-5, "output")
        for name, g, g_ref in zip(("input", "kernel", "bias"), grads, grads_ref, strict=True):
            assert_close(g, g_ref, 1e-5, f"{name} gradient")

    @pytest.mark.parametrize(
        ("dtype_policy", "rel"),
        [("mixed_float16", 1e-2), ("mixed_bfloat16", 4e-2)],
        indirect=["dtype_policy"],
    )
    @pytest.mark.parametrize("case", [GRID[0], GRID[3], GRID[7], GRID[12]], ids=grid_id)
    def test_outputs_and_gradients_mixed_precision(self, dtype_policy, rel, case):
        rng = np.random.default_rng(8)
        ours, ref, call, x = grid_layer_and_input(case, rng)
        assert ours.compute_dtype == ref.compute_dtype != "float32"
        weight = rng.normal(size=ours.compute_output_shape(x.shape)).astype("float32")
        axis = 1 if case[10] == "channels_first" else -1
        y, grads = forward_and_grads(ours, x, weight, dynamic=case[11], channel_axis=axis)
        y_ref, grads_ref = forward_and_grads(ref, x, weight, call=call)
        assert_close(y, y_ref, rel, "output")
        for name, g, g_ref in zip(("input", "kernel", "bias"), grads, grads_ref, strict=True):
            assert_close(g, g_ref, rel, f"{name} gradient")


# (name, input shape, Conv2D kwargs): one per code path of the core
PATHS = [
    ("banded", (1, 8, 8, 1), {"filters": 1, "kernel_size": 3, "padding": "same"}),
    ("banded-dilated", (2, 9, 10, 2), {"filters": 3, "kernel_size": 3, "dilation_rate": 2}),
    ("im2col", (1, 8, 8, 16), {"filters": 2, "kernel_size": 3, "padding": "same"}),
    ("im2col-strided", (1, 9, 9, 2), {"filters": 2, "kernel_size": 3, "strides": 2}),
    ("pointwise", (1, 6, 6, 3), {"filters": 2, "kernel_size": 1}),
    ("grouped", (1, 8, 8, 4), {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same"}),
    ("depthwise", (1, 8, 8, 2), {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same"}),
    ("dynamic", (1, 8, 8, 1), {"filters": 2, "kernel_size": 3, "padding": "same"}),
]


class TestNonFinite:
    @pytest.mark.parametrize(
        ("where", "value"),
        [((3, 4), np.nan), ((0, 5), np.nan), ((3, 4), np.inf), ((5, 0), -np.inf)],
        ids=["nan-inside", "nan-edge", "inf-inside", "-inf-edge"],
    )
    @pytest.mark.parametrize(("path", "shape", "kwargs"), PATHS, ids=[p[0] for p in PATHS])
    def test_reaches_exactly_what_keras_reaches(self, path, shape, kwargs, where, value):
        rng = np.random.default_rng(9)
        ours, ref = twins(kwargs, shape, rng)
        x = rng.normal(size=shape).astype("float32")
        x[0, where[0], where[1], 0] = value
        weight = rng.normal(size=ref.compute_output_shape(shape)).astype("float32")
        y, grads = forward_and_grads(ours, x, weight, dynamic=path == "dynamic")
        y_ref, grads_ref = forward_and_grads(ref, x, weight)
        assert not np.isfinite(y_ref).all()  # the case tests something
        np.testing.assert_array_equal(np.isnan(y), np.isnan(y_ref))
        np.testing.assert_array_equal(np.isposinf(y), np.isposinf(y_ref))
        finite = np.isfinite(y_ref)
        assert_close(y[finite], y_ref[finite], 1e-5, "finite outputs")
        names = ("input", "kernel")
        if "dilation_rate" in kwargs:
            # TensorFlow's dilated kernel gradient runs on space-to-batch padded
            # tensors, where a padded zero times an edge Inf gives NaN in kernel
            # taps that never read that pixel; the mathematically exact pattern
            # differs from Keras's there.
            names = ("input",)
        for name, g, g_ref in zip(names, grads, grads_ref, strict=False):
            np.testing.assert_array_equal(np.isnan(g), np.isnan(g_ref), err_msg=name)
            np.testing.assert_array_equal(np.isinf(g), np.isinf(g_ref), err_msg=name)

    def test_paths_are_the_ones_named(self):
        # The grid above relies on choose_block: one input channel gives a banded
        # kernel, sixteen channels plain im2col.
        assert _core.choose_block((3, 3, 1, 1), 8, 1) > 1
        assert _core.choose_block((3, 3, 2, 3), 6, 1) > 1
        assert _core.choose_block((3, 3, 16, 2), 8, 1) == 1
