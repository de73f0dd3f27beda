"""The layer zoo's architectures (`ZOO`): common conv nets, each buildable from
tfconv's layers or Keras's with one architecture and one weight order.

Each builder takes the module whose Conv2D / MaxPooling2D / AveragePooling2D
it uses (`tfconv.layers` or `keras.layers`; everything else is Keras's) and
the input shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

Builder = Callable[[Any, tuple[int, int, int]], Any]


class ZooModel(NamedTuple):
    """One zoo entry: its builder, full-size input and batch, and `--quick` input."""

    name: str
    build: Builder
    input_shape: tuple[int, int, int]
    batch_size: int
    quick_shape: tuple[int, int, int]


def _head(x: Any) -> Any:
    import keras

    return keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))


def lenet(layers: Any, shape: tuple[int, int, int]) -> Any:
    """The book's LeNet (`tfconv.models`), from either layer set."""
    from tfconv import layers as tl
    from tfconv import models

    return models.build("lenet", layers="tfconv" if layers is tl else "keras")


def mnist_convnet(layers: Any, shape: tuple[int, int, int]) -> Any:
    """Keras's "Simple MNIST convnet" example (logits instead of a softmax)."""
    import keras

    inputs = keras.Input(shape)
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = keras.layers.Dropout(0.5)(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="mnist_convnet")


def vgg_block(layers: Any, shape: tuple[int, int, int]) -> Any:
    """Two VGG stages: 3x3 "same" convs, 2x2 and 3x3/2 "same" max pools."""
    import keras

    inputs = keras.Input(shape)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(3, 2, padding="same")(x)
    return keras.Model(inputs, _head(x), name="vgg_block")


def resnet_pair(layers: Any, shape: tuple[int, int, int]) -> Any:
    """Two ResNet basic blocks: 64 channels, then 128 at stride 2 with a 1x1/2 shortcut."""
    import keras

    kl = keras.layers

    def conv_bn(x: Any, filters: int, kernel: int, strides: int = 1) -> Any:
        x = layers.Conv2D(filters, kernel, strides, padding="same", use_bias=False)(x)
        return kl.BatchNormalization()(x)

    inputs = keras.Input(shape)
    x = kl.ReLU()(conv_bn(inputs, 64, 3))
    x = kl.ReLU()(kl.Add()([conv_bn(x, 64, 3), inputs]))
    y = kl.ReLU()(conv_bn(x, 128, 3, 2))
    x = kl.ReLU()(kl.Add()([conv_bn(y, 128, 3), conv_bn(x, 128, 1, 2)]))
    return keras.Model(inputs, _head(x), name="resnet_pair")


def grouped(groups: int | None) -> Builder:
    """A 3x3 "same" conv with `groups` groups (None: depthwise, one per channel)."""

    def build(layers: Any, shape: tuple[int, int, int]) -> Any:
        import keras

        inputs = keras.Input(shape)
        x = layers.Conv2D(
            shape[-1], 3, padding="same", activation="relu", groups=groups or shape[-1]
        )(inputs)
        return keras.Model(inputs, _head(x), name=f"grouped_{groups or 'depthwise'}")

    return build


def stem(layers: Any, shape: tuple[int, int, int]) -> Any:
    """An ImageNet stem: 7x7/2 "same" conv, batch norm, ReLU, 3x3/2 max pool."""
    import keras

    inputs = keras.Input(shape)
    x = layers.Conv2D(64, 7, 2, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = layers.MaxPooling2D(3, 2, padding="same")(x)
    return keras.Model(inputs, _head(x), name="stem")


ZOO: tuple[ZooModel, ...] = (
    ZooModel("lenet", lenet, (28, 28, 1), 256, (28, 28, 1)),
    ZooModel("mnist_convnet", mnist_convnet, (28, 28, 1), 128, (28, 28, 1)),
    ZooModel("vgg_block", vgg_block, (32, 32, 3), 64, (8, 8, 3)),
    ZooModel("resnet_pair", resnet_pair, (32, 32, 64), 64, (8, 8, 64)),
    ZooModel("grouped3x3_g4", grouped(4), (56, 56, 64), 16, (8, 8, 64)),
    ZooModel("depthwise3x3", grouped(None), (56, 56, 64), 16, (8, 8, 64)),
    ZooModel("stem7x7", stem, (224, 224, 3), 8, (16, 16, 3)),
)
