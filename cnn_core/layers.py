"""Layer classes: each one wraps a forward/backward pair of `cnn_core.functional`.

A layer is built from one normalized spec dict (see `cnn_core.network.normalize_spec`) and the
per-example shape of its input. It infers its output shape when it is built, and raises `SpecError`
if the input does not fit. Trainable layers keep their arrays in `params` and the gradients of the
last `backward` in `grads`, under the same keys ("W", "b"), so an optimizer is a loop over keys.

Shapes: feature maps are `(m, n_H, n_W, n_C)`, dense activations `(n_features, m)`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from . import functional as F
from .initializers import initialize_weights

Shape = tuple[int, ...]


class SpecError(ValueError):
    """A layer spec that is invalid or does not fit the shape of its input.

    `index`, `name` and `layer_type` identify the layer (any of them may be None when the spec is
    too broken to tell), and `input_shape` is its per-example input shape when known.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        name: str | None = None,
        layer_type: str | None = None,
        input_shape: Shape | None = None,
    ) -> None:
        where = []
        if index is not None:
            where.append(f"layer {index}")
        if name is not None:
            where.append(f"{name!r}")
        if layer_type is not None:
            where.append(f"type {layer_type!r}")
        if input_shape is not None:
            where.append(f"input shape {tuple(input_shape)}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.index = index
        self.name = name
        self.layer_type = layer_type
        self.input_shape = input_shape


class Layer:
    """Base class of every layer.

    Attributes
    ----------
    spec : the normalized spec dict, including `type` and `name`.
    index : position in the network, from 0.
    name : unique name within the network, such as "conv1".
    input_shape, output_shape : per-example shapes, `(n_H, n_W, n_C)` or `(n_features,)`.
    params, grads : trainable arrays and their gradients under the same keys; empty when the
        layer has no parameters.
    """

    type: ClassVar[str] = ""
    input_ndim: ClassVar[int | None] = None  # required rank of the per-example input, if any

    def __init__(self, spec: dict, input_shape: Shape, *, index: int = 0) -> None:
        self.spec = spec
        self.index = index
        self.name = spec["name"]
        self.input_shape = tuple(input_shape)
        self.output_shape = self.infer_output_shape(spec, self.input_shape, index=index)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    @classmethod
    def infer_output_shape(cls, spec: dict, input_shape: Shape, *, index: int = 0) -> Shape:
        """Return the per-example output shape, or raise SpecError if `input_shape` does not fit."""
        cls._check_input_rank(spec, input_shape, index)
        return tuple(input_shape)

    @classmethod
    def _error(cls, spec: dict, input_shape: Shape, index: int, message: str) -> SpecError:
        return SpecError(
            message,
            index=index,
            name=spec.get("name"),
            layer_type=cls.type,
            input_shape=input_shape,
        )

    @classmethod
    def _check_input_rank(cls, spec: dict, input_shape: Shape, index: int) -> None:
        if cls.input_ndim is None or len(input_shape) == cls.input_ndim:
            return
        if cls.input_ndim == 1:
            hint = "it needs a vector (n_features,); add a 'flatten' layer before it"
        else:
            hint = "it needs a feature map (n_H, n_W, n_C) and cannot follow 'flatten' or 'dense'"
        raise cls._error(spec, input_shape, index, hint)

    def forward(self, A_prev: np.ndarray, trace: dict | None = None) -> np.ndarray:
        """Compute the layer's output for a batch and keep what `backward` needs.

        If `trace` is a dict, the layer adds the intermediate values it can show to it.
        """
        raise NotImplementedError

    def backward(self, dA: np.ndarray) -> np.ndarray:
        """Return the gradient for the input of the last `forward`; fill `grads` on the way."""
        raise NotImplementedError

    def clear_cache(self) -> None:
        """Drop the values kept by the last `forward`, which can be large for conv layers."""
        self._cache = None

    def _pop_cache(self):
        if self._cache is None:
            raise RuntimeError(f"layer {self.name!r}: backward() called before forward()")
        cache, self._cache = self._cache, None
        return cache

    def __repr__(self) -> str:
        keys = {k: v for k, v in self.spec.items() if k not in ("type", "name")}
        options = "".join(f", {k}={v!r}" for k, v in keys.items())
        return f"{type(self).__name__}(name={self.name!r}{options})"


def _reusable_buffer(grad: np.ndarray, *operands: np.ndarray) -> np.ndarray | None:
    """Return ``grad`` if a backward can write its result straight into it, else None.

    Writing the weight gradient in place skips one allocation and one copy of a weight-sized
    array per step. A gradient of another dtype (a float64 ``dZ`` on float32 weights) still goes
    through a new array and a cast, as before.
    """
    dtype = np.result_type(*(np.asarray(operand) for operand in operands))
    if grad.dtype == dtype and grad.flags.c_contiguous and grad.flags.writeable:
        return grad
    return None


def _window_output_size(n: int, f: int, stride: int, pad: int) -> int:
    return (n + 2 * pad - f) // stride + 1


class Conv2D(Layer):
    """2-D convolution: `W` `(f, f, n_C_prev, filters)`, `b` `(1, 1, 1, filters)`.

    Output size per spatial axis: `floor((n + 2 * pad - f) / stride) + 1`.
    """

    type = "conv"
    input_ndim = 3

    def __init__(
        self,
        spec: dict,
        input_shape: Shape,
        *,
        index: int = 0,
        rng: np.random.Generator | None = None,
        init: str = "he",
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__(spec, input_shape, index=index)
        rng = np.random.default_rng() if rng is None else rng
        f, n_C_prev, n_C = spec["f"], self.input_shape[2], spec["filters"]

        W = initialize_weights(init, (f, f, n_C_prev, n_C), f * f * n_C_prev, rng, dtype)
        self.params = {"W": W, "b": np.zeros((1, 1, 1, n_C), dtype=dtype)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    @classmethod
    def infer_output_shape(cls, spec: dict, input_shape: Shape, *, index: int = 0) -> Shape:
        cls._check_input_rank(spec, input_shape, index)
        n_H, n_W, _ = input_shape
        f, stride, pad = spec["f"], spec["stride"], spec["pad"]

        if f > n_H + 2 * pad or f > n_W + 2 * pad:
            raise cls._error(
                spec,
                input_shape,
                index,
                f"the {f}x{f} window is larger than the padded input "
                f"{n_H + 2 * pad}x{n_W + 2 * pad}; use a smaller f or a larger pad",
            )
        n_H_out = _window_output_size(n_H, f, stride, pad)
        n_W_out = _window_output_size(n_W, f, stride, pad)
        return (n_H_out, n_W_out, spec["filters"])

    def forward(self, A_prev: np.ndarray, trace: dict | None = None) -> np.ndarray:
        W, b = self.params["W"], self.params["b"]
        stride, pad = self.spec["stride"], self.spec["pad"]

        # The trace reads the local cache, so a concurrent forward on the same layer (two
        # inference requests sharing a network) cannot mix values into it.
        Z, cache = F.conv_forward(A_prev, W, b, stride=stride, pad=pad)
        self._cache = cache

        if trace is not None:
            trace["padded_input"] = cache.A_pad
            trace["weights"] = W.copy()
            trace["bias"] = b.copy()
            trace["f"] = self.spec["f"]
            trace["stride"] = stride
            trace["pad"] = pad
        return Z

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        cache = self._pop_cache()
        dW_out = _reusable_buffer(self.grads["W"], dZ, cache.cols)
        dA_prev, dW, db = F.conv_backward(dZ, cache, dW_out=dW_out)
        if dW is not dW_out:
            self.grads["W"][...] = dW
        self.grads["b"][...] = db
        return dA_prev


class _Activation(Layer):
    """Element-wise activation; keeps the input shape. Subclasses set `_forward`, `_backward`."""

    def forward(self, A_prev: np.ndarray, trace: dict | None = None) -> np.ndarray:
        A, self._cache = type(self)._forward(A_prev)
        return A

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return type(self)._backward(dA, self._pop_cache())


class ReLU(_Activation):
    """`max(0, Z)`, element-wise."""

    type = "relu"
    _forward = staticmethod(F.relu)
    _backward = staticmethod(F.relu_backward)


class Sigmoid(_Activation):
    """`1 / (1 + exp(-Z))`, element-wise."""

    type = "sigmoid"
    _forward = staticmethod(F.sigmoid)
    _backward = staticmethod(F.sigmoid_backward)


class _Pool(Layer):
    """Pooling over `f` x `f` windows; windows that do not fit are dropped.

    Output size per spatial axis: `floor((n - f) / stride) + 1`; channels are kept.
    """

    input_ndim = 3
    mode: ClassVar[str] = ""

    @classmethod
    def infer_output_shape(cls, spec: dict, input_shape: Shape, *, index: int = 0) -> Shape:
        cls._check_input_rank(spec, input_shape, index)
        n_H, n_W, n_C = input_shape
        f, stride = spec["f"], spec["stride"]

        if f > n_H or f > n_W:
            raise cls._error(
                spec,
                input_shape,
                index,
                f"the {f}x{f} window is larger than the {n_H}x{n_W} input; "
                f"use f <= {min(n_H, n_W)}",
            )
        return (_window_output_size(n_H, f, stride, 0), _window_output_size(n_W, f, stride, 0), n_C)

    def forward(self, A_prev: np.ndarray, trace: dict | None = None) -> np.ndarray:
        f, stride = self.spec["f"], self.spec["stride"]
        A, cache = F.pool_forward(A_prev, f=f, stride=stride, mode=self.mode)
        self._cache = cache

        if trace is not None:
            trace["f"] = f
            trace["stride"] = stride
            trace["mode"] = self.mode
            if self.mode == "max":
                # 1 on each window's first maximum in row-major order, the cell that receives
                # the window's gradient; overlapping windows may share a winner.
                trace["pool_mask"] = F.pool_winner_mask(cache)
        return A

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return F.pool_backward(dA, self._pop_cache())


class MaxPool2D(_Pool):
    """Max pooling; the gradient of a window goes to its first maximum in row-major order."""

    type = "maxpool"
    mode = "max"


class AvgPool2D(_Pool):
    """Average pooling; the gradient of a window is shared equally by its f * f cells."""

    type = "avgpool"
    mode = "average"


class Flatten(Layer):
    """Reshape `(m, n_H, n_W, n_C)` maps into `(n_H * n_W * n_C, m)` columns (C order)."""

    type = "flatten"
    input_ndim = 3

    @classmethod
    def infer_output_shape(cls, spec: dict, input_shape: Shape, *, index: int = 0) -> Shape:
        cls._check_input_rank(spec, input_shape, index)
        n_H, n_W, n_C = input_shape
        return (n_H * n_W * n_C,)

    def forward(self, A_prev: np.ndarray, trace: dict | None = None) -> np.ndarray:
        A, self._cache = F.flatten(A_prev)
        return A

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return F.unflatten(dA, self._pop_cache())


class Dense(Layer):
    """Fully connected layer `Z = W @ A_prev + b`: `W` `(units, n_in)`, `b` `(units, 1)`.

    Activations are columns: `A_prev` is `(n_in, m)` and `Z` is `(units, m)`.
    """

    type = "dense"
    input_ndim = 1

    def __init__(
        self,
        spec: dict,
        input_shape: Shape,
        *,
        index: int = 0,
        rng: np.random.Generator | None = None,
        init: str = "he",
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__(spec, input_shape, index=index)
        rng = np.random.default_rng() if rng is None else rng
        n_in, n_out = self.input_shape[0], spec["units"]

        W = initialize_weights(init, (n_out, n_in), n_in, rng, dtype)
        self.params = {"W": W, "b": np.zeros((n_out, 1), dtype=dtype)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    @classmethod
    def infer_output_shape(cls, spec: dict, input_shape: Shape, *, index: int = 0) -> Shape:
        cls._check_input_rank(spec, input_shape, index)
        return (spec["units"],)

    def forward(self, A_prev: np.ndarray, trace: dict | None = None) -> np.ndarray:
        Z, self._cache = F.linear_forward(A_prev, self.params["W"], self.params["b"])
        return Z

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        cache = self._pop_cache()
        dW_out = _reusable_buffer(self.grads["W"], dZ, cache.A)
        dA_prev, dW, db = F.linear_backward(dZ, cache, dW_out=dW_out)
        if dW is not dW_out:
            self.grads["W"][...] = dW
        self.grads["b"][...] = db
        return dA_prev


class Softmax(Layer):
    """Output layer that turns logits `(n_classes, m)` into probabilities of the same shape.

    `Network.forward` stops before this layer and returns logits, because the loss
    (`softmax_cross_entropy`) applies the softmax itself in a numerically stable way.
    """

    type = "softmax"
    input_ndim = 1

    def forward(self, A_prev: np.ndarray, trace: dict | None = None) -> np.ndarray:
        return F.softmax(A_prev)

    def backward(self, dA: np.ndarray) -> np.ndarray:
        raise NotImplementedError(
            "the softmax layer has no separate backward; pass the gradient of the logits, "
            "such as the dZ of softmax_cross_entropy, to Network.backward"
        )


LAYER_CLASSES: dict[str, type[Layer]] = {
    cls.type: cls for cls in (Conv2D, ReLU, Sigmoid, MaxPool2D, AvgPool2D, Flatten, Dense, Softmax)
}


def build_layer(
    spec: dict,
    input_shape: Shape,
    *,
    index: int = 0,
    rng: np.random.Generator | None = None,
    init: str = "he",
    dtype: np.dtype | type = np.float32,
) -> Layer:
    """Build the layer for one normalized spec dict; trainable layers draw weights from `rng`."""
    cls = LAYER_CLASSES[spec["type"]]
    if cls in (Conv2D, Dense):
        return cls(spec, input_shape, index=index, rng=rng, init=init, dtype=dtype)
    return cls(spec, input_shape, index=index)
