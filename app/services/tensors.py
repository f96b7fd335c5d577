"""The JSON form of a tensor: shape, dtype and base64 of little-endian float32 in C order."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

TENSOR_DTYPE = "float32"
_WIRE_DTYPE = np.dtype("<f4")


def encode_tensor(array: np.ndarray) -> dict[str, Any]:
    """Encode an array of any real dtype as ``{"shape", "dtype": "float32", "data"}``.

    Values are cast to float32. The caller checks finiteness where it matters, because NaN and
    infinity pass through base64 unchanged.
    """
    values = np.ascontiguousarray(array, dtype=_WIRE_DTYPE)
    return {
        "shape": list(values.shape),
        "dtype": TENSOR_DTYPE,
        "data": base64.b64encode(values.tobytes(order="C")).decode("ascii"),
    }


def decode_tensor(tensor: dict[str, Any]) -> np.ndarray:
    """Decode the output of ``encode_tensor`` into a float32 array of shape ``tensor["shape"]``."""
    if tensor.get("dtype") != TENSOR_DTYPE:
        raise ValueError(
            f"tensor dtype={tensor.get('dtype')!r} is not supported; expected 'float32'"
        )

    shape = tuple(int(n) for n in tensor["shape"])
    raw = base64.b64decode(tensor["data"], validate=True)
    expected = int(np.prod(shape, dtype=np.int64)) * _WIRE_DTYPE.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"tensor data contains {len(raw)} bytes but shape {list(shape)} needs {expected}"
        )
    return np.frombuffer(raw, dtype=_WIRE_DTYPE).reshape(shape).astype(np.float32)
