// The playground page: pick a model, feed it an image and look at every layer's output.
import { apiFetch, clearError, decodeTensor, formatNumber, postFile, showError } from "./api.js";
import { drawLegendBar } from "./colormap.js";
import { el } from "./dom.js";
import { setupDrawPad } from "./drawpad.js";
import { explainActivation, explainConv, explainPool } from "./explain.js";
import { cellAt, channelRange, drawChannel, drawLarge, makeView, rangeOf } from "./heatmap.js";

const $ = (id) => document.getElementById(id);

const NORM_LABELS = { map: "per map", layer: "per layer", global: "global" };

const state = {
  models: [],
  model: null,
  lastInput: null, // {blob, source}: re-sent when another model is chosen
  requestNumber: 0,
  columns: [], // input first, then one entry per API layer
  globalRange: null,
  norm: "map",
  selected: null, // {column, channel, variant: "output" | "padded"}
  cursor: { h: 0, w: 0 },
};

// ---- models -------------------------------------------------------------------------------

// The menu shows only names, because a <select> cannot wrap its text; the details go below it.
function describeModel(model) {
  const accuracy = model.metrics && model.metrics.test_accuracy;
  const accuracyText = typeof accuracy === "number" ? `, test accuracy ${(100 * accuracy).toFixed(1)}%` : "";
  return `Trained on ${model.dataset}${accuracyText}.`;
}

async function loadModels() {
  const select = $("model-select");
  try {
    state.models = await apiFetch("/api/models");
  } catch (error) {
    select.replaceChildren(el("option", {}, "No models"));
    showError($("page-error"), error);
    return;
  }
  if (state.models.length === 0) {
    select.replaceChildren(el("option", {}, "No models yet: train one first"));
    return;
  }
  const requestedId = new URLSearchParams(window.location.search).get("model");
  select.replaceChildren(...state.models.map((model) => el("option", { value: model.id }, model.name)));
  const initial = state.models.find((model) => String(model.id) === requestedId) || state.models[0];
  select.value = String(initial.id);
  select.disabled = false;
  chooseModel(initial);
}

function chooseModel(model) {
  state.model = model;
  const [H, W, C] = model.input_shape;
  $("model-info").textContent = `${describeModel(model)} Input ${H}×${W}×${C}, `
    + `${model.classes.length} classes, ${model.layers.length} layers.`;
  $("model-select").title = model.name;
  const url = new URL(window.location.href);
  url.searchParams.set("model", model.id);
  window.history.replaceState(null, "", url);
  if (state.lastInput) {
    classify(state.lastInput.blob, state.lastInput.source);
  }
}

// ---- inputs -------------------------------------------------------------------------------

async function classify(blob, source) {
  if (!state.model) {
    showError($("input-error"), "Choose a model first.");
    return;
  }
  clearError($("input-error"));
  state.lastInput = { blob, source };
  const number = ++state.requestNumber;
  document.body.classList.add("busy");
  $("prediction-label").textContent = `Classifying ${source}…`;
  try {
    const result = await postFile(`/api/models/${encodeURIComponent(state.model.id)}/inspect`, blob);
    if (number !== state.requestNumber) return; // a newer request has replaced this one
    showResult(result, source);
  } catch (error) {
    if (number !== state.requestNumber) return;
    showError($("input-error"), error);
    clearResult();
    $("prediction-label").textContent = "No prediction: the image was rejected.";
  } finally {
    if (number === state.requestNumber) document.body.classList.remove("busy");
  }
}

async function classifyRandomSample() {
  if (!state.model) return;
  clearError($("input-error"));
  const dataset = encodeURIComponent(state.model.dataset);
  try {
    const sample = await apiFetch(`/api/datasets/${dataset}/samples/random?split=test`);
    const bytes = Uint8Array.from(window.atob(sample.image), (char) => char.charCodeAt(0));
    const blob = new Blob([bytes], { type: "image/png" });
    $("sample-info").textContent =
      `Test image #${sample.index} of ${sample.dataset}; true label: ${sample.label}.`;
    $("sample-info").dataset.label = sample.label;
    await classify(blob, `test image #${sample.index}`);
  } catch (error) {
    showError($("input-error"), error);
  }
}

