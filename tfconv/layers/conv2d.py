"""A 2-D convolution (cross-correlation) layer built on tfconv's own core."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfconv._core import conv as core_conv
from tfconv._core import shapes


def conv2d_output_shape(
    input_shape: tuple[int | None, ...],
    filters: int,
    kernel_size: Any,
    strides: Any = 1,
    padding: Any = "valid",
    dilation_rate: Any = 1,
    data_format: str = "channels_last",
) -> tuple[int | None, ...]:
    """Output shape of `Conv2D` for a 4-D `input_shape` (pure function).

    Unknown (`None`) sizes stay unknown.

    Example:

    >>> conv2d_output_shape((None, 28, 28, 1), 6, 5, padding=2)
    (None, 28, 28, 6)
    >>> conv2d_output_shape((None, 3, None, 32), 8, 3, data_format="channels_first")
    (None, 8, None, 30)
    """
    kernel = shapes.normalize_pair(kernel_size, "kernel_size")
    spatial = input_shape[2:4] if data_format == "channels_first" else input_shape[1:3]
    ho, wo = shapes.window_output_hw(
        spatial,
        kernel,
        shapes.normalize_pair(strides, "strides"),
        shapes.normalize_padding(padding),
        shapes.normalize_pair(dilation_rate, "dilation_rate"),
    )
    if data_format == "channels_first":
        return (input_shape[0], filters, ho, wo)
    return (input_shape[0], ho, wo, filters)


@keras.saving.register_keras_serializable(package="tfconv")
class Conv2D(keras.layers.Layer):
    """2-D cross-correlation layer with its own sliding-window math.

    A drop-in replacement for `keras.layers.Conv2D`: the same arguments,
    weights of the same shapes (so weights copy both ways) and the same
    `get_config()` (a Keras `Conv2D` config loads here and back), but no
    built-in convolution kernel: windows are gathered with `tf.gather` and
    multiplied with the kernel in one matrix product, and the gradients are
    explicit (`tf.custom_gradient`) so that training stays fast. Non-finite
    inputs reach exactly the outputs whose windows hold them, as in Keras.

    Args:
        filters: Number of output channels.
        kernel_size: int or `(kh, kw)`.
        strides: int or `(sh, sw)`. Defaults to 1. `strides > 1` cannot be
            combined with `dilation_rate > 1` (as in Keras).
        padding: `"valid"` (no padding), `"same"` (TensorFlow's SAME: the
            output is `ceil(n / s)` and an odd total puts the extra row or
            column at the bottom or right), or, beyond Keras, an int `p` (the
            book's padding: `p` zero rows and columns on every side),
            `(p_h, p_w)`, or per side `((top, bottom), (left, right))`.
        data_format: `"channels_last"` (`(batch, height, width, channels)`)
            or `"channels_first"` (`(batch, channels, height, width)`, run by
            transposing to channels-last and back). Defaults to
            `keras.config.image_data_format()`.
        dilation_rate: int or `(dh, dw)`. Defaults to 1.
        groups: Number of groups the input channels are split into; each is
            convolved with its own `filters // groups` filters and the results
            are concatenated, as in Keras. Input channels and `filters` must
            both be divisible by it; `groups` equal to the input channels is a
            depthwise convolution. The kernel is `(kh, kw, channels // groups,
            filters)`, Keras's shape.
        activation: Activation name or callable. Defaults to `None` (linear).
        use_bias: Whether to add a bias per filter.
        kernel_initializer: Defaults to `"glorot_uniform"`.
        bias_initializer: Defaults to `"zeros"`.
        kernel_regularizer: Optional regulariser for the kernel.
        bias_regularizer: Optional regulariser for the bias.
        activity_regularizer: Optional regulariser for the output.
        kernel_constraint: Optional constraint for the kernel.
        bias_constraint: Optional constraint for the bias.
        lora_rank: Keras's LoRA option; not supported (refused unless `None`).
        lora_alpha: Keras's LoRA option; not supported (refused unless `None`).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        4-D tensor `(batch, height, width, channels)` (or channels first)
        with floating-point values; integer inputs are refused, as Keras's
        layer refuses them. Batch, height and width may be unknown (`None`):
        static sizes run on index tables built once per size (cached), and
        sizes unknown when the model is traced run on a shape-polymorphic
        path, so a model on `(None, None, C)` images serves any size with a
        bounded number of traces. Channels must be known.

    Output shape:
        4-D tensor `(batch, new_height, new_width, filters)` (or channels
        first); see `conv2d_output_shape`.

    Example:

    >>> x = np.random.rand(4, 28, 28, 1).astype("float32")
    >>> tfconv.layers.Conv2D(6, 5, padding=2, activation="sigmoid")(x).shape
    TensorShape([4, 28, 28, 6])
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: Any = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = shapes.positive_int(filters, "filters")
        self.groups = shapes.positive_int(groups, "groups")
        if self.filters % self.groups:
            raise ValueError(
                "`filters` must be divisible by `groups`. "
                f"Received: filters={filters!r}, groups={groups!r}"
            )
        for name, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha)):
            if value is not None:
                raise ValueError(
                    f"tfconv's Conv2D does not implement LoRA; leave `{name}` unset. "
                    f"Received: {name}={value!r}"
                )
        self.kernel_size = shapes.normalize_pair(kernel_size, "kernel_size")
        self.strides = shapes.normalize_pair(strides, "strides")
        self.padding = shapes.normalize_padding(padding)
        self.dilation_rate = shapes.normalize_pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides` > 1 cannot be combined with `dilation_rate` > 1 (nor can it in "
                f"Keras). Received: strides={strides!r}, dilation_rate={dilation_rate!r}"
            )
        self.data_format = shapes.normalize_data_format(data_format)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    @property
    def _channel_axis(self) -> int:
        return 1 if self.data_format == "channels_first" else 3

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self._check_input(input_shape)
        c = input_shape[self._channel_axis]
        if c % self.groups:
            raise ValueError(
                f"The input channels ({c}) must be divisible by `groups`. "
                f"Received: input_shape={tuple(input_shape)}, groups={self.groups}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, c // self.groups, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def _check_input(self, input_shape: tuple[int | None, ...]) -> None:
        # Checked here (at build and at every call) rather than by an InputSpec, so that
        # errors name the argument and say what was received.
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            layout = (
                "channels, height, width"
                if self._channel_axis == 1
                else ("height, width, channels")
            )
            raise ValueError(
                f"{type(self).__name__} expects a 4-D (batch, {layout}) "
                f"input. Received: input_shape={input_shape}"
            )
        c = input_shape[self._channel_axis]
        if c is None:
            raise ValueError(
                f"{type(self).__name__} needs a known number of input channels (as Keras's "
                f"Conv2D does). Received: input_shape={input_shape}"
            )
        if self.built and c != self.kernel.shape[2] * self.groups:
            raise ValueError(
                f"{type(self).__name__} was built for {self.kernel.shape[2] * self.groups} "
                f"input channels but the input has {c}. Received: input_shape={input_shape}"
            )
        self._check_fits(input_shape)

    def _check_fits(self, input_shape: tuple[int | None, ...]) -> None:
        out = self.compute_output_shape(input_shape)
        ho, wo = out[2:4] if self._channel_axis == 1 else out[1:3]
        if (ho is not None and ho < 1) or (wo is not None and wo < 1):
            raise ValueError(
                f"The input of {type(self).__name__} is smaller than its kernel "
                f"{self.kernel_size} with padding {self.padding!r}: the output would be "
                f"{ho}x{wo}. Pad the input or use a smaller kernel. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        self._check_input(inputs.shape)
        dtype = tf.as_dtype(inputs.dtype)
        if not dtype.is_floating:
            # Keras's Conv2D refuses them too (a ValueError from the kernel's
            # dtype conversion): casting silently would hide a missing rescale.
            raise ValueError(
                f"{type(self).__name__} takes floating-point inputs, as keras.layers.Conv2D "
                f"does; cast them (and scale them) first. Received: inputs.dtype={dtype.name}"
            )
        kernel = tf.cast(self.kernel, self.compute_dtype)
        bias = tf.cast(self.bias, self.compute_dtype) if self.use_bias else None
        x = inputs
        if self.data_format == "channels_first":
            x = tf.transpose(x, [0, 2, 3, 1])  # (N, H, W, C)
        y = core_conv.conv2d(
            x, kernel, self.strides, self.padding, self.dilation_rate, bias, self.groups
        )
        if self.data_format == "channels_first":
            y = tf.transpose(y, [0, 3, 1, 2])  # (N, F, Ho, Wo)
        if self.activation is not None:
            y = self.activation(y)
        return y

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return conv2d_output_shape(
            tuple(input_shape),
            self.filters,
            self.kernel_size,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.data_format,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "groups": self.groups,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
