// /connect-plus-plus and /connect-display: the operator's test flow. One script, two layouts
// (#cpp[data-layout] = "full" | "display"): choose kind of device → device type → kind of
// test → scenario → device, then run the steps with a live pressure chart, then the verdict
// and the PDF. Live samples come from the WebSocket when it answers, else from polling.
import { api, el, flash, tokens } from "./api.js";
import { ready } from "./shell.js";
import { t } from "./i18n.js";
import { ask, download, fmtDate, fmtDateTime, pill, tabs } from "./ui.js";
import { mountReports } from "./reports.js";

const ROOT = document.getElementById("cpp");
const DISPLAY = ROOT.dataset.layout === "display";
const STORE = "fleet.cpp.test";
const UNITS = { pressure_low: "mbar", pressure_high: "bar", flow: "l/min" };
const MEASURED_KEY = { max_loss_percent: "loss_percent", max_loss_rate: "loss_per_min", settled: "spread" };
const $ = (id) => document.getElementById(id);

let catalog = null;
const pick = { kind: undefined, type: undefined, test: undefined, scenario: null };
let test = null; // the test's state as GET /tests/{id} answers it
let chart = null;
let chartStep = null;
let offset = 0;
let polling = null;
let socket = null;
let busy = false;
let me = null;

// ---------------------------------------------------------------- text helpers

function num(v) {
  return typeof v === "number" ? String(Math.round(v * 1000) / 1000) : String(v);
}

export function limitsText(c) {
  if (!c) return "";
  const unit = UNITS[c.signal] || "";
  let text;
  switch (c.type) {
    case "boolean": text = "operator confirms"; break;
    case "range": text = `${c.signal} ${c.statistic || "mean"} in [${c.min ?? "−∞"}, ${c.max ?? "∞"}] ${unit}`; break;
    case "target_tolerance": text = `${c.signal} ${c.target} ± ${c.tolerance} ${unit}${c.within_s ? ` within ${c.within_s} s` : ""}`; break;
    case "max_loss_percent": text = `loss ≤ ${c.max_percent} % over ${c.hold_s} s`; break;
    case "max_loss_rate": text = `loss ≤ ${c.max_per_min} ${unit}/min`; break;
    case "settled": text = `within ${c.band} ${unit} for ${c.for_s} s`; break;
    default: text = c.type;
  }
  return c.marginal ? `${text} (marginal ${c.marginal})` : text;
}

function measuredText(ev) {
  if (!ev) return "—";
  const parts = Object.entries(ev.measured || {}).filter(([k, v]) => v !== null && k !== "source").map(([k, v]) => `${k} = ${num(v)}`);
  return parts.join(", ") || "—";
}

function badge(result) {
  return el("span", { class: `cpp-badge cpp-${result || "pending"}` }, result || "pending");
}

// ---------------------------------------------------------------- choosing

const label = (v) => (v === null || v === undefined || v === "" ? "other" : String(v).replaceAll("_", " "));

function choiceButton(text, sub, onclick, data = {}) {
  return el("button", { class: "btn cpp-choice", type: "button", onclick, dataset: data },
    el("span", { class: "cpp-choice-main" }, text), sub ? el("span", { class: "cpp-choice-sub" }, sub) : null);
}

function crumbs() {
  const items = [];
  const back = (fn) => () => { fn(); renderPick(); };
  if (pick.kind !== undefined) items.push(el("button", { class: "btn btn-ghost btn-small", type: "button", onclick: back(() => { pick.kind = pick.type = pick.test = undefined; pick.scenario = null; }) }, label(pick.kind)));
  if (pick.type !== undefined) items.push(el("button", { class: "btn btn-ghost btn-small", type: "button", onclick: back(() => { pick.type = pick.test = undefined; pick.scenario = null; }) }, label(pick.type)));
  if (pick.test !== undefined) items.push(el("button", { class: "btn btn-ghost btn-small", type: "button", onclick: back(() => { pick.test = undefined; pick.scenario = null; }) }, label(pick.test)));
  if (pick.scenario) items.push(el("button", { class: "btn btn-ghost btn-small", type: "button", onclick: back(() => { pick.scenario = null; }) }, pick.scenario.name));
  $("cpp-crumbs").replaceChildren(...items.flatMap((b, i) => (i ? [el("span", {}, " › "), b] : [b])));
}

