"""Gradient-descent optimizers that update a network's parameter arrays in place.

Each optimizer takes two dicts with the same keys, the live parameter arrays and their gradients
(`Network.parameters()` and `Network.gradients()`), so an update is a loop over keys. The
formulas are the ones of the classic deep learning course, with `t` the step count from 1:

- SGD:      `W -= learning_rate * dW`
- Momentum: `v = beta * v + (1 - beta) * dW`, then `W -= learning_rate * v`
- Adam:     `v = beta1 * v + (1 - beta1) * dW`, `s = beta2 * s + (1 - beta2) * dW**2`,
            `v_hat = v / (1 - beta1**t)`, `s_hat = s / (1 - beta2**t)`,
            `W -= learning_rate * v_hat / (sqrt(s_hat) + epsilon)`
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "adam")


def _check_rate(name: str, value: object, *, upper: float | None = None) -> float:
    """Return `value` as a float in (0, upper) or (0, inf), or raise ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number; got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0 or (upper is not None and value >= upper):
        accepted = f"0 < {name} < {upper}" if upper is not None else "a finite number > 0"
        raise ValueError(f"{name} must be {accepted}; got {value!r}")
    return value


# Elements per block of an in-place update: 256 KiB of float32, small enough to stay in L2 cache.
_UPDATE_BLOCK = 1 << 16


def _subtract_scaled(param: np.ndarray, grad: np.ndarray, scale: float) -> None:
    """Compute ``param -= scale * grad`` in place, block by block.

    ``scale * grad`` for a whole weight matrix would be a temporary as large as the weights, 88 MB
    for the seed preset's first dense layer, whose fresh pages cost more than the arithmetic.
    Blocks of one small scratch array give the same values, because each element is rounded in
    the same two operations.
    """
    same_layout = param.dtype == grad.dtype and param.flags.c_contiguous and grad.flags.c_contiguous
    if param.size <= _UPDATE_BLOCK or not same_layout:
        param -= scale * grad
        return

    param_flat = param.reshape(-1)
    grad_flat = grad.reshape(-1)
    scratch = np.empty(_UPDATE_BLOCK, dtype=param.dtype)
    for start in range(0, param_flat.size, _UPDATE_BLOCK):
        stop = min(start + _UPDATE_BLOCK, param_flat.size)
        scaled = scratch[: stop - start]
        np.multiply(grad_flat[start:stop], scale, out=scaled)
        np.subtract(param_flat[start:stop], scaled, out=param_flat[start:stop])


class Optimizer:
    """Base class that stores the learning rate and checks that parameters and gradients match."""

    name = "optimizer"

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = _check_rate("learning_rate", learning_rate)
        self.t = 0

    def step(
        self, parameters: Mapping[str, np.ndarray], gradients: Mapping[str, np.ndarray]
    ) -> None:
        """Update every array of `parameters` in place from the gradient under the same key."""
        if parameters.keys() != gradients.keys():
            raise ValueError(
                "parameters and gradients must have the same keys; got "
                f"{sorted(parameters)} and {sorted(gradients)}"
            )
        for key, param in parameters.items():
            if gradients[key].shape != param.shape:
                raise ValueError(
                    f"gradient {key!r} has shape {gradients[key].shape}, "
                    f"but its parameter has shape {param.shape}"
                )

        self.t += 1
        for key, param in parameters.items():
            self._update(key, param, gradients[key])

    def _update(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.learning_rate!r})"


class SGD(Optimizer):
    """Plain gradient descent: `W -= learning_rate * dW`."""

    name = "sgd"

    def _update(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        _subtract_scaled(param, grad, self.learning_rate)


class Momentum(Optimizer):
    """Gradient descent on an exponential moving average of the gradients.

    The velocity `v` of each parameter starts at zero and has the parameter's shape.
    """

    name = "momentum"

    def __init__(self, learning_rate: float, beta: float = 0.9) -> None:
        super().__init__(learning_rate)
        self.beta = _check_rate("beta", beta, upper=1.0)
        self.velocity: dict[str, np.ndarray] = {}

    def _update(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        v = self.velocity.get(key)
        if v is None:
            v = self.velocity[key] = np.zeros_like(param)

        v *= self.beta
        v += (1.0 - self.beta) * grad
        param -= self.learning_rate * v


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias-corrected first and second moment estimates."""

    name = "adam"

    def __init__(
        self,
        learning_rate: float,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        super().__init__(learning_rate)
        self.beta1 = _check_rate("beta1", beta1, upper=1.0)
        self.beta2 = _check_rate("beta2", beta2, upper=1.0)
        self.epsilon = _check_rate("epsilon", epsilon)
        self.first_moment: dict[str, np.ndarray] = {}
        self.second_moment: dict[str, np.ndarray] = {}

    def _update(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        v = self.first_moment.get(key)
        if v is None:
            v = self.first_moment[key] = np.zeros_like(param)
            self.second_moment[key] = np.zeros_like(param)
        s = self.second_moment[key]

        v *= self.beta1
        v += (1.0 - self.beta1) * grad
        s *= self.beta2
        s += (1.0 - self.beta2) * np.square(grad)

        v_hat = v / (1.0 - self.beta1**self.t)
        s_hat = s / (1.0 - self.beta2**self.t)
        param -= self.learning_rate * v_hat / (np.sqrt(s_hat) + self.epsilon)


_OPTIMIZER_CLASSES: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "adam": Adam}
_OPTIMIZER_OPTIONS = {"sgd": (), "momentum": ("beta",), "adam": ("beta1", "beta2", "epsilon")}


def make_optimizer(name: str, learning_rate: float, **options: float) -> Optimizer:
    """Build an optimizer by name.

    `options` are passed to the class: `beta` for "momentum", `beta1`, `beta2` and `epsilon` for
    "adam"; "sgd" takes none.
    """
    cls = _OPTIMIZER_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")
    unknown = sorted(set(options) - set(_OPTIMIZER_OPTIONS[name]))
    if unknown:
        accepted = ", ".join(_OPTIMIZER_OPTIONS[name]) or "none"
        raise TypeError(
            f"optimizer {name!r} does not accept the options {unknown}; accepted: {accepted}"
        )
    return cls(learning_rate, **options)
