// /fleet-data-manager: dashboard, devices (with due dates and history), customers, import/export.
import { fillReadiness } from "./readiness.js";
import { api, el, flash, fmtTime, request, tokens } from "./api.js";
import { ready } from "./shell.js";
import { t } from "./i18n.js";
import { fieldProblems, mountSchemaForm } from "./schemaform.js";
import { mountReports } from "./reports.js";
import { PAGE, download, fmtDate, pager, rowDelete, tabs } from "./ui.js";

const DUE_LABELS = { overdue: "overdue", due_soon: "due soon", ok: "", never_tested: "never tested" };
const state = { deviceSkip: 0, customerSkip: 0, editingDevice: null, editingCustomer: null };
let configEditor = null;
let contactEditor = null;
let contactSchema = null;

window.addEventListener("hashchange", applyHashQuery); // before the tabs show the list
const showTab = tabs(["dashboard", "devices", "customers", "reports", "transfer"], (known, params) => {
  if (known === "dashboard") loadDashboard();
  else if (known === "devices") loadDevices();
  else if (known === "customers") loadCustomers();
  else if (known === "reports") {
    const reports = mountReports();
    reports.load(0);
    if (params.get("report")) reports.openReport(Number(params.get("report")));
  }
});

// Turn an API error into readable lines: 422 bodies carry {message, errors: [{path, message}]}
// or FastAPI's [{loc, msg}] list.
function problems(e) {
  const d = e.detail;
  if (d && typeof d === "object" && !Array.isArray(d)) {
    const lines = (d.errors || []).map((x) => `${x.path || x.field || ""}: ${x.message}`);
    return [d.message || e.message, ...lines];
  }
  if (Array.isArray(d)) {
    return d.map((x) => `${(x.loc || []).filter((p) => p !== "body").join(".")}: ${x.msg}`);
  }
  return [e.message];
}

function showProblems(box, e) {
  box.replaceChildren(...problems(e).map((line) => el("li", {}, line)));
  box.hidden = false;
}

// ---------------------------------------------------------------- dashboard

function countRows(table, items, total) {
  table.querySelector("tbody").replaceChildren(
    ...(items.length ? items : [{ label: "—", count: 0 }]).map((i) =>
      el("tr", {},
        el("td", {}, i.label),
        el("td", { class: "fdm-num" }, String(i.count)),
        el("td", { class: "fdm-bar-cell" },
          el("span", { class: "fdm-bar", style: `width:${total ? Math.round((100 * i.count) / total) : 0}%` })),
      ),
    ),
  );
}

function statCard(label, value, href, cls = "") {
  const body = [el("span", { class: "fdm-stat-value" }, String(value)), el("span", { class: "hint" }, label)];
  return href
    ? el("a", { class: `card fdm-stat ${cls}`, href, dataset: { stat: label } }, ...body)
    : el("div", { class: `card fdm-stat ${cls}`, dataset: { stat: label } }, ...body);
}

async function loadDashboard(fresh = false) {
  try {
    const d = await api.get("/fleet-data/dashboard", fresh ? { fresh: true } : {});
    document.getElementById("dash-generated").textContent = fmtTime(d.generated_at);
    document.getElementById("dash-cards").replaceChildren(
      statCard("devices", d.total_devices, "#devices"),
      statCard("customers", d.total_customers, "#customers"),
      statCard("overdue", d.overdue, "#devices?due=overdue", d.overdue ? "fdm-alert" : ""),
      statCard("due in 30 days", d.due_next_30_days, "#devices?due=soon"),
      statCard("never tested", d.never_tested, "#devices?due=never"),
      statCard("tests in 30 days", d.tests_last_30_days),
      statCard("without customer", d.devices_without_customer),
    );
    countRows(document.getElementById("dash-status"), d.by_status, d.total_devices);
    countRows(document.getElementById("dash-type"), d.by_device_type, d.total_devices);
    countRows(document.getElementById("dash-customer"), d.by_customer, d.total_devices);
    countRows(document.getElementById("dash-verdict"), d.tests_by_verdict, d.tests_last_30_days);
  } catch (e) {
    flash(e.message, "error");
  }
}

