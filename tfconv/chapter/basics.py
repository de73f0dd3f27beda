"""The chapter's worked examples, 6.2 to 6.6, each checked against the numbers the book prints."""

# The chapter's notation (X, K, Y, ...) is kept, as in tfconv.ops.
# ruff: noqa: N803, N806

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfconv import layers, models, ops
from tfconv.chapter.checks import check, check_array
from tfconv.chapter.inputs import BOOK_K, BOOK_X, channels_example, edge_image
from tfconv.chapter.printing import PrintFn, as_numpy, show
from tfconv.models.cost import model_cost


def section_corr2d(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.2.1: the cross-correlation of the book's 3x3 input with its 2x2 kernel."""
    terms = " + ".join(
        f"{int(x)} x {int(k)}" for x, k in zip(BOOK_X[:2, :2].ravel(), BOOK_K.ravel(), strict=True)
    )
    print_fn(f"first output element: {terms} = {int((BOOK_X[:2, :2] * BOOK_K).sum())}")
    Y = as_numpy(ops.corr2d(BOOK_X, BOOK_K))
    show(print_fn, "corr2d(X, K)", Y)
    check_array(Y, [[19, 25], [37, 43]], "corr2d(X, K)")
    return {"Y": Y}


def section_edges(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.2.3: the kernel [1, -1] finds the vertical edges of the 6x8 image, not horizontal ones."""
    X = edge_image()
    show(print_fn, "X", X)
    K = np.array([[1.0, -1.0]], dtype=np.float32)
    Y = as_numpy(ops.corr2d(X, K))
    show(print_fn, "Y = corr2d(X, K)", Y)
    expected = np.zeros((6, 7))
    expected[:, 1], expected[:, 5] = 1, -1
    check_array(Y, expected, "corr2d(X, K)")
    Yt = as_numpy(ops.corr2d(X.T, K))
    show(print_fn, "corr2d(X.T, K)", Yt)
    check_array(Yt, np.zeros((8, 5)), "corr2d(X.T, K)")
    return {"X": X, "Y": Y, "Y_transposed": Yt}


def section_learn_kernel(
    print_fn: PrintFn = print, seed: int = 0, steps: int = 10, lr: float = 3e-2
) -> dict[str, Any]:
    """6.2.4: learns the kernel [1, -1] back from the edge image and its output.

    As in the book: a 1x2 convolution without bias, initialised with small
    random weights, a loss that is the sum of squared errors over the 6x7
    output and plain gradient descent at learning rate 0.03, the loss printed
    every 2 steps (before that step's update).
    """
    X4, Y4 = _edge_pair()
    conv = _small_kernel(seed, X4.shape)
    losses = _descend(conv, X4, Y4, steps, lr, print_fn)
    kernel = conv.kernel.numpy().reshape(1, 2)
    show(print_fn, "learned kernel", kernel)
    # Fewer steps than the book's 10 cannot be held to its numbers.
    if steps >= 10:
        _check_learned_like_the_book(losses, kernel)
    return {"losses": losses, "kernel": kernel}


def _edge_pair() -> tuple[tf.Tensor, tf.Tensor]:
    """The edge image and its correlation with [1, -1], as NHWC batches of one."""
    X = edge_image()
    Y = as_numpy(ops.corr2d(X, [[1.0, -1.0]]))
    return tf.constant(X.reshape(1, 6, 8, 1)), tf.constant(Y.reshape(1, 6, 7, 1))


def _small_kernel(seed: int, input_shape: Any) -> layers.Conv2D:
    """A built 1x2 convolution without bias, its weights uniform in [-0.07, 0.07]."""
    # Gluon's default initializer, as in the book's run; Glorot's much wider
    # range would leave an error after 10 steps.
    conv = layers.Conv2D(
        1,
        kernel_size=(1, 2),
        use_bias=False,
        kernel_initializer=keras.initializers.RandomUniform(-0.07, 0.07, seed=seed),
    )
    conv.build(input_shape)
    return conv


def _descend(
    conv: layers.Conv2D, X4: tf.Tensor, Y4: tf.Tensor, steps: int, lr: float, print_fn: PrintFn
) -> list[float]:
    """`steps` of gradient descent on the summed squared error; the loss of each step."""

    # One traced step: called eagerly, tfconv's convolution would rebuild its
    # inner functions on every call, which costs more than the step itself.
    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum((conv(X4) - Y4) ** 2)
        conv.kernel.assign_sub(lr * tape.gradient(loss, conv.kernel))
        return loss

    losses = []
    for i in range(steps):
        losses.append(float(step()))
        if (i + 1) % 2 == 0:
            print_fn(f"batch {i + 1}, loss {losses[-1]:.3f}")
    return losses


def _check_learned_like_the_book(losses: list[float], kernel: np.ndarray) -> None:
    # The book's run: 4.949 (or 5.154) after 2 steps, 0.004 (0.005) after 10.
    check(3.0 < losses[1] < 7.0, f"loss after 2 steps {losses[1]:.3f}, the book has about 5")
    check(losses[-1] < 0.1, f"final loss {losses[-1]:.4f} is not small (book: 0.004)")
    check(
        all(b < a for a, b in zip(losses[1::2], losses[3::2], strict=False)),
        f"the printed losses do not fall: {losses[1::2]}",
    )
    check(
        np.allclose(kernel, [[1.0, -1.0]], atol=0.1),
        f"learned kernel {kernel} is not close to [1, -1] (book: [0.9895, -0.9874])",
    )


def section_padding_stride(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.3: output shapes of Conv2D layers with padding and stride on an 8x8 input."""
    X = np.random.default_rng(0).random((8, 8), dtype=np.float32)
    cases = [
        # (kernel_size, padding, strides, the book's shape)
        (3, 1, 1, (8, 8)),
        ((5, 3), (2, 1), 1, (8, 8)),
        (3, 1, 2, (4, 4)),
        ((3, 5), (0, 1), (3, 4), (2, 2)),
    ]
    shapes = []
    for k, p, s, book in cases:
        conv = layers.Conv2D(1, kernel_size=k, padding=p, strides=s)
        shape = tuple(int(d) for d in conv(X.reshape(1, 8, 8, 1)).shape[1:3])
        formula = ops.conv_output_shape((8, 8), k, p, s)
        print_fn(f"Conv2D(kernel_size={k}, padding={p}, strides={s}): {shape}")
        check(shape == book, f"kernel {k}, padding {p}, stride {s}: {shape}, book {book}")
        check(formula == shape, f"conv_output_shape gives {formula}, the layer {shape}")
        shapes.append(shape)
    # Exercise 1: the last example by the formula floor((n - k + 2p + s) / s).
    h = (8 - 3 + 2 * 0 + 3) // 3
    w = (8 - 5 + 2 * 1 + 4) // 4
    print_fn(f"by the formula: ({8 - 3 + 0 + 3} // 3, {8 - 5 + 2 + 4} // 4) = {(h, w)}")
    check((h, w) == shapes[-1], "the formula disagrees with the layer")
    return {"shapes": shapes}


def section_channels(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.4: multi-input and multi-output channels; a 1x1 convolution is a matrix product."""
    X, K, K3 = channels_example()
    Y = as_numpy(ops.corr2d_multi_in(X, K))
    show(print_fn, "corr2d_multi_in(X, K)", Y)
    check_array(Y, [[56, 72], [104, 120]], "corr2d_multi_in(X, K)")
    print_fn(f"K.shape: {K3.shape}")
    check(K3.shape == (3, 2, 2, 2), f"stacked kernel shape {K3.shape}")
    Y3 = as_numpy(ops.corr2d_multi_in_out(X, K3))
    show(print_fn, "corr2d_multi_in_out(X, K)", Y3)
    book = [[[56, 72], [104, 120]], [[76, 100], [148, 172]], [[96, 128], [192, 224]]]
    check_array(Y3, book, "corr2d_multi_in_out(X, K)")

    rng = np.random.default_rng(0)
    Xr = rng.uniform(size=(3, 3, 3)).astype(np.float32)
    Kr = rng.uniform(size=(2, 3, 1, 1)).astype(np.float32)
    Y1 = as_numpy(ops.corr2d_multi_in_out_1x1(Xr, Kr))
    Y2 = as_numpy(ops.corr2d_multi_in_out(Xr, Kr))
    total = float(np.abs(Y1 - Y2).sum())
    print_fn(f"np.abs(Y1 - Y2).sum() < 1e-6: {total < 1e-6}")
    check(total < 1e-6, f"1x1 convolution and matrix product differ by {total}")
    # Exercise 5: equal up to float32 rounding; exactly equal only if the two
    # products happen to sum in the same order.
    print_fn(f"Y1 and Y2 bitwise equal: {bool(np.array_equal(Y1, Y2))}")
    return {"Y": Y, "Y3": Y3, "diff_1x1": total}


def section_pooling(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.5: max and average pooling, padding and stride, several channels."""
    Ym = as_numpy(ops.pool2d(BOOK_X, (2, 2)))
    show(print_fn, "pool2d(X, (2, 2))", Ym)
    check_array(Ym, [[4, 5], [7, 8]], "max pooling")
    Ya = as_numpy(ops.pool2d(BOOK_X, (2, 2), "avg"))
    show(print_fn, "pool2d(X, (2, 2), 'avg')", Ya)
    check_array(Ya, [[2, 3], [5, 6]], "average pooling")

    X = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)  # NHWC
    cases = [
        ("MaxPool2D(3)", layers.MaxPool2D(3), [[10]]),
        (
            "MaxPool2D(3, padding=1, strides=2)",
            layers.MaxPool2D(3, 2, padding=1),
            [[5, 7], [13, 15]],
        ),
        (
            "MaxPool2D((2, 3), padding=(1, 2), strides=(2, 3))",
            layers.MaxPool2D((2, 3), (2, 3), padding=(1, 2)),
            [[0, 3], [8, 11], [12, 15]],
        ),
    ]
    results = {}
    for label, pool, book in cases:
        Y = as_numpy(pool(X))[0, :, :, 0]
        show(print_fn, label, Y)
        check_array(Y, book, label)
        results[label] = Y
    X2 = np.concatenate([X, X + 1], axis=-1)
    Y2 = np.transpose(as_numpy(layers.MaxPool2D(3, 2, padding=1)(X2))[0], (2, 0, 1))
    show(print_fn, "MaxPool2D(3, padding=1, strides=2) of 2 channels", Y2)
    check_array(Y2, [[[5, 7], [13, 15]], [[6, 8], [14, 16]]], "two-channel pooling")
    return {"max": Ym, "avg": Ya, "layers": results, "channels": Y2}


# NCHW, as the book prints them (its Dense layers flatten on their own).
BOOK_LENET_SHAPES = [
    (1, 6, 28, 28),
    (1, 6, 14, 14),
    (1, 16, 10, 10),
    (1, 16, 5, 5),
    (1, 120),
    (1, 84),
    (1, 10),
]


def section_lenet(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.6: LeNet's output shape layer by layer, its parameters and its cost per example."""
    model = models.build("lenet")
    rows = models.summary(model, print_fn=print_fn)
    nchw = [
        (s[0], s[3], s[1], s[2]) if len(s) == 4 else s for name, s in rows if name != "Flatten"
    ]
    check(nchw == BOOK_LENET_SHAPES, f"LeNet shapes (as NCHW) {nchw}, book {BOOK_LENET_SHAPES}")
    params = model.count_params()
    print_fn(f"parameters: {params}")
    expected = (
        (25 * 6 + 6) + (150 * 16 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    )
    check(params == expected, f"LeNet has {params} parameters, expected {expected}")
    cost = model_cost(model)
    print_fn(
        f"forward pass per example: {cost.macs:,} multiply-adds, "
        f"{cost.flops:,} FLOPs ({cost.flops / 1e6:.2f} MFLOPs)"
    )
    return {"rows": rows, "params": params, "cost": cost}
