"""Tests for `tfconv.ops`: the book's worked examples, an oracle, gradients, errors."""

from __future__ import annotations

import ast
import doctest
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

import tfconv
from tfconv import layers, ops
from tfconv import testing as oracle

X3 = np.arange(9, dtype="float32").reshape(3, 3)
K2 = np.array([[0, 1], [2, 3]], dtype="float32")
X_TWO = np.stack([X3, X3 + 1])
K_TWO = np.stack([K2, K2 + 1])
X16 = np.arange(16, dtype="float32").reshape(4, 4)

BOOK_SHAPES = [  # (kernel, padding, stride, expected) on an 8x8 input
    (3, 1, 1, (8, 8)),
    ((5, 3), (2, 1), 1, (8, 8)),
    (3, 1, 2, (4, 4)),
    ((3, 5), (0, 1), (3, 4), (2, 2)),
]


def edge_image() -> np.ndarray:
    """The book's 6x8 image: ones, with the four middle columns (2..5) zero."""
    X = np.ones((6, 8), dtype="float32")
    X[:, 2:6] = 0
    return X


# --------------------------------------------------------------------------
# The chapter's worked examples, with the printed values
# --------------------------------------------------------------------------


class TestBookExamples:
    def test_corr2d(self):
        np.testing.assert_array_equal(ops.corr2d(X3, K2), [[19, 25], [37, 43]])

    def test_corr2d_multi_in(self):
        np.testing.assert_array_equal(ops.corr2d_multi_in(X_TWO, K_TWO), [[56, 72], [104, 120]])

    def test_corr2d_multi_in_out(self):
        K = np.stack([K_TWO, K_TWO + 1, K_TWO + 2])
        assert K.shape == (3, 2, 2, 2)
        Y = ops.corr2d_multi_in_out(X_TWO, K)
        expected = [
            [[56, 72], [104, 120]],
            [[76, 100], [148, 172]],
            [[96, 128], [192, 224]],
        ]
        np.testing.assert_array_equal(Y, expected)

    @pytest.mark.parametrize("kernel_shape", [(2, 3, 1, 1), (2, 3)])
    def test_1x1_is_a_matrix_product(self, kernel_shape):
        rng = np.random.default_rng(0)
        X = rng.uniform(size=(3, 3, 3))
        K = rng.uniform(size=(2, 3, 1, 1))
        Y1 = ops.corr2d_multi_in_out_1x1(X, K.reshape(kernel_shape))
        Y2 = ops.corr2d_multi_in_out(X, K)
        assert Y1.shape == (2, 3, 3)
        assert float(tf.reduce_sum(tf.abs(Y1 - Y2))) < 1e-6

    def test_pool2d_3x3_example(self):
        # The book's own calls and printed values: its pool2d slides one cell at a time.
        X = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
        np.testing.assert_array_equal(ops.pool2d(X, (2, 2)), [[4, 5], [7, 8]])
        np.testing.assert_array_equal(ops.pool2d(X, (2, 2), "avg"), [[2, 3], [5, 6]])
        np.testing.assert_array_equal(ops.pool2d(X, (2, 2), mode="max"), [[4, 5], [7, 8]])

    def test_pool2d_defaults_are_the_books(self):
        # Stride 1 and no padding, whatever the window: every position where it fits.
        X = np.random.default_rng(8).normal(size=(5, 7))
        for pool_size, mode in [((2, 2), "max"), ((3, 2), "avg"), (3, "max")]:
            np.testing.assert_allclose(
                ops.pool2d(X, pool_size, mode), oracle.pool2d(X, pool_size, mode), rtol=1e-12
            )
        assert tuple(ops.pool2d(X, (3, 2)).shape) == (3, 6)

    def test_pool2d_stride_none_is_the_framework_layers_default(self):
        # nn.MaxPool2D(3) in the book (and keras MaxPool2D(3)): stride = window.
        np.testing.assert_array_equal(ops.pool2d(X16, 3, stride=None), [[10]])

    def test_pool2d_padding_and_stride(self):
        np.testing.assert_array_equal(ops.pool2d(X16, 3, padding=1, stride=2), [[5, 7], [13, 15]])

    def test_pool2d_rectangular_window(self):
        Y = ops.pool2d(X16, (2, 3), padding=(1, 2), stride=(2, 3))
        np.testing.assert_array_equal(Y, [[0, 3], [8, 11], [12, 15]])

    def test_pool2d_multi_channel(self):
        Y = ops.pool2d(np.stack([X16, X16 + 1]), 3, padding=1, stride=2)
        np.testing.assert_array_equal(Y, [[[5, 7], [13, 15]], [[6, 8], [14, 16]]])

    def test_edge_detection(self):
        X = edge_image()
        Y = ops.corr2d(X, [[1, -1]]).numpy()
        expected = np.zeros((6, 7), dtype="float32")
        expected[:, 1] = 1
        expected[:, 5] = -1
        np.testing.assert_array_equal(Y, expected)

    def test_edge_detector_ignores_horizontal_edges(self):
        Y = ops.corr2d(edge_image().T, [[1, -1]])
        assert Y.shape == (8, 5)
        np.testing.assert_array_equal(Y, np.zeros((8, 5)))

    @pytest.mark.parametrize(("kernel", "padding", "stride", "expected"), BOOK_SHAPES)
    def test_padding_and_stride_shapes(self, kernel, padding, stride, expected):
        assert ops.conv_output_shape((8, 8), kernel, padding, stride) == expected
        assert layers.conv2d_output_shape((1, 8, 8, 1), 1, kernel, stride, padding) == (
            1,
            *expected,
            1,
        )
        X = np.random.default_rng(0).uniform(size=(1, 8, 8, 1)).astype("float32")
        Y = layers.Conv2D(1, kernel, strides=stride, padding=padding)(X)
        assert tuple(Y.shape) == (1, *expected, 1)

    @pytest.mark.parametrize(("kernel", "padding", "stride", "expected"), BOOK_SHAPES)
    def test_padding_and_stride_shapes_of_pool2d(self, kernel, padding, stride, expected):
        X = np.random.default_rng(0).uniform(size=(8, 8))
        assert tuple(ops.pool2d(X, kernel, "avg", padding, stride).shape) == expected