// ---------------------------------------------------------------- devices

function deviceQuery() {
  const raw = Object.fromEntries(new FormData(document.getElementById("device-filter")).entries());
  const query = { q: raw.q, device_type: raw.device_type, status: raw.status, customer_id: raw.customer_id, sort: raw.sort };
  if (raw.due === "overdue") query.overdue = true;
  else if (raw.due === "never") query.never_tested = true;
  else if (raw.due === "soon") {
    const cutoff = new Date(Date.now() + 30 * 86400000);
    query.due_before = cutoff.toISOString();
  }
  return query;
}

function dueCell(d) {
  if (d.due_state === "never_tested") return el("td", { class: "fdm-due" }, el("span", { class: "fdm-badge" }, "never tested"));
  const label = DUE_LABELS[d.due_state];
  return el("td", { class: "fdm-due" }, fmtDate(d.next_due_at), label ? el("span", { class: `fdm-badge fdm-${d.due_state}` }, label) : null);
}

function deviceRow(d) {
  return el("tr", { class: d.due_state === "overdue" ? "overdue" : d.due_state === "due_soon" ? "due-soon" : "", dataset: { number: d.device_number, id: d.id } },
    el("td", {}, d.device_number),
    el("td", {}, d.device_type),
    el("td", {}, d.kind_of_device || ""),
    el("td", {}, d.serial_number || ""),
    el("td", {}, d.status || ""),
    el("td", { class: "readiness", dataset: { readinessFor: d.id } }),
    el("td", {}, d.customer_name || "—"),
    el("td", {}, fmtDate(d.last_test_at)),
    dueCell(d),
    el("td", { class: "actions" },
      el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => openHistory(d) }, "History"),
      el("button", { class: "btn btn-small", type: "button", onclick: () => openDevice(d) }, "Edit"),
      rowDelete(t("ui.delete", "Delete"), () => deleteDevice(d)),
    ),
  );
}

// Answers the rows shown (a device just created is kept in view: see saveDevice).
async function loadDevices(skip = state.deviceSkip) {
  state.deviceSkip = Math.max(0, skip);
  try {
    const { items, total } = await api.list("/fleet-data/devices", { ...deviceQuery(), skip: state.deviceSkip, limit: PAGE });
    document.querySelector("#devices-table tbody").replaceChildren(...items.map(deviceRow));
    pager(document.getElementById("devices-pager"), state.deviceSkip, total, loadDevices);
    fillReadiness(document.getElementById("devices-table"));
    return items;
  } catch (e) {
    flash(e.message, "error");
    return null;
  }
}

// A device just created stays in view after Save even when the list's order or filters put it
// on another page: its row is shown first, marked as new.
function showCreated(device, shown) {
  if (!shown || shown.some((d) => d.id === device.id)) return;
  const row = deviceRow(device);
  row.classList.add("just-added");
  row.cells[0].append(" ", el("span", { class: "fdm-badge fdm-new" }, t("fdm.just_added", "new")));
  document.querySelector("#devices-table tbody").prepend(row);
  fillReadiness(document.getElementById("devices-table"));
}

async function fillCustomerSelects() {
  try {
    const customers = await api.get("/fleet-data/customers", { limit: 500, sort: "name" });
    for (const select of document.querySelectorAll("select[name=customer_id]")) {
      const keep = select.value;
      const first = select.options[0];
      select.replaceChildren(first, ...customers.map((c) => el("option", { value: c.id }, c.name)));
      select.value = keep;
    }
  } catch (e) {
    flash(e.message, "error");
  }
}

async function fillDeviceTypes() {
  try {
    const types = await api.get("/fleet-data/device-types");
    const all = [...new Set([...types.known, ...types.in_use])].sort();
    const filter = document.querySelector("#device-filter select[name=device_type]");
    filter.replaceChildren(filter.options[0], ...all.map((t) => el("option", { value: t }, t)));
    document.getElementById("device-types").replaceChildren(...all.map((t) => el("option", { value: t })));
  } catch (e) {
    flash(e.message, "error");
  }
}