function setupInputs() {
  $("file-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) {
      $("sample-info").textContent = "";
      classify(file, file.name);
    }
  });

  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = event.dataTransfer.files[0];
    if (file) {
      $("sample-info").textContent = "";
      classify(file, file.name);
    } else {
      showError($("input-error"), "Drop an image file (not a link or text).");
    }
  });

  const pad = setupDrawPad($("draw-pad"));
  $("draw-clear").addEventListener("click", () => pad.clear());
  $("draw-classify").addEventListener("click", async () => {
    $("sample-info").textContent = "";
    classify(await pad.toBlob(), "your drawing");
  });

  $("random-sample").addEventListener("click", classifyRandomSample);
  $("model-select").addEventListener("change", (event) => {
    const model = state.models.find((item) => String(item.id) === event.target.value);
    if (model) chooseModel(model);
  });
  $("norm-select").addEventListener("change", (event) => {
    state.norm = event.target.value;
    renderNetwork();
  });
}

// ---- results ------------------------------------------------------------------------------

function shapeText(view) {
  return view.kind === "maps" ? `${view.H}×${view.W}×${view.C}` : `${view.n}`;
}

function buildColumns(result) {
  const input = makeView(decodeTensor(result.input));
  const columns = [{ key: "input", type: "input", layer: { name: "input" }, view: input }];
  for (const layer of result.layers) {
    const column = { key: `layer-${layer.index}`, type: layer.type, layer, view: makeView(decodeTensor(layer.output)) };
    if (layer.padded_input) column.padded = makeView(decodeTensor(layer.padded_input));
    if (layer.weights) column.weights = decodeTensor(layer.weights).data;
    if (layer.bias) column.bias = decodeTensor(layer.bias).data;
    if (layer.pool_mask) column.poolMask = makeView(decodeTensor(layer.pool_mask));
    columns.push(column);
  }
  for (const column of columns) {
    column.layerRange = rangeOf(column.view.data);
    column.channelRanges = Array.from({ length: column.view.C }, (_, c) => channelRange(column.view, c));
    if (column.padded) {
      column.paddedLayerRange = rangeOf(column.padded.data);
      column.paddedChannelRanges = Array.from({ length: column.padded.C }, (_, c) => channelRange(column.padded, c));
    }
  }
  return columns;
}

function showResult(result, source) {
  state.columns = buildColumns(result);
  state.globalRange = state.columns.reduce(
    (range, column) => ({ lo: Math.min(range.lo, column.layerRange.lo), hi: Math.max(range.hi, column.layerRange.hi) }),
    { lo: Infinity, hi: -Infinity },
  );
  renderPredictions(result.predictions, source);
  drawInputPreview(state.columns[0].view);

  // Keep the selection when the same layer still exists, so one can compare inputs.
  const previous = state.selected;
  const keep = previous && state.columns.find((column) => column.key === previous.column.key);
  state.selected = keep && keep.view.C > previous.channel
    ? { column: keep, channel: previous.channel, variant: previous.variant === "padded" && keep.padded ? "padded" : "output" }
    : { column: state.columns[0], channel: 0, variant: "output" };
  clampCursor();
  renderNetwork();
}

