"""`Network`: a sequential stack of layers built from a JSON-serializable spec.

A spec is a list of dicts such as `{"type": "conv", "filters": 32, "f": 3, "pad": 1}`.
`normalize_spec` checks every key and fills in defaults and names; `infer_shapes` runs the shape
inference without allocating weights. Both raise `SpecError`, which names the layer's index, name,
type and input shape.

A valid spec ends with a `dense` layer (the logits, at least 2 classes) followed by `softmax`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .initializers import check_initializer
from .layers import LAYER_CLASSES, Layer, Shape, SpecError, build_layer

LAYER_TYPES = tuple(LAYER_CLASSES)

_REQUIRED = object()

# Keys of each layer type besides "type" and "name", with their defaults. A pool's stride
# defaults to its window size f, which is filled in by normalize_spec.
_LAYER_KEYS: dict[str, dict[str, object]] = {
    "conv": {"filters": _REQUIRED, "f": _REQUIRED, "stride": 1, "pad": 0},
    "relu": {},
    "sigmoid": {},
    "maxpool": {"f": _REQUIRED, "stride": None},
    "avgpool": {"f": _REQUIRED, "stride": None},
    "flatten": {},
    "dense": {"units": _REQUIRED},
    "softmax": {},
}
_MINIMUM = {"filters": 1, "f": 1, "stride": 1, "pad": 0, "units": 1}


def _check_int_key(key: str, value: object, error_context: dict) -> int:
    minimum = _MINIMUM[key]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise SpecError(f"{key} must be an integer >= {minimum}; got {value!r}", **error_context)
    if value < minimum:
        raise SpecError(f"{key} must be an integer >= {minimum}; got {value!r}", **error_context)
    return int(value)


def _normalize_layer(index: int, raw: object) -> dict:
    if not isinstance(raw, dict):
        raise SpecError(f"a layer must be a dict with a 'type' key; got {raw!r}", index=index)
    layer_type = raw.get("type")
    name = raw.get("name")
    context = {"index": index, "name": name if isinstance(name, str) else None}

    if layer_type not in _LAYER_KEYS:
        raise SpecError(
            f"unknown layer type {layer_type!r}; accepted: {', '.join(LAYER_TYPES)}", **context
        )
    context["layer_type"] = layer_type

    keys = _LAYER_KEYS[layer_type]
    unknown = sorted(str(key) for key in raw if key not in keys and key not in ("type", "name"))
    if unknown:
        accepted = ", ".join(["name", *keys]) if keys else "name"
        raise SpecError(f"unknown keys {unknown}; accepted: {accepted}", **context)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise SpecError(f"name must be a non-empty string; got {name!r}", **context)

    layer = {"type": layer_type}
    if name is not None:
        layer["name"] = name
    for key, default in keys.items():
        if key in raw:
            layer[key] = _check_int_key(key, raw[key], context)
        elif default is _REQUIRED:
            raise SpecError(f"missing required key {key!r}", **context)
        elif default is not None:
            layer[key] = default
    if layer_type in ("maxpool", "avgpool") and "stride" not in layer:
        layer["stride"] = layer["f"]
    return layer


def normalize_spec(layers: Sequence[dict]) -> list[dict]:
    """Return a checked copy of a spec with every default and every layer name filled in.

    Missing names become the type plus a per-type counter (`conv1`, `relu1`, `conv2`, ...),
    skipping names already given. Raises SpecError for a non-list spec, an unknown type or key, a
    missing or non-integer setting, a duplicate name, or a spec that does not end in
    `dense` + `softmax`.
    """
    if isinstance(layers, (str, bytes, dict)) or not isinstance(layers, Sequence):
        raise SpecError(f"the spec must be a list of layer dicts; got {type(layers).__name__}")
    if not layers:
        raise SpecError("the spec is empty; it needs at least a 'dense' and a 'softmax' layer")

    spec = [_normalize_layer(index, raw) for index, raw in enumerate(layers)]

    taken: set[str] = set()
    for index, layer in enumerate(spec):
        if "name" in layer and layer["name"] in taken:
            raise SpecError(
                f"duplicate name {layer['name']!r}; layer names must be unique",
                index=index,
                name=layer["name"],
                layer_type=layer["type"],
            )
        if "name" in layer:
            taken.add(layer["name"])
    counters = dict.fromkeys(_LAYER_KEYS, 0)
    for layer in spec:
        if "name" in layer:
            continue
        while True:
            counters[layer["type"]] += 1
            candidate = f"{layer['type']}{counters[layer['type']]}"
            if candidate not in taken:
                break
        layer["name"] = candidate
        taken.add(candidate)
    # Keep "name" right after "type" so that printed specs read naturally.
    spec = [{"type": layer["type"], "name": layer["name"], **layer} for layer in spec]

    _check_output_layers(spec)
    return spec


def _check_output_layers(spec: list[dict]) -> None:
    last = spec[-1]
    if last["type"] != "softmax":
        raise SpecError(
            "the last layer must be 'softmax'; end the spec with a 'dense' layer of one unit per "
            "class followed by {'type': 'softmax'}",
            index=len(spec) - 1,
            name=last["name"],
            layer_type=last["type"],
        )
    for index, layer in enumerate(spec[:-1]):
        if layer["type"] == "softmax":
            raise SpecError(
                "'softmax' must be the last layer",
                index=index,
                name=layer["name"],
                layer_type="softmax",
            )
    if len(spec) < 2 or spec[-2]["type"] != "dense":
        raise SpecError(
            "'softmax' must follow a 'dense' layer with one unit per class, which gives the logits",
            index=len(spec) - 1,
            name=last["name"],
            layer_type="softmax",
        )
    if spec[-2]["units"] < 2:
        raise SpecError(
            f"the last dense layer gives the class logits, so it needs units >= 2; "
            f"got {spec[-2]['units']}",
            index=len(spec) - 2,
            name=spec[-2]["name"],
            layer_type="dense",
        )


def check_input_shape(input_shape: object) -> Shape:
    """Return `input_shape` as a tuple `(n_H, n_W, n_C)` of positive ints, or raise ValueError."""
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise ValueError(f"input_shape must be (n_H, n_W, n_C); got {input_shape!r}")
    values = tuple(input_shape)
    valid = len(values) == 3 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 1
        for v in values
    )
    if not valid:
        raise ValueError(
            f"input_shape must be (n_H, n_W, n_C) with three positive integers; got {input_shape!r}"
        )
    return tuple(int(v) for v in values)


def infer_shapes(layers: Sequence[dict], input_shape: Sequence[int]) -> list[Shape]:
    """Return the per-example output shape of every layer, without building weights.

    Raises SpecError naming the first layer that does not fit its input.
    """
    spec = normalize_spec(layers)
    shape = check_input_shape(input_shape)

    shapes = []
    for index, layer in enumerate(spec):
        shape = LAYER_CLASSES[layer["type"]].infer_output_shape(layer, shape, index=index)
        shapes.append(shape)
    return shapes


def parameter_shapes(layers: Sequence[dict], input_shape: Sequence[int]) -> dict[str, Shape]:
    """Return the shape of every trainable array, keyed like `Network.parameters()`.

    Allocates nothing, so it can check a spec of unknown origin before a `Network` is built.
    """
    spec = normalize_spec(layers)
    shapes = infer_shapes(spec, input_shape)
    inputs = [check_input_shape(input_shape), *shapes[:-1]]

    result: dict[str, Shape] = {}
    for index, (layer, shape_in) in enumerate(zip(spec, inputs, strict=True)):
        if layer["type"] == "conv":
            f, n_C = layer["f"], layer["filters"]
            result[f"{index}.W"] = (f, f, shape_in[2], n_C)
            result[f"{index}.b"] = (1, 1, 1, n_C)
        elif layer["type"] == "dense":
            result[f"{index}.W"] = (layer["units"], shape_in[0])
            result[f"{index}.b"] = (layer["units"], 1)
    return result


class Network:
    """A sequential CNN built from a layer spec, with shape inference.

    Parameters
    ----------
    layers : list of layer dicts (see the module docstring); not modified.
    input_shape : per-example input shape `(n_H, n_W, n_C)`.
    init : weight initializer, "he" (default) or "seed".
    seed : seed of the generator that draws the initial weights.
    dtype : float32 (default) or float64, used for parameters, inputs and activations.

    Attributes
    ----------
    spec : the normalized spec, JSON-serializable.
    input_shape : `(n_H, n_W, n_C)`.
    output_shapes : per-example output shape of every layer.
    n_classes : units of the last dense layer.
    n_params : number of trainable values.
    layers : the Layer objects.
    """

    def __init__(
        self,
        layers: Sequence[dict],
        input_shape: Sequence[int] = (28, 28, 1),
        *,
        init: str = "he",
        seed: int | None = 0,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        self.spec = normalize_spec(layers)
        self.input_shape = check_input_shape(input_shape)
        self.init = check_initializer(init)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64; got {dtype!r}")

        rng = np.random.default_rng(seed)
        self.layers: list[Layer] = []
        shape = self.input_shape
        for index, layer_spec in enumerate(self.spec):
            layer = build_layer(
                layer_spec, shape, index=index, rng=rng, init=init, dtype=self.dtype
            )
            self.layers.append(layer)
            shape = layer.output_shape

        self.output_shapes: list[Shape] = [layer.output_shape for layer in self.layers]
        self.n_classes: int = self.spec[-2]["units"]
        self._parameters = {
            f"{layer.index}.{key}": value
            for layer in self.layers
            for key, value in layer.params.items()
        }
        self._gradients = {
            f"{layer.index}.{key}": value
            for layer in self.layers
            for key, value in layer.grads.items()
        }
        self.n_params = int(sum(value.size for value in self._parameters.values()))

    def _check_input(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
            raise TypeError(f"X must be a numeric array; got dtype {X.dtype}")
        if X.ndim != 4 or X.shape[1:] != self.input_shape:
            raise ValueError(
                f"X must have shape (m, {', '.join(map(str, self.input_shape))}) for this network; "
                f"got {X.shape}"
            )
        return X.astype(self.dtype, copy=False)

    def forward(self, X: np.ndarray, trace: bool = False):
        """Run the network up to the logits and keep each layer's cache for `backward`.

        Parameters
        ----------
        X : ndarray of shape (m, n_H, n_W, n_C); converted to the network's dtype, not modified.
        trace : also return one dict per layer with what the layer computed.

        Returns
        -------
        Z : ndarray of shape (n_classes, m), the logits (the input of the softmax layer).
        trace : returned only if `trace` is true. It is a list with one dict per layer. Each dict
            has `index`, `name`, `type`, `output_shape` (per example) and `output` (the batch
            array). Conv entries add `padded_input`, `weights`, `bias`, `f`, `stride` and `pad`.
            Pooling entries add `f`, `stride` and `mode`. Max-pool entries also add `pool_mask`,
            a uint8 array of the input's shape with 1 on each window's first maximum in
            row-major order. The softmax entry's `output` contains the probabilities
            `(n_classes, m)`.
        """
        A = self._check_input(X)
        entries = []

        for layer in self.layers[:-1]:
            entry = self._trace_entry(layer) if trace else None
            A = layer.forward(A, entry)
            if trace:
                entry["output"] = A
                entries.append(entry)

        if not trace:
            return A
        softmax_layer = self.layers[-1]
        entry = self._trace_entry(softmax_layer)
        entry["output"] = softmax_layer.forward(A)
        entries.append(entry)
        return A, entries

    @staticmethod
    def _trace_entry(layer: Layer) -> dict:
        return {
            "index": layer.index,
            "name": layer.name,
            "type": layer.type,
            "output_shape": layer.output_shape,
        }

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        """Backpropagate the gradient of the logits and fill every layer's grads.

        `dZ` `(n_classes, m)` is the gradient of a scalar loss with respect to the logits of the
        last `forward`, such as the `dZ` that `softmax_cross_entropy` returns. Returns the
        gradient with respect to the input `X`, `(m, n_H, n_W, n_C)`.
        """
        dA = np.asarray(dZ)
        for layer in reversed(self.layers[:-1]):
            dA = layer.backward(dA)
        return dA

    def clear_cache(self) -> None:
        """Free the forward caches, for example after an inference-only forward."""
        for layer in self.layers:
            layer.clear_cache()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return class probabilities `(n_classes, m)` for a batch `X` `(m, n_H, n_W, n_C)`."""
        Z = self.forward(X)
        self.clear_cache()
        return self.layers[-1].forward(Z)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return the predicted class indices `(m,)` for a batch `X` `(m, n_H, n_W, n_C)`."""
        Z = self.forward(X)
        self.clear_cache()
        return np.argmax(Z, axis=0)

    def parameters(self) -> dict[str, np.ndarray]:
        """Return the live parameter arrays keyed "layer_index.key", such as "0.W"."""
        return dict(self._parameters)

    def gradients(self) -> dict[str, np.ndarray]:
        """Return the gradient arrays of the last `backward`, with the keys of `parameters()`."""
        return dict(self._gradients)

    def load_parameters(self, values: dict[str, np.ndarray]) -> None:
        """Copy `values` into the parameter arrays; keys and shapes must match `parameters()`."""
        if values.keys() != self._parameters.keys():
            missing = sorted(self._parameters.keys() - values.keys())
            unexpected = sorted(values.keys() - self._parameters.keys())
            raise ValueError(
                f"parameter keys do not match the network: missing {missing}, "
                f"unexpected {unexpected}"
            )
        for key, param in self._parameters.items():
            value = np.asarray(values[key])
            if value.shape != param.shape:
                raise ValueError(
                    f"parameter {key!r} must have shape {param.shape}; got {value.shape}"
                )
        for key, param in self._parameters.items():
            param[...] = values[key]

    def summary(self) -> list[dict]:
        """Return one JSON-serializable row per layer: name, type, output shape, parameter count."""
        return [
            {
                "index": layer.index,
                "name": layer.name,
                "type": layer.type,
                "output_shape": list(layer.output_shape),
                "n_params": int(sum(value.size for value in layer.params.values())),
            }
            for layer in self.layers
        ]

    def __repr__(self) -> str:
        return (
            f"Network({len(self.layers)} layers, input_shape={self.input_shape}, "
            f"n_classes={self.n_classes}, n_params={self.n_params})"
        )
