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
from collections.abc import Iterator, Mapping

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


# Elements per block of an in-place update: 256 KiB of float32.
_UPDATE_BLOCK = 1 << 16


def _blocks(*arrays: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield matching flat views of ``arrays``, at most ``_UPDATE_BLOCK`` elements each.

    An update formula applied to whole weight matrices makes temporaries as large as the weights,
    88 MB each for the seed preset's first dense layer, and their fresh pages cost more than the
    arithmetic. Applied block by block, the same formula gives the same values, because every
    element goes through the same operations. Arrays that are small or not all C-contiguous are
    yielded whole, once. The arrays must have the same shape.
    """
    size = arrays[0].size
    if size <= _UPDATE_BLOCK or not all(array.flags.c_contiguous for array in arrays):
        yield arrays
        return

    flat = [array.reshape(-1) for array in arrays]
    for start in range(0, size, _UPDATE_BLOCK):
        stop = min(start + _UPDATE_BLOCK, size)
        yield tuple(array[start:stop] for array in flat)


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
        for param_block, grad_block in _blocks(param, grad):
            param_block -= self.learning_rate * grad_block


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

        for param_block, grad_block, v_block in _blocks(param, grad, v):
            v_block *= self.beta
            v_block += (1.0 - self.beta) * grad_block
            param_block -= self.learning_rate * v_block


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

        for param_block, grad_block, v_block, s_block in _blocks(param, grad, v, s):
            v_block *= self.beta1
            v_block += (1.0 - self.beta1) * grad_block
            s_block *= self.beta2
            s_block += (1.0 - self.beta2) * np.square(grad_block)

            v_hat = v_block / (1.0 - self.beta1**self.t)
            s_hat = s_block / (1.0 - self.beta2**self.t)
            param_block -= self.learning_rate * v_hat / (np.sqrt(s_hat) + self.epsilon)


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
