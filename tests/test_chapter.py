"""The chapter's sections: they run, print the book's numbers, and their costs add up."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfconv import chapter, cli, models, ops

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")


def _run(name: str) -> tuple[list[str], dict]:
    lines: list[str] = []
    results = chapter.run([name], print_fn=lines.append)
    return lines, results[name]


def _numbers(text: str) -> list[float]:
    return [float(v) for v in NUMBER.findall(text)]


def _printed(lines: list[str], label: str) -> list[float]:
    """The numbers of the value printed under the line `label:`."""
    return _numbers(lines[lines.index(f"{label}:") + 1])


@pytest.fixture(scope="module")
def outputs() -> dict[str, list[str]]:
    """Every section's printed lines, run once."""
    return {name: _run(name)[0] for name in chapter.list_sections()}


@pytest.mark.parametrize("name", chapter.list_sections())
def test_every_section_runs_and_prints(outputs, name):
    lines = outputs[name]
    assert lines[0] == f"== {chapter.SECTIONS[name].title} =="
    assert len(lines) > 2


# The book's printed results (Dive into Deep Learning, chapter 6 / 8), by label.
BOOK = {
    ("corr2d", "corr2d(X, K)"): [19, 25, 37, 43],
    ("edges", "Y = corr2d(X, K)"): [0, 1, 0, 0, 0, -1, 0] * 6,
    ("edges", "corr2d(X.T, K)"): [0] * 40,
    ("channels", "corr2d_multi_in(X, K)"): [56, 72, 104, 120],
    ("channels", "corr2d_multi_in_out(X, K)"): [
        *(56, 72, 104, 120),
        *(76, 100, 148, 172),
        *(96, 128, 192, 224),
    ],
    ("pooling", "pool2d(X, (2, 2))"): [4, 5, 7, 8],
    ("pooling", "pool2d(X, (2, 2), 'avg')"): [2, 3, 5, 6],
    ("pooling", "MaxPool2D(3)"): [10],
    ("pooling", "MaxPool2D(3, padding=1, strides=2)"): [5, 7, 13, 15],
    ("pooling", "MaxPool2D((2, 3), padding=(1, 2), strides=(2, 3))"): [0, 3, 8, 11, 12, 15],
    ("pooling", "MaxPool2D(3, padding=1, strides=2) of 2 channels"): [5, 7, 13, 15, 6, 8, 14, 16],
}


@pytest.mark.parametrize("section, label", list(BOOK))
def test_printed_numbers_match_the_book(outputs, section, label):
    assert _printed(outputs[section], label) == BOOK[section, label]


def test_edge_image_is_printed(outputs):
    assert _printed(outputs["edges"], "X") == [1, 1, 0, 0, 0, 0, 1, 1] * 6


def test_padding_and_stride_shapes_match_the_book(outputs):
    shapes = [
        tuple(int(v) for v in _numbers(line.rsplit(":", 1)[1]))
        for line in outputs["padding-stride"]
        if line.startswith("Conv2D(")
    ]
    assert shapes == [(8, 8), (8, 8), (4, 4), (2, 2)]


def test_channels_prints_the_kernel_shape_and_1x1_check(outputs):
    lines = outputs["channels"]
    assert "K.shape: (3, 2, 2, 2)" in lines
    assert "np.abs(Y1 - Y2).sum() < 1e-6: True" in lines


def test_learning_a_kernel_follows_the_book(outputs):
    lines = outputs["learn-kernel"]
    printed = [
        (int(m[1]), float(m[2]))
        for line in lines
        if (m := re.fullmatch(r"batch (\d+), loss (\d+\.\d{3})", line))
    ]
    assert [b for b, _ in printed] == [2, 4, 6, 8, 10]
    losses = [loss for _, loss in printed]
    # The book: 4.949 (or 5.154), 0.831, 0.140, 0.024, 0.004 from a random start.
    assert 3.0 < losses[0] < 7.0
    assert losses == sorted(losses, reverse=True)
    assert losses[-1] < 0.1
    kernel = _printed(lines, "learned kernel")
    np.testing.assert_allclose(kernel, [0.9895, -0.9873705], atol=0.1)


