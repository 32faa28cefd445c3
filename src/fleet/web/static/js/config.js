// /fleet-config-manager: system settings, device configurations, JSON templates (schema +
// defaults in the shared tree editor with live validation), translations grid, backups.
import { api, el, flash, fmtTime } from "./api.js";
import { ready } from "./shell.js";
import { t } from "./i18n.js";
import { mountJsonEditor } from "./jsoneditor.js";
import { PAGE, download, formQuery, listRows, namePicker, pager, rowDelete, sources, tabs } from "./ui.js";

const API = "/fleet-config";
const COMPONENTS = ["", "CPP", "CM", "FDM", "FCM", "FSM"];
const skips = { system: 0, devices: 0, templates: 0, translations: 0, backups: 0 };
let me = null;

// ---- helpers ----------------------------------------------------------------------------------

function btn(label, onclick, kind = "") {
  return el("button", { class: `btn btn-small ${kind}`, type: "button", onclick }, label);
}

function short(value, max = 90) {
  const text = JSON.stringify(value);
  return text && text.length > max ? `${text.slice(0, max)}…` : text;
}

function jsonBlob(data) {
  return new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
}

async function readJsonFile(input) {
  const file = input.files[0];
  input.value = "";
  if (!file) return undefined;
  try {
    return JSON.parse(await file.text());
  } catch (e) {
    flash(`${t("fcm.bad_file", "Not a JSON file")}: ${e.message}`, "error");
    return undefined;
  }
}

function debounce(fn, ms = 300) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// ---- the one editing dialog: fields, JSON tree editors, live validation ----------------------

let dialogState = null;

function fieldInput(f) {
  if (f.options) {
    return el("select", { name: f.name, disabled: f.readonly },
      ...f.options.map((o) => el("option", { value: o, selected: (f.value ?? "") === o }, o || t("fcm.global", "Global"))));
  }
  if (f.type === "checkbox") return el("input", { type: "checkbox", name: f.name, checked: !!f.value });
  return el("input", { name: f.name, value: f.value ?? "", maxlength: f.max || 255, required: f.required, readonly: f.readonly, pattern: f.pattern });
}

function collect() {
  const form = document.getElementById("json-form");
  const values = {};
  for (const f of dialogState.fields) {
    const input = form.elements[f.name];
    values[f.name] = f.type === "checkbox" ? input.checked : input.value;
  }
  for (const [name, editor] of Object.entries(dialogState.editors)) {
    try {
      values[name] = editor.get();
    } catch {
      values[name] = undefined;
      values.__invalid = name;
    }
  }
  return values;
}

function showIssues(issues) {
  const list = document.getElementById("json-errors");
  list.replaceChildren(...issues.map((i) => el("li", {}, el("code", {}, i.path || "/"), ` ${i.message}`)));
  document.getElementById("json-valid").hidden = issues.length > 0 || !dialogState.validate;
}

const liveCheck = debounce(async () => {
  if (!dialogState || !dialogState.validate) return;
  const values = collect();
  if (values.__invalid) {
    showIssues([{ path: `/${values.__invalid}`, message: t("fcm.invalid_json", "Invalid JSON") }]);
    return;
  }
  try {
    showIssues(await dialogState.validate(values));
  } catch (e) {
    showIssues([{ path: "/", message: e.message }]);
  }
});

function openDialog({ title, fields = [], editors = [], validate, save }) {
  closeDialog();
  dialogState = { fields, validate, save, editors: {} };
  document.getElementById("json-title").textContent = title;
  document.getElementById("json-fields").replaceChildren(
    ...fields.map((f) =>
      f.type === "checkbox"
        ? el("label", { class: "check" }, fieldInput(f), ` ${f.label}`)
        : el("label", {}, f.label, fieldInput(f)),
    ),
  );
  const box = document.getElementById("json-editors");
  box.replaceChildren();
  for (const ed of editors) {
    const target = el("div", { class: "fcm-editor", dataset: { editor: ed.name } });
    box.append(el("div", {}, el("strong", {}, ed.label), target));
    dialogState.editors[ed.name] = mountJsonEditor(target, { value: ed.value, onChange: () => liveCheck() });
  }
  for (const input of document.querySelectorAll("#json-fields input, #json-fields select")) {
    input.addEventListener("input", () => liveCheck());
  }
  showIssues([]);
  document.getElementById("json-valid").hidden = true;
  document.getElementById("json-dialog").showModal();
  liveCheck();
}