function scenariosFor() {
  return catalog.scenarios.filter((s) => (!s.device_type || s.device_type === pick.type)
    && (!s.kind_of_device || s.kind_of_device === pick.kind));
}

function unique(values) {
  return [...new Set(values.map((v) => (v === undefined ? null : v)))];
}

function renderPick() {
  crumbs();
  if (pick.kind === undefined) loadRunning();
  else $("cpp-running").hidden = true;
  const box = $("cpp-choices");
  $("cpp-device-search").hidden = true;
  if (pick.kind === undefined) {
    $("cpp-pick-title").textContent = "Kind of device";
    const kinds = unique(catalog.device_kinds.map((k) => k.kind_of_device));
    box.replaceChildren(...kinds.map((k) => choiceButton(label(k), null, () => { pick.kind = k; renderPick(); }, { kind: k ?? "" })));
  } else if (pick.type === undefined) {
    $("cpp-pick-title").textContent = "Device type";
    const types = catalog.device_kinds.filter((k) => k.kind_of_device === pick.kind);
    box.replaceChildren(...types.map((t) => choiceButton(label(t.device_type), `${t.devices} device(s)`, () => { pick.type = t.device_type; renderPick(); }, { type: t.device_type })));
  } else if (pick.test === undefined) {
    $("cpp-pick-title").textContent = "Kind of test";
    const kinds = unique(scenariosFor().map((s) => s.kind_of_test));
    box.replaceChildren(...(kinds.length ? kinds.map((k) => choiceButton(label(k), null, () => { pick.test = k; renderPick(); }, { test: k ?? "" }))
      : [el("p", {}, "No active scenario for this device type.")]));
  } else if (!pick.scenario) {
    $("cpp-pick-title").textContent = "Scenario";
    const list = scenariosFor().filter((s) => (s.kind_of_test ?? null) === pick.test);
    box.replaceChildren(...list.map((s) => choiceButton(s.name, `${s.step_count} steps`, () => { pick.scenario = s; renderPick(); }, { scenario: s.name })));
  } else {
    $("cpp-pick-title").textContent = "Device — search or scan";
    $("cpp-device-search").hidden = false;
    $("cpp-device-q").focus();
    searchDevices();
  }
}

async function searchDevices() {
  const q = $("cpp-device-q").value.trim();
  try {
    const devices = await api.get("/tests/devices", { q, device_type: pick.type, kind_of_device: pick.kind ?? undefined, limit: DISPLAY ? 4 : 30 });
    const exact = devices.find((d) => q && (d.device_number === q || d.serial_number === q));
    if (exact && !exact.running_test_id) { start(exact); return; }
    $("cpp-choices").replaceChildren(...(devices.length ? devices.map((d) => choiceButton(
      d.device_number,
      d.running_test_id ? `busy: test ${d.running_test_id}` : [d.customer_name, d.next_due_at ? `due ${new Date(d.next_due_at).toLocaleDateString()}` : null].filter(Boolean).join(" · "),
      () => start(d), { device: d.device_number },
    )) : [el("p", {}, "No device found.")]));
  } catch (e) { flash(e.message, "error"); }
}

// ---------------------------------------------------------------- tests in progress

async function loadRunning() {
  const box = $("cpp-running");
  let running = [];
  try { running = await api.get("/tests/running"); } catch (e) { flash(e.message, "error"); }
  box.hidden = !running.length;
  $("cpp-running-list").replaceChildren(...running.map((r) => el("div", { class: "card cpp-running-item", dataset: { test: String(r.id), device: r.device_number || "" } },
    el("div", { class: "cpp-running-text" },
      el("strong", {}, `${r.device_number || ""} · ${r.scenario_name || ""}`),
      el("span", { class: "hint" }, `${t("cpp.running_by", "by")} ${r.operator || "—"} · ${t("cpp.step", "step")} ${r.current_step ?? "—"} / ${r.steps_total} · ${t("cpp.last_activity", "last activity")} ${fmtDateTime(r.last_activity_at)}`)),
    el("button", { class: "btn cpp-resume", type: "button", onclick: () => resume(r.id) }, r.operator_id === me.id ? t("cpp.resume", "Resume") : t("cpp.take_over", "Take over")),
    el("button", { class: "btn btn-ghost cpp-running-abort", type: "button", onclick: () => abortRunning(r) }, t("cpp.abort", "Abort")),
  )));
}

