// The training page: choose data and layers, start a job and follow it until it ends.
import { apiFetch, clearError, getToken, postFile, postJson, setToken, showError } from "./api.js";
import { LineChart } from "./chart.js";
import { el } from "./dom.js";
import { ProgressRate } from "./eta.js";
import { showEvaluation } from "./evaluation.js";
import { checkSpec, formatShape, LAYER_KEYS } from "./shapes.js";

const $ = (id) => document.getElementById(id);

const TERMINAL = new Set(["succeeded", "failed", "cancelled", "diverged"]);
const POLL_MS = 1000;

// Columns of the layer table that hold a number, and which key each one edits per type.
const NUMBER_COLUMNS = [
  { label: "filters / units", keyFor: (type) => ({ conv: "filters", dense: "units" })[type] ?? null },
  { label: "f", keyFor: (type) => (["conv", "maxpool", "avgpool"].includes(type) ? "f" : null) },
  { label: "stride", keyFor: (type) => (["conv", "maxpool", "avgpool"].includes(type) ? "stride" : null) },
  { label: "pad", keyFor: (type) => (type === "conv" ? "pad" : null) },
];

const TYPE_LABELS = {
  conv: "conv", relu: "ReLU", sigmoid: "sigmoid", maxpool: "max pool", avgpool: "average pool",
  flatten: "flatten", dense: "dense", softmax: "softmax",
};

// Groups of the type menu: activations and pooling modes are layer types of their own.
const TYPE_GROUPS = [
  ["convolution", ["conv"]],
  ["activation", ["relu", "sigmoid"]],
  ["pooling", ["maxpool", "avgpool"]],
  ["classifier", ["flatten", "dense", "softmax"]],
];

function typeOptions(selected) {
  return TYPE_GROUPS.map(([label, types]) =>
    el("optgroup", { label }, types.map((type) =>
      el("option", { value: type, selected: type === selected }, TYPE_LABELS[type]))));
}

const state = {
  datasets: [],
  presets: [],
  layers: [],
  presetName: null, // the preset whose layers are in the table, until someone edits them
  job: null,
  source: null,
  pollTimer: null,
  progressRate: new ProgressRate(),
};

const lossChart = new LineChart($("loss-chart"), { yLabel: "loss", xLabel: "epoch" });
const accuracyChart = new LineChart($("accuracy-chart"), { yLabel: "accuracy", xLabel: "epoch", yMin: 0, yMax: 1 });

function currentDataset() {
  return state.datasets.find((dataset) => dataset.name === $("dataset-select").value) || null;
}

// ---- datasets -----------------------------------------------------------------------------

async function loadDatasets(selectName) {
  state.datasets = await apiFetch("/api/datasets");
  const select = $("dataset-select");
  select.replaceChildren(...state.datasets.map((dataset) =>
    el("option", { value: dataset.name, disabled: !dataset.available, title: dataset.problem || null },
      `${dataset.label || dataset.name}${dataset.available ? "" : " (unavailable)"}`)));
  const chosen = state.datasets.find((dataset) => dataset.name === selectName && dataset.available)
    || state.datasets.find((dataset) => dataset.available);
  if (chosen) select.value = chosen.name;
  showDatasetInfo();
}

function showDatasetInfo() {
  const dataset = currentDataset();
  if (!dataset) {
    $("dataset-info").textContent = "No dataset is available; upload one below.";
    return;
  }
  const shape = dataset.input_shape ? dataset.input_shape.join("×") : "?";
  $("dataset-info").textContent =
    `${dataset.classes.length} classes, images ${shape}, ${dataset.n_train ?? "?"} training and ${dataset.n_test ?? "?"} test images.`;
  if (state.presetName) {
    setClassifierUnits(dataset.classes.length);
  }
  renderLayers();
}

async function uploadDataset() {
  const file = $("dataset-file").files[0];
  clearError($("dataset-error"));
  if (!file) {
    showError($("dataset-error"), "Choose a zip file first.");
    return;
  }
  // The display name travels as a query parameter; the archive is the multipart field `file`.
  const name = $("dataset-name").value.trim();
  const query = name ? `?${new URLSearchParams({ name })}` : "";
  $("dataset-upload").disabled = true;
  $("dataset-upload-status").textContent = `Uploading ${file.name}…`;
  try {
    const dataset = await postFile(`/api/datasets${query}`, file, "dataset.zip");
    $("dataset-upload-status").textContent =
      `Uploaded ${dataset.label || dataset.name}: ${dataset.classes.length} classes, ${dataset.n_train ?? "?"} training images.`;
    await loadDatasets(dataset.name);
  } catch (error) {
    $("dataset-upload-status").textContent = "";
    showError($("dataset-error"), error);
  } finally {
    $("dataset-upload").disabled = false;
  }
}