function closeDialog() {
  if (!dialogState) return;
  for (const editor of Object.values(dialogState.editors)) editor.destroy();
  dialogState = null;
  const dialog = document.getElementById("json-dialog");
  if (dialog.open) dialog.close();
}

document.getElementById("json-cancel").addEventListener("click", closeDialog);
document.getElementById("json-dialog").addEventListener("close", () => {
  if (dialogState) closeDialog();
});
document.getElementById("json-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const values = collect();
  if (values.__invalid) {
    showIssues([{ path: `/${values.__invalid}`, message: t("fcm.invalid_json", "Invalid JSON") }]);
    return;
  }
  try {
    await dialogState.save(values);
    closeDialog();
    flash(t("fcm.saved", "Saved"), "ok");
    showTab();
  } catch (e) {
    const detail = e.detail && e.detail.errors ? e.detail.errors : [{ path: "/", message: e.message }];
    showIssues(detail);
  }
});

async function validateAgainst(type, category, document_) {
  const found = await api.get(`${API}/json-templates`, { type, category, is_active: true, limit: 500 });
  if (!found.length) return [];
  const result = await api.post(`${API}/json-templates/${found[found.length - 1].id}/validate`, { document: document_ });
  return result.errors;
}

// ---- system configuration ---------------------------------------------------------------------

async function loadSystem(skip = skips.system) {
  skips.system = Math.max(0, skip);
  const query = { ...formQuery(document.getElementById("sys-filter")), skip: skips.system, limit: PAGE };
  const { items, total } = await api.list(`${API}/system-configs`, query);
  document.querySelector("#sys-table tbody").replaceChildren(
    ...items.map((c) =>
      el("tr", { dataset: { key: c.config_key } },
        el("td", {}, el("code", {}, c.config_key)),
        el("td", {}, c.component || "—"),
        el("td", {}, el("code", {}, short(c.config_value))),
        el("td", {}, fmtTime(c.updated_at)),
        el("td", { class: "actions" },
          btn(t("fcm.edit", "Edit"), () => editSystem(c)),
          rowDelete(t("fcm.delete", "Delete"), () => removeSystem(c))),
      ),
    ),
  );
  pager(document.getElementById("sys-pager"), skips.system, total, loadSystem);
}

function editSystem(c) {
  openDialog({
    title: c ? `${t("fcm.edit", "Edit")} ${c.config_key}` : t("fcm.new_setting", "New setting"),
    fields: [
      { name: "config_key", label: t("fcm.key", "Key"), value: c ? c.config_key : "", readonly: !!c, required: true, max: 100, pattern: "[A-Za-z0-9_.\\-]+" },
      { name: "component", label: t("fcm.component", "Component"), value: c ? c.component || "" : "", options: COMPONENTS },
    ],
    editors: [{ name: "config_value", label: t("fcm.value", "Value"), value: c ? c.config_value : {} }],
    validate: (v) => (v.config_key ? validateAgainst("system_config", v.config_key, v.config_value) : []),
    save: (v) => {
      const body = { config_value: v.config_value, component: v.component || null };
      return c
        ? api.patch(`${API}/system-configs/${c.id}`, body)
        : api.post(`${API}/system-configs`, { ...body, config_key: v.config_key });
    },
  });
}

async function removeSystem(c) {
  if (!confirm(`${t("fcm.confirm_delete", "Delete")} ${c.config_key}?`)) return;
  await api.del(`${API}/system-configs/${c.id}`);
  loadSystem();
}

// ---- device configuration ---------------------------------------------------------------------

async function loadDevices(skip = skips.devices) {
  skips.devices = Math.max(0, skip);
  const query = { ...formQuery(document.getElementById("dev-filter")), skip: skips.devices, limit: PAGE };
  const { items, total } = await api.list(`${API}/device-configs`, query);
  document.querySelector("#dev-table tbody").replaceChildren(
    ...items.map((d) =>
      el("tr", { dataset: { number: d.device_number } },
        el("td", {}, d.device_number),
        el("td", {}, d.device_type),
        el("td", {}, d.status || ""),
        el("td", {}, el("code", {}, d.configuration == null ? "—" : short(d.configuration))),
        el("td", { class: "actions" }, btn(t("fcm.edit", "Edit"), () => editDevice(d))),
      ),
    ),
  );
  pager(document.getElementById("dev-pager"), skips.devices, total, loadDevices);
  const templates = await api.get(`${API}/json-templates`, { type: "device_config", is_active: true, limit: 500 });
  const select = document.querySelector("#apply-form select[name=template_id]");
  const chosen = select.value;
  select.replaceChildren(...templates.map((tp) => el("option", { value: tp.id, selected: String(tp.id) === chosen }, `${tp.name} (${tp.category || "*"})`)));
}

