"""The whole suite: runs every section in order and writes `bench.json` and `bench.md`."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from tfconv.bench.accuracy import FAST_RECIPES, time_to_accuracy
from tfconv.bench.input_pipeline import pipeline
from tfconv.bench.layers import layer_micro, layers_training, layers_training_single_thread
from tfconv.bench.ops_check import ops_vs_loop
from tfconv.bench.report import to_markdown
from tfconv.bench.runtimes import inference
from tfconv.bench.throughput import CPU_SETTINGS, roofline, training_throughput
from tfconv.bench.timing import PrintFn
from tfconv.bench.zoo_steps import zoo_section
from tfconv.utils import fileio, runtime

# Training examples of `quick`'s data slice.
_QUICK_LIMIT = 4096


def run_suite(
    out: str | Path,
    quick: bool = False,
    data_dir: str | None = None,
    print_fn: PrintFn = print,
    only: str | None = None,
) -> dict[str, Any]:
    """Runs every section and writes `bench.json` and `bench.md` to `out`.

    `quick` shrinks every section (a slice of the data, low accuracy targets,
    fewer repeats) so that the whole suite checks in CI that each benchmark
    produces numbers, in well under 3 minutes; its numbers mean little.
    `only="zoo"` runs the layer zoo alone.
    """
    if only is not None and only != "zoo":
        raise ValueError(f"`only` must be None or 'zoo'. Received: only={only!r}")
    limit = _QUICK_LIMIT if quick else None
    results: dict[str, Any] = {
        "quick": quick,
        "device": runtime.describe_device(),
        "versions": runtime.package_versions(),
        "machine": platform.machine(),
    }
    if only is not None:
        results["only"] = only
        _zoo(results, quick, print_fn)
    else:
        _layers(results, quick, limit, data_dir, print_fn)
        _zoo(results, quick, print_fn)
        print_fn("2. input pipeline")
        results["pipeline"] = pipeline(limit_train=limit, data_dir=data_dir, print_fn=print_fn)
        _roofline(results, quick, data_dir, print_fn)
        _time_to_accuracy(results, quick, limit, data_dir, print_fn)
        print_fn("5. inference")
        results["inference"] = inference(quick=quick, data_dir=data_dir, print_fn=print_fn)
        print_fn("6. ops vs the plain loop")
        results["ops"] = ops_vs_loop(quick=quick, print_fn=print_fn)
    write_results(out, results)
    return results


def _layers(
    results: dict[str, Any],
    quick: bool,
    limit: int | None,
    data_dir: str | None,
    print_fn: PrintFn,
) -> None:
    """Section 1: LeNet training both ways, on default threads and on one, and the micros."""
    print_fn("1. layers: LeNet training, tfconv vs Keras layers")
    results["layers_training"] = layers_training(
        epochs=1 if quick else 5, limit_train=limit, data_dir=data_dir, print_fn=print_fn
    )
    one = layers_training_single_thread(
        epochs=1 if quick else 3, limit_train=limit, data_dir=data_dir
    )
    results["layers_training_single_thread"] = one
    print_fn(
        f"  one thread, CPU time: tfconv {one['tfconv_examples_per_sec']:.0f}, keras "
        f"{one['keras_examples_per_sec']:.0f} examples per CPU-second, ratio {one['ratio']:.2f}"
    )
    print_fn("   layer microbenchmarks")
    results["layer_micro"] = layer_micro(quick=quick, print_fn=print_fn)


def _zoo(results: dict[str, Any], quick: bool, print_fn: PrintFn) -> None:
    print_fn("1b. layer zoo: training steps, tfconv vs Keras layers")
    results["zoo"] = zoo_section(quick=quick, print_fn=print_fn)


def _roofline(
    results: dict[str, Any], quick: bool, data_dir: str | None, print_fn: PrintFn
) -> None:
    """Section 3: throughput sweeps of both layer sets, then tfconv's best against the peak."""
    print_fn("3. roofline")
    results["throughput"] = {
        layers: training_throughput(
            layers=layers,
            settings=CPU_SETTINGS[:1] if quick else None,
            seconds=0.5 if quick else 4.0,
            data_dir=data_dir,
            print_fn=print_fn,
        )
        for layers in ("tfconv", "keras")
    }
    best = max(
        results["throughput"]["tfconv"]["best"]["examples_per_sec"],
        results["layers_training"]["tfconv_examples_per_sec"],
    )
    results["roofline"] = roofline(best, quick=quick, print_fn=print_fn)


def _time_to_accuracy(
    results: dict[str, Any],
    quick: bool,
    limit: int | None,
    data_dir: str | None,
    print_fn: PrintFn,
) -> None:
    """Section 4: every `FAST_RECIPES` entry (targets and length cut down when `quick`)."""
    from tfconv import train

    print_fn("4. time to accuracy")
    results["time_to_accuracy"] = [
        time_to_accuracy(
            0.5 if quick else target,
            train.TrainConfig(
                variant=variant,
                data_dir=data_dir,
                limit_train=limit,
                limit_test=1000 if quick else None,
                **kwargs,
            ),
            max_epochs=2 if quick else None,
            print_fn=print_fn,
        )
        for target, variant, kwargs in FAST_RECIPES
    ]


def write_results(out: str | Path, results: dict[str, Any]) -> None:
    """`bench.json` and `bench.md` of `results` in `out` (created), written atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fileio.write_json_atomic(out / "bench.json", results)
    fileio.write_text_atomic(out / "bench.md", to_markdown(results))
