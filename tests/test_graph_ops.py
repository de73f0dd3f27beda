"""What tfconv's traced graphs hold: its own math, and ops every device can run.

A scan of the source misses a renamed import (`from tensorflow import nn as k;
k.max_pool2d`), so these tests read the op types of the concrete `tf.function`
graphs instead: the outer graph and, recursively, every function it calls (the
custom gradients' ops, the XLA-compiled functions of `_core`, Keras's
train-step functions), found through the graph's function library.

- No op may be a built-in convolution, pooling, patch extraction or
  morphological dilation/erosion kernel, for every layer code path, forward
  and backward, for `tfconv.ops` and for a whole model's `fit` step.
- Every op that TensorFlow runs itself (outside an XLA-compiled function) must
  have a GPU kernel for its dtypes: otherwise the placer puts it on the CPU
  every step of a GPU training run (or fails under soft placement off).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from typing import Any

import keras
import pytest
import tensorflow as tf
from tensorflow.python.framework import kernels

import tfconv._core
from tfconv import layers, ops
from tfconv._core import im2col, switches
from tfconv._core import pool_tiled as core_pool_tiled

# Built-in window kernels by name pattern rather than a list, so that a
# variant (V2, Grad, WithArgmax, Fractional*, Quantized*, the fused and
# oneDNN `_FusedConv2D`/`_MklConv2D`, XLA's XlaConv/XlaReduceWindow) is caught
# too. `Conv(?!ert)` spares ConvertToCooTensor and friends; `Pool` is only
# MaxPool/AvgPool (tf.data's ThreadPool ops end in Dataset/Handle).
FORBIDDEN = re.compile(
    r"Conv(?!ert)|(Max|Avg|L2)Pool|Patches|Dilation2D|Erosion2D|ReduceWindow|SelectAndScatter"
)


def _attr_bool(attrs: Any, name: str) -> bool:
    return name in attrs and attrs[name].b


def walk(graph_def: tf.compat.v1.GraphDef) -> Iterator[tuple[Any, bool, str]]:
    """Every node of `graph_def` and of the functions it calls, recursively.

    Yields `(node, in_xla, where)`: `in_xla` is true inside a function that XLA
    compiles (the calling node or the function carries `_XlaMustCompile`,
    which `tf.function(jit_compile=True)` sets), and for everything it calls;
    `where` names the function (`"<graph>"` for the outer graph). A function
    that the library lacks fails the walk rather than being skipped.
    """
    library = {f.signature.name: f for f in graph_def.library.function}
    seen: set[tuple[str, bool]] = set()

    def visit(nodes: Any, in_xla: bool, where: str) -> Iterator[tuple[Any, bool, str]]:
        for node in nodes:
            yield node, in_xla, where
            # Function-valued attrs: the `f` of (Stateful)PartitionedCall, the
            # branches and bodies of If/While/Case, gradient functions.
            for value in node.attr.values():
                names = [value.func.name] if value.HasField("func") else []
                names += [f.name for f in value.list.func]
                for name in names:
                    assert name in library, f"{node.op} {node.name} calls unknown {name}"
                    function = library[name]
                    xla = (
                        in_xla
                        or _attr_bool(node.attr, "_XlaMustCompile")
                        or _attr_bool(function.attr, "_XlaMustCompile")
                    )
                    if (name, xla) not in seen:
                        seen.add((name, xla))
                        yield from visit(function.node_def, xla, name)

    yield from visit(graph_def.node, False, "<graph>")


def forbidden_ops(graph_def: tf.compat.v1.GraphDef) -> list[str]:
    """`"OpType in function"` for every built-in window kernel the graph holds."""
    return sorted(
        {f"{n.op} in {where}" for n, _, where in walk(graph_def) if FORBIDDEN.search(n.op)}
    )


def _graph(fn: Callable[..., Any], *specs: tf.TensorSpec) -> tf.compat.v1.GraphDef:
    return tf.function(fn, autograph=False).get_concrete_function(*specs).graph.as_graph_def()


def layer_step_graph(layer: keras.layers.Layer, input_shape: tuple) -> tf.compat.v1.GraphDef:
    """The graph of `layer`'s forward pass and its input and weight gradients."""
    layer.build(input_shape)

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            # y*y: a non-constant output gradient, as a real loss gives.
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, *layer.trainable_variables])

    return _graph(step, tf.TensorSpec((None, *input_shape[1:]), tf.float32))


