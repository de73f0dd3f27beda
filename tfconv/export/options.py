"""What an export can write and what everything is called: the formats and
quantisations (parsed the same way for the Python API and the CLI), the file
names, and the serving signature's input and output names.
"""

from __future__ import annotations

from collections.abc import Sequence

FORMATS = ("savedmodel", "tflite")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
SAVEDMODEL_DIR = "saved_model"
REPORT_FILE = "export_report.json"
LABELS_TXT = "labels.txt"
LABELS_JSON = "labels.json"
SIGNATURE = "serving_default"
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"


def _split(value: str | Sequence[str], name: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"`{name}` must be strings. Received: {name}={value!r}")
        out += [p.strip().lower() for p in item.split(",") if p.strip()]
    if not out:
        raise ValueError(f"`{name}` must not be empty. Received: {name}={value!r}")
    return out


def _choices(value: str | Sequence[str], name: str, valid: Sequence[str], noun: str) -> list[str]:
    """The entries of a comma list (or list) in `valid`'s order; "all" means all."""
    wanted = _split(value, name)
    bad = [v for v in wanted if v not in (*valid, "all")]
    if bad:
        raise ValueError(
            f"Unknown {noun} {bad[0]!r}; valid values are {', '.join(valid)} and all. "
            f"Received: {name}={value!r}"
        )
    return [v for v in valid if v in wanted or "all" in wanted]


def parse_formats(value: str | Sequence[str]) -> list[str]:
    """Normalises `formats`: `"all"`, `"tflite"`, `"savedmodel,tflite"` or a list.

    Returns:
        The formats in `FORMATS` order, without repeats.

    Raises:
        ValueError: On an unknown format.
    """
    return _choices(value, "formats", FORMATS, "format")


def parse_quantize(value: str | Sequence[str]) -> list[str]:
    """Normalises `quantize`: `"none"`, `"int8"`, `"none,int8"`, `"all"` or a list.

    Returns:
        The TFLite quantisations in `QUANTIZATIONS` order, without repeats.

    Raises:
        ValueError: On an unknown quantisation.
    """
    return _choices(value, "quantize", QUANTIZATIONS, "quantization")


def tflite_name(quantize: str) -> str:
    """The file name of the TFLite model for one quantisation mode."""
    return "model.tflite" if quantize == "none" else f"model_{quantize}.tflite"


def export_key(fmt: str, quantize: str) -> str:
    """The report's key of one export, e.g. `"tflite"` or `"tflite_int8"`."""
    return fmt if quantize == "none" else f"{fmt}_{quantize}"


def output_names() -> list[str]:
    """Everything an export writes: the names whose temporary leftovers it clears."""
    names = [SAVEDMODEL_DIR, REPORT_FILE, LABELS_TXT, LABELS_JSON]
    return names + [tflite_name(q) for q in QUANTIZATIONS]