async function resume(id) {
  if (busy) return;
  busy = true;
  try {
    const state = await api.post(`/tests/${id}/resume`);
    sessionStorage.setItem(STORE, String(state.id));
    show(state);
  } catch (e) { flash(e.message, "error"); loadRunning(); } finally { busy = false; }
}

async function abortRunning(r) {
  const reason = await ask(`${t("cpp.abort_title", "Abort this test?")} ${r.device_number || ""}`, t("cpp.reason", "Reason"), { okText: t("cpp.abort", "Abort"), danger: true });
  if (!reason) return;
  try {
    await api.post(`/tests/${r.id}/abort`, { reason });
    flash(t("cpp.aborted_flash", "Test aborted"));
  } catch (e) { flash(e.message, "error"); }
  loadRunning();
}

// Camera scanning with the vendored jsQR; a USB scanner simply types into the search field.
let stream = null;
async function scan() {
  if (!navigator.mediaDevices || !window.jsQR) { flash("No camera available; type or scan the code into the field", "error"); return; }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (e) { flash(`Camera: ${e.message}`, "error"); return; }
  const video = $("cpp-video");
  video.srcObject = stream;
  $("cpp-camera").hidden = false;
  await video.play();
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const tick = () => {
    if (!stream) return;
    if (video.readyState >= 2) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      ctx.drawImage(video, 0, 0);
      const code = window.jsQR(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height);
      if (code && code.data) {
        stopScan();
        $("cpp-device-q").value = code.data.trim();
        searchDevices();
        return;
      }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

function stopScan() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  $("cpp-camera").hidden = true;
}

async function start(device) {
  if (busy) return;
  busy = true;
  try {
    const state = await api.post("/tests/start", { scenario_id: pick.scenario.id, device_id: device.id });
    sessionStorage.setItem(STORE, String(state.id));
    show(state);
  } catch (e) {
    flash(e.message, "error");
  } finally { busy = false; }
}

// ---------------------------------------------------------------- running

function currentState() {
  const order = test.progress.current_step;
  return (test.results.steps || []).find((s) => s.step_order === order) || null;
}

function show(state) {
  test = state;
  $("cpp-pick").hidden = true;
  if (test.status !== "in_progress") { stopLive(); renderDone(); return; }
  $("cpp-done").hidden = true;
  $("cpp-run").hidden = false;
  $("cpp-title").textContent = `${test.scenario_name} · ${test.device_number}`;
  $("cpp-progress").textContent = `step ${test.progress.current_step ?? "—"} / ${test.progress.steps_total}`;
  $("cpp-speed-wrap").hidden = !test.bench_enabled;
  $("cpp-steps").replaceChildren(...test.results.steps.map((s) => el("li", {
    class: s.step_order === test.progress.current_step ? "current" : "", dataset: { order: String(s.step_order), result: s.result || "" },
  }, el("span", { class: "cpp-step-name" }, `${s.step_order}. ${s.step_name}`), badge(s.result))));
  connectLive();
  const step = currentState();
  if (!step) { renderAllRecorded(); return; }
  $("cpp-step-name").textContent = `${step.step_order}. ${step.step_name}`;
  $("cpp-step-desc").textContent = step.description || "";
  $("cpp-step-limits").textContent = `Pass: ${limitsText(step.criteria)}`;
  renderActions(step);
  if (step.auto_test && step.criteria.type !== "boolean") setupChart(step);
  else { $("cpp-chart-box").hidden = true; chartStep = null; }
}

function bigButton(text, cls, onclick, id) {
  return el("button", { class: `btn cpp-big ${cls}`, type: "button", onclick, id }, text);
}

function renderActions(step) {
  const box = $("cpp-actions");
  const notes = el("textarea", { id: "cpp-notes", rows: DISPLAY ? 1 : 3, maxlength: 4000, placeholder: "Notes (optional)", "aria-label": "Notes" });
  const parts = [];
  if (!step.auto_test || step.criteria.type === "boolean") {
    parts.push(
      bigButton("✔ Passed", "cpp-pass", () => submit(step, { result: "passed", notes: notes.value || null }), "cpp-passed"),
      bigButton("✘ Failed", "btn-danger cpp-fail", () => submit(step, { result: "failed", notes: notes.value || null }), "cpp-failed"),
    );
    if (!DISPLAY) parts.push(bigButton("⚠ Passed with remark", "btn-ghost", () => submit(step, { result: "warning", notes: notes.value || null }), "cpp-warning"));
  } else {
    if (test.bench_enabled) parts.push(bigButton("▶ Run on simulated bench", "", () => runBench(step), "cpp-bench"));
    parts.push(bigButton("Evaluate samples", "btn-ghost", () => submit(step, {}), "cpp-evaluate"));
    const key = MEASURED_KEY[step.criteria.type] || step.criteria.signal;
    const value = el("input", { type: "number", step: "any", id: "cpp-measure", "aria-label": key, placeholder: `${key} (${UNITS[step.criteria.signal] || ""})` });
    parts.push(el("form", { class: "cpp-measure", onsubmit: (ev) => {
      ev.preventDefault();
      const v = Number(value.value);
      if (value.value === "" || !Number.isFinite(v)) { flash("Enter a number", "error"); return; }
      submit(step, { measurements: { [key]: v }, notes: notes.value || null });
    } }, value, el("button", { class: "btn btn-ghost", type: "submit" }, "Enter value")));
  }
  if (!step.required) parts.push(bigButton("Skip", "btn-ghost", () => submit(step, { result: "skipped", notes: notes.value || null }), "cpp-skip"));
  parts.push(notes);
  if (!step.auto_test) {
    const photo = el("input", { type: "file", accept: "image/jpeg,image/png,image/webp", capture: "environment", "aria-label": "Photo", class: "cpp-photo" });
    photo.addEventListener("change", () => uploadPhoto(step, photo));
    parts.push(el("label", { class: "cpp-photo-label" }, "📷 Photo", photo));
  }
  box.replaceChildren(...parts);
  const evaluate = $("cpp-evaluate");
  if (evaluate) evaluate.disabled = !(test.progress.samples[String(step.step_order)] > 0);
}

function renderAllRecorded() {
  $("cpp-step-name").textContent = "All steps recorded";
  $("cpp-step-desc").textContent = "";
  $("cpp-step-limits").textContent = "";
  $("cpp-chart-box").hidden = true;
  $("cpp-actions").replaceChildren(bigButton("Finish test", "", complete, "cpp-complete"));
}

async function uploadPhoto(step, input) {
  const file = input.files[0];
  if (!file) return;
  const data = new FormData();
  data.append("photo", file);
  try {
    await api.upload(`/tests/${test.id}/steps/${step.step_order}/photo`, data);
    flash("Photo attached");
  } catch (e) { flash(e.message, "error"); }
}

function showEvaluation(step) {
  const ev = step.evaluation;
  $("cpp-eval").replaceChildren(
    el("span", {}, `${step.step_order}. ${step.step_name}: `), badge(step.result),
    ev && ev.type !== "boolean" ? el("span", { class: "cpp-eval-detail" }, ` ${measuredText(ev)} — limits: ${limitsText(step.criteria)}${ev.reason ? ` — ${ev.reason}` : ""}`) : null,
  );
}

async function submit(step, body) {
  if (busy) return;
  busy = true;
  try {
    const answer = await api.post(`/tests/${test.id}/steps/${step.step_order}`, body);
    showEvaluation(answer.step);
    await refresh();
  } catch (e) {
    flash(e.message, "error");
  } finally { busy = false; }
}

async function refresh() {
  show(await api.get(`/tests/${test.id}`));
}

async function complete() {
  try {
    show(await api.post(`/tests/${test.id}/complete`));
  } catch (e) { flash(e.message, "error"); }
}

// ---------------------------------------------------------------- the live chart

// The limit band drawn behind the curve; a leak test's band starts at its first sample.
function band(c, first) {
  if (c.type === "target_tolerance") return [c.target - c.tolerance, c.target + c.tolerance];
  if (c.type === "range" && c.min !== undefined && c.max !== undefined) return [c.min, c.max];
  if (c.type === "max_loss_percent" && first !== undefined) {
    const end = first * (1 - c.max_percent / 100);
    return [Math.min(first, end), Math.max(first, end)];
  }
  return null;
}

function setupChart(step) {
  $("cpp-chart-box").hidden = false;
  if (chartStep === step.step_order && chart) return;
  chartStep = step.step_order;
  offset = 0;
  const c = step.criteria;
  const limits = band(c) || (c.type === "max_loss_percent" ? [0, 0] : null);
  if (chart) chart.destroy();
  const datasets = [{ label: `${c.signal} (${UNITS[c.signal]})`, data: [], borderColor: "#1450aa", borderWidth: 1.5, pointRadius: 0, tension: 0 }];
  if (limits) {
    datasets.push(
      { label: "limit", data: [], borderColor: "rgba(24,128,56,.6)", borderWidth: 1, pointRadius: 0, fill: false, borderDash: [4, 3] },
      { label: "limit band", data: [], borderColor: "rgba(24,128,56,.6)", borderWidth: 1, pointRadius: 0, fill: "-1", backgroundColor: "rgba(24,160,70,.15)", borderDash: [4, 3] },
    );
  }
  chart = new window.Chart($("cpp-chart"), {
    type: "line",
    data: { datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      plugins: { legend: { display: !DISPLAY, labels: { filter: (item) => item.text !== "limit" } } },
      scales: { x: { type: "linear", title: { display: !DISPLAY, text: "s" } }, y: { title: { display: !DISPLAY, text: UNITS[c.signal] } } },
    },
  });
  chart.$limits = limits;
  chart.$criteria = c;
  chart.$signal = c.signal;
  fetchSamples();
}

async function fetchSamples() {
  if (!test || chartStep === null) return null;
  const step = chartStep;
  const data = await api.get(`/tests/${test.id}/samples`, { step_order: step, offset });
  if (step !== chartStep || !chart) return data;
  const points = chart.data.datasets[0].data;
  const t0 = points.length ? points.$t0 : data.t[0];
  if (!points.length) points.$t0 = t0;
  data.t.forEach((t, i) => { const v = data[chart.$signal][i]; if (v !== null) points.push({ x: t - t0, y: v }); });
  offset = data.next_offset;
  if (chart.$limits && points.length) {
    const [lo, hi] = band(chart.$criteria, points[0].y) || chart.$limits;
    const xmax = points[points.length - 1].x;
    chart.data.datasets[1].data = [{ x: 0, y: lo }, { x: xmax, y: lo }];
    chart.data.datasets[2].data = [{ x: 0, y: hi }, { x: xmax, y: hi }];
  }
  chart.update("none");
  const evaluate = $("cpp-evaluate");
  if (evaluate && !busy) evaluate.disabled = offset === 0 || Boolean(data.bench && data.bench.running);
  return data;
}

async function runBench(step) {
  if (busy) return;
  busy = true;
  for (const b of document.querySelectorAll("#cpp-actions button")) b.disabled = true;
  $("cpp-eval").replaceChildren(el("span", {}, "Bench running…"));
  try {
    await api.post(`/tests/${test.id}/steps/${step.step_order}/bench`, { speed: Number($("cpp-speed").value) || 1 });
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      const data = await fetchSamples();
      if (!data || data.status !== "in_progress") break;
      if (data.bench && !data.bench.running) {
        if (data.bench.error) throw new Error(data.bench.error);
        break;
      }
    }
    busy = false;
    await submit(step, {});
  } catch (e) {
    flash(e.message, "error");
  } finally { busy = false; }
}

