// Views over layer outputs and their drawing as viridis heatmaps on canvas.
import { VIRIDIS_TABLE } from "./colormap.js";

// Columns of the grid that a vector (flatten, dense) is wrapped into: short ones stay a strip.
function vectorColumns(n) {
  if (n <= 32) return 1;
  return n <= 256 ? 16 : 32;
}

// Wrap a decoded tensor of one example as a view with get(h, w, c).
// Maps: shape (1, n_H, n_W, n_C) or (n_H, n_W, n_C). Vectors: (n_features, 1), (1, n_features) or
// (n_features,), laid out row by row in a grid of vectorColumns(n) columns so they fit on screen.
export function makeView({ shape, data }) {
  let dims = shape.slice();
  if (dims.length === 4 && dims[0] === 1) {
    dims = dims.slice(1);
  }
  if (dims.length === 3) {
    const [H, W, C] = dims;
    return {
      kind: "maps", H, W, C, data,
      get: (h, w, c) => data[(h * W + w) * C + c],
      has: (h, w) => h >= 0 && w >= 0 && h < H && w < W,
      describe: (h, w) => `row ${h}, col ${w}`,
    };
  }
  if (dims.length === 2 && (dims[0] === 1 || dims[1] === 1)) {
    dims = [dims[0] * dims[1]];
  }
  if (dims.length === 1) {
    const n = dims[0];
    const W = vectorColumns(n);
    const H = Math.ceil(n / W);
    return {
      kind: "vector", n, H, W, C: 1, data,
      get: (h, w) => data[h * W + w],
      has: (h, w) => h >= 0 && w >= 0 && h < H && w < W && h * W + w < n,
      describe: (h, w) => `unit ${h * W + w}`,
    };
  }
  throw new Error(`Cannot draw a tensor of shape [${shape}] for one example.`);
}

export function rangeOf(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const value of values) {
    if (value < lo) lo = value;
    if (value > hi) hi = value;
  }
  return { lo, hi };
}

export function channelRange(view, c) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let h = 0; h < view.H; h += 1) {
    for (let w = 0; w < view.W; w += 1) {
      if (!view.has(h, w)) continue;
      const value = view.get(h, w, c);
      if (value < lo) lo = value;
      if (value > hi) hi = value;
    }
  }
  return { lo, hi };
}

// Draw channel c of a view, one canvas pixel per cell; CSS scales it up without smoothing.
// `range` maps lo to the dark end and hi to the yellow end. Cells outside a vector stay grey.
export function drawChannel(canvas, view, c, range) {
  canvas.width = view.W;
  canvas.height = view.H;
  const context = canvas.getContext("2d");
  const image = context.createImageData(view.W, view.H);
  const span = range.hi - range.lo;
  for (let h = 0; h < view.H; h += 1) {
    for (let w = 0; w < view.W; w += 1) {
      const offset = 4 * (h * view.W + w);
      if (!view.has(h, w)) {
        image.data.set([200, 200, 200, 255], offset);
        continue;
      }
      // A constant map (span 0) is drawn at the middle of the scale.
      const t = span > 0 ? (view.get(h, w, c) - range.lo) / span : 0.5;
      const k = Math.round(Math.min(1, Math.max(0, t)) * 255);
      image.data[offset] = VIRIDIS_TABLE[3 * k];
      image.data[offset + 1] = VIRIDIS_TABLE[3 * k + 1];
      image.data[offset + 2] = VIRIDIS_TABLE[3 * k + 2];
      image.data[offset + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
}

// Convert a pointer position over a canvas that shows an H x W grid into {h, w}.
export function cellAt(canvas, event, H, W) {
  const box = canvas.getBoundingClientRect();
  const w = Math.floor(((event.clientX - box.left) / box.width) * W);
  const h = Math.floor(((event.clientY - box.top) / box.height) * H);
  return { h: Math.min(H - 1, Math.max(0, h)), w: Math.min(W - 1, Math.max(0, w)) };
}

// Draw a map large on a canvas: cells of `scale` pixels, with optional outlines on top.
// `marks.padding` is the number of padding rows and columns at each border, hatched in white;
// `marks.boxes` is a list of {h, w, height, width, color} rectangles in cell units.
export function drawLarge(canvas, view, c, range, marks = {}) {
  const source = document.createElement("canvas");
  drawChannel(source, view, c, range);

  const scale = Math.max(2, Math.floor(280 / Math.max(view.H, view.W)));
  canvas.width = view.W * scale;
  canvas.height = view.H * scale;
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(source, 0, 0, canvas.width, canvas.height);

  const pad = marks.padding || 0;
  if (pad > 0) {
    context.strokeStyle = "rgba(255, 255, 255, 0.8)";
    context.lineWidth = 1;
    for (let h = 0; h < view.H; h += 1) {
      for (let w = 0; w < view.W; w += 1) {
        const inside = h >= pad && w >= pad && h < view.H - pad && w < view.W - pad;
        if (inside) continue;
        const x = w * scale;
        const y = h * scale;
        context.beginPath();
        context.moveTo(x, y + scale);
        context.lineTo(x + scale, y);
        context.stroke();
      }
    }
  }

  for (const box of marks.boxes || []) {
    context.strokeStyle = box.color;
    context.lineWidth = Math.max(2, Math.floor(scale / 5));
    context.strokeRect(box.w * scale + 1, box.h * scale + 1, box.width * scale - 2, box.height * scale - 2);
  }
  return scale;
}