async function openDevice(device) {
  state.editingDevice = device;
  const form = document.getElementById("device-form");
  form.reset();
  await fillCustomerSelects();
  document.getElementById("device-form-title").textContent = device ? `Edit ${device.device_number}` : "New device";
  for (const key of ["device_number", "device_type", "kind_of_device", "serial_number"]) {
    form[key].value = device ? device[key] || "" : "";
  }
  form.status.value = device ? device.status || "active" : "active";
  form.customer_id.value = device && device.customer_id ? String(device.customer_id) : "";
  const box = document.getElementById("device-config-editor");
  if (!configEditor) configEditor = mountSchemaForm(box, { value: {} });
  configEditor.clear();
  await loadConfigSchema(form.device_type.value, device && device.configuration ? device.configuration : null);
  document.getElementById("device-form-error").hidden = true;
  document.getElementById("device-dialog").showModal();
}

// The configuration form follows the device type's template (schema and defaults).
async function loadConfigSchema(type, value) {
  let answer = { schema: null, default_values: null };
  if (type) {
    try { answer = await api.get(`/fleet-data/device-types/${encodeURIComponent(type)}/config-schema`); } catch { /* no form */ }
  }
  configEditor.set(value || answer.default_values || {}, answer.schema);
}

async function saveDevice(ev) {
  ev.preventDefault();
  const form = ev.target;
  const errors = document.getElementById("device-form-error");
  let configuration;
  try {
    configuration = configEditor.get();
  } catch (e) {
    showProblems(errors, { message: `configuration: ${e.message}` });
    return;
  }
  configEditor.clear();
  const body = {
    device_number: form.device_number.value.trim(),
    device_type: form.device_type.value.trim(),
    kind_of_device: form.kind_of_device.value.trim() || null,
    serial_number: form.serial_number.value.trim() || null,
    status: form.status.value,
    customer_id: form.customer_id.value ? Number(form.customer_id.value) : null,
    configuration: configuration && Object.keys(configuration).length ? configuration : null,
  };
  const editing = state.editingDevice;
  if (!editing && body.configuration === null) delete body.configuration;
  try {
    const saved = editing
      ? await api.patch(`/fleet-data/devices/${editing.id}`, body)
      : await api.post("/fleet-data/devices", body);
    document.getElementById("device-dialog").close();
    flash(`Device ${saved.device_number} saved`, "ok");
    fillDeviceTypes();
    const shown = await loadDevices();
    if (!editing) showCreated(saved, shown);
  } catch (e) {
    const isConfig = e.detail && e.detail.message && /configuration/.test(e.detail.message);
    const rest = isConfig ? configEditor.showErrors(fieldProblems(e, "configuration")) : null;
    if (rest && !rest.length) errors.hidden = true;
    else showProblems(errors, rest ? { message: rest.map((p) => `${p.field ? `${p.field}: ` : ""}${p.message}`).join("; ") } : e);
  }
}

async function deleteDevice(device) {
  if (!confirm(`Delete device ${device.device_number}?`)) return;
  try {
    await api.del(`/fleet-data/devices/${device.id}`);
    flash(`Device ${device.device_number} deleted`, "ok");
    loadDevices();
  } catch (e) {
    if (e.status === 409 && confirm(`${e.message}\n\nSet it inactive now?`)) {
      try {
        await api.patch(`/fleet-data/devices/${device.id}`, { status: "inactive" });
        loadDevices();
      } catch (inner) {
        flash(inner.message, "error");
      }
    } else if (e.status !== 409) {
      flash(e.message, "error");
    }
  }
}

// A history entry in the user's language, from its details (the API's title and summary are
// the English of the same).
function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (all, k) => (values[k] === undefined || values[k] === null ? all : String(values[k])));
}