def test_learning_a_kernel_is_seeded():
    a = chapter.section_learn_kernel(print_fn=lambda _: None, seed=3)
    b = chapter.section_learn_kernel(print_fn=lambda _: None, seed=3)
    c = chapter.section_learn_kernel(print_fn=lambda _: None, seed=4)
    assert a["losses"] == b["losses"]
    assert a["losses"] != c["losses"]
    np.testing.assert_allclose(c["kernel"], [[1, -1]], atol=0.1)


def test_learning_a_kernel_uses_the_books_update():
    # One step by hand: loss = sum of squared errors, w <- w - 0.03 * dloss/dw.
    X = chapter.edge_image()
    Y = np.asarray(ops.corr2d(X, [[1.0, -1.0]]))
    result = chapter.section_learn_kernel(print_fn=lambda _: None, seed=5, steps=1)
    w = result["kernel"][0].astype(np.float64)
    # Recover the start from the update rule, then redo both by hand.
    windows = np.stack([X[:, :-1].ravel(), X[:, 1:].ravel()], axis=1)
    hessian = 2 * windows.T @ windows
    w0 = np.linalg.solve(np.eye(2) - 0.03 * hessian, w - 0.03 * 2 * windows.T @ Y.ravel())
    assert np.all(np.abs(w0) <= 0.07 + 1e-6)  # Gluon's default initial range
    loss0 = float(((windows @ w0 - Y.ravel()) ** 2).sum())
    assert result["losses"][0] == pytest.approx(loss0, rel=1e-5)


def test_lenet_shapes_match_the_book(outputs):
    shapes = [
        tuple(int(v) for v in _numbers(line.split("\t", 1)[1]))
        for line in outputs["lenet"]
        if " output shape:\t" in line and not line.startswith("Flatten")
    ]
    nchw = [(s[0], s[3], s[1], s[2]) if len(s) == 4 else s for s in shapes]
    assert nchw == [
        (1, 6, 28, 28),
        (1, 6, 14, 14),
        (1, 16, 10, 10),
        (1, 16, 5, 5),
        (1, 120),
        (1, 84),
        (1, 10),
    ]
    assert "parameters: 61706" in outputs["lenet"]


def test_exercise_answers_are_printed(outputs):
    text = "\n".join(outputs["ex-derivatives"])
    assert "degree 4: kernel [1, -4, 6, -4, 1] (size 5), applied to j**4 gives 24 = 4!" in text
    assert _printed(outputs["ex-derivatives"], "Laplace kernel") == [0, 1, 0, 1, -4, 1, 0, 1, 0]
    assert _printed(outputs["ex-matmul"], "(W @ X.ravel()).reshape(2, 2)") == [19, 25, 37, 43]
    assert "corr2d(X, K.T) == corr2d(X.T, K).T: True" in outputs["ex-diagonal"]
    assert "maxpool(a + b) = 1, maxpool(a) + maxpool(b) = 2" in outputs["ex-pooling"]
    assert "doubling c_i and c_o: x4 multiply-adds" in outputs["ex-cost"]


def test_public_names_resolve():
    # The package re-exports its modules' public names and the cost counter's.
    for name in chapter.__all__:
        assert getattr(chapter, name) is not None, name
    assert chapter.model_cost is models.cost.model_cost
    assert chapter.ModelCost is models.cost.ModelCost


def test_check_raises_an_assertion_error():
    with pytest.raises(AssertionError, match="boom"):
        chapter.check(False, "boom")
    with pytest.raises(chapter.BookMismatchError, match="the book has"):
        chapter.check_array([[1.0, 2.0]], [[1.0, 3.0]], "x")
    chapter.check_array([[1.0, 2.0]], [[1.0, 2.0 + 1e-7]], "x")


# --------------------------------------------------------------------------
# Exercise helpers
# --------------------------------------------------------------------------


