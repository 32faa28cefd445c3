// The shared page kit: pager, hash tabs, list tables with loading / empty / error states,
// form <-> query, downloads, dialogs, the name picker, status pills, and dates and numbers in
// the user's language. Page scripts use these instead of their own copies.
import { api, el, flash, pageLocale } from "./api.js";
import { t } from "./i18n.js";

export const PAGE = 25;

export const locale = pageLocale;

function asDate(value) {
  if (!value) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtDate(value) {
  const d = asDate(value);
  return d ? d.toLocaleDateString(locale(), { year: "numeric", month: "2-digit", day: "2-digit" }) : (value ? String(value) : "");
}

export function fmtDateTime(value) {
  const d = asDate(value);
  return d ? d.toLocaleString(locale(), { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }) : (value ? String(value) : "");
}

export function fmtNumber(value, digits = 3) {
  if (typeof value !== "number" || !Number.isFinite(value)) return value === null || value === undefined ? "" : String(value);
  return value.toLocaleString(locale(), { maximumFractionDigits: digits });
}

const STATUS = {
  passed: "Passed", failed: "Failed", warning: "Passed with remark", skipped: "Skipped", pending: "Pending",
  aborted: "Aborted", completed: "Completed", in_progress: "In progress", active: "Active", inactive: "Inactive",
  maintenance: "Maintenance", decommissioned: "Decommissioned", none: "—",
};

// A status, verdict or result in words.
export function statusText(status) {
  const key = status || "none";
  return t(`status.${key}`, STATUS[key] || String(key).replaceAll("_", " "));
}

// A status pill: the same look for a status, verdict or result on every page.
export function pill(status, text) {
  const key = status || "none";
  return el("span", { class: `pill pill-${key}`, dataset: { status: key } }, text ?? statusText(key));
}

export function pager(box, skip, total, go, size = PAGE) {
  const last = Math.max(0, Math.ceil(total / size) - 1);
  const page = Math.floor(skip / size);
  box.classList.add("pager");
  box.hidden = !total; // an empty list says so itself (listRows); "0" pages say nothing
  box.replaceChildren(
    el("button", { class: "btn btn-ghost", type: "button", disabled: page === 0, onclick: () => go(Math.max(0, skip - size)), "aria-label": t("ui.prev", "Previous page") }, "‹"),
    el("span", { class: "pager-text" }, total ? `${fmtNumber(skip + 1)}–${fmtNumber(Math.min(total, skip + size))} / ${fmtNumber(total)}` : "0"),
    el("button", { class: "btn btn-ghost", type: "button", disabled: page >= last, onclick: () => go(skip + size), "aria-label": t("ui.next", "Next page") }, "›"),
  );
}

// Hash tabs: links .tab[data-tab] switch panels #tab-<name>; onShow(name, query) loads one.
export function tabs(names, onShow) {
  const show = () => {
    const [raw, search] = (location.hash || "").slice(1).split("?");
    const name = names.includes(raw) ? raw : names[0];
    for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
    for (const panel of document.querySelectorAll(".tab-panel")) panel.hidden = panel.id !== `tab-${name}`;
    for (const a of document.querySelectorAll(".tab[data-tab]")) a.classList.toggle("active", a.dataset.tab === name);
    onShow(name, new URLSearchParams(search || ""));
  };
  window.addEventListener("hashchange", show);
  return show;
}

// A form's filled fields as a query object, and back. A local date-time field is sent as the
// ISO instant the API takes.
export function formQuery(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) {
    if (typeof v !== "string" || v.trim() === "") continue;
    const field = form.elements.namedItem(k);
    out[k] = field && field.type === "datetime-local" ? new Date(v).toISOString() : v.trim();
  }
  return out;
}

export function fillForm(form, query) {
  for (const [k, v] of Object.entries(query)) {
    const field = form.elements.namedItem(k);
    if (field && "value" in field) field.value = v;
  }
}

// A list table body with its states: loading, empty, error, then the rows.
export async function listRows(tbody, columns, load, row, emptyText) {
  const cell = (text, cls) => el("tr", { class: cls }, el("td", { colspan: String(columns) }, text));
  tbody.replaceChildren(cell(t("ui.loading", "Loading…"), "list-loading"));
  try {
    const items = await load();
    tbody.replaceChildren(...(items.length ? items.map(row) : [cell(emptyText || t("ui.empty", "Nothing found."), "list-empty")]));
    return items;
  } catch (e) {
    tbody.replaceChildren(cell(`${t("ui.error", "Could not load")}: ${e.message}`, "list-error"));
    return null;
  }
}

// Save an API answer (or a Blob) as a file.
export async function download(source, filename) {
  try {
    const blob = source instanceof Blob ? source : await api.get(source);
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  } catch (e) { flash(e.message, "error"); }
}

// A form's error line (by element id): the message, or hidden when there is none.
export function showError(id, message) {
  const box = document.getElementById(id);
  box.textContent = message || "";
  box.hidden = !message;
}