function historyTitle(entry) {
  const d = entry.details || {};
  if (entry.kind === "test") return `${t("fdm.history_test", "Test")}: ${d.scenario || t("fdm.unknown_scenario", "unknown scenario")}`;
  if (entry.kind === "software") return `${t(`fdm.history_software_${d.action}`, `Software ${d.action}`)}: ${d.software || t("fdm.unknown_software", "unknown software")}`;
  if (d.action === "device.create") return t("fdm.history_device_created", "Device created");
  if (d.action === "device.update") return t("fdm.history_device_changed", "Device changed");
  return entry.title;
}

// A status or verdict inside a sentence (lower case, as the API's English summary has it).
function lower(value) {
  return t(`status.l_${value}`, String(value).replaceAll("_", " "));
}

function shortValue(field, value) {
  if (value === null || value === undefined) return "—";
  if (field === "status") return lower(value);
  const text = String(value);
  return text.length <= 60 ? text : `${text.slice(0, 59)}…`;
}

function historySummary(entry) {
  const d = entry.details || {};
  if (entry.kind === "test") return `${lower(d.verdict || "no_verdict")} (${lower(d.status || "no_status")})`;
  if (entry.kind === "software") {
    const summary = `${lower(d.status || "pending")}, ${d.previous_version || "—"} → ${d.new_version || "—"}`;
    return d.error_message ? `${summary}: ${shortValue("", d.error_message)}` : summary;
  }
  if (entry.kind !== "change" || !d.changed) return entry.summary;
  return Object.entries(d.changed).map(([field, diff]) => {
    const name = t(`fdm.field_${field}`, field);
    if (field === "configuration") return t("fdm.configuration_changed", "configuration changed");
    if (!diff || typeof diff !== "object") return null;
    if (diff.old === null || diff.old === undefined) return `${name}: ${shortValue(field, diff.new)}`;
    return `${name}: ${shortValue(field, diff.old)} → ${shortValue(field, diff.new)}`;
  }).filter(Boolean).join("; ");
}

async function openHistory(device) {
  try {
    const h = await api.get(`/fleet-data/devices/${device.id}/history`);
    const d = h.device;
    document.getElementById("history-device").textContent = d.device_number;
    const ready = document.getElementById("history-readiness");
    ready.dataset.readinessFor = d.id;
    fillReadiness(ready.parentElement);
    const due = document.getElementById("history-due");
    due.className = `fdm-due-line fdm-${d.due_state}`;
    due.textContent = d.last_test_at
      ? fill(t("fdm.due_line", "Last test {last} · next test due {next} (every {months} months)"), { last: fmtDate(d.last_test_at), next: fmtDate(d.next_due_at), months: d.interval_months }) + (d.due_state === "overdue" ? ` — ${t("fdm.overdue_caps", "OVERDUE")}` : "")
      : t("fdm.never_tested", "Never tested");
    document.getElementById("history-list").replaceChildren(
      ...(h.entries.length ? h.entries : []).map((entry) =>
        el("li", { class: `fdm-event fdm-event-${entry.kind}`, dataset: { kind: entry.kind } },
          el("time", {}, fmtTime(entry.at)),
          el("span", { class: "fdm-badge" }, t(`fdm.event_${entry.kind}`, entry.kind)),
          entry.kind === "test" && entry.ref_id
            ? el("a", { href: `#reports?report=${entry.ref_id}`, class: "fdm-report-link", dataset: { report: String(entry.ref_id) } }, historyTitle(entry))
            : el("strong", {}, historyTitle(entry)),
          el("span", {}, historySummary(entry)),
          entry.user ? el("span", { class: "hint" }, fill(t("fdm.by_user", "by {user}"), { user: entry.user })) : null,
        ),
      ),
    );
    if (!h.entries.length) document.getElementById("history-list").append(el("li", { class: "hint" }, t("fdm.nothing_recorded", "Nothing recorded yet")));
    document.getElementById("history-dialog").showModal();
  } catch (e) {
    flash(e.message, "error");
  }
}