// WebSocket (issue 5's /api/v1/ws) when it answers: new samples and progress arrive at once.
function connectLive() {
  if (socket && socket.$test === test.id) return;
  stopLive();
  if (!window.WebSocket || !tokens.access) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  try {
    socket = new WebSocket(`${proto}://${location.host}/api/v1/ws?token=${encodeURIComponent(tokens.access)}&topics=test:${test.id}`);
  } catch { socket = null; return; }
  socket.$test = test.id;
  socket.onmessage = (msg) => {
    let event;
    try { event = JSON.parse(msg.data); } catch { return; }
    if (event.event === "sensor.reading" && !busy) fetchSamples().catch(() => {});
  };
  socket.onerror = () => {};
  polling = setInterval(() => { if (!busy && chartStep !== null) fetchSamples().catch(() => {}); }, 2000);
}

function stopLive() {
  if (socket) { socket.onclose = null; socket.close(); }
  socket = null;
  if (polling) clearInterval(polling);
  polling = null;
}

// ---------------------------------------------------------------- the end

function renderDone() {
  sessionStorage.removeItem(STORE);
  $("cpp-run").hidden = true;
  $("cpp-done").hidden = false;
  const verdict = test.verdict || test.status;
  $("cpp-verdict").replaceChildren(el("span", {}, "Verdict: "), badge(verdict));
  const due = test.results.next_due_at ? `Next test due ${new Date(test.results.next_due_at).toLocaleDateString()}.` : "Due date unchanged.";
  const abort = test.results.abort ? ` Aborted: ${test.results.abort.reason}.` : "";
  $("cpp-done-info").textContent = `${test.scenario_name} · ${test.device_number} · ${fmtDateTime(test.start_time)} – ${fmtDateTime(test.end_time)}. ${due}${abort}`;
  document.querySelector("#cpp-summary tbody").replaceChildren(...test.results.steps.map((s) => el("tr", { dataset: { order: String(s.step_order) } },
    el("td", {}, String(s.step_order)), el("td", {}, s.step_name), el("td", {}, limitsText(s.criteria)),
    el("td", {}, measuredText(s.evaluation)), el("td", {}, badge(s.result)))));
  $("cpp-sha").textContent = test.sha256 || "";
}