function editDevice(d) {
  openDialog({
    title: `${t("fcm.configuration", "Configuration")}: ${d.device_number} (${d.device_type})`,
    editors: [{ name: "configuration", label: t("fcm.configuration", "Configuration"), value: d.configuration || {} }],
    validate: (v) => validateAgainst("device_config", d.device_type, v.configuration),
    save: (v) => api.put(`${API}/device-configs/${d.id}`, { configuration: v.configuration }),
  });
}

document.getElementById("apply-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const apply = ev.submitter && ev.submitter.value === "apply";
  const filters = {};
  if (form.status.value) filters.status = form.status.value;
  if (form.customer_id.value) filters.customer_id = Number(form.customer_id.value);
  const body = { template_id: Number(form.template_id.value), mode: form.mode.value, filters, dry_run: !apply };
  const out = document.getElementById("apply-result");
  if (apply && !confirm(t("fcm.confirm_apply", "Apply the template to every matching device?"))) return;
  try {
    const r = await api.post(`${API}/device-configs/apply-template`, body);
    out.textContent = `${r.dry_run ? t("fcm.would_change", "Would change") : t("fcm.changed", "Changed")}: ${r.changed} / ${r.matched}`;
    out.className = "hint";
    if (apply) loadDevices();
  } catch (e) {
    out.textContent = e.message;
    out.className = "error";
  }
});

// ---- JSON templates ---------------------------------------------------------------------------

async function loadTemplates(skip = skips.templates) {
  skips.templates = Math.max(0, skip);
  const query = { ...formQuery(document.getElementById("tpl-filter")), skip: skips.templates, limit: PAGE };
  const { items, total } = await api.list(`${API}/json-templates`, query);
  document.querySelector("#tpl-table tbody").replaceChildren(
    ...items.map((tp) =>
      el("tr", { dataset: { id: tp.id } },
        el("td", {}, tp.name),
        el("td", {}, tp.template_type),
        el("td", {}, tp.category || "—"),
        el("td", {}, tp.is_active ? "✓" : "—"),
        el("td", {}, fmtTime(tp.updated_at || tp.created_at)),
        el("td", { class: "actions" },
          btn(t("fcm.edit", "Edit"), () => editTemplate(tp)),
          rowDelete(t("fcm.delete", "Delete"), () => removeTemplate(tp))),
      ),
    ),
  );
  pager(document.getElementById("tpl-pager"), skips.templates, total, loadTemplates);
}

function editTemplate(tp) {
  openDialog({
    title: tp ? `${t("fcm.edit", "Edit")} ${tp.name}` : t("fcm.new_template", "New template"),
    fields: [
      { name: "name", label: t("fcm.name", "Name"), value: tp ? tp.name : "", required: true },
      { name: "template_type", label: t("fcm.type", "Type"), value: tp ? tp.template_type : "device_config", required: true, max: 100 },
      { name: "category", label: t("fcm.category", "Category"), value: tp ? tp.category || "" : "", max: 100 },
      { name: "description", label: t("fcm.description", "Description"), value: tp ? tp.description || "" : "", max: 10000 },
      { name: "is_active", label: t("fcm.active", "Active"), value: tp ? tp.is_active : true, type: "checkbox" },
    ],
    editors: [
      { name: "schema", label: "JSON Schema", value: tp ? tp.schema : { type: "object", properties: {} } },
      { name: "default_values", label: t("fcm.defaults", "Default values"), value: tp ? tp.default_values : {} },
    ],
    validate: async (v) => (await api.post(`${API}/json-templates/check`, { schema: v.schema, default_values: v.default_values })).errors,
    save: (v) => {
      const body = { ...v, category: v.category || null, description: v.description || null };
      return tp ? api.patch(`${API}/json-templates/${tp.id}`, body) : api.post(`${API}/json-templates`, body);
    },
  });
}

async function removeTemplate(tp) {
  if (!confirm(`${t("fcm.confirm_delete", "Delete")} ${tp.name}?`)) return;
  await api.del(`${API}/json-templates/${tp.id}`);
  loadTemplates();
}

// ---- translations -----------------------------------------------------------------------------

function trLanguages() {
  const raw = document.querySelector("#tr-filter input[name=languages]").value;
  const langs = raw.split(",").map((s) => s.trim()).filter(Boolean);
  return langs.length ? langs : ["en"];
}

