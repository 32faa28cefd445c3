// The one API client every page uses: bearer tokens, refresh on 401, back to login when the
// session is gone. Tokens live in sessionStorage so closing the browser ends the session.
const ACCESS = "fleet.access";
const REFRESH = "fleet.refresh";
const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, detail) {
    super(formatDetail(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

export function formatDetail(detail) {
  if (!detail) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((e) => (e && e.msg ? `${(e.loc || []).filter((p) => p !== "body").join(".")}: ${e.msg}` : JSON.stringify(e)))
      .join("; ");
  }
  return JSON.stringify(detail);
}

export const tokens = {
  get access() { return sessionStorage.getItem(ACCESS); },
  get refresh() { return sessionStorage.getItem(REFRESH); },
  save(pair) {
    sessionStorage.setItem(ACCESS, pair.access_token);
    sessionStorage.setItem(REFRESH, pair.refresh_token);
  },
  clear() {
    sessionStorage.removeItem(ACCESS);
    sessionStorage.removeItem(REFRESH);
  },
};

let refreshing = null;

async function refreshTokens() {
  const refresh = tokens.refresh;
  if (!refresh) return false;
  if (!refreshing) {
    refreshing = fetch(`${BASE}/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: refresh }),
    })
      .then(async (r) => {
        if (!r.ok) return false;
        tokens.save(await r.json());
        return true;
      })
      .catch(() => false)
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

function toLogin() {
  tokens.clear();
  if (location.pathname !== "/") location.assign("/");
  else window.dispatchEvent(new Event("fleet:signed-out")); // the landing page shows sign-in
}

async function parse(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("application/json") ? response.json() : response.blob();
}

// request(method, path, {json, form, query, raw}) -> parsed body; `raw: true` answers the Response.
export async function request(method, path, options = {}) {
  const url = new URL(path.startsWith("/") && !path.startsWith(BASE) ? BASE + path : path, location.origin);
  for (const [k, v] of Object.entries(options.query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const send = () => {
    const headers = {};
    if (tokens.access) headers.Authorization = `Bearer ${tokens.access}`;
    let body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.form) {
      body = options.form;
    }
    return fetch(url, { method, headers, body });
  };
  let response = await send();
  if (response.status === 401 && tokens.refresh) {
    if (await refreshTokens()) response = await send();
  }
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, "Session ended; please sign in again");
  }
  if (options.raw && response.ok) return response;
  const data = await parse(response);
  if (!response.ok) throw new ApiError(response.status, data && data.detail);
  if (options.withTotal) {
    return { items: data, total: Number(response.headers.get("X-Total-Count") || 0) };
  }
  return data;
}

export const api = {
  get: (path, query, opts = {}) => request("GET", path, { query, ...opts }),
  list: (path, query) => request("GET", path, { query, withTotal: true }),
  post: (path, json, opts = {}) => request("POST", path, { json, ...opts }),
  put: (path, json) => request("PUT", path, { json }),
  patch: (path, json) => request("PATCH", path, { json }),
  del: (path) => request("DELETE", path),
  upload: (path, formData, query) => request("POST", path, { form: formData, query }),
};

async function authPost(path, json) {
  const r = await fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(json),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new ApiError(r.status, data.detail);
    err.retryAfter = r.headers.get("Retry-After");
    throw err;
  }
  tokens.save(data);
  return data;
}

export const auth = {
  login: (username, password) => authPost("/auth/login", { username, password }),
  loginQr: (code) => authPost("/auth/login/qr", { qr_code: code }),
  async me() {
    if (!tokens.access && !tokens.refresh) return null;
    try {
      return await request("GET", "/auth/me");
    } catch (e) {
      if (e.status === 401) return null;
      throw e;
    }
  },
  async switchRole(role) {
    tokens.save(await request("POST", "/auth/switch-role", { json: { new_role: role } }));
  },
  async logout() {
    try {
      await request("POST", "/auth/logout", { json: { refresh_token: tokens.refresh } });
    } finally {
      tokens.clear();
    }
  },
};

// Small DOM helper: build elements with text only (never innerHTML with server data).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = message;
  box.className = `flash flash-${kind}`;
  box.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

// Dates in the page's language (never the browser's US default): en-GB, pl-PL, ...
const LOCALES = { en: "en-GB", pl: "pl-PL", de: "de-DE", fr: "fr-FR", cs: "cs-CZ", uk: "uk-UA" };
export function pageLocale() {
  const lang = document.documentElement.lang || "en";
  return LOCALES[lang] || lang;
}

export function fmtTime(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString(pageLocale());
}