# (layer, input shape): banded conv (few channels, block > 1), im2col (C >= 4
# gathers outside XLA, C < 4 with stride > 1 inside), pointwise, 1x1 strided,
# dilation, "same" and the book's int paddings, per-side padding; pooling
# tiled (stride = window, also with a ragged edge), strided, "same", padded;
# grouped, depthwise, channels-first, Winograd, and unknown image sizes (the
# shape-polymorphic paths).
LAYER_GRID = {
    "conv_banded_book_pad": (lambda: layers.Conv2D(6, 5, padding=2), (2, 12, 12, 1)),
    "conv_banded_same": (lambda: layers.Conv2D(4, 3, padding="same"), (2, 9, 9, 3)),
    "conv_banded_rect": (lambda: layers.Conv2D(3, (2, 3), padding=(1, 0)), (2, 8, 10, 2)),
    "conv_im2col_valid": (lambda: layers.Conv2D(5, 3), (2, 9, 9, 8)),
    "conv_im2col_same_s2": (lambda: layers.Conv2D(4, 3, 2, padding="same"), (2, 9, 9, 16)),
    "conv_im2col_few_ch_s2": (lambda: layers.Conv2D(4, 3, 2, padding="same"), (2, 9, 9, 2)),
    "conv_dilated": (lambda: layers.Conv2D(4, 3, dilation_rate=2, padding="same"), (2, 9, 9, 4)),
    "conv_dilated_banded": (lambda: layers.Conv2D(4, 3, dilation_rate=(2, 1)), (2, 9, 9, 1)),
    "conv_per_side_pad": (lambda: layers.Conv2D(4, 3, padding=((1, 0), (0, 2))), (2, 8, 8, 6)),
    "conv_pointwise": (lambda: layers.Conv2D(7, 1), (2, 6, 6, 5)),
    "conv_pointwise_s2": (lambda: layers.Conv2D(7, 1, strides=2), (2, 6, 6, 5)),
    "conv_no_bias_relu": (
        lambda: layers.Conv2D(3, 3, use_bias=False, activation="relu"),
        (2, 7, 7, 4),
    ),
    "conv_grouped": (lambda: layers.Conv2D(8, 3, groups=2), (2, 9, 9, 4)),
    "conv_depthwise": (lambda: layers.Conv2D(4, 3, groups=4, padding="same"), (2, 9, 9, 4)),
    "conv_channels_first": (
        lambda: layers.Conv2D(4, 3, data_format="channels_first"),
        (2, 3, 9, 9),
    ),
    "conv_winograd": (lambda: layers.Conv2D(32, 3, padding="same"), (2, 14, 14, 32)),
    "conv_unknown_size": (lambda: layers.Conv2D(4, 3, padding="same"), (2, None, None, 3)),
    "conv_unknown_size_grouped": (lambda: layers.Conv2D(4, 3, groups=2), (2, None, None, 4)),
    "max_tiled": (lambda: layers.MaxPool2D(2), (2, 8, 8, 3)),
    "max_channels_first": (
        lambda: layers.MaxPool2D(2, data_format="channels_first"),
        (2, 3, 8, 8),
    ),
    "max_unknown_size": (lambda: layers.MaxPool2D(3, 2, padding="same"), (2, None, None, 3)),
    "avg_unknown_size": (lambda: layers.AvgPool2D(2), (2, None, None, 3)),
    "max_tiled_ragged": (lambda: layers.MaxPool2D(2), (2, 7, 9, 3)),
    "max_strided": (lambda: layers.MaxPool2D(3, 2), (2, 9, 9, 3)),
    "max_same": (lambda: layers.MaxPool2D(3, 2, padding="same"), (2, 8, 8, 3)),
    "max_stride1_rect": (lambda: layers.MaxPool2D((2, 3), 1), (2, 6, 7, 2)),
    "max_book_pad": (lambda: layers.MaxPool2D(3, 2, padding=1), (2, 8, 8, 1)),
    "avg_tiled": (lambda: layers.AvgPool2D(2), (2, 8, 8, 3)),
    "avg_tiled_3": (lambda: layers.AvgPool2D(3), (2, 9, 10, 2)),
    "avg_strided": (lambda: layers.AvgPool2D(3, 2), (2, 9, 9, 3)),
    "avg_same": (lambda: layers.AvgPool2D(3, 2, padding="same"), (2, 8, 8, 3)),
    "avg_book_pad": (lambda: layers.AvgPool2D(2, 1, padding=1), (2, 5, 5, 2)),
}


