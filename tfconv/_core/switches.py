"""The core's run-time switches: XLA, Winograd's domain, and the export-graph mode.

Every switch is read at call time from this module (`switches.WINOGRAD`, not
a copy imported elsewhere), so that setting it here, as tests and benchmarks
do, reaches every path. `export_graph()` also swaps the per-shape function
caches registered with `shape_cache`.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow as tf

# Compile the window gathering and its matmuls with XLA (fused, no
# intermediate copies) even when the surrounding model is not compiled.
XLA_CORE = os.environ.get("TFCONV_XLA_CORE", "1") != "0"
# 3x3 stride-1 convs with at least this many input and output channels and
# output rows and columns run by Winograd F(2x2, 3x3) (`winograd_eligible`);
# TFCONV_WINOGRAD=0 turns it off.
WINOGRAD = os.environ.get("TFCONV_WINOGRAD", "1") != "0"
WINOGRAD_MIN_CHANNELS = 32
WINOGRAD_MIN_OUTPUT = 14

# True while layers trace for an exported TFLite file (see `export_graph`).
_EXPORT_GRAPH = False
# The undecorated functions whose per-shape caches `export_graph` swaps.
_CACHED: list[Callable[..., Any]] = []


def exporting() -> bool:
    """Whether layers are tracing for an exported TFLite file (inside `export_graph`)."""
    return _EXPORT_GRAPH


def shape_cache(function: Callable[..., Any]) -> Callable[..., Any]:
    """`functools.lru_cache(maxsize=512)`, registered for `export_graph` to swap.

    For the factories of per-shape functions (index tables, XLA compilations):
    eager calls and every model traced with one shape reuse one set. Callers
    must look the factory up in its module's namespace at call time (a global
    name, not a copy imported elsewhere), where `export_graph` swaps it.
    """
    _CACHED.append(function)
    return functools.lru_cache(maxsize=512)(function)


@contextlib.contextmanager
def export_graph() -> Iterator[None]:
    """Within it, layers trace for an exported TFLite file rather than for training.

    Three things differ, each for the file's size or XNNPACK's speed:
    - gathers take int16 positions where they fit (the positions are stored
      in the file, where int16 halves their bytes);
    - the banded convolution has no non-finite checks: a reduction and an IF
      op per layer would split XNNPACK's partitions (a NaN or Inf input may
      then reach a few more outputs of its tile row);
    - max pooling is a plain MAXIMUM chain: Keras's NaN rules (`keras_max`)
      become compare and SELECT_V2 ops, which XNNPACK does not take.
    The per-shape function caches are swapped for empty ones meanwhile, so
    that functions traced here never reach a training graph and cached
    training ones are not reused here. Not thread-safe: a model traced for
    training in another thread meanwhile would get the exported graph's form.
    """
    global _EXPORT_GRAPH
    saved = [(f.__globals__, f.__name__, f.__globals__[f.__name__]) for f in _CACHED]
    previous = _EXPORT_GRAPH
    for namespace, name, cached in saved:
        namespace[name] = functools.lru_cache(cached.cache_info().maxsize)(cached.__wrapped__)
    _EXPORT_GRAPH = True
    try:
        yield
    finally:
        _EXPORT_GRAPH = previous
        for namespace, name, cached in saved:
            namespace[name] = cached


def xla_if(xla: bool, *functions: Any) -> tuple[Any, ...]:
    """`functions`, each XLA-compiled as one `tf.function` if `xla`."""
    if not xla:
        return functions
    return tuple(tf.function(f, jit_compile=True, autograph=False) for f in functions)
