// The viridis colour scale, built from a few control points by linear interpolation.
// Viridis keeps its lightness rising monotonically, so it stays readable for colour-blind readers
// and in greyscale. The control points are matplotlib's viridis at t = 0, 1/8, ..., 1 (sRGB, 0-255).
const VIRIDIS_STOPS = [
  [68, 1, 84],
  [72, 40, 120],
  [62, 73, 137],
  [49, 104, 142],
  [38, 130, 142],
  [31, 158, 137],
  [53, 183, 121],
  [110, 206, 88],
  [253, 231, 37],
];

// Interpolate the control points into a table of `size` colours: table[3 * k + channel].
function buildTable(size) {
  const table = new Uint8ClampedArray(size * 3);
  const segments = VIRIDIS_STOPS.length - 1;
  for (let k = 0; k < size; k += 1) {
    const position = (k / (size - 1)) * segments;
    const lower = Math.min(Math.floor(position), segments - 1);
    const fraction = position - lower;
    for (let channel = 0; channel < 3; channel += 1) {
      const a = VIRIDIS_STOPS[lower][channel];
      const b = VIRIDIS_STOPS[lower + 1][channel];
      table[3 * k + channel] = Math.round(a + (b - a) * fraction);
    }
  }
  return table;
}

export const VIRIDIS_TABLE = buildTable(256);

// Map t in [0, 1] to [r, g, b]; values outside the range are clamped.
export function viridis(t) {
  const clamped = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  const k = Math.round(clamped * 255);
  return [VIRIDIS_TABLE[3 * k], VIRIDIS_TABLE[3 * k + 1], VIRIDIS_TABLE[3 * k + 2]];
}

export function cssColor(t) {
  const [r, g, b] = viridis(t);
  return `rgb(${r}, ${g}, ${b})`;
}

// Draw the scale left (low) to right (high) across the whole canvas.
export function drawLegendBar(canvas) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(canvas.width, canvas.height);
  for (let x = 0; x < canvas.width; x += 1) {
    const [r, g, b] = viridis(x / (canvas.width - 1));
    for (let y = 0; y < canvas.height; y += 1) {
      const offset = 4 * (y * canvas.width + x);
      image.data[offset] = r;
      image.data[offset + 1] = g;
      image.data[offset + 2] = b;
      image.data[offset + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
}
