// Panels that show how one conv or pooling output value follows from the layer's input,
// using only the numbers that the inspect endpoint returned.
import { formatNumber } from "./api.js";
import { el } from "./dom.js";
import { drawLarge } from "./heatmap.js";

// Unit roundoff of float32: 2^-24.
const FLOAT32_EPSILON = 2 ** -24;

// Input channels whose window is listed before the rest are folded into a <details> element.
const CHANNELS_SHOWN_OPEN = 4;

// Show a float32 value with enough significant digits (9) to identify it exactly.
function exact(value) {
  return Number(value).toPrecision(9);
}

function numberGrid(rows, { className = "", cellClass = () => "", caption }) {
  const body = rows.map((row, i) =>
    el("tr", {}, row.map((value, j) => el("td", { class: cellClass(i, j) || null }, formatNumber(value, 3)))),
  );
  return el("table", { class: `num-grid ${className}` }, caption ? el("caption", {}, caption) : null, el("tbody", {}, body));
}

/**
 * Explain conv output cell (h, w, c).
 *
 * column.layer: the API layer with f, stride, pad; column.padded: view (n_H + 2 pad, n_W + 2 pad, n_C_prev);
 * column.weights: data of W (f, f, n_C_prev, n_C); column.bias: data of b (1, 1, 1, n_C);
 * column.view: the output Z (n_H_out, n_W_out, n_C). nextColumn is the following layer, if any.
 */
export function explainConv(panel, column, nextColumn, h, w, c) {
  const { f, stride, pad } = column.layer;
  const padded = column.padded;
  const nCPrev = padded.C;
  const nC = column.view.C;
  const rowStart = h * stride;
  const colStart = w * stride;
  const inputH = padded.H - 2 * pad;
  const inputW = padded.W - 2 * pad;
  const isPadding = (row, col) => row < pad || col < pad || row >= pad + inputH || col >= pad + inputW;

  // Every product and the sum are computed in float64 from the API's float32 numbers.
  let productSum = 0;
  let absoluteSum = 0;
  const blocks = [];
  for (let cp = 0; cp < nCPrev; cp += 1) {
    const windowRows = [];
    const kernelRows = [];
    const productRows = [];
    let channelSum = 0;
    for (let i = 0; i < f; i += 1) {
      const windowRow = [];
      const kernelRow = [];
      const productRow = [];
      for (let j = 0; j < f; j += 1) {
        const x = padded.get(rowStart + i, colStart + j, cp);
        const k = column.weights[((i * f + j) * nCPrev + cp) * nC + c];
        const product = x * k;
        windowRow.push(x);
        kernelRow.push(k);
        productRow.push(product);
        channelSum += product;
        absoluteSum += Math.abs(product);
      }
      windowRows.push(windowRow);
      kernelRows.push(kernelRow);
      productRows.push(productRow);
    }
    productSum += channelSum;

    const padClass = (i, j) => (isPadding(rowStart + i, colStart + j) ? "pad" : "");
    blocks.push(
      el("div", { class: "channel-block" },
        el("h4", {}, `Input channel ${cp}`),
        el("div", { class: "grid-row" },
          numberGrid(windowRows, { className: "window", cellClass: padClass, caption: "input window" }),
          el("span", { class: "op", "aria-hidden": "true" }, "×"),
          numberGrid(kernelRows, { className: "kernel", caption: `kernel W[:, :, ${cp}, ${c}]` }),
          el("span", { class: "op", "aria-hidden": "true" }, "="),
          numberGrid(productRows, { className: "products", cellClass: padClass, caption: "products" }),
        ),
        el("p", { class: "channel-sum" }, `channel sum: ${formatNumber(channelSum, 6)}`),
      ),
    );
  }

  const bias = column.bias[c];
  const sum = productSum + bias;
  const z = column.view.get(h, w, c);
  const difference = Math.abs(sum - z);
  // Bound on the rounding error of a float32 dot product of n terms plus a bias:
  // (n + 2) u times the sum of absolute values, with u the float32 unit roundoff.
  const terms = f * f * nCPrev;
  const bound = (terms + 2) * FLOAT32_EPSILON * (absoluteSum + Math.abs(bias)) + Number.MIN_VALUE;
  const agrees = difference <= bound;

  const open = blocks.slice(0, CHANNELS_SHOWN_OPEN);
  const folded = blocks.slice(CHANNELS_SHOWN_OPEN);

  const resultRows = [
    ["Sum of all products (float64, computed here)", "explain-products-sum", productSum],
    [`Bias b[${c}]`, "explain-bias", bias],
    ["Sum + bias (float64, computed here)", "explain-sum", sum],
    ["Z from the API (float32)", "explain-z", z],
  ];

  const reluValue = Math.max(0, z);
  const next = nextColumn && nextColumn.type === "relu" ? nextColumn : null;

  const children = [
    el("h3", { id: "explain-heading" }, `${column.layer.name}: output row ${h}, col ${w}, channel ${c}`),
    el("p", { class: "hint" },
      `The ${f}×${f} window starts at row ${rowStart}, col ${colStart} of the padded input (pad ${pad}, stride ${stride}). `,
      "Hatched cells are padding zeros."),
    el("div", { class: "channel-blocks" }, open),
    folded.length
      ? el("details", {}, el("summary", {}, `Show the other ${folded.length} input channels`), folded)
      : null,
    el("dl", { class: "result" },
      resultRows.map(([label, id, value]) => [
        el("dt", {}, label),
        el("dd", { id, dataset: { value: String(value) } }, exact(value)),
      ]),
      el("dt", {}, "Check"),
      el("dd", { id: "explain-check", class: agrees ? "ok" : "bad", dataset: { agree: String(agrees) } },
        agrees
          ? `agrees to float32 precision (difference ${difference.toExponential(2)}, bound ${bound.toExponential(2)})`
          : `does not agree: difference ${difference.toExponential(2)} exceeds the float32 bound ${bound.toExponential(2)}`),
      el("dt", {}, "ReLU(Z) = max(0, Z)"),
      el("dd", { id: "explain-relu", dataset: { value: String(reluValue) } },
        exact(reluValue),
        next ? ` (the API's ${next.layer.name} holds ${exact(next.view.get(h, w, c))})` : ""),
    ),
  ];
  panel.replaceChildren(...children.filter(Boolean));
  return { sum, z, agrees };
}

