"""Tests of tfconv.models: the variant registry, builders, summary and configs."""

from __future__ import annotations

import dataclasses
import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfconv.layers
from tfconv import models
from tfconv.models import registry

VARIANTS = models.list_variants()
BACKENDS = ("tfconv", "keras")


def _images(n: int, seed: int = 0, shape: tuple[int, ...] = (28, 28, 1)) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def _out_len(n: int, k: int, pad_total: int, s: int) -> int:
    # The book's output-size formula, written here independently of tfconv.
    return (n - k + pad_total + s) // s


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


# --------------------------------------------------------------------------
# Every variant with both layer backends
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layers", BACKENDS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_build_forward_and_train_step(variant, layers):
    model = models.build(variant, layers=layers)
    assert model.name == variant
    assert model.layers[-1].name == "logits"
    x = _images(2)
    logits = model(x, training=False)
    assert tuple(logits.shape) == (2, 10)
    assert logits.dtype == tf.float32
    assert np.all(np.isfinite(logits.numpy()))

    # One eager SGD step: the loss is finite and the weights move.
    x, y = _images(8, seed=1), np.arange(8) % 10
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.SGD(0.1)
    before = [w.numpy().copy() for w in model.trainable_weights]
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None for g in grads)
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    assert np.isfinite(float(loss))
    assert any(
        not np.array_equal(b, w.numpy())
        for b, w in zip(before, model.trainable_weights, strict=True)
    )


def _randomize(model: keras.Model, seed: int) -> None:
    # Non-default biases and batch-norm statistics, so that the equivalence
    # test below also exercises them.
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = w.numpy()
        if w.path.endswith(("gamma", "moving_variance")):
            value = rng.uniform(0.5, 1.5, value.shape)
        else:
            value = value + rng.normal(0.0, 0.05, value.shape)
        w.assign(value.astype(value.dtype))


@pytest.mark.parametrize("variant", VARIANTS)
def test_tfconv_and_keras_builds_agree(variant):
    ours = models.build(variant, layers="tfconv")
    ref = models.build(variant, layers="keras")
    assert ours.count_params() == ref.count_params()

    ours_weighted = {layer.name: layer for layer in ours.layers if layer.weights}
    ref_weighted = {layer.name: layer for layer in ref.layers if layer.weights}
    assert ours_weighted.keys() == ref_weighted.keys()
    _randomize(ref, seed=3)
    for name, layer in ref_weighted.items():
        weights = layer.get_weights()
        assert [w.shape for w in weights] == [w.shape for w in ours_weighted[name].get_weights()]
        ours_weighted[name].set_weights(weights)

    x = _images(4, seed=2)
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_feature_map_sizes_match_built_model(variant):
    model = models.build(variant)
    config = models.get_config(variant)
    pools = [
        tuple(model.get_layer(f"pool{i}").output.shape[1:3])
        for i in range(1, len(config.conv_channels) + 1)
    ]
    assert pools == models.feature_map_sizes(config)


# --------------------------------------------------------------------------
# The book's LeNet
# --------------------------------------------------------------------------


def test_lenet_has_the_books_parameter_count():
    conv1 = 5 * 5 * 1 * 6 + 6
    conv2 = 5 * 5 * 6 * 16 + 16
    dense = (16 * 5 * 5) * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10
    assert conv1 + conv2 + dense == 61_706
    for layers in BACKENDS:
        assert models.build("lenet", layers=layers).count_params() == 61_706


def test_lenet_summary_matches_the_book():
    n = 28
    c1 = _out_len(n, 5, 2 * 2, 1)  # 5x5 conv, padding 2
    p1 = _out_len(c1, 2, 0, 2)  # 2x2 pool, stride 2
    c2 = _out_len(p1, 5, 0, 1)
    p2 = _out_len(c2, 2, 0, 2)
    expected = [
        ("Conv2D", (1, c1, c1, 6)),
        ("AvgPool2D", (1, p1, p1, 6)),
        ("Conv2D", (1, c2, c2, 16)),
        ("AvgPool2D", (1, p2, p2, 16)),
        ("Flatten", (1, p2 * p2 * 16)),
        ("Dense", (1, 120)),
        ("Dense", (1, 84)),
        ("Dense", (1, 10)),
    ]
    assert expected[0][1] == (1, 28, 28, 6) and expected[4][1] == (1, 400)
    lines = []
    rows = models.summary(models.build("lenet"), print_fn=lines.append)
    assert rows == expected
    assert lines[0] == "Conv2D output shape:\t (1, 28, 28, 6)"
    assert lines == [f"{name} output shape:\t {shape}" for name, shape in expected]


