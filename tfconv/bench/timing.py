"""The measuring harness every benchmark shares: best-of timings, a silent
printer, a compiled model, and a one-thread TensorFlow subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

PrintFn = Callable[[str], None]

# Run by `single_thread` in a fresh interpreter: TensorFlow's thread pools
# cannot be narrowed once started, so one thread needs a new process.
_SINGLE_THREAD = """
import json, sys
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from tfconv import bench
result = getattr(bench, sys.argv[1])(cpu_time=True, **json.loads(sys.argv[2]))
print("RESULT " + json.dumps(result))
"""


def quiet(_: str) -> None:
    """A `print_fn` that prints nothing."""


def best_time(
    fn: Callable[[], Any],
    repeats: int = 5,
    number: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Best of `repeats` timings of `number` calls, in seconds per call."""
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        for _ in range(number):
            fn()
        best = min(best, (clock() - start) / number)
    return best


def compiled_model(variant: str, layers: str, jit: bool, lr: float | None = None) -> Any:
    """`variant` built from `layers`, compiled with its recipe's optimizer."""
    from tfconv import models, train

    recipe = models.get_recipe(variant)
    model = models.build(variant, layers=layers)
    optimizer = train.make_optimizer(recipe.optimizer, lr or recipe.lr)
    return train.compile_model(model, optimizer, jit_compile=jit)


def single_thread(function: str, kwargs: dict[str, Any]) -> Any:
    """`tfconv.bench.<function>(cpu_time=True, **kwargs)` in a one-thread TensorFlow process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", _SINGLE_THREAD, function, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"The single-thread benchmark failed:\n{done.stderr[-2000:]}")