// ---------------------------------------------------------------- customers

async function loadCustomers(skip = state.customerSkip) {
  state.customerSkip = Math.max(0, skip);
  const raw = Object.fromEntries(new FormData(document.getElementById("customer-filter")).entries());
  try {
    const { items, total } = await api.list("/fleet-data/customers", { ...raw, skip: state.customerSkip, limit: PAGE });
    document.querySelector("#customers-table tbody").replaceChildren(
      ...items.map((c) => {
        const info = c.contact_info || {};
        return el("tr", { dataset: { name: c.name, id: c.id } },
          el("td", {}, c.name),
          el("td", {}, typeof info.company === "string" ? info.company : ""),
          el("td", {}, typeof info.email === "string" ? info.email : ""),
          el("td", {}, typeof info.phone === "string" ? info.phone : ""),
          el("td", {}, el("a", { href: `#devices?customer_id=${c.id}` }, String(c.device_count))),
          el("td", {}, fmtDate(c.created_at)),
          el("td", { class: "actions" },
            el("button", { class: "btn btn-small", type: "button", onclick: () => openCustomer(c) }, "Edit"),
            rowDelete(t("ui.delete", "Delete"), () => deleteCustomer(c)),
          ),
        );
      }),
    );
    pager(document.getElementById("customers-pager"), state.customerSkip, total, loadCustomers);
  } catch (e) {
    flash(e.message, "error");
  }
}

async function openCustomer(customer) {
  state.editingCustomer = customer;
  const form = document.getElementById("customer-form");
  form.reset();
  document.getElementById("customer-form-title").textContent = customer ? `Edit ${customer.name}` : "New customer";
  form.name.value = customer ? customer.name : "";
  const value = customer && customer.contact_info ? customer.contact_info : {};
  const box = document.getElementById("customer-contact-editor");
  if (!contactEditor) contactEditor = mountSchemaForm(box, { value });
  contactEditor.clear();
  if (!contactSchema) contactSchema = await api.get("/fleet-data/customers/contact-schema").catch(() => null);
  contactEditor.set(value, contactSchema);
  document.getElementById("customer-form-error").hidden = true;
  document.getElementById("customer-dialog").showModal();
}

async function saveCustomer(ev) {
  ev.preventDefault();
  const form = ev.target;
  const errors = document.getElementById("customer-form-error");
  let contact;
  try {
    contact = contactEditor.get();
  } catch (e) {
    showProblems(errors, { message: `contact info: ${e.message}` });
    return;
  }
  if (contact !== null && (typeof contact !== "object" || Array.isArray(contact))) {
    showProblems(errors, { message: "contact info must be an object" });
    return;
  }
  contactEditor.clear();
  const cleaned = contact ? Object.fromEntries(Object.entries(contact).filter(([, v]) => v !== "")) : null;
  const body = { name: form.name.value, contact_info: cleaned && Object.keys(cleaned).length ? cleaned : null };
  const editing = state.editingCustomer;
  try {
    const saved = editing
      ? await api.patch(`/fleet-data/customers/${editing.id}`, body)
      : await api.post("/fleet-data/customers", body);
    document.getElementById("customer-dialog").close();
    flash(`Customer ${saved.name} saved`, "ok");
    loadCustomers();
    fillCustomerSelects();
  } catch (e) {
    const rest = contactEditor.showErrors(fieldProblems(e, "contact_info"));
    if (!rest.length) errors.hidden = true;
    else showProblems(errors, { message: rest.map((p) => `${p.field ? `${p.field}: ` : ""}${p.message}`).join("; ") });
  }
}

async function deleteCustomer(customer) {
  if (!confirm(`Delete customer ${customer.name}?`)) return;
  try {
    await api.del(`/fleet-data/customers/${customer.id}`);
    flash(`Customer ${customer.name} deleted`, "ok");
    loadCustomers();
    fillCustomerSelects();
  } catch (e) {
    flash(e.message, "error");
  }
}

// ---------------------------------------------------------------- import / export

