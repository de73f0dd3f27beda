"""The benchmark suite behind `tfconv bench`: measured, never assumed.

Every comparison is taken in one run with the contenders interleaved, so that
the noise of a shared machine falls on all of them alike, and every speed is
reported next to the machine's own measured matmul peak.

Sections (each a function returning a JSON-friendly dict), one module each:

1. `layers`: `layers_training` and `layer_micro`, LeNet training with
   tfconv's layers vs Keras's, and forward/backward microbenchmarks of the
   layers; 1b. `zoo_steps`: `zoo_section`, one training step of common
   architectures (`zoo_models.ZOO`) with tfconv's layers vs Keras's,
   one-thread CPU time and wall time, per layer too;
2. `input_pipeline`: `pipeline`, tfconv's `tf.data` pipeline vs a naive
   one, and the share of a training epoch spent waiting for input;
3. `throughput`: `matmul_peak`, `training_throughput` and `roofline`,
   measured float32 matmul FLOP/s, LeNet's FLOPs per training example, and
   the achieved fraction of the peak;
4. `accuracy`: `time_to_accuracy`, wall seconds from start to a
   test-accuracy target;
5. `runtimes`: `inference`, single-image latency and batch throughput of
   Keras, SavedModel and TFLite (float32, int8) on one CPU thread;
6. `ops_check`: `ops_vs_loop`, vectorised `corr2d`/`pool2d` vs the
   plain-loop oracle (`tfconv.testing`).

`suite.run_suite` runs them all and `report` writes `bench.md`; `timing`
holds the harness they share.
"""

from __future__ import annotations

from tfconv.bench.accuracy import FAST_RECIPES, time_to_accuracy
from tfconv.bench.input_pipeline import naive_pipeline, pipeline
from tfconv.bench.layers import (
    CONV_SHAPES,
    POOL_SHAPES,
    describe_layer,
    layer_micro,
    layer_timings,
    layers_training,
    layers_training_single_thread,
)
from tfconv.bench.ops_check import ops_vs_loop
from tfconv.bench.report import to_markdown, zoo_markdown
from tfconv.bench.runtimes import inference
from tfconv.bench.suite import run_suite, write_results
from tfconv.bench.throughput import (
    CPU_SETTINGS,
    GPU_SETTINGS,
    matmul_peak,
    roofline,
    training_flops_per_example,
    training_throughput,
)
from tfconv.bench.timing import PrintFn, best_time, compiled_model, quiet, single_thread
from tfconv.bench.zoo_models import ZOO, ZooModel
from tfconv.bench.zoo_steps import train_step, zoo, zoo_section

__all__ = [
    "CONV_SHAPES",
    "CPU_SETTINGS",
    "FAST_RECIPES",
    "GPU_SETTINGS",
    "POOL_SHAPES",
    "ZOO",
    "PrintFn",
    "ZooModel",
    "best_time",
    "compiled_model",
    "describe_layer",
    "inference",
    "layer_micro",
    "layer_timings",
    "layers_training",
    "layers_training_single_thread",
    "matmul_peak",
    "naive_pipeline",
    "ops_vs_loop",
    "pipeline",
    "quiet",
    "roofline",
    "run_suite",
    "single_thread",
    "time_to_accuracy",
    "to_markdown",
    "train_step",
    "training_flops_per_example",
    "training_throughput",
    "write_results",
    "zoo",
    "zoo_markdown",
    "zoo_section",
]
