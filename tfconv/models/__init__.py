"""LeNet and the chapter's variations on it: configs, the variant registry, builders and costs.

Every model here is the same template, a stack of convolution blocks followed
by dense layers, and a variant is just a `ModelConfig` that fills in the
template's knobs (`config`), registered under a name with a training
`Recipe` (`registry`). `builder` turns either into a Keras model,
`preprocessing` wraps a trained one for raw pixels, `cost` counts its FLOPs
and `saving` loads a saved one.

Example:

>>> model = tfconv.models.build("lenet")
>>> model.count_params()
61706
>>> rows = tfconv.models.summary(model)
Conv2D output shape:	 (1, 28, 28, 6)
...
"""

from tfconv.layers.class_names import ClassNames
from tfconv.layers.pixel_scaling import PixelScaling
from tfconv.models.builder import build, summary
from tfconv.models.config import (
    ACTIVATIONS,
    CONV_PADDINGS,
    INITIALIZERS,
    LAYER_BACKENDS,
    OPTIMIZERS,
    POOLINGS,
    SCHEDULES,
    ModelConfig,
    config_to_dict,
    feature_map_sizes,
)
from tfconv.models.preprocessing import find_layer, with_preprocessing
from tfconv.models.registry import (
    DESCRIPTIONS,
    RECIPES,
    VARIANTS,
    Recipe,
    config_from_dict,
    get_config,
    get_recipe,
    list_variants,
    register_variant,
)

__all__ = [
    "ACTIVATIONS",
    "CONV_PADDINGS",
    "DESCRIPTIONS",
    "INITIALIZERS",
    "LAYER_BACKENDS",
    "OPTIMIZERS",
    "POOLINGS",
    "RECIPES",
    "SCHEDULES",
    "VARIANTS",
    "ClassNames",
    "ModelConfig",
    "PixelScaling",
    "Recipe",
    "build",
    "config_from_dict",
    "config_to_dict",
    "feature_map_sizes",
    "find_layer",
    "get_config",
    "get_recipe",
    "list_variants",
    "register_variant",
    "summary",
    "with_preprocessing",
]
