// /connect-manager: the scenario list, the step editor and the test_flow tree editor.
import { api, el, flash } from "./api.js";
import { ready } from "./shell.js";
import { mountJsonEditor } from "./jsoneditor.js";
import { PAGE, download as saveFile, formQuery, listRows, pager, pill, rowDelete } from "./ui.js";
const SIGNALS = ["pressure_low", "pressure_high", "flow"];
// The fields of each criteria type (the published schema's $defs): [name, kind, required].
const CRITERIA = {
  boolean: [],
  range: [["signal", "signal", true], ["statistic", "statistic", false], ["min", "number", false], ["max", "number", false], ["marginal", "number", false]],
  target_tolerance: [["signal", "signal", true], ["target", "number", true], ["tolerance", "number", true], ["within_s", "number", false], ["marginal", "number", false]],
  max_loss_percent: [["signal", "signal", true], ["max_percent", "number", true], ["hold_s", "number", true], ["marginal", "number", false]],
  max_loss_rate: [["signal", "signal", true], ["max_per_min", "number", true], ["hold_s", "number", false], ["marginal", "number", false]],
  settled: [["signal", "signal", true], ["band", "number", true], ["for_s", "number", true], ["marginal", "number", false]],
};
let actions = {};
let skip = 0;
let editing = null; // scenario id, or null for a new one
let flow = { steps: [] };
let jsonEditor = null;
let syncing = false;

function query() {
  return formQuery(document.getElementById("cm-filter"));
}

async function load(to = skip) {
  skip = Math.max(0, to);
  let total = 0;
  const tbody = document.querySelector("#cm-table tbody");
  const columns = document.querySelectorAll("#cm-table thead th").length || 6;
  await listRows(tbody, columns, async () => {
    const answer = await api.list("/scenarios", { ...query(), skip, limit: PAGE });
    total = answer.total;
    return answer.items;
  }, row);
  pager(document.getElementById("cm-pager"), skip, total, load);
}

function row(s) {
  return el("tr", { dataset: { id: s.id, name: s.name } },
    el("td", {}, s.name),
    el("td", {}, s.device_type || "—"),
    el("td", {}, s.kind_of_test || "—"),
    el("td", {}, String(s.step_count)),
    el("td", {}, pill(s.is_active ? "active" : "inactive")),
    el("td", { class: "actions" },
      el("button", { class: "btn btn-small", type: "button", onclick: () => open(s.id) }, "Edit"),
      el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => duplicate(s) }, "Duplicate"),
      el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => exportOne(s) }, "Export"),
      rowDelete("Delete", () => remove(s)),
    ),
  );
}

async function duplicate(s) {
  try {
    const copy = await api.post(`/scenarios/${s.id}/duplicate`, {});
    flash(`Created “${copy.name}”`);
    load();
  } catch (e) { flash(e.message, "error"); }
}

function download(name, data) {
  return saveFile(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }), name);
}

async function exportOne(s) {
  try { download(`scenario-${s.id}.json`, await api.get(`/scenarios/${s.id}/export`)); } catch (e) { flash(e.message, "error"); }
}

async function remove(s) {
  if (!confirm(`Delete scenario “${s.name}”?`)) return;
  try {
    await api.del(`/scenarios/${s.id}`);
    flash("Scenario deleted");
    load();
  } catch (e) { flash(e.message, "error"); }
}

// ---------------------------------------------------------------- the editor

function form() { return document.getElementById("cm-form"); }