function trRow(row, langs) {
  return el("tr", { dataset: { key: row.key } },
    el("td", {}, el("code", {}, row.key)),
    el("td", {}, row.component || ""),
    ...langs.map((lang) => {
      const input = el("input", { value: row.values[lang] || "", "aria-label": `${row.key} ${lang}`, dataset: { lang } });
      const cell = el("td", { class: row.values[lang] ? "" : "missing", dataset: { lang } }, input);
      input.addEventListener("change", async () => {
        if (!input.value.trim()) return;
        try {
          await api.put(`${API}/translations`, { key: row.key, language: lang, value: input.value, component: row.component || null });
          cell.classList.remove("missing");
          flash(t("fcm.saved", "Saved"), "ok");
        } catch (e) {
          flash(e.message, "error");
        }
      });
      return cell;
    }),
  );
}

let trRequest = 0;

async function loadTranslations(skip = skips.translations) {
  skips.translations = Math.max(0, skip);
  const mine = ++trRequest;
  const langs = trLanguages();
  const form = document.getElementById("tr-filter");
  const query = { q: form.q.value, only_missing: form.only_missing.checked || undefined, languages: langs.join(","), skip: skips.translations, limit: PAGE };
  const { items, total } = await api.list(`${API}/translations/grid`, query);
  if (mine !== trRequest) return; // a newer request (another filter) answers instead
  document.querySelector("#tr-table thead").replaceChildren(
    el("tr", {}, el("th", {}, t("fcm.key", "Key")), el("th", {}, t("fcm.component", "Component")), ...langs.map((l) => el("th", {}, l))),
  );
  document.querySelector("#tr-table tbody").replaceChildren(...items.map((row) => trRow(row, langs)));
  pager(document.getElementById("tr-pager"), skips.translations, total, loadTranslations);
}

document.getElementById("tr-new").addEventListener("click", () => {
  const key = prompt(t("fcm.new_key_prompt", "New key (e.g. fdm.title)"));
  if (!key) return;
  const langs = trLanguages();
  document.querySelector("#tr-table tbody").prepend(trRow({ key: key.trim(), component: null, values: {} }, langs));
});

document.getElementById("tr-export").addEventListener("click", async () => {
  const lang = prompt(t("fcm.language_prompt", "Language code"), trLanguages().at(-1));
  if (!lang) return;
  try {
    download(jsonBlob(await api.get(`${API}/translations/export/${encodeURIComponent(lang)}`)), `translations-${lang}.json`);
  } catch (e) {
    flash(e.message, "error");
  }
});

document.getElementById("tr-import").addEventListener("change", async (ev) => {
  const bundle = await readJsonFile(ev.target);
  if (bundle === undefined) return;
  const lang = prompt(t("fcm.language_prompt", "Language code"), trLanguages().at(-1));
  if (!lang) return;
  try {
    const r = await api.post(`${API}/translations/import/${encodeURIComponent(lang)}`, bundle);
    flash(`${lang}: +${r.created}, ~${r.updated}, =${r.unchanged}`, "ok");
    loadTranslations();
  } catch (e) {
    flash(e.message, "error");
  }
});

// ---- backups ----------------------------------------------------------------------------------

let pendingRestore = null;

async function loadBackups(skip = skips.backups) {
  skips.backups = Math.max(0, skip);
  const load = async () => {
    const { items, total } = await api.list(`${API}/backups`, { skip: skips.backups, limit: PAGE });
    pager(document.getElementById("bk-pager"), skips.backups, total, loadBackups);
    return items;
  };
  const empty = t("fcm.no_backups", "No backups yet. “Back up configuration now” keeps one.");
  await listRows(document.querySelector("#bk-table tbody"), 6, load, (b) =>
    el("tr", { dataset: { id: b.id, name: b.backup_name } },
      el("td", {}, b.backup_name),
      el("td", {}, t(`fcm.kind_${b.kind}`, b.kind)),
      el("td", {}, fmtTime(b.created_at)),
      el("td", {}, `${(b.size / 1024).toFixed(1)} KiB`),
      el("td", {}, el("code", { title: b.sha256 }, b.sha256.slice(0, 12))),
      el("td", { class: "actions" },
        btn(t("fcm.download", "Download"), () => downloadBackup(b), "btn-ghost"),
        btn(t("fcm.dry_run", "Dry run"), () => dryRun({ backup_id: b.id }, b.backup_name)),
        rowDelete(t("fcm.delete", "Delete"), () => removeBackup(b))),
    ), empty);
}