# --------------------------------------------------------------------------
# Basic behaviour: types, dtypes, shapes
# --------------------------------------------------------------------------


class TestOpsBasic:
    def test_returns_tensors_for_numpy_lists_and_tensors(self):
        for X, K in [(X3, K2), (X3.tolist(), K2.tolist()), (tf.constant(X3), tf.constant(K2))]:
            Y = ops.corr2d(X, K)
            assert isinstance(Y, tf.Tensor)
            assert Y.dtype == tf.float32

    def test_integer_input_computes_in_float32(self):
        Y = ops.corr2d(X3.astype("int64"), K2.astype("int32"))
        assert Y.dtype == tf.float32
        np.testing.assert_array_equal(Y, [[19, 25], [37, 43]])
        assert ops.pool2d(X16.astype("int32"), 2).dtype == tf.float32
        np.testing.assert_array_equal(ops.pool2d(X3.astype("int64"), 2), [[4, 5], [7, 8]])

    @pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
    def test_float_dtype_is_kept(self, dtype):
        X = tf.cast(X_TWO, dtype)
        K = tf.cast(np.stack([K_TWO, K_TWO + 1]), dtype)
        assert ops.corr2d(X[0], K[0, 0]).dtype == dtype
        assert ops.corr2d_multi_in(X, K[0]).dtype == dtype
        assert ops.corr2d_multi_in_out(X, K).dtype == dtype
        assert ops.corr2d_multi_in_out_1x1(X, K[:, :, :1, :1]).dtype == dtype
        assert ops.pool2d(X, 2, "max").dtype == dtype
        assert ops.pool2d(X, 2, "avg", padding=1).dtype == dtype
        # Small integers are exact in every one of these formats.
        np.testing.assert_array_equal(
            tf.cast(ops.corr2d_multi_in(X, K[0]), "float32"), [[56, 72], [104, 120]]
        )

    def test_float64_kernel_widens_float32_input(self):
        assert ops.corr2d(X3, K2.astype("float64")).dtype == tf.float64

    @pytest.mark.parametrize(
        ("shape", "kernel", "padding", "stride"),
        [
            ((8, 8), 3, 0, 1),
            ((7, 9), (2, 4), (1, 3), (2, 3)),
            ((5, 5), 5, 0, 4),
            ((6, 4), 1, 0, 1),
        ],
    )
    def test_conv_output_shape_matches_the_core_and_the_layer_shape_function(
        self, shape, kernel, padding, stride
    ):
        out = ops.conv_output_shape(shape, kernel, padding, stride)
        assert isinstance(out, tuple) and all(isinstance(v, int) for v in out)
        assert layers.conv2d_output_shape((None, *shape, 3), 4, kernel, stride, padding) == (
            None,
            *out,
            4,
        )
        assert layers.pool2d_output_shape((None, *shape, 3), kernel, stride, padding) == (
            None,
            *out,
            3,
        )

    def test_ops_work_inside_tf_function(self):
        f = tf.function(lambda X, K: ops.corr2d_multi_in_out(X, K))
        K = np.stack([K_TWO, K_TWO + 1, K_TWO + 2])
        np.testing.assert_array_equal(f(X_TWO, K), ops.corr2d_multi_in_out(X_TWO, K))

    def test_docstring_examples(self):
        results = doctest.testmod(
            ops,
            extraglobs={"np": np, "tf": tf, **{name: getattr(ops, name) for name in ops.__all__}},
            optionflags=doctest.NORMALIZE_WHITESPACE,
        )
        assert results.attempted > 0 and results.failed == 0

    def test_exported_from_package(self):
        assert tfconv.ops is ops
        for name in ops.__all__:
            assert callable(getattr(ops, name))