function numberOrNull(value) {
  if (value === "" || value === null || value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

// Keep the flow-level fields of the form and the flow object in step.
function readFormIntoFlow() {
  const f = form();
  const kind = f.kind_of_test.value.trim();
  const months = numberOrNull(f.interval_months.value);
  if (kind) flow.kind_of_test = kind; else delete flow.kind_of_test;
  if (months !== null) flow.interval_months = Math.trunc(months); else delete flow.interval_months;
  if (f.continue_on_failure.checked) flow.continue_on_failure = true; else delete flow.continue_on_failure;
}

function writeFlowIntoForm() {
  const f = form();
  f.kind_of_test.value = flow.kind_of_test || "";
  f.interval_months.value = flow.interval_months ?? "";
  f.continue_on_failure.checked = !!flow.continue_on_failure;
}

function changed() {
  readFormIntoFlow();
  flow.steps.forEach((s, i) => { s.step_order = i + 1; });
  syncing = true;
  if (jsonEditor) jsonEditor.set(flow);
  syncing = false;
  document.getElementById("cm-status").textContent = "unsaved changes";
}

function field(label, input) {
  return el("label", {}, label, input);
}

function criteriaFields(step, index) {
  const crit = step.criteria || (step.criteria = { type: "boolean" });
  const box = el("div", { class: "cm-criteria" });
  for (const [name, kind, required] of CRITERIA[crit.type] || []) {
    let input;
    if (kind === "signal") {
      input = el("select", { name, required },
        ...SIGNALS.map((s) => el("option", { value: s, selected: crit[name] === s }, s)));
      if (!crit[name]) crit[name] = SIGNALS[0];
    } else if (kind === "statistic") {
      input = el("select", { name }, ...["mean", "min", "max", "last"].map((s) => el("option", { value: s, selected: (crit[name] || "mean") === s }, s)));
    } else {
      input = el("input", { name, type: "number", step: "any", value: crit[name] ?? "", required });
    }
    input.addEventListener("change", () => {
      const value = kind === "number" ? numberOrNull(input.value) : input.value;
      if (value === null || value === "" || (name === "statistic" && value === "mean")) delete crit[name];
      else crit[name] = value;
      changed();
    });
    box.append(field(`${name}${required ? " *" : ""}`, input));
  }
  box.dataset.step = String(index);
  return box;
}

function stepItem(step, index) {
  const name = el("input", { value: step.step_name || "", maxlength: 255, required: true, "aria-label": "Step name" });
  name.addEventListener("change", () => { step.step_name = name.value; changed(); });
  const action = el("select", { "aria-label": "Action" },
    ...Object.keys(actions).map((a) => el("option", { value: a, selected: step.action === a }, a)));
  action.addEventListener("change", () => {
    step.action = action.value;
    step.auto_test = !!actions[action.value];
    step.operator_participation = !step.auto_test;
    if (!step.auto_test) step.criteria = { type: "boolean" };
    renderSteps();
    changed();
  });
  const auto = el("input", { type: "checkbox", checked: !!step.auto_test });
  auto.addEventListener("change", () => { step.auto_test = auto.checked; step.operator_participation = !auto.checked; changed(); });
  const required = el("input", { type: "checkbox", checked: step.required !== false });
  required.addEventListener("change", () => { step.required = required.checked; changed(); });
  const ctype = el("select", { "aria-label": "Criteria type", class: "cm-ctype" },
    ...Object.keys(CRITERIA).map((t) => el("option", { value: t, selected: (step.criteria || {}).type === t }, t)));
  ctype.addEventListener("change", () => {
    const old = step.criteria || {};
    step.criteria = { type: ctype.value };
    if (ctype.value !== "boolean") step.criteria.signal = old.signal || "pressure_low";
    renderSteps();
    changed();
  });
  const duration = el("input", { type: "number", min: 0, step: "any", value: (step.parameters || {}).duration_s ?? "", "aria-label": "Duration (s)" });
  duration.addEventListener("change", () => {
    step.parameters = step.parameters || {};
    const v = numberOrNull(duration.value);
    if (v === null) delete step.parameters.duration_s; else step.parameters.duration_s = v;
    changed();
  });
  const description = el("textarea", { rows: 1, maxlength: 4000, "aria-label": "Instructions" }, step.description || "");
  description.addEventListener("change", () => {
    if (description.value) step.description = description.value; else delete step.description;
    changed();
  });
  const move = (delta) => {
    const to = index + delta;
    if (to < 0 || to >= flow.steps.length) return;
    [flow.steps[index], flow.steps[to]] = [flow.steps[to], flow.steps[index]];
    renderSteps();
    changed();
  };
  return el("li", { class: "cm-step card", dataset: { order: String(index + 1) } },
    el("div", { class: "cm-step-head" },
      el("strong", { class: "cm-step-no" }, `${index + 1}.`),
      name,
      el("button", { class: "btn btn-small btn-ghost", type: "button", title: "Move up", "aria-label": "Move up", disabled: index === 0, onclick: () => move(-1) }, "↑"),
      el("button", { class: "btn btn-small btn-ghost", type: "button", title: "Move down", "aria-label": "Move down", disabled: index === flow.steps.length - 1, onclick: () => move(1) }, "↓"),
      el("button", { class: "btn btn-small btn-danger", type: "button", "aria-label": "Remove step", onclick: () => { flow.steps.splice(index, 1); renderSteps(); changed(); } }, "Remove"),
    ),
    el("div", { class: "cm-step-body" },
      field("Action", action),
      el("label", { class: "check" }, auto, " automatic"),
      el("label", { class: "check" }, required, " required"),
      field("Duration (s)", duration),
      field("Criteria", ctype),
      criteriaFields(step, index),
      el("label", { class: "cm-wide" }, "Instructions", description),
    ),
    el("ul", { class: "error cm-step-errors", dataset: { step: String(index) } }),
  );
}

function renderSteps() {
  document.getElementById("cm-steps").replaceChildren(...flow.steps.map(stepItem));
}

function showErrors(errors) {
  const list = document.getElementById("cm-errors");
  list.replaceChildren(...errors.map((e) => el("li", {}, `${e.path}: ${e.message}`)));
  for (const ul of document.querySelectorAll(".cm-step-errors")) ul.replaceChildren();
  for (const e of errors) {
    const m = /\/steps\/(\d+)/.exec(e.path);
    if (!m) continue;
    const ul = document.querySelector(`.cm-step-errors[data-step="${m[1]}"]`);
    if (ul) ul.append(el("li", {}, `${e.path.replace(/^.*\/steps\/\d+\/?/, "") || "step"}: ${e.message}`));
  }
}

function errorsOf(e) {
  if (e.detail && Array.isArray(e.detail.errors)) {
    return e.detail.errors.map((x) => ({ ...x, path: x.path.replace(/^\/test_flow/, "") || "/" }));
  }
  return [{ path: "/", message: e.message }];
}

async function validate() {
  readFormIntoFlow();
  try {
    const answer = await api.post("/scenarios/validate", { test_flow: flow });
    showErrors(answer.errors);
    document.getElementById("cm-status").textContent = answer.valid ? "valid" : `${answer.errors.length} problem(s)`;
    return answer.valid;
  } catch (e) {
    showErrors(errorsOf(e));
    return false;
  }
}

async function save() {
  readFormIntoFlow();
  const f = form();
  const body = {
    name: f.name.value.trim(),
    description: f.description.value || null,
    device_type: f.device_type.value.trim() || null,
    is_active: f.is_active.checked,
    test_flow: flow,
  };
  try {
    const saved = editing ? await api.put(`/scenarios/${editing}`, body) : await api.post("/scenarios", body);
    editing = saved.id;
    flow = saved.test_flow;
    showErrors([]);
    renderSteps();
    syncing = true; jsonEditor.set(flow); syncing = false;
    document.getElementById("cm-editor-title").textContent = `Edit: ${saved.name}`;
    document.getElementById("cm-status").textContent = "saved";
    flash("Scenario saved");
    load();
  } catch (e) {
    showErrors(errorsOf(e));
    document.getElementById("cm-status").textContent = "not saved";
  }
}

function showPane(name) {
  for (const a of document.querySelectorAll("#cm-editor .tab")) a.classList.toggle("active", a.dataset.pane === name);
  document.getElementById("cm-pane-steps").hidden = name !== "steps";
  document.getElementById("cm-pane-json").hidden = name !== "json";
}

async function open(id) {
  const f = form();
  f.reset();
  editing = id;
  if (id) {
    try {
      const s = await api.get(`/scenarios/${id}`);
      f.name.value = s.name;
      f.description.value = s.description || "";
      f.device_type.value = s.device_type || "";
      f.is_active.checked = s.is_active;
      flow = s.test_flow;
      document.getElementById("cm-editor-title").textContent = `Edit: ${s.name}`;
    } catch (e) { flash(e.message, "error"); return; }
  } else {
    flow = { kind_of_test: "yearly", steps: [] };
    f.device_type.value = "mask_tester";
    document.getElementById("cm-editor-title").textContent = "New scenario";
  }
  writeFlowIntoForm();
  renderSteps();
  syncing = true; jsonEditor.set(flow); syncing = false;
  showErrors([]);
  document.getElementById("cm-status").textContent = "";
  document.getElementById("cm-editor").hidden = false;
  document.getElementById("cm-editor").scrollIntoView({ behavior: "smooth" });
}

async function loadTemplates() {
  try {
    const templates = await api.get("/scenarios/templates");
    const select = document.getElementById("cm-template");
    select.replaceChildren(el("option", { value: "" }, "—"),
      ...templates.map((t, i) => el("option", { value: String(i) }, t.name)));
    select.onchange = () => {
      const t = templates[Number(select.value)];
      if (!t || select.value === "") return;
      flow = structuredClone(t.default_values);
      if (!Array.isArray(flow.steps)) flow.steps = [];
      writeFlowIntoForm();
      renderSteps();
      changed();
      select.value = "";
    };
  } catch (e) { flash(e.message, "error"); }
}

async function importFile(input) {
  const file = input.files[0];
  input.value = "";
  if (!file) return;
  try {
    const data = JSON.parse(await file.text());
    const scenarios = Array.isArray(data) ? data : [data];
    const created = await api.post("/scenarios/import", { scenarios });
    flash(`Imported ${created.length} scenario(s)`);
    load(0);
  } catch (e) {
    flash(e.detail && e.detail.errors ? e.detail.errors.map((x) => `${x.path}: ${x.message}`).join("; ") : e.message, "error");
  }
}

ready.then(async (me) => {
  if (!me) return;
  const schema = await api.get("/scenarios/schema");
  actions = schema["x-actions"];
  jsonEditor = mountJsonEditor(document.getElementById("cm-json"), {
    value: flow,
    onChange: (value, error) => {
      if (syncing || error || !value || typeof value !== "object") return;
      flow = value;
      if (!Array.isArray(flow.steps)) flow.steps = [];
      writeFlowIntoForm();
      renderSteps();
      document.getElementById("cm-status").textContent = "unsaved changes";
    },
  });
  document.getElementById("cm-filter").addEventListener("submit", (ev) => { ev.preventDefault(); load(0); });
  document.getElementById("cm-new").onclick = () => open(null);
  document.getElementById("cm-add-step").onclick = () => {
    flow.steps.push({ step_order: flow.steps.length + 1, step_name: "New step", action: "operator_check", auto_test: false, operator_participation: true, parameters: {}, criteria: { type: "boolean" } });
    renderSteps();
    changed();
  };
  document.getElementById("cm-save").onclick = save;
  document.getElementById("cm-validate").onclick = validate;
  document.getElementById("cm-cancel").onclick = () => { document.getElementById("cm-editor").hidden = true; };
  document.getElementById("cm-import").addEventListener("change", (ev) => importFile(ev.target));
  document.getElementById("cm-export-all").onclick = async () => {
    try { download("scenarios.json", await api.get("/scenarios/export", query())); } catch (e) { flash(e.message, "error"); }
  };
  form().addEventListener("change", () => changed());
  for (const a of document.querySelectorAll("#cm-editor .tab")) {
    a.addEventListener("click", (ev) => { ev.preventDefault(); showPane(a.dataset.pane); });
  }
  loadTemplates();
  load(0);
});