function downloadPdf() {
  return download(`/reports/${test.id}/pdf`, `report-${test.id}.pdf`);
}

function newTest() {
  test = null;
  chartStep = null;
  if (chart) { chart.destroy(); chart = null; }
  pick.scenario = null;
  $("cpp-done").hidden = true;
  $("cpp-run").hidden = true;
  $("cpp-pick").hidden = false;
  $("cpp-eval").replaceChildren();
  $("cpp-device-q").value = "";
  renderPick();
}

ready.then(async (who) => {
  if (!who) return;
  me = who;
  if (!DISPLAY) {
    const reports = mountReports({ operatorScope: me.active_role === "operator" });
    tabs(["test", "reports"], (name) => { if (name === "reports") reports.load(0); })();
  }
  $("cpp-device-search").addEventListener("submit", (ev) => { ev.preventDefault(); searchDevices(); });
  $("cpp-scan").onclick = scan;
  $("cpp-scan-stop").onclick = stopScan;
  $("cpp-pdf").onclick = downloadPdf;
  $("cpp-again").onclick = newTest;
  $("cpp-abort").onclick = () => $("cpp-abort-dialog").showModal();
  $("cpp-abort-cancel").onclick = () => $("cpp-abort-dialog").close();
  $("cpp-abort-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const reason = ev.target.reason.value.trim();
    if (!reason) return;
    try {
      const state = await api.post(`/tests/${test.id}/abort`, { reason });
      $("cpp-abort-dialog").close();
      show(state);
    } catch (e) { flash(e.message, "error"); }
  });
  try {
    catalog = await api.get("/tests/catalog");
  } catch (e) { flash(e.message, "error"); return; }
  const saved = sessionStorage.getItem(STORE);
  if (saved) {
    try {
      const state = await api.get(`/tests/${saved}`);
      if (state.status === "in_progress" && state.operator_id === me.id) { show(state); return; }
    } catch { /* the test is gone or not ours: start fresh */ }
    sessionStorage.removeItem(STORE);
  }
  renderPick();
});
