"""Per-op latency profile of exported TFLite models (LiteRT, one thread, single image).

    python benchmarks/profile_tflite.py --run saved_models/accuracy/fashion_mnist-lenet-tfconv
    python benchmarks/profile_tflite.py --variant lenet --layers tfconv --limit-train 2048
    python benchmarks/profile_tflite.py --files export/model.tflite export/model_int8.tflite

With `--run` or `--variant` the model is exported (`--quantize`, default
float32 and int8) to a temporary folder; `--files` profiles existing files.

Prints, per file: the whole model's median latency, timed interleaved with
the other files (through `tfconv.export.TFLiteRunner`, as `export_model` and
`tfconv.bench` time it, and `invoke()` alone), then a table of its parts.
LiteRT's Python interpreter has no op profiler, so every part is cut out of
the flatbuffer as a model of its own (same tensors, shapes and quantisation;
its inputs captured from a run of the whole model on a test image) and timed
alone, minus an empty model. The parts are the XNNPACK partitions (runs of
consecutive ops the default delegate takes; `XNN[...]`) and the ops left to
LiteRT's own kernels, which is how the interpreter runs the model, so the
parts add up to about the whole (the rest is per-partition overhead).
`--ops` times every op on its own instead.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def _op_names(content: bytes) -> list[str]:
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(bytearray(content), 0)
    graph = model.Subgraphs(0)
    out = []
    for i in range(graph.OperatorsLength()):
        code = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
        out.append(names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())])
    return out


def _capture(content: bytes, image: np.ndarray) -> dict[int, np.ndarray]:
    """Every tensor's value after a run of the whole model on one image."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(
        model_content=content,
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
    it.invoke()
    values = {}
    for detail in it.get_tensor_details():
        with contextlib.suppress(ValueError):  # a tensor without data (an optional input)
            values[detail["index"]] = it.get_tensor(detail["index"]).copy()
    return values


def _cut(content: bytes, first: int, last: int, values: dict[int, np.ndarray]) -> bytes:
    """Ops `first..last` as a model: their outside inputs in, the values used later out."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    graph = model.subgraphs[0]
    ops = graph.operators[first : last + 1]

    def constant(t: int) -> bool:
        data = model.buffers[graph.tensors[t].buffer].data
        return data is not None and len(data) > 0

    made = {int(t) for op in ops for t in op.outputs}
    inputs: list[int] = []
    for op in ops:
        for t in (int(t) for t in op.inputs):
            if t >= 0 and not constant(t) and t not in made and t not in inputs:
                inputs.append(t)
    later = {int(t) for op in graph.operators[last + 1 :] for t in op.inputs}
    later |= {int(t) for t in graph.outputs}
    outputs = [t for t in sorted(made) if t in later] or [int(t) for t in ops[-1].outputs]
    for t in set(inputs) | made:
        if t in values:  # static shapes: what the whole model ran with
            graph.tensors[t].shape = np.array(values[t].shape, np.int32)
            graph.tensors[t].shapeSignature = None
    graph.operators = ops
    graph.inputs = inputs
    graph.outputs = outputs
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _empty(content: bytes) -> bytes:
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    graph = model.subgraphs[0]
    graph.operators = []
    graph.outputs = list(graph.inputs)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _partitions(content: bytes) -> list[tuple[int, int, bool]]:
    """`(first, last, delegated)`: XNNPACK's runs of consecutive ops, and every other op."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(
        model_content=content, num_threads=1, experimental_disable_delegate_node_fusion=True
    )
    it.allocate_tensors()
    details = it._get_ops_details()
    delegated_outputs = {
        int(t) for op in details if op["op_name"] == "DELEGATE" for t in op["outputs"]
    }
    ops = [op for op in details if op["op_name"] != "DELEGATE"]
    taken = [all(int(t) in delegated_outputs for t in op["outputs"]) for op in ops]
    parts, i = [], 0
    while i < len(ops):
        j = i
        while taken[i] and j + 1 < len(ops) and taken[j + 1]:
            j += 1
        parts.append((i, j, taken[i]))
        i = j + 1
    return parts