# --------------------------------------------------------------------------
# Correctness against the NumPy loop oracle
# --------------------------------------------------------------------------


class TestOpsCorrectness:
    @pytest.mark.parametrize(
        ("x_shape", "k_shape"),
        [
            ((3, 3), (2, 2)),
            ((1, 1), (1, 1)),
            ((6, 8), (1, 2)),
            ((7, 5), (7, 1)),
            ((12, 10), (3, 4)),
        ],
    )
    def test_corr2d(self, x_shape, k_shape):
        rng = np.random.default_rng(1)
        X, K = rng.normal(size=x_shape), rng.normal(size=k_shape)
        ref = oracle.corr2d(X, K)
        np.testing.assert_allclose(ops.corr2d(X, K), ref, rtol=1e-12, atol=1e-12)
        ours32 = ops.corr2d(X.astype("float32"), K.astype("float32"))
        np.testing.assert_allclose(ours32, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())

    @pytest.mark.parametrize(
        ("ci", "co", "hw", "khw"),
        [
            (1, 1, (3, 3), (2, 2)),
            (2, 3, (5, 6), (3, 2)),
            (4, 2, (8, 8), (1, 1)),
            (3, 5, (6, 4), (6, 4)),
        ],
    )
    def test_multi_channel(self, ci, co, hw, khw):
        rng = np.random.default_rng(2)
        X = rng.normal(size=(ci, *hw)).astype("float32")
        K = rng.normal(size=(co, ci, *khw)).astype("float32")
        ref = oracle.corr2d_multi_in_out(X, K)
        tol = 1e-5 * np.abs(ref).max()
        np.testing.assert_allclose(ops.corr2d_multi_in_out(X, K), ref, rtol=1e-5, atol=tol)
        np.testing.assert_allclose(ops.corr2d_multi_in(X, K[0]), ref[0], rtol=1e-5, atol=tol)
        if khw == (1, 1):
            Y = ops.corr2d_multi_in_out_1x1(X, K)
            np.testing.assert_allclose(Y, ref, rtol=1e-5, atol=tol)

    @pytest.mark.parametrize("mode", ["max", "avg"])
    @pytest.mark.parametrize(
        ("x_shape", "pool_size", "padding", "stride"),
        [
            ((3, 3), 2, 0, 1),
            ((4, 4), 3, 1, 2),
            ((4, 4), (2, 3), (1, 2), (2, 3)),
            ((2, 7, 9), 3, 0, None),
            ((3, 8, 8), 2, 1, None),
            ((2, 9, 6), (3, 2), (2, 1), (1, 3)),
            ((5, 5), 1, 0, 2),
            ((1, 10, 11), 4, 3, 3),
            ((6, 6), 2, 1, 4),
        ],
    )
    def test_pool2d(self, x_shape, pool_size, padding, stride, mode):
        X = np.random.default_rng(3).normal(size=x_shape).astype("float32")
        Y = ops.pool2d(X, pool_size, mode, padding, stride)
        ref = oracle.pool2d(X, pool_size, mode, padding, stride)
        np.testing.assert_allclose(Y, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())

    def test_max_pool_padding_never_wins(self):
        X = -1.0 - np.arange(16, dtype="float32").reshape(4, 4)  # all negative
        Y = ops.pool2d(X, 3, "max", padding=1, stride=2)
        np.testing.assert_array_equal(Y, oracle.pool2d(X, 3, "max", 1, 2))
        assert float(tf.reduce_max(Y)) == -1.0

    def test_avg_pool_padding_counts_zeros(self):
        Y = ops.pool2d(np.ones((2, 2)), 2, "avg", padding=1, stride=1)
        np.testing.assert_allclose(Y, [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


# --------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------


class TestOpsGradients:
    def test_corr2d_kernel_gradient_matches_oracle(self):
        rng = np.random.default_rng(4)
        X, W = rng.normal(size=(7, 6)), rng.normal(size=(5, 4))
        K = tf.Variable(rng.normal(size=(3, 3)))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(ops.corr2d(X, K) * W)
        grad = tape.gradient(loss, K)
        # d loss / d K[a, b] = sum_ij W[i, j] X[i + a, j + b] = corr2d(X, W).
        np.testing.assert_allclose(grad, oracle.corr2d(X, W), rtol=1e-12, atol=1e-12)

    @pytest.mark.parametrize("wrt", ["X", "K"])
    def test_corr2d_gradient_matches_finite_differences(self, wrt):
        rng = np.random.default_rng(5)
        args = {"X": rng.normal(size=(5, 6)), "K": rng.normal(size=(2, 3))}
        W = rng.normal(size=(4, 4))

        def loss(**kwargs):
            return float(np.sum(oracle.corr2d(kwargs["X"], kwargs["K"]) * W))

        var = tf.Variable(args[wrt])
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(ops.corr2d(**{**args, wrt: var}) * W)
        grad = tape.gradient(value, var).numpy()
        eps, numeric = 1e-6, np.zeros_like(args[wrt])
        for idx in np.ndindex(args[wrt].shape):
            plus, minus = args[wrt].copy(), args[wrt].copy()
            plus[idx] += eps
            minus[idx] -= eps
            numeric[idx] = (loss(**{**args, wrt: plus}) - loss(**{**args, wrt: minus})) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)

    def test_multi_in_out_gradients_exist_and_are_finite(self):
        rng = np.random.default_rng(6)
        X = tf.Variable(rng.normal(size=(3, 6, 6)).astype("float32"))
        K = tf.Variable(rng.normal(size=(2, 3, 3, 3)).astype("float32"))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(ops.corr2d_multi_in_out(X, K) ** 2)
        gx, gk = tape.gradient(loss, [X, K])
        assert gx.shape == X.shape and gk.shape == K.shape
        assert np.isfinite(gx.numpy()).all() and np.isfinite(gk.numpy()).all()

    @pytest.mark.parametrize("mode", ["max", "avg"])
    def test_pool2d_gradient(self, mode):
        X = tf.Variable(np.random.default_rng(7).normal(size=(2, 5, 5)).astype("float32"))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(ops.pool2d(X, 2, mode, padding=1, stride=2))
        grad = tape.gradient(loss, X).numpy()
        # Non-overlapping 2x2 windows over the padded 6x6 grid cover each cell once.
        if mode == "avg":
            np.testing.assert_allclose(grad, np.full((2, 5, 5), 0.25), rtol=1e-6)
        else:
            assert grad.sum() == 2 * 9  # one winner per output cell
            assert set(np.unique(grad)) <= {0.0, 1.0}


# --------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------

BAD_CALLS = [
    # (function, args, kwargs, error type, argument named in the message)
    (ops.corr2d, (X_TWO, K2), {}, ValueError, "X"),
    (ops.corr2d, (X3, K_TWO), {}, ValueError, "K"),
    (ops.corr2d, (K2, X3), {}, ValueError, "K"),
    (ops.corr2d, (X3, np.zeros((0, 2))), {}, ValueError, "K"),
    (ops.corr2d, ("abc", K2), {}, TypeError, "X"),
    (ops.corr2d, (X3, np.array([[1 + 1j]])), {}, TypeError, "K"),
    (ops.corr2d, (X3, tf.constant([[1 + 1j]])), {}, TypeError, "K"),
    (ops.corr2d, (tf.constant([["a", "b"]]), K2), {}, TypeError, "X"),
    (ops.corr2d_multi_in, (X3, K_TWO), {}, ValueError, "X"),
    (ops.corr2d_multi_in, (X_TWO, K_TWO[:1]), {}, ValueError, "K"),
    (ops.corr2d_multi_in, (X_TWO, np.zeros((2, 4, 4))), {}, ValueError, "K"),
    (ops.corr2d_multi_in_out, (X_TWO, K_TWO), {}, ValueError, "K"),
    (ops.corr2d_multi_in_out, (X_TWO, np.zeros((3, 1, 2, 2))), {}, ValueError, "K"),
    (ops.corr2d_multi_in_out_1x1, (X_TWO, np.zeros((3, 2, 2, 2))), {}, ValueError, "K"),
    (ops.corr2d_multi_in_out_1x1, (X_TWO, np.zeros((3, 4))), {}, ValueError, "K"),
    (ops.corr2d_multi_in_out_1x1, (X3, np.zeros((3, 3))), {}, ValueError, "X"),
    (ops.pool2d, (X3, 2), {"mode": "median"}, ValueError, "mode"),
    (ops.pool2d, (X3, 0), {}, ValueError, "pool_size"),
    (ops.pool2d, (X3, 2.5), {}, TypeError, "pool_size"),
    (ops.pool2d, (X3, 2), {"stride": 0}, ValueError, "stride"),
    (ops.pool2d, (X3, 2), {"padding": -1}, ValueError, "padding"),
    (ops.pool2d, (X3, 2), {"padding": "same"}, TypeError, "padding"),
    (ops.pool2d, (X3, 2), {"padding": 2}, ValueError, "padding"),
    (ops.pool2d, (X3, 4), {}, ValueError, "pool_size"),
    (ops.pool2d, (np.zeros((1, 2, 3, 3)), 2), {}, ValueError, "X"),
    (ops.conv_output_shape, ((8, 8), 0), {}, ValueError, "kernel_size"),
    (ops.conv_output_shape, ((8, 8), 3), {"stride": (1, 0)}, ValueError, "stride"),
    (ops.conv_output_shape, ((8, 8), 3), {"padding": (-1, 0)}, ValueError, "padding"),
    (ops.conv_output_shape, ((8, 8), 9), {}, ValueError, "kernel_size"),
    (ops.conv_output_shape, ((8, 8, 1), 3), {}, TypeError, "input_hw"),
]


class TestOpsValidation:
    @pytest.mark.parametrize(("fn", "args", "kwargs", "error", "name"), BAD_CALLS)
    def test_bad_arguments(self, fn, args, kwargs, error, name):
        with pytest.raises(error) as info:
            fn(*args, **kwargs)
        message = str(info.value)
        assert "Received:" in message
        received = message.split("Received:")[-1]
        assert re.search(rf"\b{name}(\.shape)?=", received), message


# --------------------------------------------------------------------------
# No built-in convolution or pooling kernels anywhere in the implementation
# --------------------------------------------------------------------------

PACKAGE = pathlib.Path(tfconv.__file__).parent
GUARDED = [
    *sorted((PACKAGE / "_core").glob("*.py")),
    *sorted((PACKAGE / "ops").glob("*.py")),
    *sorted((PACKAGE / "layers").glob("*.py")),
]
FORBIDDEN_TEXT = [
    "tf.nn.conv",
    "nn.max_pool",
    "nn.avg_pool",
    "nn.pool",
    "image.extract_patches",
    "keras.ops.conv",
    "ops.max_pool",
    "ops.average_pool",
]
# Any segment of a tf/keras dotted name that looks like a convolution or pooling kernel
# (`tf.convert_to_tensor` is fine).
FORBIDDEN_SEGMENT = re.compile(r"conv(?!ert)|pool|extract_patches|depthwise|separable")


def _dotted_names(tree: ast.AST):
    """Yields dotted names like `tf.nn.conv2d` and imported names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts, cur = [], node
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                yield ".".join([cur.id, *reversed(parts)])
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name


# Keras's layer classes, which `layers/kinds.py` names to recognise them
# (`isinstance`); naming one is allowed, calling one is not.
KERAS_LAYER_CLASSES = {
    "keras.layers.Conv2D",
    "keras.layers.MaxPooling2D",
    "keras.layers.AveragePooling2D",
}


def _called_names(tree: ast.AST) -> set[str]:
    """The dotted names that `tree` calls (`keras.layers.Conv2D(...)`)."""
    calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return {name for func in calls for name in _dotted_names(func)}


class TestNoBuiltinKernels:
    @pytest.mark.parametrize("path", GUARDED, ids=lambda p: str(p.relative_to(PACKAGE)))
    def test_source_has_no_forbidden_calls(self, path):
        source = path.read_text()
        for text in FORBIDDEN_TEXT:
            assert text not in source, f"{path.name} mentions {text}"
        tree = ast.parse(source)
        called = _called_names(tree)
        for name in _dotted_names(tree):
            if name in KERAS_LAYER_CLASSES and name not in called:
                continue
            root = name.split(".")[0]
            if root in ("tf", "tensorflow", "keras"):
                tail = name.split(".")[1:]
                bad = [seg for seg in tail if FORBIDDEN_SEGMENT.search(seg.lower())]
                assert not bad, f"{path.name} uses {name}"
