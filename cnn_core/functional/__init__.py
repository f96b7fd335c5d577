"""Pure NumPy forward and backward operations of a CNN.

Every forward returns ``(output, cache)`` and the matching backward takes ``(gradient, cache)``.
Shapes follow the project's vocabulary: images and feature maps are NHWC ``(m, n_H, n_W, n_C)``,
conv weights ``(f, f, n_C_prev, n_C)``, dense activations ``(n_features, m)``, dense weights
``(n_out, n_in)`` and logits ``(n_classes, m)``. Operations keep the input's floating dtype and
never modify their arguments.
"""

from ._parallel import get_num_threads, set_num_threads
from .activations import relu, relu_backward, sigmoid, sigmoid_backward
from .conv import ConvCache, conv_backward, conv_forward, conv_output_size
from .dense import LinearCache, linear_backward, linear_forward
from .losses import softmax, softmax_cross_entropy
from .padding import unpad, zero_pad
from .pool import (
    POOL_MODES,
    PoolCache,
    pool_backward,
    pool_forward,
    pool_output_size,
    pool_winner_mask,
)
from .reshape import flatten, unflatten

__all__ = [
    "POOL_MODES",
    "ConvCache",
    "LinearCache",
    "PoolCache",
    "conv_backward",
    "conv_forward",
    "conv_output_size",
    "flatten",
    "get_num_threads",
    "linear_backward",
    "linear_forward",
    "pool_backward",
    "pool_forward",
    "pool_output_size",
    "pool_winner_mask",
    "relu",
    "relu_backward",
    "set_num_threads",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_cross_entropy",
    "unflatten",
    "unpad",
    "zero_pad",
]