def test_lenet_layers_are_the_books():
    model = models.build("lenet")
    conv1, conv2 = model.get_layer("conv1"), model.get_layer("conv2")
    assert isinstance(conv1, tfconv.layers.Conv2D)
    assert conv1.padding == ((2, 2), (2, 2))
    assert conv1.get_config()["activation"] == "sigmoid"
    assert conv2.padding == "valid"
    assert isinstance(model.get_layer("pool1"), tfconv.layers.AvgPool2D)
    assert model.get_layer("pool1").strides == (2, 2)
    assert model.get_layer("dense2").get_config()["activation"] == "sigmoid"
    assert model.get_layer("logits").get_config()["activation"] == "linear"
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


def test_summary_without_print_and_with_input_shape():
    model = models.build("lenet", layers="keras")
    rows = models.summary(model, print_fn=None)
    assert rows[0] == ("Conv2D", (1, 28, 28, 6))
    assert rows[1] == ("AveragePooling2D", (1, 14, 14, 6))
    assert models.summary(model, input_shape=(28, 28, 1), print_fn=None) == rows


def test_keras_build_pads_explicitly_when_same_is_not_equivalent():
    ours = models.build("lenet", layers="tfconv", kernel_size=4, first_padding=1)
    ref = models.build("lenet", layers="keras", kernel_size=4, first_padding=1)
    assert ref.get_layer("pad1").output.shape[1:3] == (30, 30)
    assert ours.get_layer("conv1").output.shape == ref.get_layer("conv1").output.shape
    assert ours.count_params() == ref.count_params()


# --------------------------------------------------------------------------
# Registry, overrides and validation
# --------------------------------------------------------------------------


def test_registry_covers_the_exercises():
    expected = {
        "lenet",
        "lenet_maxpool",
        "lenet_relu",
        "lenet_k3",
        "lenet_k7",
        "lenet_wide",
        "lenet_deep",
        "lenet_dense3",
        "lenet_dense1",
        "lenet_bn",
        "lenet_dropout",
        "lenet_modern",
    }
    assert expected <= set(VARIANTS)
    assert VARIANTS[0] == "lenet"
    assert models.get_config("lenet") == models.ModelConfig()
    for name in VARIANTS:
        assert isinstance(models.get_config(name), models.ModelConfig)
        description = models.DESCRIPTIONS[name]
        assert description and "\n" not in description
        assert isinstance(models.get_recipe(name), models.Recipe)


def test_recipes():
    book = models.get_recipe("lenet")
    assert (book.optimizer, book.lr, book.epochs, book.batch_size) == ("sgd", 0.9, 10, 256)
    assert book.schedule == "constant" and not book.augment
    modern = models.get_recipe("lenet_modern")
    assert modern.optimizer == "adam" and modern.lr < 0.01
    assert modern.schedule == "cosine"
    with pytest.raises(ValueError, match=r"Received: schedule='step'"):
        models.Recipe(schedule="step")
    with pytest.raises(ValueError, match=r"Received: optimizer='rmsprop'"):
        models.Recipe(optimizer="rmsprop")
    with pytest.raises(ValueError, match=r"Received: lr=0"):
        models.Recipe(lr=0)
    with pytest.raises(ValueError, match=r"Received: lr=nan"):
        models.Recipe(lr=float("nan"))
    with pytest.raises(ValueError, match=r"Received: epochs=True"):
        models.Recipe(epochs=True)
    assert models.Recipe(epochs=np.int64(3)).epochs == 3


def test_public_names_resolve():
    # Every name of `__all__` is re-exported from the module that defines it.
    for name in models.__all__:
        assert getattr(models, name) is not None, name


def test_register_variant(monkeypatch):
    # The registry reads its tables in `models.registry`; `models` re-exports them.
    for table in ("VARIANTS", "DESCRIPTIONS", "RECIPES"):
        copy = dict(getattr(registry, table))
        monkeypatch.setattr(registry, table, copy)
        monkeypatch.setattr(models, table, copy)
    config = dataclasses.replace(models.get_config("lenet"), conv_channels=(8, 16))
    models.register_variant("lenet_8", config, "LeNet with 8 first channels.")
    assert models.list_variants()[-1] == "lenet_8"
    assert models.get_recipe("lenet_8") == models.Recipe()
    assert models.build("lenet_8").name == "lenet_8"
    with pytest.raises(ValueError, match=r"already registered.*Received: name='lenet'"):
        models.register_variant("lenet", config, "Again.")
    models.register_variant("lenet_8", config, "Replaced.", overwrite=True)
    assert models.DESCRIPTIONS["lenet_8"] == "Replaced."
    with pytest.raises(ValueError, match=r"Received: name='le net'"):
        models.register_variant("le net", config, "Bad name.")
    with pytest.raises(ValueError, match=r"Received: config="):
        models.register_variant("lenet_x", {"kernel_size": 3}, "Not a config.")
    with pytest.raises(ValueError, match=r"Received: description="):
        models.register_variant("lenet_x", config, "two\nlines")