def test_corr2d_matrix_and_im2col_equal_corr2d():
    rng = np.random.default_rng(0)
    for shape, k in (((5, 7), (2, 3)), ((4, 4), (4, 1)), ((3, 6), (1, 1))):
        X = rng.standard_normal(shape)
        K = rng.standard_normal(k)
        Y = np.asarray(ops.corr2d(X, K))
        W = chapter.corr2d_matrix(K, shape)
        np.testing.assert_allclose(W @ X.ravel(), Y.ravel(), atol=1e-10)
        np.testing.assert_allclose(chapter.im2col(X, k) @ K.ravel(), Y.ravel(), atol=1e-10)


def test_composed_kernel_equals_two_correlations():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((9, 10))
    K1, K2 = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    K = chapter.compose_kernels(K1, K2)
    assert K.shape == (4, 5)
    np.testing.assert_allclose(
        np.asarray(ops.corr2d(X, K)), np.asarray(ops.corr2d(ops.corr2d(X, K1), K2)), atol=1e-10
    )


# --------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------


def _count_macs(c_i, c_o, h, w, k, p, s):
    """Multiply-adds of a direct loop over outputs and windows (padded cells included)."""
    (k_h, k_w), (p_h, p_w), (s_h, s_w) = k, p, s
    count = 0
    for _ in range(c_o):
        top = -p_h
        while top + k_h <= h + p_h:
            left = -p_w
            while left + k_w <= w + p_w:
                for _ in range(c_i):
                    for _ in range(k_h):
                        for _ in range(k_w):
                            count += 1
                left += s_w
            top += s_h
    return count


CONFIGS = [
    # (c_i, c_o, h, w, k, p, s)
    (1, 6, 28, 28, (5, 5), (2, 2), (1, 1)),
    (6, 16, 14, 14, (5, 5), (0, 0), (1, 1)),
    (3, 4, 8, 8, (3, 5), (0, 1), (3, 4)),
    (2, 3, 7, 9, (3, 3), (1, 1), (2, 2)),
]


@pytest.mark.parametrize("c_i, c_o, h, w, k, p, s", CONFIGS)
def test_conv_cost_matches_a_direct_count(c_i, c_o, h, w, k, p, s):
    cost = ops.conv_cost(c_i, c_o, h, w, k, p, s)
    assert cost.output_hw == ops.conv_output_shape((h, w), k, p, s)
    assert cost.forward_macs == _count_macs(c_i, c_o, h, w, k, p, s)
    assert cost.backward_input_macs == cost.backward_kernel_macs == cost.forward_macs
    assert cost.backward_macs == 2 * cost.forward_macs
    assert cost.forward_flops == 2 * cost.forward_macs
    batched = ops.conv_cost(c_i, c_o, h, w, k, p, s, batch=8)
    assert batched.forward_macs == 8 * cost.forward_macs
    assert batched.param_bytes == cost.param_bytes


@pytest.mark.parametrize("c_i, c_o, h, w, k, p, s", CONFIGS)
def test_conv_cost_matches_tensorflows_profiler(c_i, c_o, h, w, k, p, s):
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, h, w, c_i])
        kernel = tf.zeros([*k, c_i, c_o])
        pads = [[0, 0], [p[0], p[0]], [p[1], p[1]], [0, 0]]
        tf.nn.conv2d(x, kernel, strides=s, padding=pads)
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profile = tf.compat.v1.profiler.profile(graph, options=options)
    assert profile.total_float_ops == ops.conv_cost(c_i, c_o, h, w, k, p, s).forward_flops


def test_conv_cost_memory():
    cost = ops.conv_cost(2, 3, 5, 5, 3, p=1)
    assert cost.output_hw == (5, 5)
    assert cost.params == 3 * 2 * 9 + 3
    assert cost.input_bytes == 4 * 2 * 25
    assert cost.output_bytes == 4 * 3 * 25
    assert cost.forward_bytes == 4 * (50 + 57 + 75)
    assert cost.backward_bytes == 2 * cost.forward_bytes
    assert ops.conv_cost(2, 3, 5, 5, 3, bias=False).params == 54
    assert cost.as_dict()["backward_macs"] == cost.backward_macs


