"""The export report: its opening fields (the files' contract), its JSON text,
and its printable summary.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from tfconv.export.options import INPUT_NAME, OUTPUT_NAME

QUANT_TITLES = {
    "none": "float32",
    "float16": "float16 weights",
    "dynamic": "int8 weights",
    "int8": "full integer, calibrating",
}
"""How progress lines name each quantisation."""


def to_json(data: Any) -> str:
    """`data` as indented JSON, non-ASCII kept as is, with a final newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _versions() -> dict[str, str]:
    from importlib import metadata

    from tfconv.utils.runtime import package_versions

    versions = package_versions()
    with contextlib.suppress(metadata.PackageNotFoundError):
        versions["ai-edge-litert"] = metadata.version("ai-edge-litert")
    return versions


def new_report(
    *,
    source: str,
    out: str,
    dataset: str,
    labels: list[str],
    image_shape: tuple[int, ...],
    scaling: str,
    num_classes: int,
    precision: dict[str, Any],
    num_test: int | None,
) -> dict[str, Any]:
    """The report before any file is written: what was exported and the files' contract."""
    return {
        "source": source,
        "out": out,
        "dataset": dataset,
        "labels": labels,
        "input": {
            "name": INPUT_NAME,
            "shape": [None, *image_shape],
            "dtype": "uint8",
            "range": [0, 255],
            "preprocessing": scaling,
        },
        "output": {"name": OUTPUT_NAME, "shape": [None, num_classes], "what": "softmax"},
        "precision": precision,
        "num_test": num_test,
        "exports": {},
        "versions": _versions(),
    }


def _num(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_report(report: dict[str, Any]) -> list[str]:
    """The report as printable lines, one per export."""
    lines = [
        f"exported {report['source']} to {report['out']} "
        f"(input {report['input']['dtype']} {report['input']['shape']}, "
        f"scaling {report['input']['preprocessing']}; trained as "
        f"{report['precision']['trained']}"
        + (", rebuilt in float32)" if report["precision"]["rebuilt"] else ")")
    ]
    lines.append(
        f"{'export':16s} {'size':>10s} {'max|Δp|':>9s} {'agree':>7s} {'test acc':>8s} "
        f"{'ms/img':>7s}"
    )
    keras_entry = report.get("keras")
    if keras_entry:
        acc, ms = _num(keras_entry["test_acc"], ".4f"), _num(keras_entry["latency_ms"], ".3f")
        lines.append(f"{'keras':16s} {'':>10s} {'':>9s} {'':>7s} {acc:>8s} {ms:>7s}")
    for key, e in report["exports"].items():
        lines.append(
            f"{key:16s} {e['size_bytes']:>10,d} {_num(e.get('max_abs_diff'), '.2e'):>9s} "
            f"{_num(e.get('agreement'), '.4f'):>7s} {_num(e.get('test_acc'), '.4f'):>8s} "
            f"{_num(e.get('latency_ms'), '.3f'):>7s}"
        )
    if "tflite_int8" in report["exports"]:
        q = report["exports"]["tflite_int8"]
        lines.append(
            f"int8: input {q['input']['dtype']} scale {q['input']['scale']:g} zero point "
            f"{q['input']['zero_point']}; output {q['output']['dtype']} scale "
            f"{q['output']['scale']:g} zero point {q['output']['zero_point']}"
        )
    return lines
