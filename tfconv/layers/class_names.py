"""The layer that carries a model's class names and dataset inside its `.keras` file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras


@keras.saving.register_keras_serializable(package="tfconv")
class ClassNames(keras.layers.Layer):
    """Passes logits through unchanged and carries the class names (and dataset) with the model.

    The last layer of every model `tfconv train` saves: `tfconv predict` and
    `tfconv export` read the names and the dataset from it, not from files
    beside the model.

    Args:
        class_names: One name per logit, in logit order.
        dataset: Name of the dataset the model was trained on (its test set
            checks an export, its training images calibrate int8), or `None`.
        **kwargs: Base layer keyword arguments (`name`, ...).
    """

    def __init__(
        self, class_names: Sequence[str], dataset: str | None = None, **kwargs: Any
    ) -> None:
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if (
            isinstance(class_names, str)
            or not isinstance(class_names, Sequence)
            or not class_names
            or not all(isinstance(n, str) and n for n in class_names)
        ):
            raise ValueError(
                "`class_names` must be a non-empty list of non-empty strings. "
                f"Received: class_names={class_names!r}"
            )
        if dataset is not None and not isinstance(dataset, str):
            raise ValueError(f"`dataset` must be a string or None. Received: dataset={dataset!r}")
        self.class_names = [str(n) for n in class_names]
        self.dataset = dataset

    def build(self, input_shape: tuple[Any, ...]) -> None:
        if input_shape[-1] is not None and input_shape[-1] != len(self.class_names):
            raise ValueError(
                f"The model has {input_shape[-1]} logits but {len(self.class_names)} class "
                f"names. Received: class_names={self.class_names!r}"
            )

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(class_names=list(self.class_names), dataset=self.dataset)
        return config
