"""Pictures of a training run: curves, kernels, feature maps, activations and errors.

Every `plot_*` function returns a matplotlib `Figure` with its own Agg canvas
(no display needed, no pyplot state, matplotlib's backend left as it is) and
`save_figure` writes one as a PNG atomically. `visualize` is what `tfconv viz`
runs: it loads a run folder written by `tfconv.train.train` and writes the
pictures asked for.

The model functions work for any model `tfconv.models.build` returns, with
tfconv's own layers or Keras's: convolution blocks are found by layer type,
not by name.

Modules: `figures` (making and saving figures), `curves`, `blocks` (finding
the convolution blocks, running the model), `kernels`, `features`,
`activations`, `confusion` (matrix and misclassified images), `run` (loading
a run folder) and `pictures` (`visualize`, the steps `tfconv viz` runs).

Example:

>>> model = tfconv.models.build("lenet")
>>> save_figure(plot_kernels(model), "kernels.png")
>>> cm = confusion_matrix([0, 1, 1], [0, 1, 0], num_classes=2)
>>> cm
array([[1, 0],
       [1, 1]])
"""

from __future__ import annotations

from tfconv.layers.kinds import is_conv, is_pool
from tfconv.train.curves import plot_curves
from tfconv.utils.figures import save_figure
from tfconv.viz.activations import class_activations, plot_activations
from tfconv.viz.blocks import ConvBlock, conv_blocks, feature_extractor, predict_labels
from tfconv.viz.confusion import confusion_matrix, most_confused_pair, plot_confusion, plot_errors
from tfconv.viz.features import plot_features
from tfconv.viz.kernels import plot_kernels
from tfconv.viz.pictures import (
    BOOK_CLASSES,
    KINDS,
    default_class_groups,
    parse_classes,
    visualize,
)
from tfconv.viz.run import Run, load_run

__all__ = [
    "BOOK_CLASSES",
    "KINDS",
    "ConvBlock",
    "Run",
    "class_activations",
    "confusion_matrix",
    "conv_blocks",
    "default_class_groups",
    "feature_extractor",
    "is_conv",
    "is_pool",
    "load_run",
    "most_confused_pair",
    "parse_classes",
    "plot_activations",
    "plot_confusion",
    "plot_curves",
    "plot_errors",
    "plot_features",
    "plot_kernels",
    "predict_labels",
    "save_figure",
    "visualize",
]