def test_modern_is_small_and_modern():
    config = models.get_config("lenet_modern")
    assert config.activation == "relu" and config.pooling == "max"
    assert config.batch_norm and config.dropout > 0
    assert models.build("lenet_modern").count_params() < 100_000


def test_overrides_and_config_instances():
    model = models.build("lenet", activation="relu", pooling="max")
    assert model.name == "lenet"
    assert model.get_layer("conv1").get_config()["activation"] == "relu"
    assert isinstance(model.get_layer("pool1"), tfconv.layers.MaxPool2D)

    config = dataclasses.replace(models.get_config("lenet"), num_classes=5)
    model = models.build(config, layers="keras", name="five")
    assert model.name == "five"
    assert tuple(model(_images(1)).shape) == (1, 5)
    assert models.build(config).name == "custom"
    assert models.build(config, dense_units=[32]).get_layer("dense1").units == 32


def test_unknown_variant():
    for call in (models.build, models.get_config, models.get_recipe):
        with pytest.raises(ValueError, match=r"Received: variant='lenet6'") as info:
            call("lenet6")
        assert all(name in str(info.value) for name in VARIANTS)


def test_unknown_override_lists_fields():
    with pytest.raises(ValueError, match=r"Unknown ModelConfig field") as info:
        models.build("lenet", channels=(6, 16))
    message = str(info.value)
    assert "channels" in message
    assert all(f.name in message for f in dataclasses.fields(models.ModelConfig))


def test_unknown_layers_backend():
    with pytest.raises(ValueError, match=r"Received: layers='torch'") as info:
        models.build("lenet", layers="torch")
    assert "tfconv" in str(info.value) and "keras" in str(info.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("conv_channels", ()),
        ("conv_channels", (6, 0)),
        ("conv_channels", 6),
        ("kernel_size", 0),
        ("kernel_size", True),
        ("kernel_size", 5.0),
        ("first_padding", -1),
        ("conv_padding", "full"),
        ("pooling", "min"),
        ("pool_size", 0),
        ("activation", "softmax"),
        ("dense_units", (120, -1)),
        ("batch_norm", "yes"),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("dropout", "0.5"),
        ("initializer", "zeros"),
        ("num_classes", 1),
        ("input_shape", (28, 28)),
        ("input_shape", (28, 0, 1)),
    ],
)
def test_bad_field_values(field, value):
    pattern = rf"`{field}`.*Received: {re.escape(field)}={re.escape(repr(value))}$"
    with pytest.raises(ValueError, match=pattern):
        models.ModelConfig(**{field: value})
    with pytest.raises(ValueError, match=pattern):
        models.build("lenet", **{field: value})


def test_network_that_does_not_fit_its_input():
    # 12x12 → pool 6x6 → 5x5 valid conv 2x2 → pool 1x1 fits; 8x8 does not.
    assert models.feature_map_sizes(models.ModelConfig(input_shape=(12, 12, 1)))[-1] == (1, 1)
    with pytest.raises(ValueError, match=r"does not fit.*Received: input_shape=\(8, 8, 1\)"):
        models.ModelConfig(input_shape=(8, 8, 1))
    with pytest.raises(ValueError, match=r"does not fit"):
        models.build("lenet_deep", conv_padding="valid")


def test_configs_are_normalised_and_frozen():
    config = models.ModelConfig(conv_channels=[6, np.int64(16)], dropout=0, dense_units=[])
    assert config.conv_channels == (6, 16) and type(config.conv_channels[1]) is int
    assert config.dropout == 0.0 and isinstance(config.dropout, float)
    assert config.dense_units == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.kernel_size = 3


# --------------------------------------------------------------------------
# JSON configs and saving
# --------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_dict_round_trip(variant):
    config = models.get_config(variant)
    data = models.config_to_dict(config)
    assert set(data) == {f.name for f in dataclasses.fields(models.ModelConfig)}
    assert isinstance(data["conv_channels"], list)
    assert isinstance(data["input_shape"], list)
    restored = models.config_from_dict(json.loads(json.dumps(data)))
    assert restored == config
    assert hash(restored) == hash(config)