# Paths with no XLA-compiled function: a 1x1 convolution is one matmul, and
# the unknown-size paths are plain TensorFlow ops (one trace for all sizes).
NO_XLA_CASES = {
    "conv_pointwise",
    "conv_unknown_size",
    "conv_unknown_size_grouped",
    "max_unknown_size",
    "avg_unknown_size",
}


XLA_CORE = pytest.mark.parametrize("xla", [True, False], ids=["xla_core", "no_xla_core"])
_GRAPHS: dict[tuple[str, bool, str], tf.compat.v1.GraphDef] = {}


def traced(name: str, xla: bool) -> tf.compat.v1.GraphDef:
    """The step graph of `LAYER_GRID[name]` (or of the all-paths model's fit step
    for `name="model"`) with `switches.XLA_CORE` set to `xla` (off is what
    `TFCONV_XLA_CORE=0` gives) under the global dtype policy; traced once per
    module, shared by the tests."""
    key = (name, xla, keras.config.dtype_policy().name)
    if key not in _GRAPHS:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(switches, "XLA_CORE", xla)
            if name == "model":
                _GRAPHS[key] = fit_step_graph(_all_paths_model())
            else:
                make, shape = LAYER_GRID[name]
                _GRAPHS[key] = layer_step_graph(make(), shape)
    return _GRAPHS[key]


# Built-in kernels, each with the forward and backward op types it traces to
# (ExtractImagePatches has no gradient kernel: TensorFlow scatters instead).
_W = [1, 1, 1, 1]
BUILTINS = {
    "conv2d": (
        lambda: lambda x: tf.nn.conv2d(x, tf.ones([3, 3, 4, 2]), 1, "SAME"),
        "Conv2D Conv2DBackpropInput",
    ),
    "depthwise": (
        lambda: lambda x: tf.nn.depthwise_conv2d(x, tf.ones([3, 3, 4, 1]), _W, "SAME"),
        "DepthwiseConv2dNative DepthwiseConv2dNativeBackpropInput",
    ),
    "max_pool": (lambda: lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), "MaxPool MaxPoolGrad"),
    "avg_pool": (lambda: lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID"), "AvgPool AvgPoolGrad"),
    "patches": (
        lambda: lambda x: tf.image.extract_patches(x, [1, 2, 2, 1], _W, _W, "VALID"),
        "ExtractImagePatches",
    ),
    "dilation": (
        lambda: lambda x: tf.nn.dilation2d(x, tf.ones([2, 2, 4]), _W, "VALID", "NHWC", _W),
        "Dilation2D Dilation2DBackpropInput",
    ),
    "erosion": (
        lambda: lambda x: tf.nn.erosion2d(x, tf.ones([2, 2, 4]), _W, "VALID", "NHWC", _W),
        "Dilation2D Dilation2DBackpropInput",
    ),
    "keras_conv": (lambda: keras.layers.Conv2D(2, 3), "Conv2D Conv2DBackpropInput"),
    "keras_max": (lambda: keras.layers.MaxPooling2D(2), "MaxPool MaxPoolGrad"),
    "keras_avg": (lambda: keras.layers.AveragePooling2D(2), "AvgPool AvgPoolGrad"),
    "keras_depthwise": (
        lambda: keras.layers.DepthwiseConv2D(3),
        "DepthwiseConv2dNative DepthwiseConv2dNativeBackpropInput",
    ),
}


# --------------------------------------------------------------------------
# The checker itself can fail
# --------------------------------------------------------------------------


