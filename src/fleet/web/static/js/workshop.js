// /fleet-workshop-manager: the board of repair orders (with the order form, part pickers and
// stock), parts and stock, the rules editor (shared tree editor + the rule's JSON Schema), the
// due list with reminders, and failure statistics as a chart.
import { api, el, flash, fmtTime, request } from "./api.js";
import { t } from "./i18n.js";
import { mountJsonEditor } from "./jsoneditor.js";
import { evaluationSentence } from "./evaluation.js";
import { readinessBadge, reasonText } from "./readiness.js";
import { ready } from "./shell.js";
import { showError } from "./ui.js";

const W = "/workshop";
const STATES = ["proposed", "open", "in_progress", "done", "canceled"];
const NEXT = {
  proposed: ["open", "canceled"],
  open: ["in_progress", "canceled"],
  in_progress: ["done", "canceled"],
  done: [],
  canceled: [],
};
const state = { order: null, parts: [], rule: null, ruleEditor: null, chart: null, devices: new Map() };
const $ = (id) => document.getElementById(id);

// Why a step failed: its evaluation in the user's language (the English reason of older orders).
function failedWhy(step) {
  if (step.evaluation && step.evaluation.type && step.evaluation.type !== "boolean") {
    return `: ${evaluationSentence({ result: "failed", evaluation: step.evaluation, criteria: step.criteria })}`;
  }
  return step.reason ? `: ${step.reason}` : "";
}

function day(value) {
  return value ? String(value).slice(0, 10) : "";
}

// ---------------------------------------------------------------- tabs

function showTab() {
  const tab = (location.hash || "#board").slice(1);
  for (const panel of document.querySelectorAll(".tab-panel")) panel.hidden = panel.id !== `tab-${tab}`;
  for (const a of document.querySelectorAll(".tab")) a.classList.toggle("active", a.dataset.tab === tab);
  ({ board: loadBoard, parts: loadParts, rules: loadRules, due: loadDue, stats: loadStats }[tab] || loadBoard)();
}

// ---------------------------------------------------------------- board

async function loadBoard() {
  try {
    const [dash, orders] = await Promise.all([
      api.get(`${W}/dashboard`),
      api.get(`${W}/repair-orders`, { limit: 500 }),
    ]);
    $("fwm-cards").replaceChildren(
      ...STATES.slice(0, 3).map((s) => card(t(`fwm.state.${s}`, s), dash.orders_by_state[s], s)),
      card(t("fwm.overdue", "Overdue"), dash.overdue, "overdue"),
      card(t("fwm.due_30", "Due within 30 days"), dash.due_within_30_days, "due"),
      card(t("fwm.low_stock", "Low stock"), dash.low_stock_parts.length, "low",
        dash.low_stock_parts.map((p) => `${p.part_number} (${p.stock})`).join(", ")),
    );
    for (const column of document.querySelectorAll(".fwm-column")) {
      const items = orders.filter((o) => o.state === column.dataset.state);
      column.querySelector("ul").replaceChildren(
        ...items.map((o) =>
          el("li", { class: "fwm-order", dataset: { order: o.id, device: o.device_number } },
            el("button", { class: "fwm-order-open", type: "button", onclick: () => openOrder(o.id) },
              el("strong", {}, `#${o.id} ${o.device_number}`),
              el("span", { class: "hint" }, ` ${o.origin === "failed_test" ? t("fwm.from_test", "from failed test") : t("fwm.manual", "manual")}`),
            ),
            o.readiness ? readinessBadge({ readiness: o.readiness }) : null,
            o.parts.length ? el("span", { class: "hint" }, ` · ${o.parts.length} ${t("fwm.part_lines", "part lines")}`) : null,
          ),
        ),
      );
    }
  } catch (e) {
    flash(e.message, "error");
  }
}