// Remove everything drawn for the previous input, so no panel shows a result for another image.
function clearResult() {
  state.columns = [];
  state.globalRange = null;
  state.selected = null;
  $("prediction-bars").replaceChildren();
  const preview = $("input-preview");
  preview.getContext("2d").clearRect(0, 0, preview.width, preview.height);
  $("network").replaceChildren(el("p", { class: "hint" }, "No layers to show: give the model an image."));
  const selected = $("selected-map");
  selected.getContext("2d").clearRect(0, 0, selected.width, selected.height);
  selected.setAttribute("aria-label", "Selected map: none");
  $("selected-caption").textContent = "Pick a map above.";
  $("cell-readout").textContent = "Hover over a map to read its values.";
  delete $("cell-readout").dataset.value;
  $("legend-min").textContent = "–";
  $("legend-max").textContent = "–";
  $("legend-caption").textContent = "viridis: dark is low, yellow is high";
  $("explain-panel").replaceChildren(
    el("h3", { id: "explain-heading" }, "How this value was computed"),
    el("p", { class: "hint" }, "Click a cell of a conv or pooling output."),
  );
}

function renderPredictions(predictions, source) {
  const best = predictions[0];
  const label = $("prediction-label");
  label.replaceChildren(
    "Predicted ",
    el("strong", { id: "predicted-class" }, best.label),
    ` (${(100 * best.probability).toFixed(1)}%) for ${source}.`,
  );
  const byClass = predictions.slice().sort((a, b) => a.class_index - b.class_index);
  $("prediction-bars").replaceChildren(
    ...byClass.map((item) =>
      el("li", { class: item === best ? "bar top" : "bar" },
        el("span", { class: "bar-label" }, item.label),
        el("span", { class: "bar-track", role: "meter", "aria-label": item.label,
          "aria-valuemin": 0, "aria-valuemax": 1, "aria-valuenow": item.probability.toFixed(4) },
          el("span", { class: "bar-fill", style: `width: ${(100 * item.probability).toFixed(2)}%` })),
        el("span", { class: "bar-value" }, `${(100 * item.probability).toFixed(1)}%`)),
    ),
  );
}