class TestChecker:
    def test_pattern_covers_tensorflows_window_kernels(self):
        known = {
            "Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "Conv3D",
            "DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropFilter", "Conv",
            "FusedPadConv2D", "_FusedConv2D", "_MklConv2D", "XlaConv", "QuantizedConv2D",
            "MaxPool", "MaxPoolV2", "MaxPoolGrad", "MaxPoolWithArgmax", "MaxPool3D",
            "AvgPool", "AvgPoolGrad", "FractionalMaxPool", "FractionalAvgPool", "QuantizedMaxPool",
            "ExtractImagePatches", "ExtractVolumePatches", "Dilation2D",
            "Dilation2DBackpropInput", "XlaReduceWindow", "XlaSelectAndScatter",
        }  # fmt: skip
        assert not [op for op in known if not FORBIDDEN.search(op)]
        # ... and nothing that tfconv's math is made of.
        legit = {"GatherV2", "MatMul", "BatchMatMulV2", "Einsum", "Pad", "ConcatV2", "Maximum",
                 "StridedSlice", "Split", "AddN", "BiasAdd", "BiasAddGrad", "ConvertToCooTensor",
                 "ThreadPoolDataset", "SelectV2", "Sum", "Reshape"}  # fmt: skip
        assert not [op for op in legit if FORBIDDEN.search(op)]

    @pytest.mark.parametrize("name", sorted(BUILTINS))
    def test_flags_builtin_kernels_forward_and_backward(self, name):
        make, expected = BUILTINS[name]
        builtin = make()
        if isinstance(builtin, keras.layers.Layer):
            builtin.build((None, 8, 8, 4))

        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = builtin(x)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, x)

        found = forbidden_ops(_graph(step, tf.TensorSpec([None, 8, 8, 4])))
        assert {f"{op} in <graph>" for op in expected.split()} <= set(found), found

    def test_flags_a_kernel_behind_a_renamed_import_in_xla_and_custom_gradient(self, monkeypatch):
        # What a source scan misses: a renamed import, called from inside an
        # XLA-compiled function of a custom gradient, patched into tfconv's core.
        from tensorflow import nn as k

        @tf.function(jit_compile=True, autograph=False)
        def hidden_max(x):
            return k.max_pool2d(x, 2, 2, "VALID")

        @tf.function(jit_compile=True, autograph=False)
        def hidden_grad(x, y, dy):
            window = [1, 2, 2, 1]
            return tf.raw_ops.MaxPoolGrad(
                orig_input=x, orig_output=y, grad=dy, ksize=window, strides=window, padding="VALID"
            )

        def patched_pool_tiled(x, pool_hw, mode):
            @tf.custom_gradient
            def pool(x):
                y = hidden_max(x)
                return y, lambda dy: hidden_grad(x, y, dy)

            return pool(x)

        monkeypatch.setattr(core_pool_tiled, "pool_tiled", patched_pool_tiled)
        found = forbidden_ops(layer_step_graph(layers.MaxPool2D(2), (2, 8, 8, 3)))
        assert [op.split(" ")[0] for op in found] == ["MaxPool", "MaxPoolGrad"], found
        assert all("hidden" in op for op in found), found


# --------------------------------------------------------------------------
# tfconv's graphs hold no built-in window kernel
# --------------------------------------------------------------------------


class TestOwnMath:
    @pytest.mark.parametrize("case", sorted(LAYER_GRID))
    def test_layer_forward_and_gradients(self, case):
        graph = traced(case, xla=True)
        assert forbidden_ops(graph) == []
        # The walk reached the XLA-compiled functions of the core (else an
        # empty result would prove nothing about them).
        if case not in NO_XLA_CASES:
            assert any(in_xla for _, in_xla, _ in walk(graph)), case

    @pytest.mark.parametrize(
        "name, fn, shapes",
        [
            ("corr2d", ops.corr2d, [(7, 8), (3, 2)]),
            ("corr2d_multi_in", ops.corr2d_multi_in, [(3, 7, 8), (3, 2, 2)]),
            ("corr2d_multi_in_out", ops.corr2d_multi_in_out, [(3, 7, 8), (4, 3, 2, 2)]),
            ("corr2d_1x1", ops.corr2d_multi_in_out_1x1, [(3, 7, 8), (4, 3, 1, 1)]),
            ("pool_max", lambda x: ops.pool2d(x, 2, stride=2), [(6, 6)]),
            (
                "pool_avg_stride",
                lambda x: ops.pool2d(x, 3, mode="avg", padding=1, stride=2),
                [(2, 7, 7)],
            ),
            ("pool_max_stride1", lambda x: ops.pool2d(x, (2, 3), stride=1), [(2, 5, 6)]),
        ],
    )
    def test_ops_forward_and_gradients(self, name, fn, shapes):
        def step(*args):
            with tf.GradientTape() as tape:
                tape.watch(args)
                y = fn(*args)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, args)

        graph = _graph(step, *(tf.TensorSpec(s, tf.float32) for s in shapes))
        assert forbidden_ops(graph) == [], name

    @XLA_CORE
    def test_model_fit_train_step(self, xla):
        graph = traced("model", xla)
        assert forbidden_ops(graph) == []
        assert {"MatMul", "GatherV2"} <= {n.op for n, _, _ in walk(graph)}