function card(label, value, kind, detail) {
  return el("div", { class: `card fwm-card fwm-card-${kind}`, dataset: { card: kind } },
    el("div", { class: "hint" }, label),
    el("div", { class: "fwm-card-value" }, String(value ?? 0)),
    detail ? el("div", { class: "hint" }, detail) : null,
  );
}

async function loadDevices() {
  try {
    const devices = await api.get("/fleet-data/devices", { limit: 500 });
    state.devices = new Map(devices.map((d) => [d.device_number, d]));
    $("fwm-devices").replaceChildren(...devices.map((d) => el("option", { value: d.device_number }, d.kind_of_device || d.device_type)));
  } catch (e) {
    flash(e.message, "error");
  }
}

async function createOrder(event) {
  event.preventDefault();
  const form = event.target;
  const device = state.devices.get(form.elements.device.value.trim());
  if (!device) {
    flash(t("fwm.unknown_device", "No such device"), "error");
    return;
  }
  try {
    const order = await api.post(`${W}/repair-orders`, { device_id: device.id, findings: form.elements.findings.value || null });
    form.reset();
    await loadBoard();
    openOrder(order.id);
  } catch (e) {
    flash(e.message, "error");
  }
}

async function openOrder(id) {
  try {
    const [order, parts] = await Promise.all([api.get(`${W}/repair-orders/${id}`), api.get(`${W}/parts`, { limit: 500, is_active: true })]);
    state.order = order;
    state.parts = parts;
    renderOrder();
    showError("order-error", "");
    if (!$("order-dialog").open) $("order-dialog").showModal();
  } catch (e) {
    flash(e.message, "error");
  }
}

function renderOrder() {
  const o = state.order;
  const form = $("order-form");
  $("order-title").textContent = `#${o.id} · ${o.device_number}`;
  $("order-meta").replaceChildren(
    el("span", { class: `fsm-status fsm-${o.state}`, dataset: { state: o.state } }, t(`fwm.state.${o.state}`, o.state)),
    " ",
    o.readiness ? readinessBadge({ readiness: o.readiness }) : "",
    ` ${t("fwm.created", "created")} ${fmtTime(o.created_at)}`,
    o.trigger_report_id ? ` · ${t("fwm.trigger", "trigger test")} #${o.trigger_report_id}` : "",
    o.release_report_id ? ` · ${t("fwm.release", "release test")} #${o.release_report_id}` : "",
    o.technician ? ` · ${o.technician}` : "",
  );
  $("order-failed").replaceChildren(...o.failed_steps.map((s) => el("li", {}, `${s.step_order}. ${s.step_name}${failedWhy(s)}`)));
  form.elements.findings.value = o.findings || "";
  form.elements.work_done.value = o.work_done || "";
  form.elements.time_spent_minutes.value = o.time_spent_minutes ?? "";
  const editable = ["proposed", "open", "in_progress"].includes(o.state);
  const takesParts = ["open", "in_progress"].includes(o.state);
  for (const name of ["findings", "work_done", "time_spent_minutes"]) form.elements[name].disabled = !editable;
  $("order-save").hidden = !editable;
  for (const button of document.querySelectorAll("#order-actions [data-to]")) button.hidden = !NEXT[o.state].includes(button.dataset.to);
  $("order-parts").querySelector("tbody").replaceChildren(
    ...o.parts.map((p) =>
      el("tr", {},
        el("td", {}, `${p.part_number} ${p.part_name}`),
        el("td", {}, p.lot_number),
        el("td", {}, p.serial_number || ""),
        el("td", {}, String(p.quantity)),
        el("td", {}, takesParts ? el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => removePart(p.id) }, t("fwm.return", "Return")) : ""),
      ),
    ),
  );
  $("part-picker").hidden = !takesParts;
  const device = [...state.devices.values()].find((d) => d.id === o.device_id);
  const fitting = state.parts.filter((p) => !p.fits.length || !device || p.fits.includes(device.kind_of_device) || p.fits.includes(device.device_type));
  const partSelect = form.elements.part_id;
  partSelect.replaceChildren(...fitting.map((p) => el("option", { value: p.id }, `${p.part_number} ${p.name} (${p.stock})`)));
  fillLots();
}

