"""Imported first by `tfconv.layers`: refuses a Keras backend other than TensorFlow.

tfconv's layers are TensorFlow code; under JAX, PyTorch or NumPy they would
fail deep inside a model call, so the check runs before any layer is defined.
"""

from tfconv import require_tensorflow_backend

require_tensorflow_backend()