/**
 * Explain pooling output cell (h, w, c).
 *
 * column.layer: the API layer with f, stride, mode; column.view: output (n_H_out, n_W_out, n_C);
 * inputView: the previous layer's output (n_H, n_W, n_C); column.poolMask: view of the input-shaped
 * mask with 1 on each window's winning cell (max pooling only).
 */
export function explainPool(panel, column, inputView, h, w, c, range) {
  const { f, stride } = column.layer;
  const isMax = column.type === "maxpool" || column.layer.mode === "max";
  const rowStart = h * stride;
  const colStart = w * stride;

  // The engine's winner is the first maximum in row-major order, so ">" (not ">=") keeps the first.
  const rows = [];
  let best = { value: -Infinity, i: 0, j: 0 };
  let total = 0;
  for (let i = 0; i < f; i += 1) {
    const row = [];
    for (let j = 0; j < f; j += 1) {
      const value = inputView.get(rowStart + i, colStart + j, c);
      row.push(value);
      total += value;
      if (value > best.value) {
        best = { value, i, j };
      }
    }
    rows.push(row);
  }
  const mean = total / (f * f);
  const apiValue = column.view.get(h, w, c);

  const winnerClass = (i, j) => (isMax && i === best.i && j === best.j ? "winner" : "");
  const grid = numberGrid(rows, { className: "window", cellClass: winnerClass, caption: `${f}×${f} input window` });

  const children = [
    el("h3", { id: "explain-heading" }, `${column.layer.name}: output row ${h}, col ${w}, channel ${c}`),
    el("p", { class: "hint" },
      `The window starts at row ${rowStart}, col ${colStart} of the input map (stride ${stride}).`),
    grid,
  ];

  if (isMax) {
    const maskValue = column.poolMask ? column.poolMask.get(rowStart + best.i, colStart + best.j, c) : null;
    children.push(
      el("p", { id: "explain-pool-result", dataset: { value: String(best.value) } },
        `Winner: ${exact(best.value)} at input row ${rowStart + best.i}, col ${colStart + best.j} (highlighted). `,
        `Output from the API: ${exact(apiValue)}.`),
      el("p", { id: "explain-pool-check", class: best.value === apiValue ? "ok" : "bad" },
        best.value === apiValue ? "The output equals the window's maximum." : "The output differs from the window's maximum.",
        maskValue === null ? "" : ` The API's winner mask holds ${maskValue} at that cell.`),
    );
  } else {
    children.push(
      el("p", { id: "explain-pool-result", dataset: { value: String(mean) } },
        `Mean of the ${f * f} values (float64, computed here): ${exact(mean)}. Output from the API: ${exact(apiValue)}.`),
    );
  }

  if (isMax && column.poolMask) {
    const maskCanvas = el("canvas", { id: "explain-mask", class: "mask-canvas", role: "img",
      "aria-label": `Winner mask of channel ${c} over the whole input map; the current window is outlined` });
    drawLarge(maskCanvas, column.poolMask, c, { lo: 0, hi: 1 }, {
      boxes: [{ h: rowStart, w: colStart, height: f, width: f, color: "#e4572e" }],
    });
    children.push(
      el("figure", { class: "mask-figure" }, maskCanvas,
        el("figcaption", {}, "Winner mask over the whole input map (yellow = a window's winner); the current window is outlined.")),
    );
  } else if (range) {
    const inputCanvas = el("canvas", { class: "mask-canvas", role: "img", "aria-label": "Input map with the current window outlined" });
    drawLarge(inputCanvas, inputView, c, range, {
      boxes: [{ h: rowStart, w: colStart, height: f, width: f, color: "#e4572e" }],
    });
    children.push(el("figure", { class: "mask-figure" }, inputCanvas, el("figcaption", {}, "Input map with the current window outlined.")));
  }

  panel.replaceChildren(...children);
  return { winner: best, mean, apiValue };
}

// Explain an activation cell: the function applied to the previous layer's value.
export function explainActivation(panel, column, inputView, h, w, c) {
  const input = inputView.get(h, w, c);
  const output = column.view.get(h, w, c);
  const formula = column.type === "relu" ? "max(0, z)" : "1 / (1 + exp(−z))";
  panel.replaceChildren(
    el("h3", { id: "explain-heading" }, `${column.layer.name}: ${column.view.describe(h, w)}, channel ${c}`),
    el("p", {}, `${column.type}(z) = ${formula} with z = ${exact(input)} from the previous layer gives ${exact(output)}.`),
  );
}