def _interpreter(content: bytes, values: dict[int, np.ndarray]) -> Callable:
    """`invoke` of a ready interpreter (one thread, XNNPACK) whose inputs hold `values`."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.tools import flatbuffer_utils

    inputs = flatbuffer_utils.read_model_from_bytearray(content).subgraphs[0].inputs
    it = Interpreter(model_content=content, num_threads=1)
    it.allocate_tensors()
    for detail, t in zip(it.get_input_details(), (int(t) for t in inputs), strict=True):
        it.set_tensor(detail["index"], values[t].astype(detail["dtype"]))
    it.invoke()
    return it.invoke


def profile(
    files: list[Path], image: np.ndarray, rounds: int = 7, reps: int = 200, per_op: bool = False
) -> dict[str, dict]:
    """Whole-model latencies and the parts' table of each file (see the module docstring)."""
    from tfconv import export

    whole: dict[str, Callable] = {}
    parts: dict[str, Callable] = {}
    labels: dict[str, tuple[str, int, int, str]] = {}
    for path in files:
        content = path.read_bytes()
        runner = export.TFLiteRunner(content, num_threads=1)
        whole[f"{path}|runner"] = lambda r=runner: r(image[None])
        whole[f"{path}|invoke"] = runner.interpreter.invoke
        runner(image[None])
        values = _capture(content, image)
        names = _op_names(content)
        parts[f"{path}|empty"] = _interpreter(_empty(content), values)
        ranges = [(i, i, False) for i in range(len(names))] if per_op else _partitions(content)
        for first, last, delegated in ranges:
            key = f"{path}|{first}-{last}"
            parts[key] = _interpreter(_cut(content, first, last, values), values)
            text = " ".join(names[first : last + 1])
            labels[key] = (str(path), first, last, f"XNN[{text}]" if delegated else text)

    def us(calls: dict[str, Callable], rounds: int) -> dict[str, float]:
        # The median over interleaved rounds of each call's median time.
        ms = export.interleaved_latency_ms(calls, rounds * reps, rounds)
        return {key: 1e3 * v for key, v in ms.items()}

    whole_us = us(whole, rounds)
    part_us = us(parts, max(3, rounds // 2))
    results: dict[str, dict] = {}
    for path in files:
        empty = part_us[f"{path}|empty"]
        rows = [
            {"ops": f"{first}-{last}", "what": what, "us": part_us[key] - empty}
            for key, (p, first, last, what) in labels.items()
            if p == str(path)
        ]
        results[str(path)] = {
            "runner_us": whole_us[f"{path}|runner"],
            "invoke_us": whole_us[f"{path}|invoke"],
            "parts": rows,
        }
    return results


def _export(args: argparse.Namespace, out: Path) -> list[Path]:
    from tfconv import export

    if args.run:
        model, _ = export.load_keras(args.run)
    else:
        from tfconv import bench, data

        model = bench.compiled_model(args.variant, args.layers, jit=False)
        pipes = data.pipelines(
            "fashion_mnist", 256, data_dir=args.data_dir, limit_train=args.limit_train
        )
        model.fit(pipes.train, epochs=args.epochs, verbose=0)
    report = export.export_model(
        model, out, formats="tflite", quantize=args.quantize, dataset="fashion_mnist",
        data_dir=args.data_dir, limit_test=2000, latency_runs=0, print_fn=None,
    )  # fmt: skip
    for key, entry in report["exports"].items():
        print(
            f"{key}: {entry['size_bytes']:,} bytes, agreement with Keras {entry['agreement']:.4f}"
        )
    return [out / export.tflite_name(q) for q in export.parse_quantize(args.quantize)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="run folder or .keras file to export")
    source.add_argument("--variant", help="train this variant briefly, then export it")
    source.add_argument("--files", nargs="+", type=Path, help=".tflite files to profile")
    parser.add_argument("--layers", choices=("tfconv", "keras"), default="tfconv")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit-train", type=int, default=2048)
    parser.add_argument("--quantize", default="none,int8")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds")
    parser.add_argument("--reps", type=int, default=200, help="calls per round")
    parser.add_argument("--ops", action="store_true", help="time every op alone")
    args = parser.parse_args(argv)

    from tfconv import data

    _, (x_test, _) = data.load("fashion_mnist", data_dir=args.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        files = args.files or _export(args, Path(tmp))
        results = profile(files, x_test[0], args.rounds, args.reps, per_op=args.ops)
    for path, r in results.items():
        total = sum(row["us"] for row in r["parts"])
        print(
            f"\n{os.path.join(*Path(path).parts[-2:])}: {r['runner_us']:.1f} us per image through "
            f"TFLiteRunner, "
            f"{r['invoke_us']:.1f} us invoke() alone; parts timed alone sum to {total:.1f} us"
        )
        for row in r["parts"]:
            if row["us"] >= 0.3:
                print(f"  ops {row['ops']:>7s} {row['us']:7.2f} us  {row['what'][:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