async function exportData(ev) {
  ev.preventDefault();
  const { entity, format } = Object.fromEntries(new FormData(ev.target).entries());
  try {
    const response = await request("GET", "/fleet-data/export", { query: { entity, format }, raw: true });
    const blob = await response.blob();
    const name = (/filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "") || [])[1] || `${entity}.${format}`;
    await download(blob, name);
  } catch (e) {
    flash(e.message, "error");
  }
}

function showReport(report, applied) {
  const box = document.getElementById("import-report");
  const verb = report.dry_run ? "would create" : applied ? "created" : "would create";
  document.getElementById("import-summary").textContent =
    `${report.rows} row(s): ${verb} ${report.created}, ${report.dry_run || !applied ? "would update" : "updated"} ${report.updated}, unchanged ${report.unchanged}; ` +
    `${report.errors.length ? `${report.errors.length} error(s) — nothing was imported` : report.dry_run ? "no errors: ready to import" : "imported"}`;
  document.querySelector("#import-errors tbody").replaceChildren(
    ...report.errors.map((e) => el("tr", {}, el("td", {}, e.row ? String(e.row) : ""), el("td", {}, e.field || ""), el("td", {}, e.message))),
  );
  document.getElementById("import-errors").hidden = !report.errors.length;
  box.hidden = false;
}

async function importData(ev) {
  ev.preventDefault();
  const form = ev.target;
  const dryRun = !(ev.submitter && ev.submitter.value === "apply");
  const file = form.file.files[0];
  if (!file) return;
  const data = new FormData();
  data.append("file", file);
  try {
    const report = await api.upload("/fleet-data/import", data, { entity: form.entity.value, dry_run: dryRun });
    showReport(report, report.applied);
    if (report.applied) flash("Import applied", "ok");
  } catch (e) {
    if (e.status === 422 && e.detail && Array.isArray(e.detail.errors) && "rows" in e.detail) {
      showReport({ ...e.detail, dry_run: false }, false);
    } else {
      flash(e.message, "error");
    }
  }
}

// ---------------------------------------------------------------- wiring

function applyHashQuery() {
  // "#devices?due=overdue" / "#devices?customer_id=3" preset the device filters.
  const [tab, query] = (location.hash || "").slice(1).split("?");
  if (tab !== "devices" || !query) return;
  const form = document.getElementById("device-filter");
  form.reset();
  for (const [k, v] of new URLSearchParams(query)) if (form[k]) form[k].value = v;
  state.deviceSkip = 0;
}

ready.then(async (me) => {
  if (!me || !tokens.access) return;
  document.getElementById("device-filter").addEventListener("submit", (e) => { e.preventDefault(); loadDevices(0); });
  document.getElementById("customer-filter").addEventListener("submit", (e) => { e.preventDefault(); loadCustomers(0); });
  document.getElementById("device-new").addEventListener("click", () => openDevice(null));
  document.getElementById("customer-new").addEventListener("click", () => openCustomer(null));
  document.getElementById("device-form").addEventListener("submit", saveDevice);
  const typeField = document.getElementById("device-form").device_type;
  typeField.addEventListener("change", () => {
    const value = configEditor ? configEditor.get() : {};
    loadConfigSchema(typeField.value.trim(), value && Object.keys(value).length ? value : null);
  });
  document.getElementById("customer-form").addEventListener("submit", saveCustomer);
  document.getElementById("device-cancel").addEventListener("click", () => document.getElementById("device-dialog").close());
  document.getElementById("customer-cancel").addEventListener("click", () => document.getElementById("customer-dialog").close());
  document.getElementById("history-close").addEventListener("click", () => document.getElementById("history-dialog").close());
  document.getElementById("dash-refresh").addEventListener("click", () => loadDashboard(true));
  document.getElementById("export-form").addEventListener("submit", exportData);
  document.getElementById("import-form").addEventListener("submit", importData);
  await Promise.all([fillCustomerSelects(), fillDeviceTypes()]);
  applyHashQuery();
  showTab();
});
