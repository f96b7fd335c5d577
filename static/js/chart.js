// A small line chart drawn on canvas: several series over a shared x axis, with axes, ticks and
// a legend. Colours come from the Okabe-Ito palette, which stays distinct for colour-blind readers,
// and validation lines are dashed so they differ in more than colour.

export const SERIES_STYLES = {
  train: { color: "#0072B2", dash: [] },
  validation: { color: "#D55E00", dash: [6, 4] },
};

// Round a step up to 1, 2 or 5 times a power of ten, so tick labels stay short.
function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / power;
  const nice = [1, 2, 5].find((candidate) => scaled <= candidate) ?? 10;
  return nice * power;
}

function ticks(lo, hi, count) {
  const step = niceStep(hi - lo, count);
  const values = [];
  for (let value = Math.ceil(lo / step) * step; value <= hi + step * 1e-9; value += step) {
    values.push(Number(value.toPrecision(12)));
  }
  return values;
}

// Whole-epoch ticks from 1 to xMax: every epoch up to 8, else 1 and the multiples of a nice step.
function epochTicks(xMax) {
  const last = Math.max(1, Math.floor(xMax));
  if (last <= 8) return Array.from({ length: last }, (_, index) => index + 1);
  const step = Math.max(1, Math.round(niceStep(last, 8)));
  const values = [1];
  for (let value = step; value <= last; value += step) {
    if (value > 1) values.push(value);
  }
  return values;
}

export class LineChart {
  // options: {yLabel, xLabel, yMin, yMax} where yMin/yMax fix the y range (e.g. 0 and 1 for accuracy).
  constructor(canvas, options) {
    this.canvas = canvas;
    this.options = options;
    this.series = [];
    this.xMax = 1;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  // series: [{name, style: key of SERIES_STYLES, points: [[x, y], ...]}]
  setData(series, xMax) {
    this.series = series;
    this.xMax = Math.max(1, xMax || 1);
    this.draw();
  }

  pointCount() {
    return this.series.reduce((total, item) => total + item.points.length, 0);
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (width === 0 || height === 0) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);

    const margin = { left: 52, right: 12, top: 28, bottom: 34 };
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;
    const values = this.series.flatMap((item) => item.points.map((point) => point[1])).filter(Number.isFinite);
    let yLo = this.options.yMin ?? (values.length ? Math.min(...values) : 0);
    let yHi = this.options.yMax ?? (values.length ? Math.max(...values) : 1);
    if (this.options.yMin === undefined) yLo = Math.min(yLo, 0);
    if (yHi - yLo < 1e-9) yHi = yLo + 1;
    // Epochs run from 1 to xMax. Half an epoch of room on each side keeps the first and last
    // points, and the single point of a one-epoch run, inside the plot instead of on its edge.
    const xLo = 0.5;
    const xHi = this.xMax + 0.5;
    const x = (value) => margin.left + ((value - xLo) / (xHi - xLo)) * plotW;
    const y = (value) => margin.top + (1 - (value - yLo) / (yHi - yLo)) * plotH;

    context.font = "11px system-ui, sans-serif";
    context.fillStyle = "#5b6572";
    context.strokeStyle = "#e3e6ea";
    context.lineWidth = 1;
    context.textAlign = "right";
    context.textBaseline = "middle";
    for (const value of ticks(yLo, yHi, 4)) {
      context.beginPath();
      context.moveTo(margin.left, y(value));
      context.lineTo(margin.left + plotW, y(value));
      context.stroke();
      context.fillText(String(value), margin.left - 6, y(value));
    }
    context.textAlign = "center";
    context.textBaseline = "top";
    for (const value of epochTicks(this.xMax)) {
      context.fillText(String(value), x(value), margin.top + plotH + 4);
    }
    context.fillText(this.options.xLabel, margin.left + plotW / 2, margin.top + plotH + 18);
    context.strokeStyle = "#9aa4b1";
    context.strokeRect(margin.left, margin.top, plotW, plotH);

    context.save();
    context.translate(12, margin.top + plotH / 2);
    context.rotate(-Math.PI / 2);
    context.textBaseline = "middle";
    context.fillText(this.options.yLabel, 0, 0);
    context.restore();

    let legendX = margin.left;
    context.textAlign = "left";
    context.textBaseline = "middle";
    for (const item of this.series) {
      const style = SERIES_STYLES[item.style];
      context.strokeStyle = style.color;
      context.lineWidth = 2;
      context.setLineDash(style.dash);
      context.beginPath();
      context.moveTo(legendX, 12);
      context.lineTo(legendX + 22, 12);
      context.stroke();
      context.fillStyle = "#1d232b";
      context.fillText(item.name, legendX + 26, 12);
      legendX += 36 + context.measureText(item.name).width;

      const points = item.points.filter((point) => Number.isFinite(point[1]));
      context.beginPath();
      points.forEach(([px, py], index) => {
        if (index === 0) context.moveTo(x(px), y(py));
        else context.lineTo(x(px), y(py));
      });
      context.stroke();
      context.setLineDash([]);
      context.fillStyle = style.color;
      for (const [px, py] of points) {
        context.beginPath();
        context.arc(x(px), y(py), 3, 0, 2 * Math.PI);
        context.fill();
      }
    }
    context.setLineDash([]);
  }
}