function fillLots() {
  const form = $("order-form");
  const part = state.parts.find((p) => String(p.id) === form.elements.part_id.value);
  form.elements.lot_id.replaceChildren(
    ...(part ? part.lots : []).map((l) => el("option", { value: l.id, disabled: l.quantity < 1 }, `${l.lot_number} (${l.quantity})`)),
  );
  const firstInStock = part && part.lots.find((l) => l.quantity > 0);
  if (firstInStock) form.elements.lot_id.value = String(firstInStock.id);
}

async function orderCall(promise) {
  try {
    state.order = await promise;
    state.parts = await api.get(`${W}/parts`, { limit: 500, is_active: true });
    renderOrder();
    showError("order-error", "");
    loadBoard();
  } catch (e) {
    showError("order-error", e.message);
  }
}

function saveOrder() {
  const form = $("order-form");
  const minutes = form.elements.time_spent_minutes.value;
  return orderCall(api.patch(`${W}/repair-orders/${state.order.id}`, {
    findings: form.elements.findings.value || null,
    work_done: form.elements.work_done.value || null,
    time_spent_minutes: minutes === "" ? null : Number(minutes),
  }));
}

async function move(target) {
  if (target === "done") {
    const form = $("order-form");
    if (form.elements.work_done.value !== (state.order.work_done || "") || String(form.elements.time_spent_minutes.value) !== String(state.order.time_spent_minutes ?? "")) {
      await saveOrder();
    }
  }
  return orderCall(api.post(`${W}/repair-orders/${state.order.id}/transition`, { state: target }));
}

function addPart() {
  const form = $("order-form");
  return orderCall(api.post(`${W}/repair-orders/${state.order.id}/parts`, {
    part_id: Number(form.elements.part_id.value),
    lot_id: Number(form.elements.lot_id.value),
    quantity: Number(form.elements.quantity.value || 1),
    serial_number: form.elements.serial_number.value || null,
  }));
}

function removePart(usageId) {
  return orderCall(api.del(`${W}/repair-orders/${state.order.id}/parts/${usageId}`));
}

// ---------------------------------------------------------------- parts and stock

async function loadParts() {
  try {
    const parts = await api.get(`${W}/parts`, { limit: 500 });
    $("parts-table").querySelector("tbody").replaceChildren(
      ...parts.map((p) =>
        el("tr", { class: p.low_stock ? "overdue" : "", dataset: { part: p.part_number } },
          el("td", {}, p.part_number),
          el("td", {}, p.name),
          el("td", {}, p.fits.join(", ")),
          el("td", {}, p.component || ""),
          el("td", {}, p.life_months ?? ""),
          el("td", { class: "stock" }, String(p.stock), p.low_stock ? el("span", { class: "fsm-status fsm-failed" }, ` ${t("fwm.low_stock", "Low stock")}`) : ""),
          el("td", {}, p.lots.map((l) => `${l.lot_number}: ${l.quantity}`).join(", ")),
          el("td", {}, String(p.low_stock_threshold)),
        ),
      ),
    );
    $("receipt-new").elements.part_id.replaceChildren(...parts.map((p) => el("option", { value: p.id }, `${p.part_number} ${p.name}`)));
  } catch (e) {
    flash(e.message, "error");
  }
}

async function createPart(event) {
  event.preventDefault();
  const f = event.target.elements;
  try {
    await api.post(`${W}/parts`, {
      part_number: f.part_number.value,
      name: f.name.value,
      fits: f.fits.value.split(",").map((s) => s.trim()).filter(Boolean),
      component: f.component.value.trim() || null,
      life_months: f.life_months.value ? Number(f.life_months.value) : null,
      low_stock_threshold: Number(f.low_stock_threshold.value || 0),
    });
    event.target.reset();
    flash(t("fwm.saved", "Saved"));
    loadParts();
  } catch (e) {
    flash(e.message, "error");
  }
}

