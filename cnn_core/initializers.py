"""Weight initializers for conv and dense layers.

`"he"` (the default) draws weights from N(0, 2 / fan_in), which keeps the variance of ReLU
activations roughly constant from layer to layer (He et al., 2015, "Delving Deep into
Rectifiers"). `"seed"` is the classic course initializer `randn * 0.01`: its activations shrink
by about 100x per layer, so a deep ReLU network starts with vanishing gradients and stalls. It is
kept only so the playground can show that effect.

Biases always start at zero.
"""

from __future__ import annotations

import numpy as np

INITIALIZERS = ("he", "seed")


def check_initializer(init: str) -> str:
    """Return `init` unchanged, or raise ValueError if it is not a known initializer name."""
    if not isinstance(init, str) or init not in INITIALIZERS:
        raise ValueError(f"init must be one of {', '.join(INITIALIZERS)}; got {init!r}")
    return init


def initialize_weights(
    init: str,
    shape: tuple[int, ...],
    fan_in: int,
    rng: np.random.Generator,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """Draw a weight array of `shape` with the named initializer.

    Parameters
    ----------
    init : "he" or "seed".
    shape : the weight shape, `(f, f, n_C_prev, n_C)` for conv or `(n_out, n_in)` for dense.
    fan_in : inputs that feed one output unit: `f * f * n_C_prev` for conv, `n_in` for dense.
    rng : the generator to draw from; the draw advances it.
    dtype : float dtype of the result.

    Returns
    -------
    ndarray of `shape` and `dtype`.
    """
    check_initializer(init)
    if fan_in < 1:
        raise ValueError(f"fan_in must be a positive integer; got {fan_in!r}")

    if init == "he":
        scale = np.sqrt(2.0 / fan_in)
    elif init == "seed":
        scale = 0.01
    else:  # pragma: no cover - check_initializer() rejects every other name
        raise ValueError(f"init must be one of {', '.join(INITIALIZERS)}; got {init!r}")

    return (rng.standard_normal(shape) * scale).astype(dtype)