// Draw the model input as a picture: grey for one channel, colour for three, stretched to its range.
function drawInputPreview(view) {
  const canvas = $("input-preview");
  const source = document.createElement("canvas");
  source.width = view.W;
  source.height = view.H;
  const context = source.getContext("2d");
  const image = context.createImageData(view.W, view.H);
  const { lo, hi } = rangeOf(view.data);
  const span = hi > lo ? hi - lo : 1;
  for (let h = 0; h < view.H; h += 1) {
    for (let w = 0; w < view.W; w += 1) {
      const offset = 4 * (h * view.W + w);
      for (let k = 0; k < 3; k += 1) {
        const c = view.C === 3 ? k : 0;
        image.data[offset + k] = Math.round((255 * (view.get(h, w, c) - lo)) / span);
      }
      image.data[offset + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  const target = canvas.getContext("2d");
  target.imageSmoothingEnabled = false;
  target.clearRect(0, 0, canvas.width, canvas.height);
  target.drawImage(source, 0, 0, canvas.width, canvas.height);
}

// ---- network view -------------------------------------------------------------------------

function rangeFor(column, channel, variant) {
  if (state.norm === "global") return state.globalRange;
  if (variant === "padded") {
    return state.norm === "layer" ? column.paddedLayerRange : column.paddedChannelRanges[channel];
  }
  return state.norm === "layer" ? column.layerRange : column.channelRanges[channel];
}

function viewOf(column, variant) {
  return variant === "padded" ? column.padded : column.view;
}

function thumbSize(view) {
  if (view.kind === "vector") {
    let cell = 3;
    if (view.n <= 32) cell = 10;
    else if (view.n <= 256) cell = 4;
    return { width: view.W * cell, height: view.H * cell };
  }
  const cell = 40 / Math.max(view.H, view.W);
  return { width: Math.round(view.W * cell), height: Math.round(view.H * cell) };
}

function makeThumb(column, channel, variant) {
  const view = viewOf(column, variant);
  const canvas = el("canvas", { class: "thumb-canvas" });
  drawChannel(canvas, view, channel, rangeFor(column, channel, variant));
  const size = thumbSize(view);
  canvas.style.width = `${size.width}px`;
  canvas.style.height = `${size.height}px`;

  let kind = "channel";
  if (variant === "padded") kind = "padded input channel";
  else if (view.kind === "vector") kind = "units";
  const label = view.kind === "vector" ? `${column.layer.name} ${kind}` : `${column.layer.name} ${kind} ${channel}`;
  const selected = state.selected && state.selected.column === column && state.selected.channel === channel
    && state.selected.variant === variant;
  const button = el("button", {
    type: "button", class: "thumb", "aria-label": `Select ${label}`, "aria-pressed": String(Boolean(selected)),
    dataset: { layer: column.key, channel: String(channel), variant },
    onclick: () => selectMap(column, channel, variant),
  }, canvas);
  canvas.addEventListener("mousemove", (event) => {
    const { h, w } = cellAt(canvas, event, view.H, view.W);
    showReadout(column, channel, variant, h, w);
  });
  return button;
}

// Layers with many channels get a wider grid, so that no column grows far taller than the rest.
function thumbsClass(isVector, count) {
  if (isVector) return "thumbs vector";
  return count > 16 ? "thumbs many" : "thumbs";
}

function renderNetwork() {
  const network = $("network");
  if (state.columns.length === 0) return;
  const columns = state.columns.map((column) => {
    const view = column.view;
    const channels = view.kind === "vector" ? [0] : Array.from({ length: view.C }, (_, c) => c);
    const parts = [
      el("h3", { class: "column-title" }, column.layer.name, " ", el("span", { class: "layer-type" }, column.type)),
      el("p", { class: "shape" }, shapeText(view)),
      el("div", { class: thumbsClass(view.kind === "vector", channels.length) },
        channels.map((c) => makeThumb(column, c, "output"))),
    ];
    if (column.padded) {
      const open = Boolean(column.showPadded);
      parts.push(
        el("button", {
          type: "button", class: "secondary small", "aria-expanded": String(open),
          onclick: () => {
            column.showPadded = !open;
            renderNetwork();
          },
        }, open ? "Hide padded input" : "Show padded input"),
      );
      if (open) {
        parts.push(
          el("p", { class: "shape" }, `padded input ${shapeText(column.padded)}, pad ${column.layer.pad}`),
          el("div", { class: `${thumbsClass(false, column.padded.C)} padded` },
            Array.from({ length: column.padded.C }, (_, c) => makeThumb(column, c, "padded"))),
        );
      }
    }
    return el("section", { class: "layer-column", dataset: { layer: column.key, type: column.type },
      "aria-label": `${column.layer.name} (${column.type}), output ${shapeText(view)}` }, parts);
  });
  const scroll = network.scrollLeft;
  network.replaceChildren(...columns);
  network.scrollLeft = scroll;
  renderSelected();
}

// ---- selected map -------------------------------------------------------------------------

function selectMap(column, channel, variant) {
  state.selected = { column, channel, variant };
  clampCursor();
  renderNetwork();
  $("selected-map").focus();
}

function clampCursor() {
  if (!state.selected) return;
  const view = viewOf(state.selected.column, state.selected.variant);
  state.cursor.h = Math.min(state.cursor.h, view.H - 1);
  state.cursor.w = Math.min(state.cursor.w, view.W - 1);
}

function renderSelected() {
  const { column, channel, variant } = state.selected;
  const view = viewOf(column, variant);
  const range = rangeFor(column, channel, variant);
  const canvas = $("selected-map");
  drawLarge(canvas, view, channel, range, {
    padding: variant === "padded" ? column.layer.pad : 0,
    boxes: [{ ...state.cursor, height: 1, width: 1, color: "#e4572e" }],
  });
  const description = variant === "padded"
    ? `padded input of ${column.layer.name}, channel ${channel} (hatched cells are padding)`
    : view.kind === "vector" ? `${column.layer.name} units` : `${column.layer.name}, channel ${channel}`;
  $("selected-caption").textContent = `${description}: ${shapeText(view)}`;
  canvas.setAttribute("aria-label", `Selected map: ${description}. Use the arrow keys to move between cells.`);

  $("legend-min").textContent = formatNumber(range.lo);
  $("legend-max").textContent = formatNumber(range.hi);
  $("legend-caption").textContent = `viridis, ${NORM_LABELS[state.norm]} range of ${description}`;
}

function showReadout(column, channel, variant, h, w) {
  const view = viewOf(column, variant);
  if (!view.has(h, w)) {
    $("cell-readout").textContent = `${column.layer.name}: no unit here.`;
    return;
  }
  const where = view.kind === "vector" ? view.describe(h, w) : `${view.describe(h, w)}, channel ${channel}`;
  const prefix = variant === "padded" ? `padded input of ${column.layer.name}` : column.layer.name;
  const readout = $("cell-readout");
  readout.textContent = `${prefix}, ${where}: ${formatNumber(view.get(h, w, channel), 6)}`;
  readout.dataset.value = String(view.get(h, w, channel));
}

function moveCursor(dh, dw) {
  const view = viewOf(state.selected.column, state.selected.variant);
  state.cursor.h = Math.min(view.H - 1, Math.max(0, state.cursor.h + dh));
  state.cursor.w = Math.min(view.W - 1, Math.max(0, state.cursor.w + dw));
  renderSelected();
  showReadout(state.selected.column, state.selected.channel, state.selected.variant, state.cursor.h, state.cursor.w);
}

function explainCursor() {
  const { column, channel, variant } = state.selected;
  const { h, w } = state.cursor;
  const panel = $("explain-panel");
  const position = state.columns.indexOf(column);
  const previous = state.columns[position - 1];
  const next = state.columns[position + 1];
  if (variant === "padded") {
    panel.replaceChildren(
      el("h3", { id: "explain-heading" }, `Padded input of ${column.layer.name}`),
      el("p", {}, `Row ${h}, col ${w}: ${formatNumber(column.padded.get(h, w, channel), 6)}. `,
        "Choose a cell of the conv output to see the full computation."),
    );
  } else if (column.type === "conv") {
    explainConv(panel, column, next, h, w, channel);
  } else if (column.type === "maxpool" || column.type === "avgpool") {
    explainPool(panel, column, previous.view, h, w, channel, rangeFor(previous, channel, "output"));
  } else if ((column.type === "relu" || column.type === "sigmoid") && previous && column.view.has(h, w)) {
    explainActivation(panel, column, previous.view, h, w, channel);
  } else {
    panel.replaceChildren(
      el("h3", { id: "explain-heading" }, "How this value was computed"),
      el("p", { class: "hint" }, `Step-by-step views exist for conv, pooling and activation cells; this is a ${column.type} layer.`),
    );
  }
}

function setupSelectedMap() {
  const canvas = $("selected-map");
  canvas.addEventListener("mousemove", (event) => {
    if (!state.selected) return;
    const view = viewOf(state.selected.column, state.selected.variant);
    const { h, w } = cellAt(canvas, event, view.H, view.W);
    showReadout(state.selected.column, state.selected.channel, state.selected.variant, h, w);
  });
  canvas.addEventListener("click", (event) => {
    if (!state.selected) return;
    const view = viewOf(state.selected.column, state.selected.variant);
    state.cursor = cellAt(canvas, event, view.H, view.W);
    renderSelected();
    explainCursor();
  });
  const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  canvas.addEventListener("keydown", (event) => {
    if (!state.selected) return;
    if (moves[event.key]) {
      event.preventDefault();
      moveCursor(...moves[event.key]);
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      explainCursor();
    }
  });
}

setupInputs();
setupSelectedMap();
drawLegendBar($("legend-bar"));
loadModels();