async function receive(event) {
  event.preventDefault();
  const f = event.target.elements;
  try {
    await api.post(`${W}/parts/${f.part_id.value}/receipts`, {
      lot_number: f.lot_number.value,
      quantity: Number(f.quantity.value),
      note: f.note.value || null,
    });
    f.lot_number.value = "";
    f.quantity.value = "";
    flash(t("fwm.saved", "Saved"));
    loadParts();
  } catch (e) {
    flash(e.message, "error");
  }
}

// ---------------------------------------------------------------- rules

const RULE_FIELDS = ["name", "device_type", "kind_of_device", "component", "kind_of_test", "tests_accepted",
  "interval_months", "after_each_use", "trigger", "life_limit_months", "source", "source_text", "is_active"];

async function loadRules() {
  try {
    const rules = await api.get(`${W}/interval-rules`, { limit: 500 });
    $("rules-table").querySelector("tbody").replaceChildren(
      ...rules.map((r) =>
        el("tr", { class: r.is_active ? "" : "muted", dataset: { rule: r.id } },
          el("td", {}, el("a", { href: "#rules", onclick: (e) => { e.preventDefault(); openRule(r); } }, r.name)),
          el("td", {}, [r.device_type, r.kind_of_device].filter(Boolean).join(" / ")),
          el("td", {}, r.component || ""),
          el("td", {}, r.kind_of_test),
          el("td", {}, r.after_each_use ? t("fwm.after_each_use", "after each use") : r.interval_months ?? ""),
          el("td", {}, r.trigger),
          el("td", {}, r.life_limit_months ?? ""),
          el("td", { title: r.source_text }, r.source),
        ),
      ),
    );
  } catch (e) {
    flash(e.message, "error");
  }
}

function openRule(rule) {
  state.rule = rule;
  const value = rule
    ? Object.fromEntries(RULE_FIELDS.map((k) => [k, rule[k]]))
    : { name: "", kind_of_device: "full_face_mask", kind_of_test: "yearly", tests_accepted: [], interval_months: 12,
        after_each_use: false, trigger: "manufacture", source: "manufacturer", source_text: "", is_active: true };
  $("rule-title").textContent = rule ? rule.name : t("fwm.new_rule", "New rule");
  $("rule-delete").hidden = !rule;
  showError("rule-error", "");
  $("rule-panel").hidden = false;
  if (state.ruleEditor) state.ruleEditor.destroy();
  $("rule-editor").replaceChildren();
  state.ruleEditor = mountJsonEditor($("rule-editor"), { value, onChange: checkRule });
  checkRule(value);
}

// Every edit is checked against the rule's JSON Schema on the server (the page's CSP forbids
// compiling schemas in the browser); the problems show under the editor.
async function checkRule(value, error) {
  if (error || value === undefined) {
    showError("rule-error", error || "Invalid JSON");
    return;
  }
  clearTimeout(checkRule.timer);
  checkRule.timer = setTimeout(async () => {
    try {
      const { errors } = await api.post(`${W}/interval-rules/check`, value);
      showError("rule-error", errors.join("; "));
      $("rule-save").disabled = errors.length > 0;
    } catch (e) {
      showError("rule-error", e.message);
    }
  }, 250);
}

async function saveRule() {
  try {
    const body = state.ruleEditor.get();
    const saved = state.rule ? await api.put(`${W}/interval-rules/${state.rule.id}`, body) : await api.post(`${W}/interval-rules`, body);
    flash(t("fwm.saved", "Saved"));
    await loadRules();
    openRule(saved);
  } catch (e) {
    showError("rule-error", e.message);
  }
}

