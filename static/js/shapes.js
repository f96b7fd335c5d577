// Output shapes of a layer spec, computed with the engine's formulas so that a spec can be
// checked in the browser before a job is started. The server checks again and its 422 wins.

// Settings of every layer type: [key, default]; undefined marks a required key.
export const LAYER_KEYS = {
  conv: [["filters", undefined], ["f", undefined], ["stride", 1], ["pad", 0]],
  relu: [],
  sigmoid: [],
  maxpool: [["f", undefined], ["stride", undefined]],
  avgpool: [["f", undefined], ["stride", undefined]],
  flatten: [],
  dense: [["units", undefined]],
  softmax: [],
};

export const LAYER_TYPES = Object.keys(LAYER_KEYS);

const MINIMUM = { filters: 1, f: 1, stride: 1, pad: 0, units: 1 };

// Input rank that each type needs: 3 for maps (n_H, n_W, n_C), 1 for vectors, null for any.
const INPUT_RANK = { conv: 3, maxpool: 3, avgpool: 3, flatten: 3, dense: 1, softmax: 1, relu: null, sigmoid: null };

// Output size of a sliding window: floor((n + 2 pad - f) / stride) + 1.
export function windowOutputSize(n, f, stride, pad) {
  return Math.floor((n + 2 * pad - f) / stride) + 1;
}

function checkSetting(layer, key) {
  const value = layer[key];
  if (!Number.isInteger(value) || value < MINIMUM[key]) {
    return `${key} must be an integer ≥ ${MINIMUM[key]}; got ${value === undefined || Number.isNaN(value) ? "nothing" : value}.`;
  }
  return null;
}

function outputShape(layer, input) {
  const rank = INPUT_RANK[layer.type];
  if (rank === 3 && input.length !== 3) {
    return { error: "needs a feature map (n_H, n_W, n_C) and cannot follow flatten or dense." };
  }
  if (rank === 1 && input.length !== 1) {
    return { error: "needs a vector (n_features,): add a flatten layer before it." };
  }
  for (const [key, fallback] of LAYER_KEYS[layer.type]) {
    if (layer[key] === undefined && fallback !== undefined) continue;
    if (layer[key] === undefined && key === "stride") continue; // pooling stride defaults to f
    const problem = checkSetting(layer, key);
    if (problem) return { error: problem };
  }

  switch (layer.type) {
    case "conv": {
      const [nH, nW] = input;
      const stride = layer.stride ?? 1;
      const pad = layer.pad ?? 0;
      if (layer.f > nH + 2 * pad || layer.f > nW + 2 * pad) {
        return { error: `window f=${layer.f} is larger than the padded input ${nH + 2 * pad}×${nW + 2 * pad}.` };
      }
      return { shape: [windowOutputSize(nH, layer.f, stride, pad), windowOutputSize(nW, layer.f, stride, pad), layer.filters] };
    }
    case "maxpool":
    case "avgpool": {
      const [nH, nW, nC] = input;
      const stride = layer.stride ?? layer.f;
      if (layer.f > nH || layer.f > nW) {
        return { error: `window f=${layer.f} is larger than the input ${nH}×${nW}.` };
      }
      return { shape: [windowOutputSize(nH, layer.f, stride, 0), windowOutputSize(nW, layer.f, stride, 0), nC] };
    }
    case "flatten":
      return { shape: [input[0] * input[1] * input[2]] };
    case "dense":
      return { shape: [layer.units] };
    case "relu":
    case "sigmoid":
    case "softmax":
      return { shape: input.slice() };
    default:
      return { error: `unknown layer type ${JSON.stringify(layer.type)}; use one of ${LAYER_TYPES.join(", ")}.` };
  }
}

/**
 * Check a spec against an input shape [n_H, n_W, n_C] and the number of classes.
 * Returns {rows: [{shape, error, params}], errors: [string], nParams}: one row per layer (shape is
 * null once a layer does not fit) and the problems that concern the whole spec.
 */
export function checkSpec(layers, inputShape, nClasses) {
  const rows = [];
  const errors = [];
  let shape = inputShape ? inputShape.slice() : null;
  let nParams = 0;

  layers.forEach((layer, index) => {
    if (!shape) {
      rows.push({ shape: null, error: null, params: 0 });
      return;
    }
    const result = outputShape(layer, shape);
    if (result.error) {
      rows.push({ shape: null, error: result.error, params: 0 });
      errors.push(`Layer ${index} (${layer.type}): ${result.error}`);
      shape = null;
      return;
    }
    let params = 0;
    if (layer.type === "conv") params = layer.f * layer.f * shape[2] * layer.filters + layer.filters;
    if (layer.type === "dense") params = shape[0] * layer.units + layer.units;
    nParams += params;
    rows.push({ shape: result.shape, error: null, params });
    shape = result.shape;
  });

  if (layers.length === 0) {
    errors.push("The spec is empty: it needs at least a dense and a softmax layer.");
  } else {
    const last = layers.length - 1;
    layers.forEach((layer, index) => {
      if (layer.type === "softmax" && index !== last) {
        errors.push(`Layer ${index}: softmax must be the last layer.`);
      }
    });
    if (layers[last].type !== "softmax") {
      errors.push("The last layer must be softmax, after a dense layer with one unit per class.");
    } else if (last < 1 || layers[last - 1].type !== "dense") {
      errors.push("Softmax must follow a dense layer with one unit per class.");
    } else if (nClasses && layers[last - 1].units !== nClasses) {
      errors.push(`Layer ${last - 1} (dense) gives ${layers[last - 1].units} logits, but the dataset has ${nClasses} classes; set its units to ${nClasses}.`);
    }
  }
  return { rows, errors, nParams };
}

export function formatShape(shape) {
  return shape ? `(${shape.join(", ")})` : "–";
}
