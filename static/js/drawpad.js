// A canvas to draw on with mouse, pen or finger: light strokes on a dark background,
// like the Fashion-MNIST and MNIST pictures.

const BACKGROUND = "#000000";
const INK = "#ffffff";

export function setupDrawPad(canvas) {
  const context = canvas.getContext("2d");
  // The stroke is 1/12 of the pad, about 2.3 pixels once the server resizes the drawing to 28×28.
  const lineWidth = Math.round(canvas.width / 12);
  let last = null;

  function clear() {
    context.fillStyle = BACKGROUND;
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) / box.width) * canvas.width,
      y: ((event.clientY - box.top) / box.height) * canvas.height,
    };
  }

  function stroke(to) {
    context.strokeStyle = INK;
    context.lineWidth = lineWidth;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(last.x, last.y);
    context.lineTo(to.x, to.y);
    context.stroke();
    last = to;
  }

  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    stroke(last);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (last) stroke(point(event));
  });
  const stop = () => {
    last = null;
  };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);

  clear();
  return {
    clear,
    toBlob: () => new Promise((resolve) => canvas.toBlob(resolve, "image/png")),
  };
}