async function deleteRule() {
  if (!state.rule || !confirm(`${t("fwm.delete", "Delete")} "${state.rule.name}"?`)) return;
  try {
    await api.del(`${W}/interval-rules/${state.rule.id}`);
    $("rule-panel").hidden = true;
    state.rule = null;
    loadRules();
  } catch (e) {
    showError("rule-error", e.message);
  }
}

async function seedRules() {
  try {
    const { added } = await api.post(`${W}/interval-rules/seed`);
    flash(`${added} ${t("fwm.rules_added", "rules added")}`);
    loadRules();
  } catch (e) {
    flash(e.message, "error");
  }
}

// ---------------------------------------------------------------- due list and reminders

function dueQuery() {
  const f = $("due-filter").elements;
  const query = { within_days: f.within_days.value || 30 };
  if (f.customer_id.value) query.customer_id = f.customer_id.value;
  return query;
}

async function fillCustomers() {
  try {
    const customers = await api.get("/fleet-data/customers", { limit: 500, sort: "name" });
    const select = $("due-filter").elements.customer_id;
    select.replaceChildren(select.options[0], ...customers.map((c) => el("option", { value: c.id }, c.name)));
  } catch (e) {
    flash(e.message, "error");
  }
}

async function loadDue(event) {
  if (event) event.preventDefault();
  try {
    const items = await api.get(`${W}/due`, { ...dueQuery(), limit: 500 });
    $("due-table").querySelector("tbody").replaceChildren(
      ...items.map((i) =>
        el("tr", { class: i.overdue ? "overdue" : "", dataset: { device: i.device_number } },
          el("td", {}, i.customer_name || "—"),
          el("td", {}, i.device_number),
          el("td", {}, i.kind_of_device || i.device_type),
          el("td", {}, i.component || ""),
          el("td", {}, i.kind_of_test),
          el("td", {}, day(i.due_at), i.overdue ? ` (${t("fwm.overdue", "Overdue")})` : ""),
          el("td", { title: reasonText(i.reason_code, i.reason_params) }, i.rule_name || reasonText(i.reason_code, i.reason_params)),
        ),
      ),
    );
  } catch (e) {
    flash(e.message, "error");
  }
}

async function download(kind) {
  try {
    const blob = await request("GET", `${W}/due.${kind}`, { query: dueQuery(), raw: true }).then((r) => r.blob());
    const a = el("a", { href: URL.createObjectURL(blob), download: `due.${kind}` });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    flash(e.message, "error");
  }
}

async function reminders(dryRun) {
  const query = dueQuery();
  const body = { within_days: Number(query.within_days), dry_run: dryRun };
  if (query.customer_id) body.customer_id = Number(query.customer_id);
  try {
    const result = await api.post(`${W}/reminders/send`, body);
    const lines = result.digests.map((d) => `${d.recipient} (${d.customer_name}): ${d.items.map((i) => i.device_number).join(", ")}`);
    const verb = dryRun ? t("fwm.would_send", "Would send") : t("fwm.sent", "Sent");
    const none = t("fwm.nothing_to_send", "Nothing new to send");
    const missing = result.customers_without_email.length
      ? ` · ${t("fwm.no_email", "no e-mail address")}: ${result.customers_without_email.join(", ")}` : "";
    $("due-result").textContent = (lines.length ? `${verb} ${lines.length}: ${lines.join("; ")}` : none) + missing;
  } catch (e) {
    $("due-result").textContent = "";
    flash(e.message, "error");
  }
}

// ---------------------------------------------------------------- statistics