// ---- layers -------------------------------------------------------------------------------

async function loadPresets() {
  state.presets = await apiFetch("/api/presets");
  $("preset-select").replaceChildren(
    ...state.presets.map((preset) => el("option", { value: preset.name }, preset.name)),
    el("option", { value: "" }, "custom"),
  );
  const initial = state.presets.find((preset) => preset.name === "tiny") || state.presets[0];
  if (initial) {
    $("preset-select").value = initial.name;
    applyPreset(initial);
  }
}

function applyPreset(preset) {
  state.layers = preset.layers.map((layer) => ({ ...layer }));
  state.presetName = preset.name;
  $("preset-info").textContent = preset.description;
  $("epochs").value = preset.epochs;
  $("batch-size").value = preset.batch_size;
  $("optimizer").value = preset.optimizer;
  $("learning-rate").value = preset.learning_rate;
  const dataset = currentDataset();
  if (dataset) setClassifierUnits(dataset.classes.length);
  renderLayers();
}

// A preset's last dense layer is sized for 10 classes; the server resizes it to the dataset.
function setClassifierUnits(nClasses) {
  const last = state.layers.length - 1;
  if (last >= 1 && state.layers[last].type === "softmax" && state.layers[last - 1].type === "dense") {
    state.layers[last - 1].units = nClasses;
  }
}

function markCustom() {
  if (state.presetName !== null) {
    state.presetName = null;
    $("preset-select").value = "";
    $("preset-info").textContent = "Your own layers.";
  }
}

function newLayer(type) {
  const layer = { type };
  for (const [key, fallback] of LAYER_KEYS[type]) {
    if (fallback !== undefined) layer[key] = fallback;
  }
  if (type === "conv") Object.assign(layer, { filters: 8, f: 3, stride: 1, pad: 1 });
  if (type === "maxpool" || type === "avgpool") Object.assign(layer, { f: 2, stride: 2 });
  if (type === "dense") layer.units = 32;
  return layer;
}

function numberInput(layer, index, key) {
  return el("input", {
    type: "number", min: key === "pad" ? 0 : 1, step: 1, value: layer[key] ?? "",
    "aria-label": `Layer ${index} ${key}`,
    oninput: (event) => {
      const text = event.target.value.trim();
      if (text === "") delete layer[key];
      else layer[key] = Number(text);
      markCustom();
      updateShapes();
    },
  });
}

function moveLayer(index, offset) {
  const target = index + offset;
  if (target < 0 || target >= state.layers.length) return;
  [state.layers[index], state.layers[target]] = [state.layers[target], state.layers[index]];
  markCustom();
  renderLayers();
}

function renderLayers() {
  const rows = state.layers.map((layer, index) => {
    const typeSelect = el("select", {
      "aria-label": `Layer ${index} type`,
      onchange: (event) => {
        state.layers[index] = newLayer(event.target.value);
        markCustom();
        renderLayers();
      },
    }, typeOptions(layer.type));
    const cells = NUMBER_COLUMNS.map((column) => {
      const key = column.keyFor(layer.type);
      return el("td", {}, key ? numberInput(layer, index, key) : "");
    });
    return el("tr", { dataset: { index: String(index) } },
      el("td", {}, String(index)),
      el("td", {}, typeSelect),
      cells,
      el("td", { class: "shape-cell" }),
      el("td", {},
        el("button", { type: "button", class: "secondary small", "aria-label": `Move layer ${index} up`,
          disabled: index === 0, onclick: () => moveLayer(index, -1) }, "↑"),
        " ",
        el("button", { type: "button", class: "secondary small", "aria-label": `Move layer ${index} down`,
          disabled: index === state.layers.length - 1, onclick: () => moveLayer(index, 1) }, "↓"),
        " ",
        el("button", { type: "button", class: "secondary small", "aria-label": `Remove layer ${index}`,
          onclick: () => {
            state.layers.splice(index, 1);
            markCustom();
            renderLayers();
          } }, "✕")),
    );
  });
  $("layers-body").replaceChildren(...rows);
  updateShapes();
  updateScrollHint();
}

// On narrow screens the layer table scrolls sideways. Say so, because phones hide scroll bars.
// The table's collapsed borders stick out by about 2 px at every width, which hides no column.
const HIDDEN_WIDTH_PX = 8;

function updateScrollHint() {
  const box = $("layers-scroll");
  $("layers-scroll-hint").hidden = box.scrollWidth - box.clientWidth <= HIDDEN_WIDTH_PX;
}

