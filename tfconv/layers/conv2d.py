"""A 2-D convolution (cross-correlation) layer built on tfconv's own core."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfconv import _core


def conv2d_output_shape(
    input_shape: tuple[int | None, ...],
    filters: int,
    kernel_size: Any,
    strides: Any = 1,
    padding: Any = "valid",
    dilation_rate: Any = 1,
) -> tuple[int | None, ...]:
    """Output shape of `Conv2D` for an NHWC `input_shape` (pure function).

    Example:

    >>> conv2d_output_shape((None, 28, 28, 1), 6, 5, padding=2)
    (None, 28, 28, 6)
    """
    kernel = _core.normalize_pair(kernel_size, "kernel_size")
    ho, wo = _core.window_output_hw(
        input_shape[1:3],
        kernel,
        _core.normalize_pair(strides, "strides"),
        _core.normalize_padding(padding),
        _core.normalize_pair(dilation_rate, "dilation_rate"),
    )
    return (input_shape[0], ho, wo, filters)


@keras.saving.register_keras_serializable(package="tfconv")
class Conv2D(keras.layers.Layer):
    """2-D cross-correlation layer with its own sliding-window math.

    A drop-in replacement for `keras.layers.Conv2D` (channels-last) that never
    calls a built-in convolution kernel: windows are gathered with `tf.gather`
    and multiplied with the kernel in one matrix product, and the
    gradients are explicit (`tf.custom_gradient`) so that training stays fast.
    Weights have Keras's shapes, so weights can be copied between the two.

    Args:
        filters: Number of output channels.
        kernel_size: int or `(kh, kw)`.
        strides: int or `(sh, sw)`. Defaults to 1.
        padding: `"valid"` (no padding), `"same"` (TensorFlow's SAME: the
            output is `ceil(n / s)` and an odd total puts the extra row or
            column at the bottom or right), an int `p` (the book's padding: `p`
            zero rows and columns on every side) or `(p_h, p_w)`, or per side
            `((top, bottom), (left, right))`.
        data_format: Only `"channels_last"` (or `None`) is supported.
        dilation_rate: int or `(dh, dw)`. Defaults to 1.
        activation: Activation name or callable. Defaults to `None` (linear).
        use_bias: Whether to add a bias per filter.
        kernel_initializer: Defaults to `"glorot_uniform"`.
        bias_initializer: Defaults to `"zeros"`.
        kernel_regularizer: Optional regulariser for the kernel.
        bias_regularizer: Optional regulariser for the bias.
        activity_regularizer: Optional regulariser for the output.
        kernel_constraint: Optional constraint for the kernel.
        bias_constraint: Optional constraint for the bias.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        4-D tensor `(batch, height, width, channels)` with static height,
        width and channels.

    Output shape:
        4-D tensor `(batch, new_height, new_width, filters)`; see
        `conv2d_output_shape`.

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
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"`filters` must be a positive int. Received: filters={filters!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(
                "tfconv layers support only channels-last input. "
                f"Received: data_format={data_format!r}"
            )
        self.filters = filters
        self.kernel_size = _core.normalize_pair(kernel_size, "kernel_size")
        self.strides = _core.normalize_pair(strides, "strides")
        self.padding = _core.normalize_padding(padding)
        self.dilation_rate = _core.normalize_pair(dilation_rate, "dilation_rate")
        self.data_format = "channels_last"
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self._check_input(input_shape)
        c = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, c, self.filters),
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
            raise ValueError(
                f"{type(self).__name__} expects a 4-D (batch, height, width, channels) "
                f"input. Received: input_shape={input_shape}"
            )
        if None in input_shape[1:]:
            raise ValueError(
                f"{type(self).__name__} needs static height, width and channels. "
                f"Received: input_shape={input_shape}"
            )
        if self.built and input_shape[-1] != self.kernel.shape[2]:
            raise ValueError(
                f"{type(self).__name__} was built for {self.kernel.shape[2]} input channels "
                f"but the input has {input_shape[-1]}. Received: input_shape={input_shape}"
            )
        self._check_fits(input_shape)

    def _check_fits(self, input_shape: tuple[int | None, ...]) -> None:
        ho, wo = conv2d_output_shape(
            input_shape,
            self.filters,
            self.kernel_size,
            self.strides,
            self.padding,
            self.dilation_rate,
        )[1:3]
        if ho < 1 or wo < 1:
            raise ValueError(
                f"The input of {type(self).__name__} is smaller than its kernel "
                f"{self.kernel_size} with padding {self.padding!r}: the output would be "
                f"{ho}x{wo}. Pad the input or use a smaller kernel. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        self._check_input(inputs.shape)
        kernel = tf.cast(self.kernel, self.compute_dtype)
        bias = tf.cast(self.bias, self.compute_dtype) if self.use_bias else None
        y = _core.conv2d(inputs, kernel, self.strides, self.padding, self.dilation_rate, bias)
        if self.activation is not None:
            y = self.activation(y)
        return y

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return conv2d_output_shape(
            input_shape,
            self.filters,
            self.kernel_size,
            self.strides,
            self.padding,
            self.dilation_rate,
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
