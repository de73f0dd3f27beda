"""Class names: a dataset's own, or read from a `labels.txt` / `labels.json` file."""

from __future__ import annotations

import json
import os
from pathlib import Path


def dataset_labels(dataset: str, num_classes: int) -> list[str]:
    """The dataset's class names, or `"0"`, `"1"`, ... when the model has another count."""
    from tfconv import data

    names = list(data.get_info(dataset).class_names)
    return names if len(names) == num_classes else [str(i) for i in range(num_classes)]


def read_labels(path: Path) -> list[str]:
    """The names in a labels file: one per line, or a JSON list (or one under `"labels"`)."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(
            f"Cannot read the labels file ({err.strerror}). Received: labels={os.fspath(path)!r}"
        ) from None
    if path.suffix == ".json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"The labels file is not valid JSON ({err}). Received: labels={os.fspath(path)!r}"
            ) from None
        value = value.get("labels") if isinstance(value, dict) else value
        if not isinstance(value, list):
            raise ValueError(
                "The labels JSON must be a list of names or hold one under 'labels'. "
                f"Received: labels={os.fspath(path)!r}"
            )
        return [str(v) for v in value]
    return [line.strip() for line in text.splitlines() if line.strip()]