def test_config_from_partial_dict():
    assert models.config_from_dict({}) == models.get_config("lenet")
    config = models.config_from_dict({"dropout": 0.5}, base="lenet_modern")
    assert config == dataclasses.replace(models.get_config("lenet_modern"), dropout=0.5)
    base = models.get_config("lenet_wide")
    assert models.config_from_dict({"kernel_size": 3}, base=base).conv_channels == (16, 32)
    with pytest.raises(ValueError, match=r"Valid fields"):
        models.config_from_dict({"kernel": 3})
    with pytest.raises(ValueError, match=r"Received: variant='nope'"):
        models.config_from_dict({}, base="nope")
    with pytest.raises(ValueError, match=r"Received: kernel_size='3'"):
        models.config_from_dict({"kernel_size": "3"})


@pytest.mark.parametrize("variant", ["lenet", "lenet_modern"])
def test_keras_file_round_trip(tmp_path, variant):
    model = models.build(variant, layers="tfconv")
    _randomize(model, seed=4)
    x = _images(3, seed=5)
    expected = model.predict(x, verbose=0)
    path = tmp_path / f"{variant}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("conv1"), tfconv.layers.Conv2D)
    assert loaded.name == variant
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)


# --------------------------------------------------------------------------
# Mixed precision
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layers", BACKENDS)
@pytest.mark.parametrize("variant", ["lenet", "lenet_modern"])
def test_mixed_precision_logits_are_float32(mixed_precision, variant, layers):
    model = models.build(variant, layers=layers)
    conv1 = keras.Model(model.input, model.get_layer("conv1").output)
    x = _images(2)
    assert conv1(x).dtype == tf.float16
    logits = model(x)
    assert logits.dtype == tf.float32
    assert model.get_layer("logits").compute_dtype == "float32"
    assert np.all(np.isfinite(logits.numpy()))


# --------------------------------------------------------------------------
# Preprocessing and class names carried by a saved model (issue 12)
# --------------------------------------------------------------------------


class TestCarriedPreprocessing:
    def test_pixel_scaling_is_the_pipelines_arithmetic(self):
        pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
        mean, std = 0.2860405969887955, 0.3530242445149226
        x = pixels.astype(np.float32) / np.float32(255.0)
        np.testing.assert_array_equal(np.asarray(models.PixelScaling()(pixels)), x)
        expected = (x - np.float32(mean)) / np.float32(std)
        np.testing.assert_array_equal(np.asarray(models.PixelScaling(mean, std)(pixels)), expected)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"std": 0.0},
            {"std": -1.0},
            {"mean": float("nan")},
            {"std": float("inf")},
            {"mean": "0"},
        ],
    )
    def test_pixel_scaling_refuses_bad_values(self, kwargs):
        name = next(iter(kwargs))
        with pytest.raises(ValueError, match=rf"Received: {name}="):
            models.PixelScaling(**kwargs)

    @pytest.mark.parametrize("names", [[], "abc", ["a", ""], ["a", 3]])
    def test_class_names_refuses_bad_names(self, names):
        with pytest.raises(ValueError, match=r"Received: class_names="):
            models.ClassNames(names)

    def test_with_preprocessing_round_trips_and_shares_weights(self, tmp_path):
        model = models.build("lenet_fast", layers="tfconv")
        names = [f"class {i}" for i in range(10)]
        wrapped = models.with_preprocessing(model, 0.25, 0.5, class_names=names, dataset="mnist")
        # A flat chain: the model's own layers between the two new ones, weights shared.
        assert [layer.name for layer in wrapped.layers[1:]] == [
            "pixel_scaling",
            *(layer.name for layer in model.layers[1:]),
            "class_names",
        ]
        assert wrapped.get_layer("conv1") is model.get_layer("conv1")
        pixels = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype(np.float32)
        expected = model.predict((pixels / np.float32(255) - 0.25) / 0.5, verbose=0)
        path = tmp_path / "m.keras"
        wrapped.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(loaded.predict(pixels, verbose=0), expected, atol=1e-5)
        scaling = models.find_layer(loaded, models.PixelScaling)
        labels = models.find_layer(loaded, models.ClassNames)
        assert (scaling.mean, scaling.std, scaling.describe()) == (
            0.25,
            0.5,
            "(x / 255 - 0.250000) / 0.500000",
        )
        assert (labels.class_names, labels.dataset) == (names, "mnist")
        with pytest.raises(ValueError, match=r"already takes raw pixels"):
            models.with_preprocessing(loaded)

    def test_class_names_must_match_the_logits(self):
        with pytest.raises(ValueError, match=r"10 logits but 3 class names"):
            models.with_preprocessing(models.build("lenet"), class_names=["a", "b", "c"])
