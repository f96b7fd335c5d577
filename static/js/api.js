// Calls to the REST API under /api, and decoding of the tensors it returns.

export class ApiError extends Error {
  constructor(status, detail) {
    super(formatDetail(detail) || `Request failed with HTTP ${status}.`);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

// FastAPI sends `detail` as a string, or as a list of validation errors for a 422.
export function formatDetail(detail) {
  if (detail == null) {
    return "";
  }
  if (typeof detail === "string") {
    return detail;
  }
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const where = Array.isArray(item.loc) ? item.loc.filter((part) => part !== "body").join(".") : "";
        return where ? `${where}: ${item.msg}` : String(item.msg ?? JSON.stringify(item));
      })
      .join("; ");
  }
  return JSON.stringify(detail);
}

const TOKEN_KEY = "cnn-playground-api-token";

export function getToken() {
  return window.localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) {
    window.localStorage.setItem(TOKEN_KEY, token);
  } else {
    window.localStorage.removeItem(TOKEN_KEY);
  }
}

// Send a request and return the parsed JSON body, or null for an empty body.
// Throws ApiError with the API's `detail` for every non-2xx response.
export async function apiFetch(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const token = getToken();
  if (token && !headers.has("Authorization")) {
    headers.set("Authorization", `Bearer ${token}`);
  }

  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (error) {
    throw new ApiError(0, `Could not reach the server: ${error.message}`);
  }

  const text = await response.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = { detail: text };
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, body ? body.detail : null);
  }
  return body;
}

// Send `file` as the multipart field `file`; a Blob without a name is sent as `fileName`.
export function postFile(path, file, fileName = "image.png") {
  const form = new FormData();
  form.append("file", file, file.name || fileName);
  return apiFetch(path, { method: "POST", body: form });
}

export function postJson(path, payload) {
  return apiFetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
}

// Decode an API tensor {shape, dtype: "float32", data: base64 of little-endian float32 in C order}.
// Returns {shape, data: Float32Array}.
export function decodeTensor(tensor) {
  if (!tensor || tensor.dtype !== "float32") {
    throw new TypeError(`Expected a float32 tensor, got dtype ${tensor && tensor.dtype}.`);
  }
  const binary = window.atob(tensor.data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) {
    bytes[i] = binary.charCodeAt(i);
  }
  const count = tensor.shape.reduce((product, size) => product * size, 1);
  if (bytes.length !== count * 4) {
    throw new Error(`Tensor of shape [${tensor.shape}] needs ${count * 4} bytes, got ${bytes.length}.`);
  }
  // DataView reads little-endian explicitly, whatever the byte order of this machine.
  const view = new DataView(bytes.buffer);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i += 1) {
    data[i] = view.getFloat32(i * 4, true);
  }
  return { shape: tensor.shape.slice(), data };
}

export function showError(element, error) {
  element.textContent = error instanceof Error ? error.message : String(error);
  element.hidden = false;
}

export function clearError(element) {
  element.textContent = "";
  element.hidden = true;
}

export function formatNumber(value, digits = 4) {
  if (!Number.isFinite(value)) {
    return String(value);
  }
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e5)) {
    return value.toExponential(digits - 1);
  }
  return value.toFixed(digits);
}
