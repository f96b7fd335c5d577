"""The JSON form of a tensor: shape, dtype and base64 of little-endian float32 in C order.

``encode_tensor`` gives the form as a dict of Python values. Large response bodies use
``EncodedTensor`` and ``json_bytes`` instead: base64 text never needs JSON escaping, so its
bytes go into the body as they are, without the JSON encoder scanning megabytes of text.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

TENSOR_DTYPE = "float32"
_WIRE_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class EncodedTensor:
    """A tensor already in its wire form: the shape and the base64 text as ASCII bytes."""

    shape: tuple[int, ...]
    data: bytes

    def to_dict(self) -> dict[str, Any]:
        """Return the same tensor as ``encode_tensor`` does."""
        return {"shape": list(self.shape), "dtype": TENSOR_DTYPE, "data": self.data.decode("ascii")}


def encode_tensor_bytes(array: np.ndarray) -> EncodedTensor:
    """Cast ``array`` (any shape, any real dtype) to float32 and base64-encode its values."""
    values = np.ascontiguousarray(array, dtype=_WIRE_DTYPE)
    # b2a_base64 reads the array's buffer directly, so the values are not copied to bytes first.
    data = binascii.b2a_base64(values.reshape(-1).view(np.uint8), newline=False)
    return EncodedTensor(tuple(int(n) for n in values.shape), data)


def encode_tensor(array: np.ndarray) -> dict[str, Any]:
    """Encode an array of any real dtype as ``{"shape", "dtype": "float32", "data"}``.

    Values are cast to float32. The caller checks finiteness where it matters, because NaN and
    infinity pass through base64 unchanged.
    """
    return encode_tensor_bytes(array).to_dict()


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


def json_bytes(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON, writing each ``EncodedTensor`` as its dict form.

    Gives the same bytes as ``json.dumps(value, allow_nan=False, separators=(",", ":"))``
    would for the value with every ``EncodedTensor`` replaced by ``to_dict()``. Accepts dicts
    with string keys, lists, tuples, strings, ints, floats, booleans and None. NaN and infinity
    raise ``ValueError``, and other types raise ``TypeError``.
    """
    parts: list[bytes] = []
    _append_json(value, parts)
    return b"".join(parts)


_encode_string = json.encoder.encode_basestring_ascii


def _append_json(value: Any, parts: list[bytes]) -> None:
    # The checks follow json.dumps: bool before int, because bool is an int subclass.
    if isinstance(value, str):
        parts.append(_encode_string(value).encode("ascii"))
    elif value is None:
        parts.append(b"null")
    elif value is True:
        parts.append(b"true")
    elif value is False:
        parts.append(b"false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value).encode("ascii"))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        parts.append(float.__repr__(value).encode("ascii"))
    elif isinstance(value, EncodedTensor):
        shape = ",".join(str(n) for n in value.shape)
        parts.append(f'{{"shape":[{shape}],"dtype":"{TENSOR_DTYPE}","data":"'.encode("ascii"))
        parts.append(value.data)
        parts.append(b'"}')
    elif isinstance(value, dict):
        _append_object(value, parts)
    elif isinstance(value, (list, tuple)):
        _append_array(value, parts)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _append_object(value: dict[Any, Any], parts: list[bytes]) -> None:
    parts.append(b"{")
    for position, (key, item) in enumerate(value.items()):
        if not isinstance(key, str):
            raise TypeError(f"JSON object keys must be str, got {type(key).__name__}: {key!r}")
        if position:
            parts.append(b",")
        parts.append(_encode_string(key).encode("ascii"))
        parts.append(b":")
        _append_json(item, parts)
    parts.append(b"}")


def _append_array(value: list[Any] | tuple[Any, ...], parts: list[bytes]) -> None:
    parts.append(b"[")
    for position, item in enumerate(value):
        if position:
            parts.append(b",")
        _append_json(item, parts)
    parts.append(b"]")