def _all_paths_model() -> keras.Model:
    """A small model through every layer path: banded, im2col (C >= 4 and
    strided), pointwise, tiled and strided pools, "same" padding."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((14, 14, 1))
    x = layers.Conv2D(6, 5, padding=2, activation="relu")(inputs)  # banded
    x = layers.MaxPool2D(2)(x)  # tiled max
    x = layers.Conv2D(8, 3, padding="same")(x)  # im2col, C >= 4
    x = layers.AvgPool2D(3, 2, padding="same")(x)  # strided avg, "same"
    x = layers.Conv2D(8, 1)(x)  # pointwise
    x = layers.MaxPool2D(3, 1)(x)  # strided max
    x = layers.Conv2D(6, 3, strides=2, padding="same")(x)  # strided im2col
    x = layers.AvgPool2D(1)(x)  # tiled avg
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def fit_step_graph(model: keras.Model) -> tf.compat.v1.GraphDef:
    """The graph of one `model.fit` step: `train_step` (forward, loss, gradients, Adam update)."""
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return _graph(
        lambda x, y: model.train_step((x, y)),
        tf.TensorSpec((None, *model.input_shape[1:]), tf.float32),
        tf.TensorSpec((None,), tf.int32),
    )


# --------------------------------------------------------------------------
# Every op TensorFlow runs itself has a GPU kernel for its dtypes
# --------------------------------------------------------------------------

# No op is exempt: the host-side ones (Placeholder, Const, Identity, NoOp,
# ReadVariableOp, the function-call ops) all have GPU or DEVICE_DEFAULT
# kernels (with host-memory arguments where they need them), and `walk`
# descends into what the call ops call.


@functools.cache
def _device_kernels(op: str) -> list[Any]:
    """The kernels a GPU could run `op` with: GPU ones and DEVICE_DEFAULT ones
    (registered for every device; TensorFlow's own ops such as Identity,
    ReadVariableOp and the function-call ops use it)."""
    registered = kernels.get_registered_kernels_for_op(op).kernel
    return [k for k in registered if k.device_type in ("GPU", "DEFAULT") and not k.label]


def _attr(node: Any, name: str) -> Any:
    if name in node.attr:
        return node.attr[name]
    from tensorflow.python.framework import op_def_registry

    for attr in op_def_registry.get(node.op).attr:
        if attr.name == name and attr.HasField("default_value"):
            return attr.default_value
    return None


def _satisfies(kernel: Any, node: Any) -> bool:
    """Whether `node`'s attrs meet every type constraint of `kernel`."""
    for constraint in kernel.constraint:
        allowed = set(constraint.allowed_values.list.type)
        value = _attr(node, constraint.name)
        if value is None:
            return False
        types = list(value.list.type) if value.HasField("list") else [value.type]
        if not set(types) <= allowed:
            return False
    return True