async function downloadBackup(b) {
  download(jsonBlob(await api.get(`${API}/backups/${b.id}`)), `config-backup-${b.id}.json`);
}

async function removeBackup(b) {
  if (!confirm(`${t("fcm.confirm_delete", "Delete")} ${b.backup_name}?`)) return;
  await api.del(`${API}/backups/${b.id}`);
  loadBackups();
}

function showDiff(result, name) {
  document.getElementById("diff-name").textContent = name;
  document.querySelector("#diff-table tbody").replaceChildren(
    ...Object.entries(result.changes).map(([table, c]) =>
      el("tr", { dataset: { table }, class: c.created || c.updated ? "fcm-changed" : "" },
        el("td", {}, table),
        el("td", { class: "n-created" }, String(c.created)),
        el("td", { class: "n-updated" }, String(c.updated)),
        el("td", {}, String(c.unchanged)),
        el("td", {}, ...c.items.slice(0, 50).map((i) => el("div", {}, el("code", {}, `${i.action} ${i.id}`), i.fields ? ` (${i.fields.join(", ")})` : "")),
          c.items.length > 50 ? el("div", { class: "hint" }, `+${c.items.length - 50}`) : null),
      ),
    ),
  );
  document.getElementById("diff").hidden = false;
}

async function dryRun(source, name) {
  try {
    const result = await api.post(`${API}/restore`, { ...source, dry_run: true });
    pendingRestore = { source, name };
    showDiff(result, name);
  } catch (e) {
    pendingRestore = null;
    const issues = e.detail && e.detail.errors ? e.detail.errors.slice(0, 5).map((i) => `${i.path}: ${i.message}`).join("; ") : "";
    flash(`${e.message}${issues ? ` — ${issues}` : ""}`, "error");
  }
}

document.getElementById("diff-close").addEventListener("click", () => {
  document.getElementById("diff").hidden = true;
  pendingRestore = null;
});

document.getElementById("diff-restore").addEventListener("click", async () => {
  if (!pendingRestore) return;
  if (!confirm(t("fcm.confirm_restore", "Restore this backup? The current state is backed up first."))) return;
  try {
    const result = await api.post(`${API}/restore`, { ...pendingRestore.source, dry_run: false });
    showDiff(result, pendingRestore.name);
    pendingRestore = null;
    flash(t("fcm.restored", "Restored; the previous state was kept as a backup"), "ok");
    loadBackups();
  } catch (e) {
    flash(e.message, "error");
  }
});

document.getElementById("bk-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = ev.target.backup_name.value.trim();
  try {
    await api.post(`${API}/backup`, name ? { backup_name: name } : {});
    ev.target.reset();
    flash(t("fcm.backup_done", "Backup kept"), "ok");
    loadBackups(0);
  } catch (e) {
    flash(e.message, "error");
  }
});

document.getElementById("bk-file").addEventListener("change", async (ev) => {
  const data = await readJsonFile(ev.target);
  if (data !== undefined) dryRun({ restore_data: data }, data.backup_name || t("fcm.file", "file"));
});

document.getElementById("db-export").addEventListener("click", async () => {
  try {
    const blob = await api.get(`${API}/export`);
    download(blob, `fleet-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, "")}.fleetdump.gz`);
  } catch (e) {
    flash(e.message, "error");
  }
});

// ---- tabs ---------------------------------------------------------------------------------------

const LOADERS = { system: loadSystem, devices: loadDevices, templates: loadTemplates, translations: loadTranslations, backups: loadBackups };

const showTab = tabs(Object.keys(LOADERS), (tab) => LOADERS[tab]().catch((e) => flash(e.message, "error")));

for (const [id, loader] of [["sys-filter", loadSystem], ["dev-filter", loadDevices], ["tpl-filter", loadTemplates], ["tr-filter", loadTranslations]]) {
  document.getElementById(id).addEventListener("submit", (ev) => {
    ev.preventDefault();
    loader(0).catch((e) => flash(e.message, "error"));
  });
}
document.getElementById("sys-new").addEventListener("click", () => editSystem(null));
document.getElementById("apply-customer").replaceWith(namePicker({ name: "customer_id", source: sources.customers, label: t("fcm.customer", "Customer") }));
document.getElementById("tpl-new").addEventListener("click", () => editTemplate(null));

ready.then((who) => {
  if (!who) return;
  me = who;
  document.getElementById("db-export").hidden = !me.modules.includes("ADMIN");
  showTab();
});