@pytest.mark.parametrize("bad", [dict(c_i=0), dict(c_o=1.5), dict(batch=True), dict(k=9)])
def test_conv_cost_rejects_bad_arguments(bad):
    args = dict(c_i=1, c_o=1, h=5, w=5, k=3)
    with pytest.raises((ValueError, TypeError)):
        ops.conv_cost(**{**args, **bad})


@pytest.mark.parametrize("layers", ["tfconv", "keras"])
def test_lenet_cost(layers):
    model = models.build("lenet", layers=layers)
    cost = chapter.model_cost(model)
    assert cost.macs == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert cost.flops == 2 * cost.macs + 14 * 14 * 6 * 4 + 5 * 5 * 16 * 4
    assert cost.params == model.count_params() == 61706
    assert [r.kind for r in cost.layers] == ["conv", "pool", "conv", "pool"] + ["dense"] * 3


def test_modern_cost_counts_every_layer_it_should():
    model = models.build("lenet_modern")
    cost = chapter.model_cost(model)
    conv = [r for r in cost.layers if r.kind == "conv"]
    # 'same' 3x3 convolutions on 28, 14 and 7 pixel maps.
    assert [r.macs for r in conv] == [28 * 28 * 16 * 9, 14 * 14 * 32 * 144, 7 * 7 * 64 * 288]
    assert cost.params == model.count_params()  # batch norm's statistics included
    norms = [r for r in cost.layers if r.kind == "batchnorm"]
    assert [r.ops for r in norms] == [2 * 28 * 28 * 16, 2 * 14 * 14 * 32, 2 * 7 * 7 * 64, 2 * 128]


# --------------------------------------------------------------------------
# Command line and script
# --------------------------------------------------------------------------


def test_cli_runs_a_section(capsys):
    assert cli.main(["chapter", "corr2d", "pooling"]) == 0
    out = capsys.readouterr().out
    assert "[[19. 25.]\n [37. 43.]]" in out
    assert out.index("6.2 The cross-correlation") < out.index("6.5 Pooling")


def test_cli_lists_the_sections(capsys):
    assert cli.main(["chapter", "--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == chapter.list_sections()


def test_cli_unknown_section_exits_2(capsys):
    assert cli.main(["chapter", "corr2d", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfconv chapter: error: unknown section(s) nope")
    assert len(err.strip().splitlines()) == 1


def test_cli_mismatch_exits_1(monkeypatch, capsys):
    def wrong(print_fn):
        chapter.check_array([[19, 25], [37, 44]], [[19, 25], [37, 43]], "corr2d(X, K)")

    monkeypatch.setitem(chapter.SECTIONS, "corr2d", chapter.Section("corr2d", "broken", wrong))
    assert cli.main(["chapter", "corr2d"]) == 1
    assert "mismatch with the book: corr2d(X, K)" in capsys.readouterr().err


def _script():
    spec = importlib.util.spec_from_file_location("chapter_run", ROOT / "scripts/chapter/run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_wraps_the_library(capsys):
    script = _script()
    assert script.main(["edges"]) == 0
    assert "corr2d(X.T, K):" in capsys.readouterr().out
    assert script.main(["bogus"]) == 2
    assert "Unknown section(s) ['bogus']" in capsys.readouterr().err


def test_chapter_and_bench_resolve_through_the_lazy_loader():
    # A fresh interpreter: here both modules are imported already, which would
    # hide a missing entry in `tfconv._SUBMODULES`.
    code = (
        "import sys, tfconv\n"
        "assert 'tfconv.chapter' not in sys.modules\n"
        "print(tfconv.chapter.run.__module__, tfconv.bench.__name__)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["tfconv.chapter.runner", "tfconv.bench"]