def ops_without_gpu_kernel(graph_def: tf.compat.v1.GraphDef) -> list[str]:
    """`"OpType{attr: dtype} name in function"` per op outside XLA that no GPU kernel fits."""
    missing = set()
    for node, in_xla, where in walk(graph_def):
        # Inside an XLA-compiled function XLA, not TensorFlow's kernels, runs the
        # op (XLA's own GPU kernels are not in this registry).
        if in_xla:
            continue
        # A run-time check (`tf.debugging.assert_*`, the unknown-size pooling's
        # "window larger than the input"): TensorFlow runs Assert and its
        # message strings on the host by design, on every device; it reads one
        # bool per step.
        if node.op == "Assert" or (
            node.op == "Const" and node.attr["dtype"].type == tf.string.as_datatype_enum
        ):
            continue
        if not any(_satisfies(k, node) for k in _device_kernels(node.op)):
            types = {
                name: tf.dtypes.as_dtype(v.type).name
                for name, v in sorted(node.attr.items())
                if v.WhichOneof("value") == "type"
            }
            missing.add(f"{node.op}{types} {node.name} in {where}")
    return sorted(missing)


class TestGpuKernels:
    def test_registry_knows_gpu_kernels(self):
        # The check below reads TensorFlow's kernel registry; a build without
        # CUDA kernels registers no GPU kernel at all and would flag everything.
        assert _device_kernels("MatMul") and tf.test.is_built_with_cuda()

    def test_checker_flags_an_int16_gather_and_spares_xla(self):
        def step(x):
            y = tf.gather(x, tf.constant([0, 1], tf.int16), axis=1)
            inside = tf.function(
                lambda x: tf.gather(x, tf.constant([1], tf.int16)), jit_compile=True
            )
            return y, inside(x)

        missing = ops_without_gpu_kernel(_graph(step, tf.TensorSpec([3, 4])))
        assert len(missing) == 1 and missing[0].startswith("GatherV2{"), missing
        assert "'Tindices': 'int16'" in missing[0] and "<graph>" in missing[0], missing

    @XLA_CORE
    def test_model_fit_train_step(self, xla):
        assert ops_without_gpu_kernel(traced("model", xla)) == []

    @pytest.mark.parametrize("dtype_policy", ["mixed_float16", "mixed_bfloat16"], indirect=True)
    def test_mixed_precision_fit_step(self, dtype_policy):
        # Without the XLA core every gather, pad and matmul runs in TensorFlow.
        graph = traced("model", xla=False)
        assert ops_without_gpu_kernel(graph) == []
        assert forbidden_ops(graph) == []

    def test_export_graph_stays_in_its_context(self):
        def index_types(graph):
            return {
                tf.dtypes.as_dtype(n.attr["Tindices"].type).name
                for n, _, _ in walk(graph)
                if n.op == "GatherV2"
            }

        make, shape = LAYER_GRID["conv_im2col_valid"]
        before = layer_step_graph(make(), shape)  # caches this shape's functions
        cached = im2col._conv_functions
        with switches.export_graph():
            inside = layer_step_graph(make(), shape)
        # The training cache (and its XLA compilations) is back, untouched.
        assert im2col._conv_functions is cached
        hits = cached.cache_info().hits
        after = layer_step_graph(make(), shape)
        assert cached.cache_info().hits > hits
        assert index_types(before) == index_types(after) == {"int32"}
        # int16 for the exported file: a cached int32 function was not reused.
        assert index_types(inside) == {"int16", "int32"}, index_types(inside)
        assert ops_without_gpu_kernel(after) == []

    def test_export_graph_swaps_every_per_shape_cache(self):
        # Every lru-cached function of every `_core` module, found by scanning
        # rather than listed, so that a cache added without `shape_cache` fails.
        caches = {}
        for info in pkgutil.iter_modules(tfconv._core.__path__, "tfconv._core."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if callable(getattr(value, "cache_clear", None)) and value.__module__ == info.name:
                    caches[module, name] = value
        # im2col, depthwise, Winograd, strided-view and tiled pooling
        assert len(caches) == 5, sorted(name for _, name in caches)
        assert {c.__wrapped__ for c in caches.values()} == set(switches._CACHED)
        with switches.export_graph():
            swapped = {key: getattr(*key) for key in caches}
        assert all(swapped[key] is not cached for key, cached in caches.items()), swapped
        assert all(getattr(*key) is cached for key, cached in caches.items())

    @XLA_CORE
    @pytest.mark.parametrize("case", sorted(LAYER_GRID))
    def test_layer_steps(self, case, xla):
        assert ops_without_gpu_kernel(traced(case, xla)) == []
