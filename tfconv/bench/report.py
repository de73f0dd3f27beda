"""The suite's results as Markdown (`bench.md`): one table or two per section."""

from __future__ import annotations

from typing import Any


def to_markdown(results: dict[str, Any]) -> str:
    """The suite's results as Markdown tables."""
    lines = [f"# tfconv bench ({results['device']}{', quick' if results['quick'] else ''})", ""]
    if results.get("only") == "zoo":
        return "\n".join(lines + zoo_markdown(results["zoo"])) + "\n"
    lines += _layers_markdown(results["layers_training"], results["layers_training_single_thread"])
    lines += _micro_markdown(results["layer_micro"])
    if "zoo" in results:
        lines += ["", *zoo_markdown(results["zoo"])]
    lines += _pipeline_markdown(results["pipeline"])
    lines += _roofline_markdown(results["roofline"], results.get("throughput", {}))
    lines += _accuracy_markdown(results["time_to_accuracy"])
    lines += _inference_markdown(results["inference"])
    lines += _ops_markdown(results["ops"])
    return "\n".join(lines) + "\n"


def _layers_markdown(lt: dict[str, Any], st: dict[str, Any]) -> list[str]:
    return [
        "## 1. LeNet training: tfconv layers vs Keras layers",
        "",
        "| layers | examples/sec, 2 threads (median epoch) | examples per CPU-second, 1 thread |",
        "|---|---|---|",
        f"| tfconv | {lt['tfconv_examples_per_sec']:.0f} | {st['tfconv_examples_per_sec']:.0f} |",
        f"| keras | {lt['keras_examples_per_sec']:.0f} | {st['keras_examples_per_sec']:.0f} |",
        f"| ratio | {lt['ratio']:.2f} | {st['ratio']:.2f} |",
        "",
        "Wall-clock epochs can swing between two speeds: on this project's 2-core VM, "
        "in the slow mode every training step waited about 10 ms more, whatever the "
        "model (both at 11.7k examples/sec, the process using 0.9 of a core instead "
        "of 1.6). The one-thread CPU-time ratio is the steady one. Epochs, wall clock: "
        + ", ".join(
            f"{name} " + "/".join(f"{v:.0f}" for v in lt["samples"][name])
            for name in ("tfconv", "keras")
        )
        + ".",
        "",
    ]


def _micro_markdown(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| layer | input | tfconv fwd ms | keras fwd ms | tfconv fwd+bwd ms | keras fwd+bwd ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['input']} | {r['tfconv_fwd_ms']:.2f} | {r['keras_fwd_ms']:.2f} "
            f"| {r['tfconv_fwd_bwd_ms']:.2f} | {r['keras_fwd_bwd_ms']:.2f} |"
        )
    return lines


def zoo_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown lines of `zoo_section`'s rows: one table of steps, one of layers."""
    lines = [
        "## 1b. Layer zoo: one training step, tfconv layers vs Keras layers (same weights)",
        "",
        "| model | batch | input | tfconv ms, 1 thread CPU | keras ms, 1 thread CPU | ratio "
        "| tfconv ms, wall | keras ms, wall | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r['model']} | {r['batch_size']} | {'x'.join(map(str, r['input_shape']))} "
        if "skipped" in r:
            lines.append(head + f"| {r['skipped']} | | | | | |")
            continue
        c, w = r["cpu_1t"], r["wall"]
        lines.append(
            head + f"| {c['tfconv_ms']:.2f} | {c['keras_ms']:.2f} | {c['ratio']:.2f} "
            f"| {w['tfconv_ms']:.2f} | {w['keras_ms']:.2f} | {w['ratio']:.2f} |"
        )
    lines += [
        "",
        "Ratio: Keras's time / tfconv's (above 1, tfconv's layers are faster). Each "
        "contender's fastest of the interleaved windows. Per layer, one thread, CPU ms:",
        "",
        "| model | layer | input | tfconv fwd | keras fwd | tfconv fwd+bwd | keras fwd+bwd |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for la in r.get("cpu_1t", {}).get("layers", []):
            lines.append(
                f"| {r['model']} | {la['layer']} | {'x'.join(map(str, la['input']))} "
                f"| {la['tfconv_fwd_ms']:.2f} | {la['keras_fwd_ms']:.2f} "
                f"| {la['tfconv_fwd_bwd_ms']:.2f} | {la['keras_fwd_bwd_ms']:.2f} |"
            )
    return lines


def _pipeline_markdown(p: dict[str, Any]) -> list[str]:
    return [
        "",
        "## 2. Input pipeline",
        "",
        "| measure | value |",
        "|---|---|",
        f"| delivered, tfconv pipeline | {p['tfconv_examples_per_sec']:.0f} ex/s |",
        f"| delivered, naive loader | {p['naive_examples_per_sec']:.0f} ex/s |",
        f"| speedup | x{p['speedup']:.2f} |",
        f"| CPU per epoch, tfconv vs naive | {p['drain_cpu_seconds']:.3f} s vs "
        f"{p['naive_drain_cpu_seconds']:.3f} s |",
        f"| waiting for input (indirect) | {100 * p['input_wait_share']:.1f}% of an epoch |",
        f"| pipeline alone (direct) | {100 * p['pipeline_cost_share']:.1f}% of an epoch's time, "
        f"{100 * p['pipeline_cpu_share']:.1f}% of its CPU |",
    ]


def _roofline_markdown(rf: dict[str, Any], throughput: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## 3. Roofline",
        "",
        f"Matmul peak {rf['matmul_peak_flops'] / 1e9:.1f} GFLOP/s; "
        f"{rf['flops_per_example_training'] / 1e6:.2f} MFLOP per training example. "
        "LeNet training throughput, data in memory:",
        "",
        "| layers | batch | XLA | steps/call | precision | examples/sec | % of matmul peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for layers, sweep in throughput.items():
        for r in sweep["settings"]:
            share = r["examples_per_sec"] * rf["flops_per_example_training"]
            lines.append(
                f"| {layers} | {r['batch_size']} | {'on' if r['jit'] else 'off'} "
                f"| {r['steps_per_execution']} | {r['precision']} | {r['examples_per_sec']:.0f} "
                f"| {100 * share / rf['matmul_peak_flops']:.1f} |"
            )
    return [
        *lines,
        "",
        f"Best (tfconv layers): {rf['examples_per_sec']:.0f} examples/sec, "
        f"{rf['achieved_flops'] / 1e9:.1f} GFLOP/s = {100 * rf['fraction_of_peak']:.1f}% of peak.",
    ]


def _accuracy_markdown(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## 4. Time to accuracy",
        "",
        "| variant | target | seconds | epochs | best test acc |",
        "|---|---|---|---|---|",
    ]
    for t in rows:
        secs = f"{t['seconds']:.1f}" if t["seconds"] is not None else "not reached"
        lines.append(
            f"| {t['config']['variant']} | {t['target']:.2f} | {secs} | {t['epochs']} "
            f"| {t['best_test_acc']:.3f} |"
        )
    return lines


def _inference_markdown(results: dict[str, Any]) -> list[str]:
    lines = ["", "## 5. Inference (LeNet; TFLite on one thread)", ""]
    lines += ["| runtime | one image ms | batch-256 images/sec |", "|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['latency_ms']:.3f} | {r['batch_examples_per_sec']:.0f} |")
    return lines


def _ops_markdown(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["", "## 6. Ops vs plain loop", "", "| op | size | vectorised ms | loop ms |"]
    lines += ["|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['op']} | {r['size']} | {r['vectorised_ms']:.2f} | {r['loop_ms']:.1f} |"
        )
    return lines
