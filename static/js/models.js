// The models page: list every model, evaluate it on its test set, download its weights, delete
// it after a confirmation.
import { apiFetch, clearError, getToken, setToken, showError } from "./api.js";
import { el } from "./dom.js";
import { showEvaluation } from "./evaluation.js";

const $ = (id) => document.getElementById(id);

function formatAccuracy(model) {
  const accuracy = model.metrics && model.metrics.test_accuracy;
  return typeof accuracy === "number" ? `${(100 * accuracy).toFixed(2)}%` : "–";
}

function formatDate(text) {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text || "–" : date.toLocaleString();
}

// Ask through the <dialog>; resolves to true only when "Delete" was chosen.
function confirmDelete(model) {
  const dialog = $("delete-dialog");
  $("delete-text").textContent = `“${model.name}” and its weights will be removed for good.`;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "delete"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function deleteModel(model, button) {
  if (!(await confirmDelete(model))) {
    button.focus();
    return;
  }
  clearError($("models-error"));
  setToken($("api-token").value.trim());
  try {
    await apiFetch(`/api/models/${encodeURIComponent(model.id)}`, { method: "DELETE" });
    $("models-status").textContent = `Deleted “${model.name}”.`;
    await loadModels();
  } catch (error) {
    showError($("models-error"), error);
  }
}

async function evaluateModel(model) {
  const panel = $("evaluation-panel");
  panel.hidden = false;
  $("evaluation-heading").textContent = `Test evaluation of “${model.name}”`;
  $("evaluation-heading").focus();
  await showEvaluation(model.id, {
    confusion: $("confusion"), examples: $("examples-box"), error: $("evaluation-error"),
  });
}

function renderRow(model) {
  const id = encodeURIComponent(model.id);
  const deleteButton = el("button", {
    type: "button", class: "danger small", "aria-label": `Delete ${model.name}`,
    disabled: model.builtin, title: model.builtin ? "The shipped model cannot be deleted." : null,
  }, "Delete");
  deleteButton.addEventListener("click", () => deleteModel(model, deleteButton));

  return el("tr", { dataset: { modelId: model.id } },
    el("td", { "data-label": "Name" }, model.name, model.builtin ? el("span", { class: "hint" }, " (shipped)") : ""),
    el("td", { "data-label": "Dataset" }, model.dataset),
    el("td", { "data-label": "Preset" }, model.preset || "custom"),
    el("td", { "data-label": "Test accuracy" }, formatAccuracy(model)),
    el("td", { "data-label": "Parameters" }, model.n_params != null ? model.n_params.toLocaleString("en") : "–"),
    el("td", { "data-label": "Created" }, formatDate(model.created_at)),
    el("td", { class: "actions" },
      el("a", { class: "button small", href: `/?model=${id}`, "aria-label": `Open ${model.name} in the playground` }, "Open"),
      el("button", { type: "button", class: "secondary small", "aria-label": `Evaluate ${model.name} on its test set`,
        onclick: () => evaluateModel(model) }, "Test evaluation"),
      el("a", { class: "button secondary small", href: `/api/models/${id}/weights`, download: "",
        "aria-label": `Download the weights of ${model.name}` }, "Download weights"),
      deleteButton),
  );
}

async function loadModels() {
  try {
    const models = await apiFetch("/api/models");
    $("models-body").replaceChildren(...models.map(renderRow));
    if (models.length === 0) {
      $("models-status").textContent = "No models yet.";
    }
  } catch (error) {
    showError($("models-error"), error);
  }
}

$("api-token").value = getToken();
loadModels();