async function loadStats(event) {
  if (event) event.preventDefault();
  const f = $("stats-filter").elements;
  const query = { group_by: f.group_by.value };
  if (f.from.value) query.from = new Date(`${f.from.value}T00:00:00Z`).toISOString();
  if (f.to.value) query.to = new Date(`${f.to.value}T00:00:00Z`).toISOString();
  try {
    const s = await api.get(`${W}/statistics`, query);
    $("stats-summary").textContent = `${day(s.date_from)} – ${day(s.date_to)}: ${s.tests} ${t("fwm.tests", "tests")}, ${s.failures} ${t("fwm.failures", "failures")}${s.failure_rate !== null ? ` (${(s.failure_rate * 100).toFixed(1)} %)` : ""}`;
    $("stats-table").querySelector("tbody").replaceChildren(
      ...s.rows.map((r) =>
        el("tr", { dataset: { key: r.key } },
          el("td", {}, r.label),
          el("td", {}, r.tests ?? ""),
          el("td", {}, r.failures ?? ""),
          el("td", {}, r.failure_rate === null ? "" : `${(r.failure_rate * 100).toFixed(1)} %`),
          el("td", {}, r.mtbf_days ?? ""),
          el("td", {}, r.parts_replaced ?? ""),
        ),
      ),
    );
    $("stats-parts").replaceChildren(...s.top_parts.map((p) => el("li", {}, `${p.part_number} ${p.name}: ${p.quantity} (${p.orders} ${t("fwm.orders", "orders")})`)));
    drawChart(s);
  } catch (e) {
    flash(e.message, "error");
  }
}

function drawChart(s) {
  if (typeof Chart === "undefined") return;
  const byParts = s.group_by === "part";
  const data = {
    labels: s.rows.map((r) => r.label),
    datasets: byParts
      ? [{ label: t("fwm.parts_replaced", "Parts replaced"), data: s.rows.map((r) => r.parts_replaced), backgroundColor: "#1d5fa8" }]
      : [
        { label: t("fwm.tests", "tests"), data: s.rows.map((r) => r.tests), backgroundColor: "#9cc3a9", yAxisID: "y" },
        { label: t("fwm.failures", "failures"), data: s.rows.map((r) => r.failures), backgroundColor: "#d9534f", yAxisID: "y" },
        { type: "line", label: t("fwm.failure_rate", "failure rate %"), data: s.rows.map((r) => (r.failure_rate === null ? null : r.failure_rate * 100)), borderColor: "#c47800", yAxisID: "rate" },
      ],
  };
  const options = {
    animation: false,
    scales: byParts ? { y: { beginAtZero: true } } : { y: { beginAtZero: true }, rate: { position: "right", beginAtZero: true, max: 100 } },
  };
  if (state.chart) state.chart.destroy();
  state.chart = new Chart($("stats-chart"), { type: "bar", data, options });
}

// ---------------------------------------------------------------- wiring

ready.then(() => {
  $("order-new").addEventListener("submit", createOrder);
  $("order-save").addEventListener("click", saveOrder);
  for (const button of document.querySelectorAll("#order-actions [data-to]")) button.addEventListener("click", () => move(button.dataset.to));
  $("part-add").addEventListener("click", addPart);
  $("order-form").elements.part_id.addEventListener("change", fillLots);
  for (const b of document.querySelectorAll("[data-close]")) b.addEventListener("click", () => $(b.dataset.close).close());
  $("part-new").addEventListener("submit", createPart);
  $("receipt-new").addEventListener("submit", receive);
  $("rule-new").addEventListener("click", () => openRule(null));
  $("rule-seed").addEventListener("click", seedRules);
  $("rule-save").addEventListener("click", saveRule);
  $("rule-delete").addEventListener("click", deleteRule);
  $("due-filter").addEventListener("submit", loadDue);
  $("due-csv").addEventListener("click", () => download("csv"));
  $("due-pdf").addEventListener("click", () => download("pdf"));
  $("due-preview").addEventListener("click", () => reminders(true));
  $("due-send").addEventListener("click", () => reminders(false));
  $("stats-filter").addEventListener("submit", loadStats);
  window.addEventListener("hashchange", showTab);
  // texts written before the user's language was loaded are written again in it
  window.addEventListener("fleet:language", showTab);
  loadDevices();
  fillCustomers();
  showTab();
});