// Recompute every output shape and show problems, without rebuilding inputs (keeps focus).
function updateShapes() {
  const dataset = currentDataset();
  const inputShape = dataset && dataset.input_shape;
  const result = checkSpec(state.layers, inputShape, dataset ? dataset.classes.length : null);
  const rows = $("layers-body").children;
  result.rows.forEach((row, index) => {
    const tr = rows[index];
    if (!tr) return;
    tr.classList.toggle("invalid", Boolean(row.error));
    const cell = tr.querySelector(".shape-cell");
    cell.replaceChildren(formatShape(row.shape));
    if (row.error) cell.append(el("div", { class: "layer-error" }, row.error));
  });
  const status = $("spec-status");
  if (!inputShape) {
    status.textContent = "Choose a dataset to check the shapes.";
  } else if (result.errors.length) {
    status.replaceChildren(el("span", { class: "bad" }, result.errors.join(" ")));
  } else {
    status.replaceChildren(el("span", { class: "ok" },
      `Every layer fits the ${inputShape.join("×")} input; ${result.nParams.toLocaleString("en")} trainable values.`));
  }
  $("start-job").disabled = result.errors.length > 0 || !inputShape || isActive();
  return result;
}

// ---- jobs ---------------------------------------------------------------------------------

function isActive() {
  return Boolean(state.job && !TERMINAL.has(state.job.status));
}

function readOptionalNumber(id) {
  const text = $(id).value.trim();
  return text === "" ? undefined : Number(text);
}

function jobPayload() {
  const payload = {
    dataset: $("dataset-select").value,
    epochs: readOptionalNumber("epochs"),
    batch_size: readOptionalNumber("batch-size"),
    optimizer: $("optimizer").value,
    learning_rate: readOptionalNumber("learning-rate"),
    seed: readOptionalNumber("seed"),
    train_limit: readOptionalNumber("train-limit"),
    validation_fraction: readOptionalNumber("validation-fraction"),
  };
  const name = $("job-name").value.trim();
  if (name) payload.name = name;
  if (state.presetName) payload.preset = state.presetName;
  else payload.layers = state.layers;
  return payload;
}

async function startJob(event) {
  event.preventDefault();
  clearError($("job-error"));
  if (updateShapes().errors.length) {
    showError($("job-error"), "Fix the layers marked in red first.");
    return;
  }
  setToken($("api-token").value.trim());
  $("start-job").disabled = true;
  try {
    const created = await postJson("/api/jobs", jobPayload());
    const url = new URL(window.location.href);
    url.searchParams.set("job", created.id);
    window.history.replaceState(null, "", url);
    follow(created.id);
  } catch (error) {
    showError($("job-error"), error);
    $("start-job").disabled = false;
  }
}