// A row's delete (or deactivate) action: a quiet button, not a red one on every row; its handler
// still asks for confirmation.
export function rowDelete(label, onclick) {
  return el("button", { class: "btn btn-small btn-ghost row-delete", type: "button", onclick }, label);
}

// A modal dialog asking for text (a reason); answers the text, or null when cancelled.
export function ask(title, label, { okText, danger = false, required = true } = {}) {
  return new Promise((resolve) => {
    const input = el("input", { name: "answer", maxlength: "1000", required: required || null, autocomplete: "off" });
    const dialog = el("dialog", { class: "ui-dialog" });
    const done = (value) => { dialog.close(); dialog.remove(); resolve(value); };
    const form = el("form", { class: "form", method: "dialog", onsubmit: (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      if (required && !value) { input.focus(); return; }
      done(value);
    } },
    el("h2", {}, title),
    el("label", {}, label, input),
    el("div", { class: "row" },
      el("button", { class: `btn ${danger ? "btn-danger" : ""}`, type: "submit" }, okText || t("ui.ok", "OK")),
      el("button", { class: "btn btn-ghost", type: "button", onclick: () => done(null) }, t("ui.cancel", "Cancel"))));
    dialog.append(form);
    dialog.addEventListener("cancel", (ev) => { ev.preventDefault(); done(null); });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

// A type-ahead picker by name over the API. source(q) answers [{id, label, sub}]. The chosen
// id(s) sit in a hidden input named `name` (comma-separated when multiple), so formQuery and
// form submits see ids while people see names.
export function namePicker({ name, source, multiple = false, placeholder, label: aria, initial = [] }) {
  const hidden = el("input", { type: "hidden", name });
  const input = el("input", { type: "search", autocomplete: "off", placeholder: placeholder || t("ui.type_to_search", "Type a name…"), "aria-label": aria || name, class: "picker-input" });
  const list = el("ul", { class: "picker-list", role: "listbox", hidden: true });
  const chips = el("span", { class: "picker-chips" });
  let chosen = [...initial];
  let timer = null;
  const sync = () => {
    hidden.value = chosen.map((c) => c.id).join(",");
    if (multiple) {
      chips.replaceChildren(...chosen.map((c) => el("span", { class: "chip", dataset: { id: String(c.id) } }, c.label,
        el("button", { type: "button", class: "chip-x", "aria-label": `${t("ui.remove", "Remove")} ${c.label}`, onclick: () => { chosen = chosen.filter((x) => x.id !== c.id); sync(); } }, "×"))));
    } else {
      input.value = chosen[0] ? chosen[0].label : input.value;
    }
    hidden.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const choose = (item) => {
    if (multiple) { if (!chosen.some((c) => c.id === item.id)) chosen.push(item); input.value = ""; }
    else chosen = [item];
    list.hidden = true;
    sync();
  };
  const search = async () => {
    const q = input.value.trim();
    if (!multiple && chosen[0] && q !== chosen[0].label) { chosen = []; hidden.value = ""; }
    try {
      const items = await source(q);
      list.replaceChildren(...(items.length ? items.map((item) => el("li", { role: "option", dataset: { id: String(item.id) }, onmousedown: (ev) => { ev.preventDefault(); choose(item); } },
        el("span", {}, item.label), item.sub ? el("span", { class: "hint" }, ` ${item.sub}`) : null))
        : [el("li", { class: "hint" }, t("ui.no_match", "No match."))]));
      list.hidden = false;
    } catch (e) { flash(e.message, "error"); }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  input.addEventListener("focus", () => { if (!list.children.length) search(); else list.hidden = false; });
  input.addEventListener("blur", () => setTimeout(() => { list.hidden = true; }, 150));
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !list.hidden && list.querySelector("li[role=option]")) {
      ev.preventDefault();
      list.querySelector("li[role=option]").dispatchEvent(new MouseEvent("mousedown"));
    }
  });
  const box = el("span", { class: "picker" }, chips, input, list, hidden);
  box.set = (items) => { chosen = [...items]; if (!multiple) input.value = chosen[0] ? chosen[0].label : ""; sync(); };
  box.clear = () => { chosen = []; input.value = ""; sync(); };
  box.value = () => chosen.map((c) => c.id);
  sync();
  return box;
}

// Sources for the name picker.
export const sources = {
  devices: async (q) => (await api.get("/fleet-data/devices", { q, limit: 20 })).map((d) => ({ id: d.id, label: d.device_number, sub: [d.device_type, d.customer_name].filter(Boolean).join(" · ") })),
  customers: async (q) => (await api.get("/fleet-data/customers", { q, limit: 20 })).map((c) => ({ id: c.id, label: c.name })),
  users: async (q) => (await api.get("/users", { q, limit: 20 })).map((u) => ({ id: u.id, label: u.username, sub: u.role })),
};
