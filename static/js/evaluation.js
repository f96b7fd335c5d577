// A model's test-set evaluation: accuracy, a confusion matrix and the images behind each mistake.
// Shared by the training page (after a job) and the models page (for any stored model).
import { apiFetch, clearError, showError } from "./api.js";
import { el } from "./dom.js";

// Column headings longer than this many characters are cut, so ten classes fit a 1280 px page.
const MAX_HEADING_CHARS = 5;

function abbreviate(label) {
  return label.length > MAX_HEADING_CHARS ? `${label.slice(0, MAX_HEADING_CHARS - 1)}…` : label;
}

/**
 * Fetch the evaluation of `modelId` and draw it into `boxes`.
 *
 * `boxes` has three elements: `confusion` for the accuracy and the matrix, `examples` for the
 * images of a chosen cell and `error` for a failed request.
 */
export async function showEvaluation(modelId, boxes) {
  clearError(boxes.error);
  boxes.confusion.replaceChildren(el("p", { class: "hint" }, "Evaluating on the test set…"));
  boxes.examples.replaceChildren();
  try {
    const evaluation = await apiFetch(`/api/models/${encodeURIComponent(modelId)}/evaluation`);
    renderConfusion(modelId, evaluation, boxes);
  } catch (error) {
    boxes.confusion.replaceChildren();
    showError(boxes.error, error);
  }
}

function renderConfusion(modelId, evaluation, boxes) {
  const { classes, confusion } = evaluation;
  let largest = 1;
  confusion.forEach((row, i) => row.forEach((count, j) => {
    if (i !== j) largest = Math.max(largest, count);
  }));

  const header = el("tr", {}, el("th", { scope: "col" }, "true \\ predicted"),
    classes.map((label) => el("th", { scope: "col", class: "col-label", title: label },
      el("span", { "aria-hidden": "true" }, abbreviate(label)),
      el("span", { class: "visually-hidden" }, label))));
  const rows = confusion.map((row, i) =>
    el("tr", {},
      el("th", { scope: "row", class: "row-label", title: classes[i] }, classes[i]),
      row.map((count, j) => {
        // Diagonal cells are green; mistakes are shaded orange by their share of the largest one.
        const shade = i === j ? "rgba(0, 158, 115, 0.25)" : `rgba(230, 159, 0, ${(0.85 * count) / largest})`;
        const label = `${count} test images of ${classes[i]} predicted as ${classes[j]}`;
        const content = i !== j && count > 0
          ? el("button", { type: "button", "aria-label": `${label}: show them`, title: label,
            dataset: { trueClass: String(i), predictedClass: String(j) },
            onclick: () => showExamples(modelId, evaluation, i, j, boxes) }, String(count))
          : el("span", { "aria-label": label, title: label }, String(count));
        return el("td", { style: `background: ${shade}` }, content);
      })));

  boxes.confusion.replaceChildren(
    el("p", { class: "hint evaluation-summary" },
      `${evaluation.n_evaluated} test images, accuracy ${(100 * evaluation.accuracy).toFixed(2)}%.`),
    el("table", { class: "confusion", id: "confusion-table" }, el("thead", {}, header), el("tbody", {}, rows)),
  );
}

async function showExamples(modelId, evaluation, trueClass, predictedClass, boxes) {
  const title = `${evaluation.classes[trueClass]} predicted as ${evaluation.classes[predictedClass]}`;
  boxes.examples.replaceChildren(el("p", { class: "hint" }, `Loading: ${title}…`));
  try {
    const query = new URLSearchParams({ true_class: trueClass, predicted_class: predictedClass });
    const result = await apiFetch(`/api/models/${encodeURIComponent(modelId)}/evaluation/examples?${query}`);
    const shown = result.examples.length < result.total ? ` (first ${result.examples.length} shown)` : "";
    boxes.examples.replaceChildren(
      el("h3", {}, `${title}: ${result.total} images`, shown),
      el("div", { class: "examples", id: "examples" }, result.examples.map((example) =>
        el("figure", {},
          el("img", { src: `data:image/png;base64,${example.image}`, alt: `Test image ${example.index}` }),
          el("figcaption", {}, `#${example.index}, ${(100 * example.probability).toFixed(0)}%`)))),
    );
  } catch (error) {
    boxes.examples.replaceChildren();
    showError(boxes.error, error);
  }
}