function follow(jobId) {
  stopFollowing();
  state.progressRate = new ProgressRate();
  state.job = { id: jobId, status: "queued", progress: 0, history: [] };
  $("job-result").hidden = true;
  $("cancel-job").hidden = false;
  $("cancel-job").disabled = false;
  applySnapshot(state.job);

  // Server-Sent Events carry each change of the job; polling takes over if the stream fails.
  // `status` events hold the whole job, `epoch` events one history entry and `progress` events
  // the progress fraction, epoch and ETA.
  const source = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events`);
  state.source = source;
  const listen = (name, handle) => source.addEventListener(name, (message) => {
    if (state.source !== source || !state.job || state.job.id !== jobId) return;
    handle(JSON.parse(message.data));
  });
  listen("status", (job) => applySnapshot(job));
  listen("epoch", (entry) => {
    const { id, ...metrics } = entry;
    const history = (state.job.history || []).filter((item) => item.epoch !== metrics.epoch);
    applySnapshot({ ...state.job, history: [...history, metrics].sort((a, b) => a.epoch - b.epoch) });
  });
  listen("progress", (update) => {
    const { id, ...fields } = update;
    applySnapshot({ ...state.job, ...fields });
  });
  // The server ends the stream after the final status, which the browser reports as an error
  // before it reconnects. So the stream is closed here, and polling covers a lost connection.
  source.addEventListener("error", () => {
    if (state.source !== source) return;
    source.close();
    state.source = null;
    if (isActive()) poll(jobId);
  });
}

function poll(jobId) {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(async () => {
    try {
      const job = await apiFetch(`/api/jobs/${encodeURIComponent(jobId)}`);
      if (state.job && state.job.id === jobId) applySnapshot(job);
    } catch (error) {
      showError($("job-error"), error);
    }
    if (isActive() && state.job.id === jobId) poll(jobId);
  }, POLL_MS);
}

function stopFollowing() {
  if (state.source) state.source.close();
  state.source = null;
  clearTimeout(state.pollTimer);
}

function formatSeconds(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function applySnapshot(job) {
  const wasActive = isActive();
  state.job = job;
  const progress = Math.min(1, Math.max(0, job.progress || 0));
  $("job-progress").value = progress;
  $("job-progress").setAttribute("aria-valuetext", `${Math.round(progress * 100)}%`);

  const epochText = job.epochs ? `, epoch ${job.epoch || 1} of ${job.epochs}` : "";
  const status = $("job-status");
  status.dataset.status = job.status;
  status.textContent = `Job ${job.name || job.id}: ${job.status}${epochText}, ${Math.round(progress * 100)}% done.`;
  if (job.error) status.append(el("span", { class: "bad" }, ` ${job.error}`));

  let etaText = "";
  if (job.status === "running") {
    const eta = state.progressRate.update(progress);
    etaText = eta === null ? "estimating time left…" : `about ${formatSeconds(eta)} left`;
  }
  $("job-eta").textContent = etaText;

  drawCharts(job);

  const active = !TERMINAL.has(job.status);
  $("cancel-job").hidden = !active;
  if (!active) {
    stopFollowing();
    updateShapes();
    if (job.status === "succeeded" && job.model_id && (wasActive || $("job-result").hidden)) {
      showResult(job);
    }
  }
}

function drawCharts(job) {
  const history = job.history || [];
  const epochs = Math.max(job.epochs || 1, history.length);
  const series = (key) => history.map((entry, index) => [entry.epoch ?? index + 1, entry[key]]);

  lossChart.setData([
    { name: "training", style: "train", points: series("train_loss") },
    { name: "validation", style: "validation", points: series("val_loss") },
  ], epochs);
  accuracyChart.setData([
    { name: "training", style: "train", points: series("train_accuracy") },
    { name: "validation", style: "validation", points: series("val_accuracy") },
  ], epochs);
  $("loss-chart").dataset.points = String(lossChart.pointCount());
}

async function cancelJob() {
  if (!state.job) return;
  $("cancel-job").disabled = true;
  try {
    const job = await apiFetch(`/api/jobs/${encodeURIComponent(state.job.id)}`, { method: "DELETE" });
    if (job) applySnapshot({ ...state.job, ...job });
  } catch (error) {
    showError($("job-error"), error);
    $("cancel-job").disabled = false;
  }
}

// ---- results ------------------------------------------------------------------------------

async function showResult(job) {
  $("job-result").hidden = false;
  $("open-model").href = `/?model=${encodeURIComponent(job.model_id)}`;
  const boxes = { confusion: $("confusion"), examples: $("examples-box"), error: $("confusion-error") };
  try {
    const model = await apiFetch(`/api/models/${encodeURIComponent(job.model_id)}`);
    const accuracy = model.metrics && model.metrics.test_accuracy;
    $("test-accuracy").textContent = typeof accuracy === "number"
      ? `Test accuracy: ${(100 * accuracy).toFixed(2)}%.`
      : "Test accuracy: not recorded for this model.";
  } catch (error) {
    showError($("confusion-error"), error);
    return;
  }
  await showEvaluation(job.model_id, boxes);
}

// ---- start --------------------------------------------------------------------------------

async function init() {
  $("add-layer-type").replaceChildren(...typeOptions("conv"));
  $("api-token").value = getToken();
  $("dataset-select").addEventListener("change", showDatasetInfo);
  $("preset-select").addEventListener("change", (event) => {
    const preset = state.presets.find((item) => item.name === event.target.value);
    if (preset) applyPreset(preset);
    else markCustom();
  });
  $("add-layer").addEventListener("click", () => {
    // New layers go before the classifier (the final dense + softmax), where they usually belong.
    const layer = newLayer($("add-layer-type").value);
    const tail = state.layers.length >= 2 && state.layers.at(-1).type === "softmax" ? 2 : 0;
    state.layers.splice(state.layers.length - tail, 0, layer);
    markCustom();
    renderLayers();
  });
  $("dataset-upload").addEventListener("click", uploadDataset);
  $("job-form").addEventListener("submit", startJob);
  $("cancel-job").addEventListener("click", cancelJob);
  drawCharts({ history: [], epochs: 1 });
  new ResizeObserver(updateScrollHint).observe($("layers-scroll"));

  try {
    await Promise.all([loadDatasets(), loadPresets()]);
  } catch (error) {
    showError($("page-error"), error);
  }
  const jobId = new URLSearchParams(window.location.search).get("job");
  if (jobId) follow(jobId);
}

init();
