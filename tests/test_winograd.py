"""The Winograd F(2x2, 3x3) path of tfconv's Conv2D (3x3, stride 1, >= 16 channels).

Checked against Keras's own Conv2D layer with the same weights: outputs and
the input, kernel and bias gradients, NaN/Inf propagation, and a builtin-only
TFLite conversion.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfconv import export
from tfconv import layers as tl
from tfconv._core import switches, winograd


@pytest.fixture(autouse=True)
def _small_shapes_take_winograd(monkeypatch):
    # The dispatch keeps Winograd for larger shapes, where it is faster; the
    # math is the same at the small shapes that keep these tests quick.
    monkeypatch.setattr(switches, "WINOGRAD_MIN_CHANNELS", 16)
    monkeypatch.setattr(switches, "WINOGRAD_MIN_OUTPUT", 1)


def _pair(filters, padding, use_bias, input_shape, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.standard_normal(input_shape, dtype=np.float32))
    theirs = keras.layers.Conv2D(filters, 3, padding=padding, use_bias=use_bias)
    mine = tl.Conv2D(filters, 3, padding=padding, use_bias=use_bias)
    theirs(x)
    mine(x)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    mine.set_weights(weights)
    return x, mine, theirs


def _outputs_and_grads(layer, x, dy):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * dy)
    return [y, *tape.gradient(loss, [x, *layer.trainable_variables])]


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize(
    "filters, padding, use_bias, input_shape",
    [
        (16, "same", True, (2, 8, 8, 16)),
        (24, "valid", False, (2, 7, 9, 16)),  # odd output sizes: tiles cut at the edge
        # one pixel: a single tile, mostly padding
        pytest.param(16, "same", True, (1, 1, 1, 16), marks=pytest.mark.slow),
    ],
)
def test_matches_keras_conv2d(filters, padding, use_bias, input_shape):
    x, mine, theirs = _pair(filters, padding, use_bias, input_shape)
    winograd._winograd_functions.cache_clear()
    dy = tf.constant(np.random.default_rng(1).standard_normal(mine(x).shape, dtype=np.float32))
    ours = _outputs_and_grads(mine, x, dy)
    assert winograd._winograd_functions.cache_info().currsize == 1  # the Winograd path ran
    ref = _outputs_and_grads(theirs, x, dy)
    for name, a, b in zip(("output", "d_input", "d_kernel", "d_bias"), ours, ref, strict=False):
        assert a.shape == b.shape, name
        assert _rel(a, b) < 1e-5, (name, _rel(a, b))


@pytest.mark.slow
def test_matches_keras_inside_a_jit_compiled_training_step():
    x, mine, theirs = _pair(16, "same", True, (2, 6, 6, 16))
    dy = tf.ones((2, 6, 6, 16))
    step = tf.function(lambda x: _outputs_and_grads(mine, x, dy), jit_compile=True)
    for a, b in zip(step(x), _outputs_and_grads(theirs, x, dy), strict=True):
        assert _rel(a, b) < 1e-5


@pytest.mark.parametrize("where", [(0, 0), (3, 4), (7, 7), (4, 0)])
def test_a_nan_pixel_reaches_exactly_keras_nan_outputs(where):
    x, mine, theirs = _pair(16, "same", True, (1, 8, 8, 16))
    x = tf.tensor_scatter_nd_update(x, [[0, *where, 5]], [np.nan])
    ours, ref = np.isnan(mine(x).numpy()), np.isnan(theirs(x).numpy())
    assert ref.any(axis=-1).sum() == (
        4 if where in ((0, 0), (7, 7)) else 6 if where == (4, 0) else 9
    )
    np.testing.assert_array_equal(ours, ref)


def test_an_inf_pixel_gives_keras_values():
    # Winograd's transforms would give NaN (inf - inf) where Keras's direct
    # sum gives +-inf: a non-finite input takes the im2col path.
    x, mine, theirs = _pair(16, "same", True, (1, 8, 8, 16))
    x = tf.tensor_scatter_nd_update(x, [[0, 3, 4, 5]], [np.inf])
    ours, ref = mine(x).numpy(), theirs(x).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
    np.testing.assert_array_equal(ours[np.isinf(ref)], ref[np.isinf(ref)])
    finite = np.isfinite(ref)
    assert _rel(ours[finite], ref[finite]) < 1e-5


def test_tflite_conversion_is_builtin_only_and_matches():
    inputs = keras.Input((9, 7, 16))
    y = tl.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    model = keras.Model(inputs, tl.Conv2D(16, 3)(y))
    module = tf.Module()
    # Tracked tf.Variables, so that the converter freezes them (as tfconv.export does).
    module.model_variables = [v.value for v in model.variables]
    module.serve = tf.function(lambda x: model(x))
    # As tfconv.export traces: without the non-finite fallback's IF.
    with switches.export_graph():
        fn = module.serve.get_concrete_function(tf.TensorSpec((1, 9, 7, 16), tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    content = converter.convert()
    ops = export.check_builtin_ops(content)
    assert not {"CONV_2D", "DEPTHWISE_CONV_2D", "IF"} & set(ops), ops
    assert "BATCH_MATMUL" in ops or "FULLY_CONNECTED" in ops  # the Winograd products
    x = np.random.default_rng(0).standard_normal((1, 9, 7, 16)).astype(np.float32)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-4, atol=1e-4)


def test_winograd_is_taken_only_inside_its_domain(monkeypatch):
    monkeypatch.setattr(switches, "WINOGRAD_MIN_CHANNELS", 32)
    monkeypatch.setattr(switches, "WINOGRAD_MIN_OUTPUT", 14)
    eligible = winograd.winograd_eligible
    assert eligible((3, 3, 64, 64), (1, 1), (1, 1), (16, 16))
    assert not eligible((3, 3, 16, 64), (1, 1), (1, 1), (16, 16))  # few channels
    assert not eligible((3, 3, 64, 64), (1, 1), (1, 1), (11, 11))  # small output
    assert not eligible((3, 3, 64, 64), (1, 1), (1, 1), (None, 16))  # dynamic size
    assert not eligible((3, 3, 64, 64), (2, 2), (1, 1), (16, 16))
    assert not eligible((3, 3, 64, 64), (1, 1), (2, 2), (16, 16))
    assert not eligible((5, 5, 64, 64), (1, 1), (1, 1), (16, 16))
    monkeypatch.setattr(switches, "WINOGRAD", False)
    assert not eligible((3, 3, 64, 64), (1, 1), (1, 1), (16, 16))
